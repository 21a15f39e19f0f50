//! The media of one call inside a worker: receive, play out, send, RTCP.

mod dtmf_send;
mod ptime;
mod recording_tap;

use super::batch::{RecvBatch, BATCH};
use super::dtmf_events::DtmfEvents;
use super::latch::{Latch, LatchVerdict};
use super::ports::PortLease;
use super::worker::{Command, Op};
use super::{
    AudioFrame, EngineConfig, FrameKind, MediaEvent, PlaybackId, SessionParams, FRAME_DURATION,
    FRAME_SAMPLES,
};
use crate::dtmf::{DetectorConfig, DtmfDetector};
use crate::g711::Codec;
use crate::jitter::{Concealer, ConcealerConfig, JitterBuffer, JitterConfig};
use crate::rtcp::{
    mos_estimate, ntp_middle, ntp_timestamp, parse_compound, round_trip_time, validate_compound,
    write_receiver_report, write_sdes_cname, write_sender_report, ReceptionStats, ReportBlock,
    ReportBlocks, RtcpPacket, SenderInfo,
};
use crate::rtp::{RtpHeader, RtpPacket};
use crate::vad::{Vad, VadEvent};
use dtmf_send::{DtmfSend, DtmfSlot};
pub(crate) use ptime::ptime_supported;
use ptime::{Packetizer, Receive};
pub(crate) use recording_tap::RecordingTap;
use recording_tap::Side;
use std::collections::VecDeque;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::mpsc;

/// Datagrams read from one socket per tick at most, so one flooded call
/// cannot starve the others on its worker.
const MAX_READS_PER_TICK: usize = 64;
/// Longest RTCP or stats interval honoured (keeps timer arithmetic finite).
const MAX_INTERVAL: Duration = Duration::from_secs(3600);
/// A telephone event with no packets for this long is reported without
/// its end packet.
const DTMF_QUIET: Duration = Duration::from_secs(1);

/// A call's quality and error counters, sent in [`MediaEvent::Stats`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MediaStats {
    /// RTP packets accepted (audio and telephone events).
    pub packets_received: u64,
    /// RTP payload bytes accepted.
    pub bytes_received: u64,
    /// RTP packets sent.
    pub packets_sent: u64,
    /// RTP payload bytes sent.
    pub bytes_sent: u64,
    /// Packets expected from sequence numbers (RFC 3550).
    pub expected: u64,
    /// Audio packets never received (late packets are not lost).
    pub lost: u64,
    /// `lost / expected` in percent.
    pub loss_pct: f64,
    /// Interarrival jitter, ms (RFC 3550 A.8).
    pub jitter_ms: f64,
    /// Round-trip time from RTCP, once the far end reported on our SR.
    pub rtt_ms: Option<f64>,
    /// Estimated listening quality of the received audio (1.0 to 4.5).
    pub mos: f64,
    /// Loss of our audio as the far end reports it, percent.
    pub remote_loss_pct: Option<f64>,
    /// Current jitter buffer delay, ms.
    pub jitter_buffer_delay_ms: u32,
    /// Current jitter buffer target delay, ms.
    pub jitter_buffer_target_ms: u32,
    /// Packets that arrived after their frame was played.
    pub late: u64,
    /// Frames concealed (loss, lateness, buffer growth).
    pub concealed: u64,
    /// Frames of comfort noise.
    pub comfort_noise: u64,
    /// Duplicate packets dropped.
    pub duplicates: u64,
    /// Datagrams on the RTP port that are not RTP, dropped.
    pub malformed: u64,
    /// RTP packets with a payload type not negotiated, dropped.
    pub unknown_payload: u64,
    /// RTP from a source other than the latched one, dropped.
    pub foreign_source: u64,
    /// Times latching moved the send address.
    pub latch_changes: u32,
    /// Frames handed to the application (or to a joined call).
    pub frames_delivered: u64,
    /// Frames dropped because the application did not read them.
    pub frames_overflowed: u64,
    /// Events dropped because the application did not read them.
    pub events_dropped: u64,
    /// Telephone-event payloads that could not be parsed.
    pub dtmf_malformed: u64,
    /// RTCP compound packets received.
    pub rtcp_received: u64,
    /// RTCP compound packets sent.
    pub rtcp_sent: u64,
    /// Datagrams on the RTCP port that are not valid RTCP.
    pub rtcp_malformed: u64,
    /// Socket errors other than "would block".
    pub socket_errors: u64,
    /// Key presses sent by [`MediaSession::send_dtmf`](super::MediaSession::send_dtmf)
    /// (RFC 4733 or in-band).
    pub dtmf_sent: u64,
    /// Key presses dropped because too many were queued.
    pub dtmf_send_dropped: u64,
    /// Key presses cancelled by
    /// [`MediaSession::clear_playback`](super::MediaSession::clear_playback)
    /// before they started.
    pub dtmf_send_cancelled: u64,
    /// Times the call's worker fell more than 200 ms behind its 20 ms
    /// schedule (a stalled or overloaded machine) and skipped ticks;
    /// worker-wide, shared by the calls of the worker.
    pub worker_overruns: u64,
    /// 20 ms ticks the call's worker skipped in those overruns (each one
    /// a frame neither played out nor sent on time); worker-wide.
    pub worker_ticks_skipped: u64,
    /// Frames the running recording dropped because its writer fell
    /// behind (a slow disk); zero when not recording.
    pub recording_dropped: u64,
    /// Packetization of the audio received, ms: the negotiated ptime until
    /// the far end is seen sending packets of another size, which the
    /// receive side then follows (the send side keeps the negotiated one).
    pub rx_ptime_ms: u32,
    /// Times the receive side changed to another packet size because the
    /// far end's packets did.
    pub rx_ptime_changes: u32,
}

