//! The media of one call inside a worker.
//!
//! [`CallMedia`] joins the call's parts, each with its own state and file:
//! the receive side ([`receive`]: reception statistics, playout, VAD), the
//! packet size on the wire both ways ([`ptime`]: jitter buffers and the
//! packet-size probe, the send packetizer), the send side ([`send`]: the
//! RTP stream and the playback queue), DTMF both ways ([`dtmf`]), the
//! recording ([`recording_tap`]) and RTCP ([`rtcp`]). What takes more than
//! one part (a packet that moves the latch and fills the jitter buffer, a
//! key that holds the audio back) is done here, and only here.

mod dtmf;
mod dtmf_receive;
mod ptime;
mod receive;
mod recording_tap;
mod rtcp;
mod send;

use super::batch::BATCH;
use super::bridge::BridgeEnd;
use super::config::EngineConfig;
use super::error::MediaError;
use super::event::AudioFrame;
use super::event::{
    FrameKind, MediaEvent, MediaStats, PlaybackId, RecordingSummary, FRAME_DURATION, FRAME_SAMPLES,
};
use super::latch::{Latch, LatchVerdict};
use super::params::SessionParams;
use super::ports::PortLease;
use super::tick::TickCtx;
use crate::rtcp::{mos_estimate, ntp_middle, ntp_timestamp, parse_compound, validate_compound};
use crate::rtcp::{RtcpPacket, SenderInfo};
use crate::rtp::RtpPacket;
use crate::vad::VadEvent;
use dtmf::{since_key_down, CallDtmf, DtmfSlot, Signal};
use ptime::MAX_PACKET_SAMPLES;
use receive::ReceiveSide;
pub(crate) use recording_tap::RecordingTap;
use recording_tap::{CallRecording, Side};
use rtcp::{random_seed, xorshift, RtcpState, MAX_INTERVAL};
use send::SendSide;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{mpsc, oneshot};

/// Datagrams read from one socket per tick at most, so one flooded call
/// cannot starve the others on its worker.
const MAX_READS_PER_TICK: usize = 64;

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

/// Which of a call's two sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MediaPort {
    Rtp,
    Rtcp,
}

/// Counters of what the call dropped or could not do, and of what it
/// handed on; the parts count their own traffic.
#[derive(Debug, Default, Clone, Copy)]
struct Counters {
    packets_received: u64,
    bytes_received: u64,
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

/// The periodic [`MediaEvent::Stats`].
#[derive(Debug)]
struct StatsTimer {
    interval: Duration,
    next: Instant,
    requested: bool,
}

/// One call's media state, owned by a worker.
#[derive(Debug)]
pub(crate) struct CallMedia {
    id: u64,
    params: SessionParams,
    rtp_timeout: Option<Duration>,
    latch: Latch,
    receive: ReceiveSide,
    send: SendSide,
    dtmf: CallDtmf,
    recording: CallRecording,
    rtcp: RtcpState,
    stats_timer: StatsTimer,
    bridge: Option<BridgeEnd>,
    counters: Counters,
    io: CallIo,
}

impl CallMedia {
    pub(crate) fn new(id: u64, config: &EngineConfig, params: SessionParams, io: CallIo) -> Self {
        let mut rng = random_seed() ^ id.rotate_left(32);
        let now = Instant::now();
        let ssrc = xorshift(&mut rng) as u32;
        let seq = xorshift(&mut rng) as u16;
        let ts_base = xorshift(&mut rng) as u32;
        let stats_interval = config.stats_interval.clamp(FRAME_DURATION, MAX_INTERVAL);
        CallMedia {
            id,
            latch: Latch::new(params.remote_rtp, config.latch_packets, config.relatch_idle),
            rtp_timeout: config.rtp_timeout,
            receive: ReceiveSide::new(id, config, &params),
            send: SendSide::new(ssrc, seq, ts_base, params.ptime),
            dtmf: CallDtmf::new(params.inband_dtmf),
            recording: CallRecording::default(),
            rtcp: RtcpState::new(config.rtcp_interval, &config.cname, rng, now),
            stats_timer: StatsTimer {
                interval: stats_interval,
                next: now + stats_interval,
                requested: false,
            },
            bridge: None,
            counters: Counters::default(),
            params,
            io,
        }
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
        self.send.start(tick);
    }

