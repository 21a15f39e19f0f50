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
//!   20 ms of queued playback as one RTP packet (or into packets of the
//!   negotiated ptime, which leave one every ptime on 10 ms slots: the
//!   worker wakes between two ticks only when such a packet is due).
//! - The application talks to a call through a [`MediaSession`]: commands go
//!   to the worker over a channel the worker drains each tick, and frames and
//!   [`MediaEvent`]s come back over bounded per-call channels.
//!
//! The engine knows nothing of SIP: [`SessionParams`] carries the values
//! negotiated in SDP (codec, payload types, remote address, ptime,
//! direction).
//!
//! A call's port pair can be reserved before its parameters are known
//! ([`MediaEngine::reserve_ports`], then [`MediaEngine::open_session_on`]),
//! so that an SDP answer can name it; the address for SDP is
//! [`MediaSession::advertised_rtp_addr`] (never `0.0.0.0`, see
//! [`EngineConfig::advertised_ip`]).
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
//! // The address and port to put in our SDP.
//! println!("our RTP {}", session.advertised_rtp_addr()?);
//!
//! let mut caller_audio = session.take_frames_at(16_000)?; // for the model
//! let greeting = session.play(vec![0i16; 8000])?; // 1 s of 8 kHz audio
//! session.send_dtmf('5', Duration::from_millis(100))?;
//! while let Some(event) = session.next_event().await {
//!     match event {
//!         MediaEvent::SpeechStarted { .. } => session.clear_playback()?, // barge-in
//!         MediaEvent::PlaybackFinished { id, .. } if id == greeting => {}
//!         MediaEvent::DtmfStarted { digit, .. } => println!("caller pressed {digit}"),
//!         MediaEvent::Timeout { .. } => break, // the far end went silent
//!         _ => {}
//!     }
//!     while let Some(frame) = caller_audio.try_recv() {
//!         let _samples_16k: &[i16] = frame.samples; // 320 per 20 ms
//!     }
//! }
//! # Ok(()) }
//! ```

mod address;
mod app_rate;
mod batch;
mod bridge;
mod call;
mod command;
mod config;
mod error;
mod event;
mod frames;
mod latch;
mod params;
mod ports;
mod tick;
mod worker;

pub use app_rate::{FramePlayer, ResampledFrame, ResampledFrames};
pub use config::EngineConfig;
pub use error::MediaError;
pub use event::{
    AudioFrame, FrameKind, MediaEvent, MediaStats, PlaybackId, RecordingSummary, FRAME_DURATION,
    FRAME_SAMPLES,
};
pub use frames::FrameReceiver;
pub use params::{Direction, SessionParams, MAX_PTIME, MIN_PTIME, PTIME_STEP};
pub use ports::PortReservation;

use crate::g711::Codec;
use crate::recording::{RecordMode, Recorder};
use crate::resample::ResampleError;
use address::advertised_addr;
use bridge::{BridgeEnd, BridgedFrame};
use command::{Command, Op};
use ports::{PortLease, PortPool};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use worker::WorkerHandle;

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
        if config.advertised_ip.is_some_and(|ip| ip.is_unspecified()) {
            return Err(MediaError::Config(
                "advertised_ip must be a specific address, not 0.0.0.0 or ::",
            ));
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

    /// Binds an RTP/RTCP port pair from the pool and holds it for a call
    /// whose parameters are not known yet: its address goes into the SDP
    /// ([`PortReservation::advertised_rtp_addr`]), and
    /// [`MediaEngine::open_session_on`] opens the call on it once the
    /// offer/answer is done. Dropped unused, it frees the pair.
    pub fn reserve_ports(&self) -> Result<PortReservation, MediaError> {
        if self.inner.stop.load(Ordering::Relaxed) {
            return Err(MediaError::Stopped);
        }
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
            return Ok(PortReservation::new(rtp, rtcp, lease, cfg.advertised_ip)?);
        }
        Err(MediaError::PortsExhausted {
            first: *cfg.port_range.start(),
            last: *cfg.port_range.end(),
        })
    }

    /// Opens the media of one call: binds an RTP/RTCP port pair and hands the
    /// call to the least loaded worker. Put
    /// [`MediaSession::advertised_rtp_addr`] in the SDP. To know the port
    /// before the parameters, use [`MediaEngine::reserve_ports`] and
    /// [`MediaEngine::open_session_on`].
    pub fn open_session(&self, params: SessionParams) -> Result<MediaSession, MediaError> {
        params.validate()?;
        let reservation = self.reserve_ports()?;
        self.open_session_on(reservation, params)
    }

    /// Opens the media of one call on a port pair reserved by
    /// [`MediaEngine::reserve_ports`] (the one already in the SDP), with
    /// the negotiated parameters. On an error the reservation is dropped
    /// and its ports freed ([`SessionParams::validate`] checks the
    /// parameters beforehand).
    pub fn open_session_on(
        &self,
        reservation: PortReservation,
        params: SessionParams,
    ) -> Result<MediaSession, MediaError> {
        params.validate()?;
        if self.inner.stop.load(Ordering::Relaxed) {
            return Err(MediaError::Stopped);
        }
        let local_rtp = reservation.local_rtp_addr();
        let local_rtcp = reservation.local_rtcp_addr();
        let advertised_ip = reservation.advertised_ip();
        let PortReservation {
            rtp, rtcp, lease, ..
        } = reservation;
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
        let remote_rtp = params.remote_rtp;
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
            bridged: handle.bridged.clone(),
            local_rtp,
            local_rtcp,
            advertised_ip,
            remote_rtp: Mutex::new(remote_rtp),
            events: event_rx,
            frames: Some(FrameReceiver::new(frame_rx)),
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
    /// The bridged-frame queue of the call's worker.
    bridged: mpsc::UnboundedSender<BridgedFrame>,
    local_rtp: SocketAddr,
    local_rtcp: SocketAddr,
    advertised_ip: Option<IpAddr>,
    /// The remote RTP address last negotiated, for the route to it.
    remote_rtp: Mutex<Option<SocketAddr>>,
    events: mpsc::Receiver<MediaEvent>,
    frames: Option<FrameReceiver>,
    next_playback: AtomicU64,
}