/// Sockets, ports and channels of one call. Field order matters: sockets
/// are dropped before the lease returns their ports.
#[derive(Debug)]
pub(crate) struct CallIo {
    pub(crate) rtp: UdpSocket,
    pub(crate) rtcp: UdpSocket,
    #[allow(dead_code)] // held for its Drop: returns the ports
    pub(crate) lease: PortLease,
    pub(crate) events: mpsc::Sender<MediaEvent>,
    pub(crate) frames: mpsc::Sender<AudioFrame>,
}

/// Scratch space and clock shared by the calls of one worker.
#[derive(Debug)]
pub(crate) struct TickCtx {
    pub(crate) tick: u64,
    /// When the current tick began; the timers of every call use it.
    pub(crate) now: Instant,
    pub(crate) overruns: u64,
    pub(crate) ticks_skipped: u64,
    batch: RecvBatch,
    out: Box<[u8]>,
    /// Frames of bridged calls for a call of the same worker, handed over
    /// once every call has run this tick (its capacity grows to the number
    /// of such calls once, then stays).
    pub(crate) forwarded: Vec<(u64, [i16; FRAME_SAMPLES])>,
}

impl TickCtx {
    pub(crate) fn new() -> Self {
        TickCtx {
            tick: 0,
            now: Instant::now(),
            overruns: 0,
            ticks_skipped: 0,
            batch: RecvBatch::new(),
            out: vec![0; 1500].into_boxed_slice(),
            forwarded: Vec::new(),
        }
    }
}

/// Where a bridged call's frames go (see [`crate::engine::MediaSession::join`]).
#[derive(Debug)]
pub(crate) struct BridgeEnd {
    /// The call receiving this call's frames.
    pub(crate) peer: u64,
    /// The worker of `peer`.
    pub(crate) tx: mpsc::UnboundedSender<Command>,
    /// `peer` runs on this call's worker: frames go through
    /// [`TickCtx::forwarded`] instead of the channel.
    pub(crate) same_worker: bool,
}

/// Which of a call's two sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MediaPort {
    Rtp,
    Rtcp,
}

#[derive(Debug, Default, Clone, Copy)]
struct Counters {
    packets_received: u64,
    bytes_received: u64,
    packets_sent: u64,
    bytes_sent: u64,
    dtmf_packets: u64,
    malformed: u64,
    unknown_payload: u64,
    foreign_source: u64,
    frames_delivered: u64,
    frames_overflowed: u64,
    events_dropped: u64,
    rtcp_received: u64,
    rtcp_sent: u64,
    rtcp_malformed: u64,
    socket_errors: u64,
}

/// Engine settings each call keeps.
#[derive(Debug, Clone)]
struct CallConfig {
    rtp_timeout: Option<Duration>,
    rtcp_interval: Duration,
    stats_interval: Duration,
    cname: String,
    jitter: JitterConfig,
    concealer: ConcealerConfig,
}

