//! The media engine: RTP sockets of many calls, driven by a few worker threads.
//!
//! Design, for thousands of calls on a small machine:
//!
//! - Each worker is one OS thread owning many calls' sockets. It wakes on an
//!   absolute 20 ms schedule (`start + n·20 ms`, so pacing does not drift),
//!   asks the kernel which sockets received datagrams (edge-triggered epoll
//!   readiness, one non-blocking poll), and drains only those, several
//!   datagrams per system call (`recvmmsg`) into reusable buffers; it parses
//!   in place and pushes audio into the call's
//!   [`JitterBuffer`](crate::jitter::JitterBuffer). There is no task wake,
//!   lock or heap allocation per packet, and no system call for an idle
//!   socket.
//! - On the same tick it pops one frame per call, decodes (or conceals) it
//!   and hands the 160 samples to the application, then sends the next
//!   20 ms of queued playback as one RTP packet.
//! - The application talks to a call through a [`MediaSession`]: commands go
//!   to the worker over a channel the worker drains each tick, and frames and
//!   [`MediaEvent`]s come back over bounded per-call channels.
//!
//! The engine knows nothing of SIP: [`SessionParams`] carries the values
//! negotiated in SDP (codec, payload types, remote address, ptime,
//! direction).
//!
//! Per call, besides frames in and out: [`MediaSession::send_dtmf`] (RFC 4733
//! events in the audio's RTP stream, or in-band tones),
//! [`MediaSession::start_recording`] (WAV written by one writer thread for
//! all recordings, never by the worker), [`MediaSession::take_frames_at`] and
//! [`MediaSession::frame_player`] (the application's sample rate, converted
//! on its side of the channels), and ptimes other than 20 ms (we send
//! packets of the negotiated size and take whatever size the far end
//! really sends, following it when it changes; the tick and the frames
//! stay 20 ms).
//!
//! # Example
//!
//! One call: media towards the address the SDP answer named, the caller's
//! audio at 16 kHz for a speech model, a prompt played, barge-in when the
//! caller talks over it, and a key sent.
//!
//! ```no_run
//! use rtp_media::engine::{EngineConfig, MediaEngine, MediaEvent, SessionParams};
//! use rtp_media::g711::Codec;
//! use rtp_media::vad::VadConfig;
//! use std::time::Duration;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let engine = MediaEngine::new(EngineConfig {
//!     vad: Some(VadConfig::default()),
//!     ..EngineConfig::default()
//! })?;
//! let mut params = SessionParams::new(Codec::Pcmu);
//! params.remote_rtp = Some("203.0.113.7:40000".parse()?);
//! params.telephone_event_pt = Some(101);
//! let mut session = engine.open_session(params)?;
//! // The port pair to put in our SDP.
//! println!("local RTP {}", session.local_rtp_addr());
//!
//! let mut caller_audio = session.take_frames_at(16_000)?; // for the model
//! let greeting = session.play(vec![0i16; 8000])?; // 1 s of 8 kHz audio
//! session.send_dtmf('5', Duration::from_millis(100))?;
//! while let Some(event) = session.next_event().await {
//!     match event {
//!         MediaEvent::SpeechStarted { .. } => session.clear_playback()?, // barge-in
//!         MediaEvent::PlaybackFinished { id, .. } if id == greeting => {}
//!         MediaEvent::Dtmf { digit, .. } => println!("caller pressed {digit}"),
//!         MediaEvent::Timeout { .. } => break, // the far end went silent
//!         _ => {}
//!     }
//!     while let Some(frame) = caller_audio.try_next() {
//!         let _samples_16k: &[i16] = frame.samples; // 320 per 20 ms
//!     }
//! }
//! # Ok(()) }
//! ```

mod app_rate;
mod batch;
mod call;
mod dtmf_events;
mod latch;
mod ports;
mod worker;