impl MediaSession {
    fn send(&self, op: Op) -> Result<(), MediaError> {
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

    /// The address the RTP socket is bound to. With the engine bound to
    /// the unspecified address this is `0.0.0.0` (or `::`): for SDP use
    /// [`MediaSession::advertised_rtp_addr`].
    pub fn local_rtp_addr(&self) -> SocketAddr {
        self.local_rtp
    }

    /// The RTP address to write into SDP (`c=` and `m=`): the engine's
    /// [`EngineConfig::advertised_ip`] if set, else the bound address if
    /// it is a specific one, else the local address the kernel routes to
    /// the remote RTP address negotiated. Never the unspecified address:
    /// [`MediaError::NoAdvertisedAddress`] when none is known.
    pub fn advertised_rtp_addr(&self) -> Result<SocketAddr, MediaError> {
        let remote = *self
            .remote_rtp
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        advertised_addr(self.advertised_ip, self.local_rtp, remote)
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
        *self
            .remote_rtp
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = params.remote_rtp;
        self.send(Op::Update(Box::new(params)))
    }

    /// Queues 8 kHz samples to be sent after what is already queued; returns
    /// the id that [`MediaEvent::PlaybackFinished`] will carry.
    pub fn play(&self, samples: Vec<i16>) -> Result<PlaybackId, MediaError> {
        let id = PlaybackId(self.next_playback.fetch_add(1, Ordering::Relaxed));
        self.send(Op::Play { id, samples })?;
        Ok(id)
    }

    /// Queues one 20 ms frame without an id or finish event (streaming
    /// audio, echo); does not allocate.
    pub fn play_frame(&self, samples: &[i16; FRAME_SAMPLES]) -> Result<(), MediaError> {
        self.send(Op::Frame(*samples))
    }

    /// Drops all queued playback at once (barge-in); no more audio is sent
    /// after the current tick. Pending plays finish as `interrupted`, and
    /// keys queued by [`MediaSession::send_dtmf`] that have not started
    /// are cancelled, each reported as [`MediaEvent::DtmfCancelled`]. A key
    /// already being sent finishes first, with its end packets (or the
    /// rest of its tone): the far end never sees a key pressed without
    /// its release.
    pub fn clear_playback(&self) -> Result<(), MediaError> {
        self.send(Op::ClearPlayback)
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
        self.send(Op::Dtmf { digit, length })
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
        self.send(Op::StartRecording(Box::new(tap)))
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
        self.send(Op::StopRecording(reply))?;
        done.await.map_err(|_| MediaError::Stopped)?
    }

    /// Asks for a [`MediaEvent::Stats`] on the next tick.
    pub fn request_stats(&self) -> Result<(), MediaError> {
        self.send(Op::RequestStats)
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
        self.frames.as_mut().and_then(FrameReceiver::try_recv)
    }

    /// Moves the frame receiver out, e.g. into the task feeding speech
    /// recognition, while this handle keeps control and events;
    /// [`MediaError::FramesTaken`] if it was taken already.
    pub fn take_frames(&mut self) -> Result<FrameReceiver, MediaError> {
        self.frames.take().ok_or(MediaError::FramesTaken)
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
            Op::Bridge(Some(BridgeEnd {
                peer: to.id,
                tx: to.bridged.clone(),
                same_worker: to.bridged.same_channel(&from.bridged),
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

    /// Ends the call's media, waits until its sockets are closed and its
    /// ports are back in the pool, and returns the events not read yet.
    /// The last of them reports a key the caller was still holding (a
    /// hang-up during a key press): [`MediaEvent::Dtmf`] with the duration
    /// so far, after its [`MediaEvent::DtmfStarted`].
    pub async fn close(mut self) -> Vec<MediaEvent> {
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
        // The worker has dropped the call, and with it the sending side.
        let mut rest = Vec::new();
        while let Ok(event) = self.events.try_recv() {
            rest.push(event);
        }
        rest
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
                op: Op::Bridge(None),
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