/// Random numbers for SSRC, initial sequence/timestamp and RTCP timing.
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let t = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    h.write_u64(t);
    h.finish() | 1
}

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// One call's media state, owned by a worker.
#[derive(Debug)]
pub(crate) struct CallMedia {
    id: u64,
    params: SessionParams,
    cfg: CallConfig,
    jitter: JitterBuffer,
    concealer: Concealer,
    reception: ReceptionStats,
    latch: Latch,
    dtmf: DtmfEvents,
    dtmf_send: DtmfSend,
    recording: Option<RecordingTap>,
    /// Receive packetization: follows the far end's packet size.
    rx: Receive,
    /// Send packetization at the negotiated ptime; `None` at 20 ms.
    packetizer: Option<Box<Packetizer>>,
    detector: Option<DtmfDetector>,
    vad: Option<Vad>,
    rtcp_source: Option<SocketAddr>,
    // Sending.
    ssrc: u32,
    seq: u16,
    ts_base: u32,
    start_tick: u64,
    current_ts: u32,
    talking: bool,
    playback: VecDeque<i16>,
    marks: VecDeque<(PlaybackId, u64)>,
    queued_total: u64,
    sent_total: u64,
    sent_since_report: bool,
    bridge: Option<BridgeEnd>,
    // Delivery.
    delivering: bool,
    frame_index: u64,
    // Timers.
    last_rtp: Instant,
    timed_out: bool,
    next_rtcp: Instant,
    next_stats: Instant,
    stats_requested: bool,
    rtt: Option<Duration>,
    remote_loss: Option<f64>,
    rng: u64,
    counters: Counters,
    io: CallIo,
}