use crate::g711::Codec;
use crate::jitter::{ConcealerConfig, JitterConfig};
use crate::recording::{RecordMode, Recorder, RecordingError};
use crate::resample::ResampleError;
use crate::vad::VadConfig;
use ports::{PortLease, PortPool};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::ops::RangeInclusive;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;
use thiserror::Error;
use tokio::sync::{mpsc, oneshot};

pub use app_rate::{FramePlayer, ResampledFrame, ResampledFrames};
pub use call::MediaStats;
use worker::{Command, WorkerHandle};

/// Samples in one 20 ms frame at 8 kHz.
pub const FRAME_SAMPLES: usize = 160;
/// The engine's frame period.
pub const FRAME_DURATION: Duration = Duration::from_millis(20);

/// Why the engine could not do what was asked.
#[derive(Debug, Error)]
pub enum MediaError {
    /// Every RTP/RTCP port pair of the configured range is in use (or could
    /// not be bound).
    #[error("no free RTP port pair in {first}..={last}")]
    PortsExhausted {
        /// First port of the range.
        first: u16,
        /// Last port of the range.
        last: u16,
    },
    /// The packetization time is not a multiple of 10 ms from 10 to 120.
    #[error("ptime {0} ms is not supported (10 to 120 ms in steps of 10)")]
    UnsupportedPtime(u32),
    /// The audio and telephone-event payload types are the same, or not a
    /// valid RTP payload type (0..=127).
    #[error("payload types audio {audio} / telephone-event {event:?} are invalid")]
    BadPayloadType {
        /// Audio payload type.
        audio: u8,
        /// Telephone-event payload type.
        event: Option<u8>,
    },
    /// [`MediaSession::stop_recording`] without a recording running.
    #[error("the call is not being recorded")]
    NotRecording,
    /// The recording file could not be created (a failure while recording
    /// is [`MediaError::RecordingIncomplete`]).
    #[error(transparent)]
    Recording(#[from] RecordingError),
    /// The recording stopped but its file is not complete: writing failed
    /// part way (later audio was not written), or the WAV header could not
    /// be finished ([`RecordingError::Finalize`], e.g. the path is a pipe).
    /// `summary` still says what reached the file and what was dropped.
    #[error(
        "recording incomplete ({} samples per channel written, {} frames dropped): {source}",
        .summary.samples,
        .summary.frames_dropped
    )]
    RecordingIncomplete {
        /// Frames (samples per channel) written before the failure, and
        /// 20 ms frames dropped because the writer fell behind.
        summary: RecordingSummary,
        /// What failed.
        source: RecordingError,
    },
    /// A sample rate the converter does not take.
    #[error(transparent)]
    Resample(#[from] ResampleError),
    /// The frame receiver was already taken by [`MediaSession::take_frames`]
    /// or [`MediaSession::take_frames_at`].
    #[error("the call's frames were already taken")]
    FramesTaken,
    /// Not a DTMF key (`0`-`9`, `*`, `#`, `A`-`D`).
    #[error("{0:?} is not a DTMF key")]
    InvalidDigit(char),
    /// The engine configuration cannot work (e.g. zero workers).
    #[error("invalid engine configuration: {0}")]
    Config(&'static str),
    /// The engine (or the call's worker) has stopped.
    #[error("media engine stopped")]
    Stopped,
    /// A socket or thread operation failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// Settings of a [`MediaEngine`].
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Local address the RTP/RTCP sockets bind to.
    pub bind_ip: IpAddr,
    /// Ports for RTP (even) and RTCP (odd, RTP + 1).
    pub port_range: RangeInclusive<u16>,
    /// Worker threads; each owns many calls.
    pub workers: usize,
    /// Jitter buffer settings for every call (its ptime is the size of the
    /// packets each call receives).
    /// The default keeps at least 40 ms: a worker reads each socket once
    /// per tick, so a packet landing just after its read waits a whole
    /// frame, and a 20 ms floor would trim and conceal around that phase.
    pub jitter: JitterConfig,
    /// Loss concealment settings.
    pub concealer: ConcealerConfig,
    /// Consecutive valid packets from one source before RTP is sent there
    /// (symmetric RTP latching).
    pub latch_packets: u32,
    /// How long the latched source must be silent before another source
    /// can take the latch over (NAT rebinding mid-call).
    pub relatch_idle: Duration,
    /// Raise [`MediaEvent::Timeout`] after this long without RTP while
    /// receiving; `None` disables it.
    pub rtp_timeout: Option<Duration>,
    /// Mean interval between RTCP reports (randomized ±50%, RFC 3550 §6.2).
    pub rtcp_interval: Duration,
    /// Interval of [`MediaEvent::Stats`].
    pub stats_interval: Duration,
    /// Decoded frames buffered towards the application before new ones are
    /// dropped (and counted) because it is not reading.
    pub frame_queue: usize,
    /// Events buffered towards the application.
    pub event_queue: usize,
    /// CNAME sent in RTCP SDES.
    pub cname: String,
    /// Voice activity detection on every received frame, reported as
    /// [`MediaEvent::SpeechStarted`]/[`MediaEvent::SpeechStopped`]; `None`
    /// turns it off.
    pub vad: Option<VadConfig>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            bind_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port_range: 16384..=32768,
            workers: 2,
            jitter: JitterConfig {
                min_delay: Duration::from_millis(40),
                ..JitterConfig::default()
            },
            concealer: ConcealerConfig::default(),
            latch_packets: 2,
            relatch_idle: Duration::from_millis(500),
            rtp_timeout: Some(Duration::from_secs(30)),
            rtcp_interval: Duration::from_secs(5),
            stats_interval: Duration::from_secs(5),
            frame_queue: 50,
            event_queue: 64,
            cname: "ai-line".to_owned(),
            vad: Some(VadConfig::default()),
        }
    }
}