    fn emit(&mut self, event: MediaEvent) {
        if self.io.events.try_send(event).is_err() {
            self.counters.events_dropped += 1;
        }
    }

    // Operations the application asks for (through the worker).

    /// Applies renegotiated parameters (re-INVITE).
    pub(crate) fn update(&mut self, params: SessionParams) {
        if params.remote_rtp != self.params.remote_rtp {
            self.latch.resignal(params.remote_rtp);
            self.rtcp.source = None;
        }
        if params.ptime != self.params.ptime {
            // The receive side follows the packets themselves.
            self.send.set_ptime(params.ptime);
        }
        self.dtmf.set_inband(params.inband_dtmf);
        if params.direction.receives() && !self.params.direction.receives() {
            self.receive.resume(Instant::now());
        }
        self.params = params;
    }

    /// Queues a play after what is already queued.
    pub(crate) fn play(&mut self, id: PlaybackId, samples: Vec<i16>) {
        if !self.send.playback.play(id, samples) {
            self.emit(MediaEvent::PlaybackFinished {
                id,
                interrupted: false,
            });
        }
    }

    /// Queues 20 ms without an id (streaming, or a joined call's audio).
    pub(crate) fn play_frame(&mut self, samples: &[i16; FRAME_SAMPLES]) {
        self.send.playback.play_frame(samples);
    }

    /// Barge-in: drops the queued audio and the keys not yet started.
    pub(crate) fn clear_playback(&mut self) {
        self.send.playback.clear();
        while let Some(id) = self.send.playback.next_cut() {
            self.emit(MediaEvent::PlaybackFinished {
                id,
                interrupted: true,
            });
        }
        while let Some(q) = self.dtmf.send.queue.pop_front() {
            self.dtmf.send.cancelled += 1;
            self.emit(MediaEvent::DtmfCancelled {
                digit: q.digit,
                duration: q.length,
            });
        }
    }

    /// A [`MediaEvent::Stats`] on the next tick.
    pub(crate) fn request_stats(&mut self) {
        self.stats_timer.requested = true;
    }

    /// Joins the call to another (its frames go there), or unjoins it.
    pub(crate) fn set_bridge(&mut self, to: Option<BridgeEnd>) {
        self.bridge = to;
    }

    /// Queues a key press to send (see [`dtmf`]).
    pub(crate) fn queue_dtmf(&mut self, digit: char, length: Duration) {
        if !self.dtmf.send.push(digit, length) {
            tracing::debug!(call = self.id, %digit, "outgoing DTMF queue full, key dropped");
        }
    }

    /// Starts recording, finishing any recording already running.
    pub(crate) fn start_recording(&mut self, tap: RecordingTap) {
        self.recording.start(tap);
    }

    /// Stops recording; the writer thread answers on `reply`.
    pub(crate) fn stop_recording(
        &mut self,
        reply: oneshot::Sender<Result<RecordingSummary, MediaError>>,
    ) {
        self.recording.stop(reply);
    }

    // The worker's schedule.

    /// One 20 ms step: play out one frame, send, timers. The worker has
    /// read the call's sockets that had data ([`Self::receive`]). Returns
    /// whether a packet of the call is due on the half tick that follows
    /// (a ptime that is not a multiple of 20 ms).
    pub(crate) fn run_tick(&mut self, ctx: &mut TickCtx) -> bool {
        let now = ctx.now;
        self.play_out(ctx);
        self.send_tick(ctx);
        self.timers(ctx, now);
        let half = ctx.slot + 1;
        self.send
            .packetizer
            .as_ref()
            .is_some_and(|p| p.due_at(half))
            || self.dtmf.send.events_due(half)
    }