impl CallMedia {
    pub(crate) fn new(id: u64, config: &EngineConfig, params: SessionParams, io: CallIo) -> Self {
        let mut rng = random_seed() ^ id.rotate_left(32);
        let ptime_ms = params.ptime_ms;
        let jitter_cfg = ptime::jitter_config(config.jitter, ptime_ms);
        let now = Instant::now();
        let ssrc = xorshift(&mut rng) as u32;
        let seq = xorshift(&mut rng) as u16;
        let ts_base = xorshift(&mut rng) as u32;
        let detector = params
            .inband_dtmf
            .then(|| DtmfDetector::new(DetectorConfig::default()));
        let mut call = CallMedia {
            id,
            latch: Latch::new(params.remote_rtp, config.latch_packets, config.relatch_idle),
            params,
            cfg: CallConfig {
                rtp_timeout: config.rtp_timeout,
                rtcp_interval: config.rtcp_interval.clamp(FRAME_DURATION, MAX_INTERVAL),
                stats_interval: config.stats_interval.clamp(FRAME_DURATION, MAX_INTERVAL),
                cname: config.cname.clone(),
                jitter: config.jitter,
                concealer: config.concealer,
            },
            jitter: JitterBuffer::new(jitter_cfg),
            concealer: Concealer::new(ptime::packet_samples(ptime_ms), config.concealer),
            reception: ReceptionStats::new(Codec::CLOCK_RATE),
            dtmf: DtmfEvents::new(Codec::CLOCK_RATE),
            dtmf_send: DtmfSend::default(),
            recording: None,
            rx: Receive::new(ptime_ms),
            packetizer: Packetizer::for_ptime(ptime_ms),
            detector,
            vad: config.vad.map(Vad::new),
            rtcp_source: None,
            ssrc,
            seq,
            ts_base,
            start_tick: 0,
            current_ts: ts_base,
            talking: false,
            playback: VecDeque::with_capacity(FRAME_SAMPLES * 8),
            marks: VecDeque::new(),
            queued_total: 0,
            sent_total: 0,
            sent_since_report: false,
            bridge: None,
            delivering: false,
            frame_index: 0,
            last_rtp: now,
            timed_out: false,
            next_rtcp: now,
            next_stats: now + config.stats_interval.clamp(FRAME_DURATION, MAX_INTERVAL),
            stats_requested: false,
            rtt: None,
            remote_loss: None,
            rng,
            counters: Counters::default(),
            io,
        };
        call.next_rtcp = now + call.rtcp_jittered();
        call
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// The RTP and RTCP sockets, for the worker's readiness registration.
    pub(crate) fn socket_fds(&self) -> [(MediaPort, RawFd); 2] {
        [
            (MediaPort::Rtp, self.io.rtp.as_raw_fd()),
            (MediaPort::Rtcp, self.io.rtcp.as_raw_fd()),
        ]
    }

    /// Called by the worker when the call joins its schedule.
    pub(crate) fn start(&mut self, tick: u64) {
        self.start_tick = tick;
    }

    /// The RTCP interval randomized to 0.5–1.5× (RFC 3550 §6.3.1).
    fn rtcp_jittered(&mut self) -> Duration {
        let r = (xorshift(&mut self.rng) % 1000) as f64 / 1000.0;
        self.cfg.rtcp_interval.mul_f64(0.5 + r)
    }

    fn emit(&mut self, event: MediaEvent) {
        if self.io.events.try_send(event).is_err() {
            self.counters.events_dropped += 1;
        }
    }

    /// Applies an application command.
    pub(crate) fn apply(&mut self, op: Op) {
        match op {
            Op::Update(params) => self.update(*params),
            Op::Play { id, samples } => {
                if samples.is_empty() {
                    self.emit(MediaEvent::PlaybackFinished {
                        id,
                        interrupted: false,
                    });
                    return;
                }
                self.queued_total += samples.len() as u64;
                self.playback.extend(samples);
                self.marks.push_back((id, self.queued_total));
            }
            Op::Frame(samples) => {
                self.queued_total += samples.len() as u64;
                self.playback.extend(samples);
            }
            Op::ClearPlayback => {
                self.playback.clear();
                self.sent_total = self.queued_total;
                while let Some((id, _)) = self.marks.pop_front() {
                    self.emit(MediaEvent::PlaybackFinished {
                        id,
                        interrupted: true,
                    });
                }
                self.cancel_queued_dtmf();
            }
            Op::RequestStats => self.stats_requested = true,
            Op::Bridge(to) => self.bridge = to,
            Op::Dtmf { digit, length } => self.queue_dtmf(digit, length),
            Op::StartRecording(tap) => self.start_recording(*tap),
            Op::StopRecording(reply) => self.stop_recording(reply),
        }
    }

    fn update(&mut self, params: SessionParams) {
        if params.remote_rtp != self.params.remote_rtp {
            self.latch.resignal(params.remote_rtp);
            self.rtcp_source = None;
        }
        if params.ptime_ms != self.params.ptime_ms {
            self.set_send_ptime(params.ptime_ms);
        }
        if params.inband_dtmf != self.params.inband_dtmf {
            self.detector = params
                .inband_dtmf
                .then(|| DtmfDetector::new(DetectorConfig::default()));
        }
        if params.direction.recv && !self.params.direction.recv {
            // Resumed: the silence on hold is not a timeout.
            self.last_rtp = Instant::now();
            self.timed_out = false;
        }
        self.params = params;
    }

    /// One 20 ms step: play out one frame, send one frame, timers. The
    /// worker has read the call's sockets that had data ([`Self::receive`]).
    pub(crate) fn run_tick(&mut self, ctx: &mut TickCtx) {
        let now = ctx.now;
        self.play_out(ctx);
        self.send_frame(ctx);
        self.timers(ctx, now);
    }

    /// Reads what waits on one of the call's sockets, up to
    /// `MAX_READS_PER_TICK` datagrams, [`BATCH`] per system call. Returns
    /// whether the socket may hold more (the cap was reached), so the worker
    /// reads it again next tick: readiness is edge-triggered and reports it
    /// only when another datagram arrives.
    pub(crate) fn receive(&mut self, ctx: &mut TickCtx, port: MediaPort) -> bool {
        // The jitter buffer sees packets when this tick reads them, not when
        // they reached the socket: a packet that just missed a read is not
        // playable until the next tick, and the buffer must size its delay
        // for that, or it trims and stretches around the tick phase.
        let read_at = Instant::now();
        let mut reads = 0;
        while reads < MAX_READS_PER_TICK {
            let socket = match port {
                MediaPort::Rtp => &self.io.rtp,
                MediaPort::Rtcp => &self.io.rtcp,
            };
            let n = match ctx.batch.recv(socket) {
                Ok(n) => n,
                Err(_) => {
                    // E.g. ICMP port unreachable for an earlier send: the
                    // error is consumed; datagrams may still be queued.
                    self.counters.socket_errors += 1;
                    reads += 1;
                    continue;
                }
            };
            for i in 0..n {
                let (data, src) = ctx.batch.datagram(i);
                let Some(src) = src else {
                    self.counters.socket_errors += 1;
                    continue;
                };
                match port {
                    MediaPort::Rtp => self.on_rtp(data, src, read_at, read_at),
                    MediaPort::Rtcp => self.on_rtcp(data, src, read_at),
                }
            }
            if n < BATCH {
                return false;
            }
            reads += n;
        }
        true
    }

    /// One RTP datagram, received at `now` and read by the tick at `read_at`.
    fn on_rtp(&mut self, data: &[u8], src: SocketAddr, now: Instant, read_at: Instant) {
        let Ok(packet) = RtpPacket::parse(data) else {
            self.counters.malformed += 1;
            return;
        };
        let pt = packet.payload_type();
        let is_audio = pt == self.params.payload_type;
        let is_event = Some(pt) == self.params.telephone_event_pt;
        if !is_audio && !is_event {
            self.counters.unknown_payload += 1;
            return;
        }
        match self.latch.on_packet(src, now) {
            LatchVerdict::Accept => {}
            LatchVerdict::Changed { from, to } => {
                self.rtcp_source = None;
                self.emit(MediaEvent::RemoteAddressChanged { from, to });
            }
            LatchVerdict::Foreign => {
                self.counters.foreign_source += 1;
                return;
            }
        }
        self.last_rtp = now;
        self.timed_out = false;
        if !self.params.direction.recv {
            return;
        }
        let payload = packet.payload();
        self.counters.packets_received += 1;
        self.counters.bytes_received += payload.len() as u64;
        let (ssrc, seq, ts) = (packet.ssrc(), packet.sequence(), packet.timestamp());
        self.reception.on_packet(ssrc, seq, ts, now);
        if is_event {
            self.counters.dtmf_packets += 1;
            for key in self.dtmf.on_packet(ts, payload, now).into_iter().flatten() {
                self.emit(MediaEvent::Dtmf {
                    digit: key.digit,
                    duration: key.duration,
                    media_ts: key.timestamp,
                });
            }
        } else {
            self.receive_audio(seq, ts, ssrc, payload, read_at);
            self.delivering = true;
        }
    }

    fn on_rtcp(&mut self, data: &[u8], src: SocketAddr, now: Instant) {
        if validate_compound(data).is_err() {
            self.counters.rtcp_malformed += 1;
            return;
        }
        self.counters.rtcp_received += 1;
        // Symmetric RTCP: answer where reports come from.
        self.rtcp_source = Some(src);
        let arrival = ntp_middle(ntp_timestamp(SystemTime::now()));
        for packet in parse_compound(data) {
            let Ok(packet) = packet else { break };
            match packet {
                RtcpPacket::SenderReport {
                    ssrc,
                    info,
                    reports,
                } => {
                    if self.reception.ssrc().is_none_or(|s| s == ssrc) {
                        self.reception.on_sender_report(info.ntp_timestamp, now);
                    }
                    self.on_report_blocks(reports, arrival);
                }
                RtcpPacket::ReceiverReport { reports, .. } => {
                    self.on_report_blocks(reports, arrival);
                }
                _ => {}
            }
        }
    }

    fn on_report_blocks(&mut self, reports: ReportBlocks<'_>, arrival: u32) {
        for block in reports {
            if block.ssrc != self.ssrc {
                continue;
            }
            if let Some(rtt) = round_trip_time(arrival, block.lsr, block.dlsr) {
                self.rtt = Some(rtt);
            }
            self.remote_loss = Some(block.loss_percent());
        }
    }

    /// Pops, decodes and hands on one frame.
    fn play_out(&mut self, ctx: &mut TickCtx) {
        if !self.params.direction.recv || !self.delivering {
            return;
        }
        let mut samples = [0i16; FRAME_SAMPLES];
        let (kind, energy) = self.pull_frame(&mut samples);
        let media_ts = (self.frame_index as u32).wrapping_mul(FRAME_SAMPLES as u32);
        self.record(Side::Caller, &samples);

        // VAD on every frame the caller hears, concealed ones included, so
        // its hangovers count real time.
        if let Some(ev) = self
            .vad
            .as_mut()
            .and_then(|v| v.process_energy(&samples, energy, media_ts))
        {
            self.emit(match ev {
                VadEvent::SpeechStarted { media_ts } => MediaEvent::SpeechStarted { media_ts },
                VadEvent::SpeechStopped { media_ts } => MediaEvent::SpeechStopped { media_ts },
            });
        }

        if kind == FrameKind::Audio {
            if let Some(detector) = self.detector.as_mut() {
                let mut found = None;
                detector.process(&samples, |d| found = Some(d));
                if let Some(digit) = found {
                    self.emit(MediaEvent::Dtmf {
                        digit,
                        duration: Duration::ZERO,
                        media_ts,
                    });
                }
            }
        }
        let frame = AudioFrame {
            index: self.frame_index,
            media_ts,
            kind,
            samples,
        };
        self.frame_index += 1;
        if let Some(end) = &self.bridge {
            if end.same_worker {
                // The worker hands it over after this tick's calls have
                // run, where the channel would have at the start of the
                // next: same timing, no channel.
                ctx.forwarded.push((end.peer, samples));
                self.counters.frames_delivered += 1;
            } else if end
                .tx
                .send(Command::Call {
                    id: end.peer,
                    op: Op::Frame(samples),
                })
                .is_err()
            {
                self.bridge = None;
                self.counters.frames_overflowed += 1;
            } else {
                self.counters.frames_delivered += 1;
            }
        } else if self.io.frames.try_send(frame).is_err() {
            self.counters.frames_overflowed += 1;
        } else {
            self.counters.frames_delivered += 1;
        }
    }

    /// Sends the next 20 ms of playback as one RTP packet, if any.
    fn send_frame(&mut self, ctx: &mut TickCtx) {
        let elapsed = ctx.tick.wrapping_sub(self.start_tick) as u32;
        self.current_ts = self
            .ts_base
            .wrapping_add(elapsed.wrapping_mul(FRAME_SAMPLES as u32));
        if self.send_dtmf_tick(ctx) == DtmfSlot::Taken || self.send_packetized(ctx) {
            return;
        }
        let target = match self.latch.target() {
            Some(t) if self.params.direction.send && !self.playback.is_empty() => t,
            _ => {
                // Silence, hold, or nowhere to send: the queue waits and the
                // next packet starts a talkspurt.
                self.talking = false;
                return;
            }
        };
        let mut pcm = [0i16; FRAME_SAMPLES];
        let n = self.playback.len().min(FRAME_SAMPLES);
        for (dst, src) in pcm.iter_mut().zip(self.playback.drain(..n)) {
            *dst = src;
        }
        self.record(Side::Agent, &pcm);
        let mut payload = [0u8; FRAME_SAMPLES];
        self.params.codec.encode(&pcm, &mut payload);
        let mut header = RtpHeader::new(
            self.params.payload_type,
            self.seq,
            self.current_ts,
            self.ssrc,
        );
        header.marker = !self.talking;
        match header.write_packet(&payload, 0, &mut ctx.out) {
            Ok(len) => match self.io.rtp.send_to(&ctx.out[..len], target) {
                Ok(_) => {
                    self.counters.packets_sent += 1;
                    self.counters.bytes_sent += payload.len() as u64;
                }
                Err(_) => self.counters.socket_errors += 1,
            },
            Err(_) => self.counters.socket_errors += 1,
        }
        self.seq = self.seq.wrapping_add(1);
        self.talking = true;
        self.sent_since_report = true;
        self.sent_total += n as u64;
        self.finish_sent_plays();
    }

    fn timers(&mut self, ctx: &mut TickCtx, now: Instant) {
        if let Some(key) = self.dtmf.poll(now, DTMF_QUIET) {
            self.emit(MediaEvent::Dtmf {
                digit: key.digit,
                duration: key.duration,
                media_ts: key.timestamp,
            });
        }
        if let Some(limit) = self.cfg.rtp_timeout {
            let silent_for = now.saturating_duration_since(self.last_rtp);
            if self.params.direction.recv && !self.timed_out && silent_for >= limit {
                self.timed_out = true;
                self.emit(MediaEvent::Timeout { silent_for });
            }
        }
        if now >= self.next_rtcp {
            self.send_rtcp(ctx, now);
            self.next_rtcp = now + self.rtcp_jittered();
        }
        if self.stats_requested || now >= self.next_stats {
            self.stats_requested = false;
            if now >= self.next_stats {
                self.next_stats = now + self.cfg.stats_interval;
            }
            let mut stats = self.stats();
            stats.worker_overruns = ctx.overruns;
            stats.worker_ticks_skipped = ctx.ticks_skipped;
            self.emit(MediaEvent::Stats(stats));
        }
    }

    fn send_rtcp(&mut self, ctx: &mut TickCtx, now: Instant) {
        let target = self.rtcp_source.or(self.params.remote_rtcp).or_else(|| {
            self.latch
                .target()
                .map(|a| SocketAddr::new(a.ip(), a.port().wrapping_add(1)))
        });
        let Some(target) = target else { return };
        let mut blocks = [ReportBlock::default(); 1];
        let reports: &[ReportBlock] = if self.reception.ssrc().is_some() {
            blocks[0] = self.reception.report_block(now);
            &blocks
        } else {
            &[]
        };
        let written = if self.sent_since_report {
            let info = SenderInfo {
                ntp_timestamp: ntp_timestamp(SystemTime::now()),
                rtp_timestamp: self.current_ts,
                packet_count: self.counters.packets_sent as u32,
                octet_count: self.counters.bytes_sent as u32,
            };
            write_sender_report(&mut ctx.out, self.ssrc, &info, reports)
        } else {
            write_receiver_report(&mut ctx.out, self.ssrc, reports)
        };
        self.sent_since_report = false;
        let Ok(len) = written else { return };
        let Ok(sdes) = write_sdes_cname(&mut ctx.out[len..], self.ssrc, self.cfg.cname.as_bytes())
        else {
            return;
        };
        match self.io.rtcp.send_to(&ctx.out[..len + sdes], target) {
            Ok(_) => self.counters.rtcp_sent += 1,
            Err(_) => self.counters.socket_errors += 1,
        }
    }

    /// A snapshot of the call's counters and quality.
    pub(crate) fn stats(&self) -> MediaStats {
        let jb = self.rx.jitter_stats(&self.jitter);
        let c = &self.counters;
        let expected = u64::from(self.reception.expected());
        // Telephone events share the sequence space but bypass the jitter
        // buffer, which would otherwise count them as gaps.
        let lost = jb.lost.saturating_sub(c.dtmf_packets);
        let loss_pct = if expected > 0 {
            (lost as f64 * 100.0 / expected as f64).clamp(0.0, 100.0)
        } else {
            0.0
        };
        let jitter_ms = self.reception.jitter_ms();
        let rtt_ms = self.rtt.map(|d| d.as_secs_f64() * 1000.0);
        let latency = rtt_ms.map_or(0.0, |r| r / 2.0) + f64::from(jb.delay_ms);
        MediaStats {
            packets_received: c.packets_received,
            bytes_received: c.bytes_received,
            packets_sent: c.packets_sent,
            bytes_sent: c.bytes_sent,
            expected,
            lost,
            loss_pct,
            jitter_ms,
            rtt_ms,
            mos: mos_estimate(latency, jitter_ms, loss_pct),
            remote_loss_pct: self.remote_loss,
            jitter_buffer_delay_ms: jb.delay_ms,
            jitter_buffer_target_ms: jb.target_ms,
            late: jb.late,
            concealed: jb.concealed,
            comfort_noise: jb.comfort_noise,
            duplicates: jb.duplicates,
            malformed: c.malformed,
            unknown_payload: c.unknown_payload,
            foreign_source: c.foreign_source,
            latch_changes: self.latch.changes(),
            frames_delivered: c.frames_delivered,
            frames_overflowed: c.frames_overflowed,
            events_dropped: c.events_dropped,
            dtmf_malformed: self.dtmf.malformed(),
            rtcp_received: c.rtcp_received,
            rtcp_sent: c.rtcp_sent,
            rtcp_malformed: c.rtcp_malformed,
            socket_errors: c.socket_errors,
            dtmf_sent: self.dtmf_send.sent(),
            dtmf_send_dropped: self.dtmf_send.dropped(),
            dtmf_send_cancelled: self.dtmf_send.cancelled(),
            recording_dropped: self.recording_dropped(),
            rx_ptime_ms: self.rx.ptime_ms(),
            rx_ptime_changes: self.rx.changes(),
            // Worker-wide: filled in by `timers`, which has the worker's
            // tick context.
            worker_overruns: 0,
            worker_ticks_skipped: 0,
        }
    }
}