/// Which ways media flows, from the SDP direction attribute as seen by us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Direction {
    /// We send RTP (`sendrecv` or `sendonly`).
    pub send: bool,
    /// We receive and deliver RTP (`sendrecv` or `recvonly`).
    pub recv: bool,
}

impl Direction {
    /// `a=sendrecv`.
    pub const SEND_RECV: Direction = Direction {
        send: true,
        recv: true,
    };
    /// `a=sendonly`: we send, do not deliver received audio.
    pub const SEND_ONLY: Direction = Direction {
        send: true,
        recv: false,
    };
    /// `a=recvonly` (we are on hold by the remote): we do not send.
    pub const RECV_ONLY: Direction = Direction {
        send: false,
        recv: true,
    };
    /// `a=inactive`.
    pub const INACTIVE: Direction = Direction {
        send: false,
        recv: false,
    };
}

/// Media parameters of one call, as negotiated in SDP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionParams {
    /// G.711 law.
    pub codec: Codec,
    /// RTP payload type of the audio (normally the codec's static type).
    pub payload_type: u8,
    /// Payload type of RFC 4733 telephone-event, if negotiated.
    pub telephone_event_pt: Option<u8>,
    /// Where to send RTP until latching finds the real source; `None` waits
    /// for the first packets.
    pub remote_rtp: Option<SocketAddr>,
    /// Where to send RTCP; default is the RTP address with port + 1.
    pub remote_rtcp: Option<SocketAddr>,
    /// Packetization time in ms: 10 to 120 in steps of 10 (RFC 4566
    /// `a=ptime`). Playback is sent in packets of this size. Received
    /// packets are expected at this size, but the far end's real size is
    /// what counts: when a few packets in a row (or all there is to play)
    /// carry another whole number of 10 ms, the receive side switches to
    /// it without a gap in the audio ([`MediaStats::rx_ptime_ms`]). Frames
    /// to and from the application stay 20 ms whatever it is.
    pub ptime_ms: u32,
    /// Send and/or receive.
    pub direction: Direction,
    /// Also detect DTMF tones in the decoded audio (for lines without
    /// RFC 4733).
    pub inband_dtmf: bool,
}