    /// The half tick between two ticks: sends the packet due then, if any.
    pub(crate) fn run_half_tick(&mut self, ctx: &mut TickCtx) {
        let audio = self
            .send
            .packetizer
            .as_ref()
            .is_some_and(|p| p.due_at(ctx.slot));
        let events = self.dtmf.send.events_due(ctx.slot);
        if !audio && !events {
            return;
        }
        let Some(to) = self.send_target() else {
            // Nowhere to send: the next tick deals with it.
            return;
        };
        if audio {
            self.send_due(ctx, to, false);
        }
        if let Some(mut active) = self.dtmf.send.active.take() {
            let elapsed = since_key_down(&active, ctx.slot);
            if let Signal::Events { payload_type, next } = &mut active.signal {
                self.send_due_events(ctx, Some(to), *payload_type, next, elapsed);
            }
            self.dtmf.send.active = Some(active);
        }
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
    #[inline]
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
                self.rtcp.source = None;
                self.emit(MediaEvent::RemoteAddressChanged { from, to });
            }
            LatchVerdict::Foreign => {
                self.counters.foreign_source += 1;
                return;
            }
        }
        self.receive.heard(now);
        if !self.params.direction.receives() {
            return;
        }
        let payload = packet.payload();
        self.counters.packets_received += 1;
        self.counters.bytes_received += payload.len() as u64;
        let (ssrc, seq, ts) = (packet.ssrc(), packet.sequence(), packet.timestamp());
        self.receive.reception.on_packet(ssrc, seq, ts, now);
        if is_event {
            self.counters.dtmf_packets += 1;
            self.receive_telephone_event(ts, payload, now);
        } else {
            self.receive
                .playout
                .receive_audio(seq, ts, ssrc, payload, read_at);
            self.receive.delivering = true;
        }
    }

    fn on_rtcp(&mut self, data: &[u8], src: SocketAddr, now: Instant) {
        if validate_compound(data).is_err() {
            self.counters.rtcp_malformed += 1;
            return;
        }
        self.counters.rtcp_received += 1;
        // Symmetric RTCP: answer where reports come from.
        self.rtcp.source = Some(src);
        let arrival = ntp_middle(ntp_timestamp(SystemTime::now()));
        for packet in parse_compound(data) {
            let Ok(packet) = packet else { break };
            match packet {
                RtcpPacket::SenderReport {
                    ssrc,
                    info,
                    reports,
                } => {
                    let reception = &mut self.receive.reception;
                    if reception.ssrc().is_none_or(|s| s == ssrc) {
                        reception.on_sender_report(info.ntp_timestamp, now);
                    }
                    self.rtcp.on_report_blocks(reports, self.send.ssrc, arrival);
                }
                RtcpPacket::ReceiverReport { reports, .. } => {
                    self.rtcp.on_report_blocks(reports, self.send.ssrc, arrival);
                }
                _ => {}
            }
        }
    }

    /// Pops, decodes and hands on one frame.
    fn play_out(&mut self, ctx: &mut TickCtx) {
        if !self.params.direction.receives() || !self.receive.delivering {
            return;
        }
        let (frame, vad) = self.receive.next_frame(self.params.codec);
        self.recording.record(Side::Caller, &frame.samples);
        if let Some(ev) = vad {
            self.emit(match ev {
                VadEvent::SpeechStarted { media_ts } => MediaEvent::SpeechStarted { media_ts },
                VadEvent::SpeechStopped { media_ts } => MediaEvent::SpeechStopped { media_ts },
            });
        }
        if frame.kind == FrameKind::Audio {
            self.detect_inband(&frame.samples, frame.media_ts);
        }
        if let Some(end) = &self.bridge {
            if end.same_worker {
                // The worker hands it over after this tick's calls have
                // run, where the queue would have at the start of the
                // next: same timing, no queue.
                ctx.forwarded.push((end.peer, frame.samples));
                self.counters.frames_delivered += 1;
            } else if end.tx.send((end.peer, frame.samples)).is_err() {
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

    /// Where RTP goes now, if we send at all.
    #[inline]
    fn send_target(&self) -> Option<SocketAddr> {
        self.latch
            .target()
            .filter(|_| self.params.direction.sends())
    }

    /// Sends this tick's audio (or key), if any.
    fn send_tick(&mut self, ctx: &mut TickCtx) {
        self.send.set_tick(ctx.tick);
        if self.send_dtmf_tick(ctx) == DtmfSlot::Taken {
            return;
        }
        let target = match self.send_target() {
            Some(t) if !self.send.playback.is_empty() || self.send.packetizer.is_some() => t,
            target => {
                // Silence, hold, or nowhere to send: the queue waits and the
                // next packet starts a talkspurt; what a packetizer
                // collected is dropped.
                if target.is_none() {
                    if let Some(p) = self.send.packetizer.as_mut() {
                        p.clear();
                    }
                }
                self.send.talking = false;
                return;
            }
        };
        let playing = !self.send.playback.is_empty();
        if !playing {
            // Only with a packetizer: the talkspurt's last packet goes out,
            // padded, at its time.
            if let Some(p) = self.send.packetizer.as_mut() {
                p.end_talkspurt();
            }
            self.send_due(ctx, target, false);
            if self.send.packetizer.as_ref().is_none_or(|p| p.is_empty()) {
                self.send.talking = false;
            }
            return;
        }
        let mut pcm = [0i16; FRAME_SAMPLES];
        self.send.playback.take_frame(&mut pcm);
        self.recording.record(Side::Agent, &pcm);
        self.finish_sent_plays();
        self.send_audio(ctx, target, &pcm);
    }

    /// Sends 20 ms of audio: one packet at 20 ms ptime, else into the
    /// packetizer, which sends what is due.
    #[inline]
    fn send_audio(&mut self, ctx: &mut TickCtx, to: SocketAddr, pcm: &[i16; FRAME_SAMPLES]) {
        let ts = self.send.ts;
        if let Some(p) = self.send.packetizer.as_mut() {
            if !p.has_room() {
                // Packets fell behind (a stalled worker): the oldest goes
                // now.
                self.send_due(ctx, to, true);
            }
            if let Some(p) = self.send.packetizer.as_mut() {
                p.push(pcm, ts);
            }
            self.send_due(ctx, to, false);
            return;
        }
        let mut payload = [0u8; FRAME_SAMPLES];
        self.params.codec.encode(pcm, &mut payload);
        let marker = !self.send.talking;
        let pt = self.params.payload_type;
        self.send_rtp(ctx, to, pt, marker, ts, &payload);
        self.send.talking = true;
    }

    /// Sends the packetizer's packet due in this slot (all of them when
    /// `now`, e.g. before a key press).
    fn send_due(&mut self, ctx: &mut TickCtx, to: SocketAddr, now: bool) {
        let mut pcm = [0i16; MAX_PACKET_SAMPLES];
        let mut payload = [0u8; MAX_PACKET_SAMPLES];
        loop {
            let Some(p) = self.send.packetizer.as_mut() else {
                return;
            };
            let Some((ts, n, first)) = p.take_due(ctx.slot, now, &mut pcm) else {
                return;
            };
            self.params.codec.encode(&pcm[..n], &mut payload[..n]);
            // A talkspurt's first packet: after silence, or after the
            // padded end of the previous one went out on a half tick.
            let marker = first || !self.send.talking;
            let pt = self.params.payload_type;
            self.send_rtp(ctx, to, pt, marker, ts, &payload[..n]);
            self.send.talking = true;
            if !now {
                return;
            }
        }
    }

    /// Sends one RTP packet of the call's stream.
    #[inline]
    fn send_rtp(
        &mut self,
        ctx: &mut TickCtx,
        to: SocketAddr,
        payload_type: u8,
        marker: bool,
        timestamp: u32,
        payload: &[u8],
    ) {
        let sent = self.send.send(
            &self.io.rtp,
            &mut ctx.out,
            to,
            payload_type,
            marker,
            timestamp,
            payload,
        );
        if sent.is_err() {
            self.counters.socket_errors += 1;
        }
    }

    /// Reports the plays whose last sample has been taken for sending.
    fn finish_sent_plays(&mut self) {
        while let Some(id) = self.send.playback.next_finished() {
            self.emit(MediaEvent::PlaybackFinished {
                id,
                interrupted: false,
            });
        }
    }

    /// Runs the outgoing DTMF for this tick (see [`dtmf`]); called once
    /// the tick's timestamp is set. Returns [`DtmfSlot::Taken`] when
    /// audio must not be sent this tick.
    fn send_dtmf_tick(&mut self, ctx: &mut TickCtx) -> DtmfSlot {
        if !self.dtmf.send.busy() {
            return DtmfSlot::Audio;
        }
        let target = self.send_target();
        if self.dtmf.send.active.is_none() {
            // Keys wait for somewhere to send them (hold, unknown remote).
            let Some(to) = target else {
                return DtmfSlot::Audio;
            };
            if ctx.tick < self.dtmf.send.pause_until {
                // The pause after a key; the next key and the audio wait.
                return DtmfSlot::Taken;
            }
            // Audio collected for a longer ptime goes out before the key.
            if let Some(p) = self.send.packetizer.as_mut() {
                p.end_talkspurt();
            }
            self.send_due(ctx, to, true);
            let (ts, pt, ptime) = (
                self.send.ts,
                self.params.telephone_event_pt,
                self.params.ptime,
            );
            if !self.dtmf.send.start_next(ctx.tick, ts, pt, ptime) {
                return DtmfSlot::Audio;
            }
            // The audio after the keys starts a new talkspurt.
            self.send.talking = false;
        }
        let Some(mut active) = self.dtmf.send.active.take() else {
            return DtmfSlot::Audio;
        };
        let elapsed = since_key_down(&active, ctx.slot);
        let mut tone = None;
        let finished = match &mut active.signal {
            Signal::Events { payload_type, next } => {
                self.send_due_events(ctx, target, *payload_type, next, elapsed)
            }
            Signal::Tone {
                generator,
                tone_left,
                pause_left,
            } => {
                let mut pcm = [0i16; FRAME_SAMPLES];
                let n = (*tone_left).min(FRAME_SAMPLES);
                generator.fill(&mut pcm[..n]);
                *tone_left -= n;
                if n < FRAME_SAMPLES {
                    *pause_left = pause_left.saturating_sub(FRAME_SAMPLES - n);
                }
                tone = Some(pcm);
                *tone_left == 0 && *pause_left == 0
            }
        };
        if let (Some(pcm), Some(to)) = (tone, target) {
            self.recording.record(Side::Agent, &pcm);
            // At a longer ptime the tone goes through the packetizer, and
            // the key's last packet out with the end of its pause.
            self.send_audio(ctx, to, &pcm);
            if finished {
                if let Some(p) = self.send.packetizer.as_mut() {
                    p.end_talkspurt();
                }
                self.send_due(ctx, to, true);
            }
        }
        if !finished {
            self.dtmf.send.active = Some(active);
            return DtmfSlot::Taken;
        }
        self.dtmf.send.sent += 1;
        self.dtmf.send.pause_until = active.next_key_tick;
        self.send.talking = false;
        if let Some(p) = self.send.packetizer.as_mut() {
            p.restart();
        }
        self.emit(MediaEvent::DtmfSent {
            digit: active.digit,
            duration: active.length,
            rtp_ts: active.timestamp,
        });
        DtmfSlot::Taken
    }

    /// Sends the key's event packets due `elapsed` after it went down
    /// (RFC 4733 §2.5.1: one per ptime, then the end packets); whether
    /// all have gone. Without a target they are passed over.
    fn send_due_events(
        &mut self,
        ctx: &mut TickCtx,
        target: Option<SocketAddr>,
        payload_type: u8,
        next: &mut usize,
        elapsed: Duration,
    ) -> bool {
        while let Some(&p) = self.dtmf.send.packets.get(*next) {
            if p.send_after > elapsed {
                break;
            }
            *next += 1;
            if let Some(to) = target {
                self.send_rtp(ctx, to, payload_type, p.marker, p.timestamp, &p.payload);
            }
        }
        *next >= self.dtmf.send.packets.len()
    }

    fn timers(&mut self, ctx: &mut TickCtx, now: Instant) {
        self.poll_telephone_event(now);
        if let Some(limit) = self.rtp_timeout {
            if self.params.direction.receives() {
                if let Some(silent_for) = self.receive.timeout(now, limit) {
                    self.emit(MediaEvent::Timeout { silent_for });
                }
            }
        }
        if self.rtcp.due(now) {
            self.send_rtcp(ctx, now);
        }
        let timer = &mut self.stats_timer;
        if timer.requested || now >= timer.next {
            timer.requested = false;
            if now >= timer.next {
                timer.next = now + timer.interval;
            }
            let mut stats = self.stats();
            stats.worker_overruns = ctx.overruns;
            stats.worker_ticks_skipped = ctx.ticks_skipped;
            self.emit(MediaEvent::Stats(stats));
        }
    }

    fn send_rtcp(&mut self, ctx: &mut TickCtx, now: Instant) {
        let target = self.rtcp.source.or(self.params.remote_rtcp).or_else(|| {
            self.latch
                .target()
                .map(|a| SocketAddr::new(a.ip(), a.port().wrapping_add(1)))
        });
        let Some(target) = target else { return };
        let sender = self.send.sent_since_report.then(|| SenderInfo {
            ntp_timestamp: ntp_timestamp(SystemTime::now()),
            rtp_timestamp: self.send.ts,
            packet_count: self.send.packets_sent as u32,
            octet_count: self.send.bytes_sent as u32,
        });
        self.send.sent_since_report = false;
        let written = self.rtcp.write_report(
            &mut ctx.out,
            self.send.ssrc,
            &mut self.receive.reception,
            sender,
            now,
        );
        let Some(len) = written else { return };
        match self.io.rtcp.send_to(&ctx.out[..len], target) {
            Ok(_) => self.counters.rtcp_sent += 1,
            Err(_) => self.counters.socket_errors += 1,
        }
    }

    /// A snapshot of the call's counters and quality.
    pub(crate) fn stats(&self) -> MediaStats {
        let jb = self.receive.playout.jitter_stats();
        let c = &self.counters;
        let reception = &self.receive.reception;
        let expected = u64::from(reception.expected());
        // Telephone events share the sequence space but bypass the jitter
        // buffer, which would otherwise count them as gaps.
        let lost = jb.lost.saturating_sub(c.dtmf_packets);
        let loss_pct = if expected > 0 {
            (lost as f64 * 100.0 / expected as f64).clamp(0.0, 100.0)
        } else {
            0.0
        };
        let jitter = reception.jitter_duration();
        let latency = self.rtcp.rtt.map_or(Duration::ZERO, |r| r / 2) + jb.delay;
        MediaStats {
            packets_received: c.packets_received,
            bytes_received: c.bytes_received,
            packets_sent: self.send.packets_sent,
            bytes_sent: self.send.bytes_sent,
            expected,
            lost,
            loss_pct,
            jitter,
            rtt: self.rtcp.rtt,
            mos: mos_estimate(latency, jitter, loss_pct),
            remote_loss_pct: self.rtcp.remote_loss,
            jitter_buffer_delay: jb.delay,
            jitter_buffer_target: jb.target,
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
            dtmf_malformed: self.dtmf.receive.malformed(),
            rtcp_received: c.rtcp_received,
            rtcp_sent: c.rtcp_sent,
            rtcp_malformed: c.rtcp_malformed,
            socket_errors: c.socket_errors,
            dtmf_sent: self.dtmf.send.sent(),
            dtmf_send_dropped: self.dtmf.send.dropped(),
            dtmf_send_cancelled: self.dtmf.send.cancelled(),
            recording_dropped: self.recording.dropped(),
            rx_ptime: self.receive.playout.ptime(),
            rx_ptime_changes: self.receive.playout.changes(),
            // Worker-wide: filled in by `timers`, which has the worker's
            // tick context.
            worker_overruns: 0,
            worker_ticks_skipped: 0,
        }
    }
}