impl SessionParams {
    /// Send-receive, 20 ms, the codec's static payload type, telephone-event
    /// on 101, remote address unknown.
    pub fn new(codec: Codec) -> Self {
        SessionParams {
            codec,
            payload_type: codec.payload_type(),
            telephone_event_pt: Some(101),
            remote_rtp: None,
            remote_rtcp: None,
            ptime_ms: 20,
            direction: Direction::SEND_RECV,
            inband_dtmf: false,
        }
    }

    fn validate(&self) -> Result<(), MediaError> {
        if !call::ptime_supported(self.ptime_ms) {
            return Err(MediaError::UnsupportedPtime(self.ptime_ms));
        }
        let bad = self.payload_type > 127
            || self
                .telephone_event_pt
                .is_some_and(|e| e > 127 || e == self.payload_type);
        if bad {
            return Err(MediaError::BadPayloadType {
                audio: self.payload_type,
                event: self.telephone_event_pt,
            });
        }
        Ok(())
    }
}

/// Identifies one [`MediaSession::play`] call in [`MediaEvent::PlaybackFinished`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PlaybackId(pub u64);

/// Something the application should know about a call.
#[derive(Debug, Clone, PartialEq)]
// `Stats` is the large variant; it is sent every few seconds, and boxing it
// would change what applications match on for no measurable gain.
#[allow(clippy::large_enum_variant)]
pub enum MediaEvent {
    /// A key press (RFC 4733, or in-band when enabled; in-band presses have
    /// a zero duration).
    Dtmf {
        /// `0`-`9`, `*`, `#`, `A`-`D`.
        digit: char,
        /// How long the key was held.
        duration: Duration,
        /// RTP timestamp of the event (in-band: the delivered-audio clock).
        media_ts: u32,
    },
    /// A key press queued by [`MediaSession::send_dtmf`] has been sent
    /// completely (its end packets, or its tone and the pause after it).
    DtmfSent {
        /// The key.
        digit: char,
        /// How long it was held.
        duration: Duration,
        /// RTP timestamp of the event (our sending clock).
        media_ts: u32,
    },
    /// A key press queued by [`MediaSession::send_dtmf`] was dropped by
    /// [`MediaSession::clear_playback`] before it started: nothing of it
    /// was sent, and no [`MediaEvent::DtmfSent`] follows for it (the
    /// counterpart of an `interrupted` [`MediaEvent::PlaybackFinished`]).
    DtmfCancelled {
        /// The key.
        digit: char,
        /// How long it would have been held.
        duration: Duration,
    },
    /// The caller started talking (voice activity detection).
    SpeechStarted {
        /// Position in the delivered-audio clock (8 kHz samples).
        media_ts: u32,
    },
    /// The caller stopped talking.
    SpeechStopped {
        /// Position in the delivered-audio clock (8 kHz samples).
        media_ts: u32,
    },
    /// Periodic quality report.
    Stats(MediaStats),
    /// Latching moved the RTP destination (NAT, or the far end moved).
    RemoteAddressChanged {
        /// Previous destination.
        from: Option<SocketAddr>,
        /// New destination.
        to: SocketAddr,
    },
    /// No RTP for the configured time while receiving.
    Timeout {
        /// Time since the last packet (or since the call started).
        silent_for: Duration,
    },
    /// The audio of one `play` was fully sent, or dropped by
    /// [`MediaSession::clear_playback`] (`interrupted`).
    PlaybackFinished {
        /// Which play.
        id: PlaybackId,
        /// Cleared before it was all sent.
        interrupted: bool,
    },
}

/// What [`MediaSession::stop_recording`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordingSummary {
    /// Samples per channel in the file, at 8 kHz (samples / 8000 is its
    /// length in seconds).
    pub samples: u64,
    /// 20 ms frames dropped because the writer fell behind the call.
    pub frames_dropped: u64,
}

/// How a delivered frame was produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// Decoded from a received packet.
    Audio,
    /// The packet was missing: repeated and faded from the previous audio.
    Concealed,
    /// Missing for a while: comfort noise.
    ComfortNoise,
    /// Nothing buffered yet: silence.
    Silence,
}

/// 20 ms of decoded audio from the far end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioFrame {
    /// Frames delivered before this one; consecutive unless the application
    /// fell behind and frames were dropped.
    pub index: u64,
    /// `index × 160`: position in the delivered-audio clock.
    pub media_ts: u32,
    /// How the samples were produced.
    pub kind: FrameKind,
    /// 8 kHz linear samples.
    pub samples: [i16; FRAME_SAMPLES],
}

struct EngineInner {
    config: EngineConfig,
    pool: Arc<Mutex<PortPool>>,
    workers: Vec<WorkerHandle>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    stop: Arc<AtomicBool>,
    next_id: AtomicU64,
}

/// Owns the worker threads and the port pool. Dropping it stops the workers
/// (sessions still open go silent and their ports are freed).
pub struct MediaEngine {
    inner: Arc<EngineInner>,
}

impl std::fmt::Debug for MediaEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaEngine")
            .field("bind_ip", &self.inner.config.bind_ip)
            .field("port_range", &self.inner.config.port_range)
            .field("workers", &self.inner.workers.len())
            .finish()
    }
}

impl MediaEngine {
    /// Starts `config.workers` worker threads.
    pub fn new(config: EngineConfig) -> Result<MediaEngine, MediaError> {
        if config.workers == 0 {
            return Err(MediaError::Config("workers must be at least 1"));
        }
        let pool = PortPool::new(&config.port_range);
        if pool.capacity() == 0 {
            return Err(MediaError::Config("port range holds no RTP/RTCP pair"));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let mut workers = Vec::with_capacity(config.workers);
        let mut threads = Vec::with_capacity(config.workers);
        for i in 0..config.workers {
            let (handle, thread) = worker::spawn(i, Arc::clone(&stop))?;
            workers.push(handle);
            threads.push(thread);
        }
        Ok(MediaEngine {
            inner: Arc::new(EngineInner {
                config,
                pool: Arc::new(Mutex::new(pool)),
                workers,
                threads: Mutex::new(threads),
                stop,
                next_id: AtomicU64::new(1),
            }),
        })
    }

    /// The configuration in effect.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// Calls currently open on each worker.
    pub fn worker_loads(&self) -> Vec<usize> {
        self.inner
            .workers
            .iter()
            .map(|w| w.load.load(Ordering::Relaxed))
            .collect()
    }

    fn bind_pair(&self) -> Result<(UdpSocket, UdpSocket, PortLease), MediaError> {
        let cfg = &self.inner.config;
        let attempts = self
            .inner
            .pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .capacity();
        for _ in 0..attempts {
            let Some(lease) = PortLease::take(&self.inner.pool) else {
                break;
            };
            let port = lease.rtp_port();
            let rtp = match UdpSocket::bind((cfg.bind_ip, port)) {
                Ok(s) => s,
                Err(_) => continue,
            };
            let rtcp = match UdpSocket::bind((cfg.bind_ip, port + 1)) {
                Ok(s) => s,
                Err(_) => continue,
            };
            rtp.set_nonblocking(true)?;
            rtcp.set_nonblocking(true)?;
            return Ok((rtp, rtcp, lease));
        }
        Err(MediaError::PortsExhausted {
            first: *cfg.port_range.start(),
            last: *cfg.port_range.end(),
        })
    }

    /// Opens the media of one call: binds an RTP/RTCP port pair and hands the
    /// call to the least loaded worker. Put [`MediaSession::local_rtp_port`]
    /// in the SDP.
    pub fn open_session(&self, params: SessionParams) -> Result<MediaSession, MediaError> {
        params.validate()?;
        if self.inner.stop.load(Ordering::Relaxed) {
            return Err(MediaError::Stopped);
        }
        let (rtp, rtcp, lease) = self.bind_pair()?;
        let local_rtp = rtp.local_addr()?;
        let local_rtcp = rtcp.local_addr()?;
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (event_tx, event_rx) = mpsc::channel(self.inner.config.event_queue.max(1));
        let (frame_tx, frame_rx) = mpsc::channel(self.inner.config.frame_queue.max(1));
        let (index, handle) = self
            .inner
            .workers
            .iter()
            .enumerate()
            .min_by_key(|(_, w)| w.load.load(Ordering::Relaxed))
            .ok_or(MediaError::Stopped)?;
        let call = call::CallMedia::new(
            id,
            &self.inner.config,
            params,
            call::CallIo {
                rtp,
                rtcp,
                lease,
                events: event_tx,
                frames: frame_tx,
            },
        );
        handle.load.fetch_add(1, Ordering::Relaxed);
        handle
            .tx
            .send(Command::Add(Box::new(call)))
            .map_err(|_| MediaError::Stopped)?;
        Ok(MediaSession {
            id,
            worker: index,
            tx: handle.tx.clone(),
            local_rtp,
            local_rtcp,
            events: event_rx,
            frames: Some(frame_rx),
            next_playback: AtomicU64::new(1),
        })
    }
}

impl Drop for EngineInner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let threads = std::mem::take(
            self.threads
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for t in threads {
            let _ = t.join();
        }
    }
}

/// The application's handle on one call's media. Dropping it ends the call's
/// media and frees its ports (within one 20 ms tick).
#[derive(Debug)]
pub struct MediaSession {
    id: u64,
    worker: usize,
    tx: mpsc::UnboundedSender<Command>,
    local_rtp: SocketAddr,
    local_rtcp: SocketAddr,
    events: mpsc::Receiver<MediaEvent>,
    frames: Option<mpsc::Receiver<AudioFrame>>,
    next_playback: AtomicU64,
}

/// Receives a call's decoded frames; see [`MediaSession::take_frames`].
pub type FrameReceiver = mpsc::Receiver<AudioFrame>;

impl MediaSession {
    fn send(&self, op: worker::Op) -> Result<(), MediaError> {
        self.tx
            .send(Command::Call { id: self.id, op })
            .map_err(|_| MediaError::Stopped)
    }

    /// Engine-wide identifier of this call's media.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Index of the worker thread that runs this call.
    pub fn worker(&self) -> usize {
        self.worker
    }

    /// The local RTP port, for the SDP `m=` line.
    pub fn local_rtp_port(&self) -> u16 {
        self.local_rtp.port()
    }

    /// The local RTP socket address.
    pub fn local_rtp_addr(&self) -> SocketAddr {
        self.local_rtp
    }

    /// The local RTCP socket address (RTP port + 1).
    pub fn local_rtcp_addr(&self) -> SocketAddr {
        self.local_rtcp
    }

    /// Applies renegotiated parameters (re-INVITE): new remote address,
    /// hold / resume via the direction, codec change, the ptime of the
    /// packets we send (the received ones are followed as they come).
    pub fn update(&self, params: SessionParams) -> Result<(), MediaError> {
        params.validate()?;
        self.send(worker::Op::Update(Box::new(params)))
    }

    /// Queues 8 kHz samples to be sent after what is already queued; returns
    /// the id that [`MediaEvent::PlaybackFinished`] will carry.
    pub fn play(&self, samples: Vec<i16>) -> Result<PlaybackId, MediaError> {
        let id = PlaybackId(self.next_playback.fetch_add(1, Ordering::Relaxed));
        self.send(worker::Op::Play { id, samples })?;
        Ok(id)
    }

    /// Queues one 20 ms frame without an id or finish event (streaming
    /// audio, echo); does not allocate.
    pub fn play_frame(&self, samples: &[i16; FRAME_SAMPLES]) -> Result<(), MediaError> {
        self.send(worker::Op::Frame(*samples))
    }

    /// Drops all queued playback at once (barge-in); no more audio is sent
    /// after the current tick. Pending plays finish as `interrupted`, and
    /// keys queued by [`MediaSession::send_dtmf`] that have not started
    /// are cancelled, each reported as [`MediaEvent::DtmfCancelled`]. A key
    /// already being sent finishes first, with its end packets (or the
    /// rest of its tone): the far end never sees a key pressed without
    /// its release.
    pub fn clear_playback(&self) -> Result<(), MediaError> {
        self.send(worker::Op::ClearPlayback)
    }

    /// Sends a key press to the far end, after any keys already queued.
    ///
    /// With a telephone-event payload type negotiated, the key goes out as
    /// RFC 4733 events in the audio's SSRC and sequence space: marker on
    /// the first packet, the timestamp of the key-down tick on every
    /// packet, the duration growing by one ptime per packet, and three end
    /// packets. Without one, the key is played in-band as its dual tone.
    /// Either way queued audio waits while keys are sent, keys are
    /// separated by a 100 ms pause, and [`MediaEvent::DtmfSent`] reports
    /// each key once it is out. `length` is clamped to 40 ms..=8 s. Keys
    /// wait while there is nowhere to send them (on hold, remote address
    /// not yet known). [`MediaSession::clear_playback`] cancels the keys
    /// that have not started ([`MediaEvent::DtmfCancelled`] for each) and
    /// lets the one being sent finish with its end packets.
    pub fn send_dtmf(&self, digit: char, length: Duration) -> Result<(), MediaError> {
        if crate::dtmf::digit_to_event(digit).is_none() {
            return Err(MediaError::InvalidDigit(digit));
        }
        self.send(worker::Op::Dtmf { digit, length })
    }

    /// Starts recording the call to a WAV file at `path` (created now,
    /// truncating): the caller's audio as delivered (concealment included),
    /// the agent's as sent, or both as stereo (left caller, right agent).
    /// The worker hands frames to the one recording writer thread of the
    /// process through a bounded queue, so disk I/O never blocks the call;
    /// frames that do not fit are dropped and counted
    /// ([`MediaStats::recording_dropped`],
    /// [`RecordingSummary::frames_dropped`]). A recording already running
    /// is finished first. Ends with [`MediaSession::stop_recording`], or with
    /// the call (the file is then finished in the background).
    pub fn start_recording(
        &self,
        path: impl AsRef<Path>,
        mode: RecordMode,
    ) -> Result<(), MediaError> {
        let recorder = Recorder::create(path, mode)?;
        let tap = call::RecordingTap::start(self.id, recorder)?;
        self.send(worker::Op::StartRecording(Box::new(tap)))
    }

    /// Stops the recording and waits until its file is complete.
    ///
    /// The writer first writes the frames queued before the stop (the
    /// queue is bounded, so this is quick on a working disk); on a disk
    /// that stalls this waits until the disk takes them. Bound the wait
    /// with a timeout if need be: dropping the future gives up only the
    /// answer, the recording is stopped and its file finished in the
    /// background all the same. A file that could not be completed is
    /// [`MediaError::RecordingIncomplete`], with the counts.
    pub async fn stop_recording(&self) -> Result<RecordingSummary, MediaError> {
        let (reply, done) = oneshot::channel();
        self.send(worker::Op::StopRecording(reply))?;
        done.await.map_err(|_| MediaError::Stopped)?
    }

    /// Asks for a [`MediaEvent::Stats`] on the next tick.
    pub fn request_stats(&self) -> Result<(), MediaError> {
        self.send(worker::Op::RequestStats)
    }

    /// Waits for the next event; `None` once the call's media has ended.
    pub async fn next_event(&mut self) -> Option<MediaEvent> {
        self.events.recv().await
    }

    /// The next event if one is waiting.
    pub fn try_next_event(&mut self) -> Option<MediaEvent> {
        self.events.try_recv().ok()
    }

    /// Waits for the next decoded frame; `None` once the call's media has
    /// ended or the frame receiver was taken.
    pub async fn next_frame(&mut self) -> Option<AudioFrame> {
        match self.frames.as_mut() {
            Some(f) => f.recv().await,
            None => None,
        }
    }

    /// The next decoded frame if one is waiting.
    pub fn try_next_frame(&mut self) -> Option<AudioFrame> {
        self.frames.as_mut().and_then(|f| f.try_recv().ok())
    }

    /// Moves the frame receiver out, e.g. into the task feeding speech
    /// recognition, while this handle keeps control and events.
    pub fn take_frames(&mut self) -> Option<FrameReceiver> {
        self.frames.take()
    }

    /// Moves the frame receiver out converted to `rate` Hz (16 000 or
    /// 24 000 for most speech models): each 8 kHz frame comes out as 20 ms
    /// at `rate`, converted on the receiving side (see [`ResampledFrames`]).
    pub fn take_frames_at(&mut self, rate: u32) -> Result<ResampledFrames, MediaError> {
        // Check the rate before giving up the receiver.
        check_rate(rate)?;
        let rx = self.frames.take().ok_or(MediaError::FramesTaken)?;
        ResampledFrames::new(rx, rate)
    }

    /// A streaming player for audio at `rate` Hz (a TTS engine's 16 or
    /// 24 kHz output), converted to 8 kHz frames queued like
    /// [`MediaSession::play_frame`].
    pub fn frame_player(&self, rate: u32) -> Result<FramePlayer, MediaError> {
        FramePlayer::new(self.id, self.tx.clone(), rate)
    }

    /// Like [`MediaSession::play`] for samples at `rate` Hz: converted to
    /// 8 kHz in one go (sinc, delay compensated) before queueing.
    pub fn play_at(&self, samples: &[i16], rate: u32) -> Result<PlaybackId, MediaError> {
        check_rate(rate)?;
        self.play(crate::resample::resample(samples, rate, Codec::CLOCK_RATE))
    }

    /// Forwards decoded frames between two calls in both directions, inside
    /// the workers (e.g. a transfer to a human agent). While joined, the
    /// calls' frames go to each other instead of to the application.
    /// Joining a session with itself echoes its audio back.
    pub fn join(a: &MediaSession, b: &MediaSession) -> Result<Bridge, MediaError> {
        let end = |to: &MediaSession, from: &MediaSession| {
            worker::Op::Bridge(Some(call::BridgeEnd {
                peer: to.id,
                tx: to.tx.clone(),
                same_worker: to.tx.same_channel(&from.tx),
            }))
        };
        a.send(end(b, a))?;
        if a.id != b.id {
            b.send(end(a, b))?;
        }
        Ok(Bridge {
            ends: [(a.id, a.tx.clone()), (b.id, b.tx.clone())],
        })
    }

    /// Ends the call's media and waits until its sockets are closed and its
    /// ports are back in the pool.
    pub async fn close(self) {
        let (done, wait) = oneshot::channel();
        if self
            .tx
            .send(Command::Remove {
                id: self.id,
                done: Some(done),
            })
            .is_ok()
        {
            let _ = wait.await;
        }
    }
}

impl Drop for MediaSession {
    fn drop(&mut self) {
        let _ = self.tx.send(Command::Remove {
            id: self.id,
            done: None,
        });
    }
}

/// Two calls joined by [`MediaSession::join`]; dropping it unjoins them and
/// their frames go to the application again.
#[derive(Debug)]
pub struct Bridge {
    ends: [(u64, mpsc::UnboundedSender<Command>); 2],
}

impl Drop for Bridge {
    fn drop(&mut self) {
        for (id, tx) in &self.ends {
            let _ = tx.send(Command::Call {
                id: *id,
                op: worker::Op::Bridge(None),
            });
        }
    }
}

/// Rejects a sample rate the converters do not take.
fn check_rate(rate: u32) -> Result<(), ResampleError> {
    if (crate::resample::MIN_RATE..=crate::resample::MAX_RATE).contains(&rate) {
        Ok(())
    } else {
        Err(ResampleError::BadRate(rate))
    }
}

/// Loads of each worker, used by [`MediaEngine::worker_loads`].
pub(crate) type Load = Arc<AtomicUsize>;
