//! Packetization times other than 20 ms (RFC 4566 `a=ptime`: 10, 30, 40,
//! 60 ms ...), on the wire in both directions.
//!
//! The worker's tick and the frames the application sees stay 20 ms.
//!
//! The receive side works in packets of the size the far end really
//! sends, which is not always what the SDP said: providers send 30 ms
//! packets against `a=ptime:20`, or change the size mid-call after a
//! re-INVITE or a media switch. It starts at the negotiated ptime and
//! follows the packets: a G.711 payload's length is its duration (one
//! byte per sample), checked against the timestamp steps. Packets of
//! another size are held back (they would be misplaced by a jitter buffer
//! cut for the old size) until [`CONFIRM_PACKETS`] in a row agree, or
//! until the audio already buffered has all been played and nothing else
//! is left to play; then a jitter buffer for the new size takes them and
//! the old one plays out what it still holds first, so the application
//! sees the same continuous 20 ms frames across the change. A packet of
//! another size that stays alone goes into the jitter buffer as it is.
//! Each change is counted ([`MediaStats::rx_ptime_changes`](crate::engine::MediaStats::rx_ptime_changes)).
//!
//! The jitter buffer places packets by timestamp and counts loss by
//! sequence number, one push per packet; at 20 ms one jitter-buffer frame
//! is one delivered frame, at other sizes the decoded samples pass through
//! a small FIFO from which each tick takes 160.
//!
//! The send side stays on the negotiated ptime: 20 ms of playback per tick
//! goes into a [`Packetizer`] that cuts packets of a whole ptime, with
//! timestamps contiguous over the talkspurt, and sends one every ptime
//! (a 30 ms stream leaves every 30 ms, on the worker's 10 ms slots). A
//! play counts as sent (its `MediaEvent::PlaybackFinished`) once its last
//! sample is in the packetizer, up to one ptime before that packet leaves.

use crate::engine::event::{FrameKind, FRAME_SAMPLES};
use crate::engine::params::{self, ptime_samples};
use crate::g711::Codec;
use crate::jitter::{Concealer, ConcealerConfig, Frame, JitterBuffer, JitterConfig, JitterStats};
use std::time::{Duration, Instant};

/// Longest ptime accepted, in ms (960 G.711 bytes, within one MTU).
pub(crate) const MAX_PTIME_MS: u32 = 120;
/// Samples in the longest packet.
pub(crate) const MAX_PACKET_SAMPLES: usize = (MAX_PTIME_MS * 8) as usize;
/// Consecutive received packets of one new size that switch the receive
/// side to it (fewer when nothing else is left to play).
pub(crate) const CONFIRM_PACKETS: usize = 3;
/// Most packets a timestamp step between two held packets may span (lost
/// packets, or telephone events between them).
const MAX_STEP_PACKETS: u32 = 8;
/// Changes of the receive side's packet size allowed in a row; each
/// builds a jitter buffer, so a far end that keeps changing is followed
/// only every [`CHANGE_REFILL_PACKETS`] packets once they are used up (its
/// other packets go into the jitter buffer as they are).
const CHANGE_BURST: u32 = 4;
/// Received audio packets that earn back one change.
const CHANGE_REFILL_PACKETS: u32 = 50;

/// `ptime_ms` is a multiple of 10 between 10 and [`MAX_PTIME_MS`].
fn ptime_supported(ptime_ms: u32) -> bool {
    params::ptime_supported(Duration::from_millis(u64::from(ptime_ms)))
}

/// Samples (= G.711 bytes) in one packet of `ptime_ms`.
#[cfg(test)]
fn packet_samples(ptime_ms: u32) -> usize {
    (ptime_ms * Codec::CLOCK_RATE / 1000) as usize
}

/// The ptime of a G.711 payload of `len` bytes, if it is one the receive
/// side can be built for.
fn ptime_of(len: usize) -> Option<u32> {
    let samples_per_ms = (Codec::CLOCK_RATE / 1000) as usize;
    let ms = u32::try_from(len / samples_per_ms).ok()?;
    (len % samples_per_ms == 0 && ptime_supported(ms)).then_some(ms)
}

/// Jitter buffer settings for packets of `packet` samples.
fn jitter_config(base: JitterConfig, packet: usize) -> JitterConfig {
    JitterConfig {
        clock_rate: Codec::CLOCK_RATE,
        ptime: Duration::from_micros(packet as u64 * 1_000_000 / u64::from(Codec::CLOCK_RATE)),
        max_payload: base.max_payload.max(packet),
        ..base
    }
}

/// How bad a frame is, to label a 20 ms frame made of several packets by
/// its worst part.
fn severity(kind: FrameKind) -> u8 {
    match kind {
        FrameKind::Audio => 0,
        FrameKind::Concealed => 1,
        FrameKind::ComfortNoise => 2,
        FrameKind::Silence => 3,
    }
}

fn kind_of(frame: &Frame<'_>) -> FrameKind {
    match frame {
        Frame::Audio(_) => FrameKind::Audio,
        Frame::Concealed => FrameKind::Concealed,
        Frame::ComfortNoise => FrameKind::ComfortNoise,
        Frame::Empty => FrameKind::Silence,
    }
}

/// Decoded samples of received packets waiting to be played out in 20 ms
/// frames, with the kind of each stretch.
#[derive(Debug)]
pub(crate) struct RxFifo {
    samples: [i16; MAX_PACKET_SAMPLES + FRAME_SAMPLES],
    len: usize,
    /// (samples, kind) of the stretches in `samples`, oldest first: what
    /// is left of one packet and at most two more (packets are 10 ms or
    /// longer, and a frame is cut as soon as 20 ms are in).
    parts: [(usize, FrameKind); 3],
    n_parts: usize,
}

impl RxFifo {
    fn new() -> Self {
        RxFifo {
            samples: [0; MAX_PACKET_SAMPLES + FRAME_SAMPLES],
            len: 0,
            parts: [(0, FrameKind::Silence); 3],
            n_parts: 0,
        }
    }
}

/// One received packet held back while its size is being confirmed.
#[derive(Debug)]
struct Held {
    seq: u16,
    ts: u32,
    ssrc: u32,
    read_at: Instant,
    len: usize,
    payload: [u8; MAX_PACKET_SAMPLES],
}

/// Received packets of a size other than the jitter buffer's, held back
/// until enough agree. Allocated the first time such a packet arrives.
#[derive(Debug)]
struct Probe {
    held: [Held; CONFIRM_PACKETS - 1],
    n: usize,
}

impl Probe {
    fn new() -> Self {
        let empty = || Held {
            seq: 0,
            ts: 0,
            ssrc: 0,
            read_at: Instant::now(),
            len: 0,
            payload: [0; MAX_PACKET_SAMPLES],
        };
        Probe {
            held: std::array::from_fn(|_| empty()),
            n: 0,
        }
    }

    /// The packet continues the held ones: same source and size, and its
    /// timestamp a whole number of packets after the last one's.
    fn continues(&self, ssrc: u32, seq: u16, ts: u32, len: usize) -> bool {
        let Some(last) = self.n.checked_sub(1).and_then(|i| self.held.get(i)) else {
            return true;
        };
        let seq_step = u32::from(seq.wrapping_sub(last.seq));
        let ts_step = ts.wrapping_sub(last.ts);
        let packets = ts_step / len.max(1) as u32;
        last.ssrc == ssrc
            && last.len == len
            && (1..=MAX_STEP_PACKETS).contains(&seq_step)
            && ts_step % len.max(1) as u32 == 0
            && (1..=seq_step).contains(&packets)
    }

    fn hold(&mut self, seq: u16, ts: u32, ssrc: u32, payload: &[u8], read_at: Instant) {
        let Some(h) = self.held.get_mut(self.n) else {
            return;
        };
        let len = payload.len().min(MAX_PACKET_SAMPLES);
        h.payload[..len].copy_from_slice(&payload[..len]);
        h.len = len;
        h.seq = seq;
        h.ts = ts;
        h.ssrc = ssrc;
        h.read_at = read_at;
        self.n += 1;
    }
}

/// A jitter buffer replaced by one for another packet size, played out
/// before it until empty.
#[derive(Debug)]
struct Draining {
    jitter: JitterBuffer,
    packet: usize,
}

/// The received audio on its way to 20 ms frames: the jitter buffer (built
/// for the packet size the far end sends), loss concealment, and what
/// following a change of that size needs (the packet-size probe, the
/// buffer being replaced, the FIFO that cuts 20 ms frames).
#[derive(Debug)]
pub(crate) struct Playout {
    /// The call, for logs.
    call_id: u64,
    jitter: JitterBuffer,
    concealer: Concealer,
    /// The engine's settings, for the buffers built for another size.
    jitter_cfg: JitterConfig,
    concealer_cfg: ConcealerConfig,
    /// Samples per packet of the call's jitter buffer.
    packet: usize,
    /// The FIFO that cuts 20 ms frames; `None` while every packet received
    /// has been 20 ms.
    fifo: Option<Box<RxFifo>>,
    /// (SSRC, timestamp just after) the last packet the jitter buffer
    /// took, to tell whether packets of a new size continue the stream.
    last_end: Option<(u32, u32)>,
    probe: Option<Box<Probe>>,
    draining: Option<Box<Draining>>,
    /// Counters of the jitter buffers replaced so far.
    retired: JitterStats,
    changes: u32,
    /// Changes that may be made now, and audio packets received towards
    /// the next one ([`CHANGE_BURST`]).
    credit: u32,
    since_credit: u32,
}

impl Playout {
    /// Receiving packets of `ptime` to start with.
    pub(crate) fn new(
        call_id: u64,
        jitter_cfg: JitterConfig,
        concealer_cfg: ConcealerConfig,
        ptime: Duration,
    ) -> Self {
        let packet = ptime_samples(ptime);
        Playout {
            call_id,
            jitter: JitterBuffer::new(jitter_config(jitter_cfg, packet)),
            concealer: Concealer::new(packet, concealer_cfg),
            jitter_cfg,
            concealer_cfg,
            packet,
            fifo: (packet != FRAME_SAMPLES).then(|| Box::new(RxFifo::new())),
            last_end: None,
            probe: None,
            draining: None,
            retired: JitterStats::default(),
            changes: 0,
            credit: CHANGE_BURST,
            since_credit: 0,
        }
    }

    /// Takes one change from the credit, if there is one.
    fn take_change(&mut self) -> bool {
        let earned = self.since_credit / CHANGE_REFILL_PACKETS;
        self.since_credit -= earned * CHANGE_REFILL_PACKETS;
        self.credit = self.credit.saturating_add(earned).min(CHANGE_BURST);
        let ok = self.credit > 0;
        self.credit = self.credit.saturating_sub(1);
        ok
    }

    /// The packet time received.
    pub(crate) fn ptime(&self) -> Duration {
        Duration::from_micros(self.packet as u64 * 1_000_000 / u64::from(Codec::CLOCK_RATE))
    }

    /// Times the receive side changed its packet size.
    pub(crate) fn changes(&self) -> u32 {
        self.changes
    }

    fn held(&self) -> usize {
        self.probe.as_ref().map_or(0, |p| p.n)
    }

    /// RTP timestamp of the next sample the application will get, once a
    /// stream has started: the samples cut but not delivered yet come
    /// before the play head of the jitter buffer that refills the FIFO
    /// (the one being replaced, while it still has audio).
    pub(crate) fn next_delivered_ts(&self) -> Option<u32> {
        let refills = match &self.draining {
            Some(d) if !d.jitter.stats().delay.is_zero() => &d.jitter,
            _ => &self.jitter,
        };
        let buffered = self.fifo.as_ref().map_or(0, |f| f.len);
        Some(refills.play_head_timestamp()?.wrapping_sub(buffered as u32))
    }

    /// Counters of every jitter buffer of the call, with the delay of
    /// those still playing and the target of the current one.
    pub(crate) fn jitter_stats(&self) -> JitterStats {
        let now = self.jitter.stats();
        let mut total = self.retired;
        total.add_counters(&now);
        total.delay = now.delay;
        total.target = now.target;
        if let Some(d) = &self.draining {
            let old = d.jitter.stats();
            total.add_counters(&old);
            total.delay += old.delay;
        }
        total
    }
}

/// Playback collected into packets of the negotiated ptime, and sent one
/// every ptime.
///
/// The worker's tick adds 20 ms of audio at a time, so a packet of another
/// length is complete at an uneven rhythm (a 30 ms stream after 40, 60,
/// 100, 120 ms ...). Sent when complete, the packets would leave 20 and
/// 40 ms apart, which the far end measures as jitter. Instead the first
/// packet of a talkspurt leaves when it is complete and each next one a
/// ptime after the one before, on the worker's 10 ms slots (packets whose
/// time falls between two ticks go out on the half tick between them); a
/// packet is always complete by its time.
#[derive(Debug)]
pub(crate) struct Packetizer {
    packet: usize,
    samples: [i16; MAX_PACKET_SAMPLES + FRAME_SAMPLES],
    len: usize,
    /// RTP timestamp of `samples[0]`.
    ts: u32,
    /// 10 ms slots from one packet to the next.
    step: u64,
    /// The slot of the next packet, while a talkspurt is being sent.
    next_due: Option<u64>,
    /// The talkspurt has ended: the partial packet left goes out padded
    /// with silence, at its time.
    flush: bool,
}

impl Packetizer {
    /// The send side's packetizer for a negotiated `ptime`; `None` at
    /// 20 ms, where each tick sends its frame as one packet.
    pub(crate) fn for_ptime(ptime: Duration) -> Option<Box<Packetizer>> {
        let packet = ptime_samples(ptime);
        (packet != FRAME_SAMPLES).then(|| Box::new(Packetizer::with_samples(packet)))
    }

    #[cfg(test)]
    fn new(ptime_ms: u32) -> Self {
        Packetizer::with_samples(packet_samples(ptime_ms))
    }

    fn with_samples(packet: usize) -> Self {
        Packetizer {
            packet,
            samples: [0; MAX_PACKET_SAMPLES + FRAME_SAMPLES],
            len: 0,
            ts: 0,
            step: (packet / (FRAME_SAMPLES / 2)).max(1) as u64,
            next_due: None,
            flush: false,
        }
    }

    /// Samples per packet.
    #[cfg(test)]
    pub(crate) fn packet_samples(&self) -> usize {
        self.packet
    }

    /// Whether 20 ms more fit (they always do while packets leave on
    /// time; after a stall of the worker the oldest must go first).
    pub(crate) fn has_room(&self) -> bool {
        self.len + FRAME_SAMPLES <= self.samples.len()
    }

    /// Adds 20 ms of audio whose first sample has RTP timestamp `ts`; the
    /// talkspurt goes on (`flush` is cleared). The caller checks
    /// [`Packetizer::has_room`] first.
    pub(crate) fn push(&mut self, pcm: &[i16; FRAME_SAMPLES], ts: u32) {
        if self.len == 0 {
            self.ts = ts;
        }
        self.flush = false;
        let end = (self.len + FRAME_SAMPLES).min(self.samples.len());
        let n = end - self.len;
        self.samples[self.len..end].copy_from_slice(&pcm[..n]);
        self.len = end;
    }

    /// The talkspurt ended: what is left goes out padded, at its time.
    pub(crate) fn end_talkspurt(&mut self) {
        self.flush = true;
    }

    /// Drops what was collected (hold, nowhere to send).
    pub(crate) fn clear(&mut self) {
        self.len = 0;
        self.next_due = None;
        self.flush = false;
    }

    /// Nothing is waiting to be sent.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A packet is ready (whole, or the padded end of a talkspurt).
    fn ready(&self) -> bool {
        self.len >= self.packet || (self.flush && self.len > 0)
    }

    /// A packet is due at `slot`.
    pub(crate) fn due_at(&self, slot: u64) -> bool {
        self.ready() && self.next_due.is_none_or(|due| due <= slot)
    }

    /// The packet due at `slot`, if any, moved into `out` (padded with
    /// silence at the end of a talkspurt); returns its timestamp, its
    /// length and whether it starts a talkspurt. `now` takes the next
    /// ready packet whatever its time (before a key press, or to make
    /// room).
    pub(crate) fn take_due(
        &mut self,
        slot: u64,
        now: bool,
        out: &mut [i16],
    ) -> Option<(u32, usize, bool)> {
        if !(self.due_at(slot) || (now && self.ready())) {
            return None;
        }
        let first = self.next_due.is_none();
        // On time, the next packet is a ptime after this one; late (a
        // stalled worker), a ptime after now.
        let base = self.next_due.map_or(slot, |due| due.max(slot));
        let (ts, n) = self.take(self.flush, out)?;
        self.next_due = if self.len == 0 && self.flush {
            // The talkspurt is over: the next one starts when complete.
            self.flush = false;
            None
        } else {
            Some(base + self.step)
        };
        Some((ts, n, first))
    }

    /// The talkspurt is over (or was cut by a key press): the next packet
    /// starts a new one, sent as soon as it is complete.
    pub(crate) fn restart(&mut self) {
        self.next_due = None;
    }

    /// Moves the oldest packet (padded with silence when `flush`) into
    /// `out`; returns its timestamp and length.
    fn take(&mut self, flush: bool, out: &mut [i16]) -> Option<(u32, usize)> {
        if self.len == 0 || (self.len < self.packet && !flush) {
            return None;
        }
        let n = self.packet;
        let have = self.len.min(n);
        out[..have].copy_from_slice(&self.samples[..have]);
        out[have..n].fill(0);
        self.samples.copy_within(have..self.len, 0);
        self.len -= have;
        let ts = self.ts;
        self.ts = self.ts.wrapping_add(n as u32);
        Some((ts, n))
    }
}

impl Playout {
    /// One received audio packet: into the jitter buffer, or held back
    /// while a new packet size is being confirmed (see the module
    /// documentation).
    pub(crate) fn receive_audio(
        &mut self,
        seq: u16,
        ts: u32,
        ssrc: u32,
        payload: &[u8],
        read_at: Instant,
    ) {
        let len = payload.len();
        self.since_credit = self.since_credit.saturating_add(1);
        let other_size = len != self.packet && ptime_of(len).is_some();
        if !other_size {
            if self.held() > 0 {
                // The other size did not last: its packets play as they are.
                self.release_held();
            }
            self.push_audio(seq, ts, ssrc, payload, read_at);
            return;
        }
        if self
            .probe
            .as_ref()
            .is_some_and(|p| !p.continues(ssrc, seq, ts, len))
        {
            self.release_held();
        }
        if self.held() + 1 >= CONFIRM_PACKETS {
            self.switch_rx_ptime(Some((seq, ts, ssrc, payload, read_at)));
        } else {
            // Allocated once per call, by the first packet of another size.
            let probe = self.probe.get_or_insert_with(|| Box::new(Probe::new()));
            probe.hold(seq, ts, ssrc, payload, read_at);
        }
    }

    fn push_audio(&mut self, seq: u16, ts: u32, ssrc: u32, payload: &[u8], read_at: Instant) {
        self.jitter.push(seq, ts, ssrc, payload, read_at);
        self.last_end = Some((ssrc, ts.wrapping_add(payload.len() as u32)));
    }

    /// Pushes the held packets into the jitter buffer as they are.
    fn release_held(&mut self) {
        let Some(mut probe) = self.probe.take() else {
            return;
        };
        for h in &probe.held[..probe.n] {
            self.push_audio(h.seq, h.ts, h.ssrc, &h.payload[..h.len], h.read_at);
        }
        probe.n = 0;
        self.probe = Some(probe);
    }

    /// Switches the receive side to the size of the held packets (and of
    /// `incoming`, the packet that confirmed it, if any): a new jitter
    /// buffer takes them, the old one plays out what it still holds.
    fn switch_rx_ptime(&mut self, incoming: Option<(u16, u32, u32, &[u8], Instant)>) {
        if !self.take_change() {
            tracing::debug!(
                call = self.call_id,
                "far end keeps changing its packet size; packets taken as they are"
            );
            self.release_held();
            if let Some((seq, ts, ssrc, payload, read_at)) = incoming {
                self.push_audio(seq, ts, ssrc, payload, read_at);
            }
            return;
        }
        let Some(mut probe) = self.probe.take() else {
            return;
        };
        let first = probe.held[..probe.n]
            .first()
            .map(|h| (h.ssrc, h.ts, h.len))
            .or(incoming.map(|(_, ts, ssrc, p, _)| (ssrc, ts, p.len())));
        let Some((ssrc, ts, len)) = first else {
            self.probe = Some(probe);
            return;
        };
        let Some(ptime_ms) = ptime_of(len) else {
            self.probe = Some(probe);
            self.release_held();
            return;
        };
        let old_ptime = self.ptime();
        let old_packet = self.packet;
        let old = std::mem::replace(
            &mut self.jitter,
            JitterBuffer::new(jitter_config(self.jitter_cfg, len)),
        );
        if let Some(gone) = self.draining.take() {
            // A second change before the first one played out: what the
            // oldest buffer still held is given up.
            let mut s = gone.jitter.stats();
            let samples = s.delay.as_micros() * u128::from(Codec::CLOCK_RATE) / 1_000_000;
            s.dropped += u64::try_from(samples / gone.packet.max(1) as u128).unwrap_or(u64::MAX);
            self.retired.add_counters(&s);
        }
        let before = old.stats();
        // The new buffer picks up where the old one stops, without a
        // fill-up delay of its own, when the old one still has audio to
        // play or the new packets continue its last one; after a pause
        // it fills up as at the start of a stream.
        let continues = !before.delay.is_zero() || self.last_end == Some((ssrc, ts));
        if !before.delay.is_zero() {
            self.draining = Some(Box::new(Draining {
                jitter: old,
                packet: old_packet,
            }));
        } else {
            self.retired.add_counters(&before);
        }
        self.packet = len;
        self.fifo.get_or_insert_with(|| Box::new(RxFifo::new()));
        self.concealer = Concealer::new(len.max(old_packet), self.concealer_cfg);
        let skip = if continues { self.fill_up_frames() } else { 0 };
        for (i, h) in probe.held[..probe.n].iter().enumerate() {
            self.push_audio(h.seq, h.ts, h.ssrc, &h.payload[..h.len], h.read_at);
            if i == 0 {
                self.skip_fill_up(skip);
            }
        }
        if let Some((seq, ts, ssrc, payload, read_at)) = incoming {
            self.push_audio(seq, ts, ssrc, payload, read_at);
            if probe.n == 0 {
                self.skip_fill_up(skip);
            }
        }
        probe.n = 0;
        self.probe = Some(probe);
        self.changes = self.changes.saturating_add(1);
        tracing::info!(
            call = self.call_id,
            from = ?old_ptime,
            to = ?Duration::from_millis(u64::from(ptime_ms)),
            "far end sends another packet size; receive side follows"
        );
    }

    /// Frames a new jitter buffer fills up with before playing its first
    /// packet: its initial target, less the frame played.
    fn fill_up_frames(&self) -> u128 {
        let ptime = self.jitter.config().ptime.as_nanos().max(1);
        (self.jitter.target_delay().as_nanos() / ptime).saturating_sub(1)
    }

    /// Moves a jitter buffer that has just taken its first packet straight
    /// to it, past the `frames` of its fill-up (the audio before it, or the
    /// buffer it replaces, provides that delay).
    fn skip_fill_up(&mut self, frames: u128) {
        for _ in 0..frames {
            // Before its first packet's frame the buffer only counts pops.
            let _ = self.jitter.pop();
        }
    }

    /// The next 20 ms frame of received audio: one jitter-buffer frame
    /// while packets are 20 ms, else from the FIFO refilled one packet at
    /// a time (from the buffer being replaced first, while it has audio).
    /// Also returns the frame's sum of squared samples, for the VAD gate.
    pub(crate) fn pull_frame(
        &mut self,
        codec: Codec,
        out: &mut [i16; FRAME_SAMPLES],
    ) -> (FrameKind, u64) {
        if self.held() > 0 && self.jitter_stats().delay.is_zero() {
            // Nothing else to play: the held packets are the stream now.
            self.switch_rx_ptime(None);
        }
        let Some(fifo) = self.fifo.as_mut() else {
            let frame = self.jitter.pop();
            let kind = kind_of(&frame);
            let (_, energy) = self.concealer.render_energy(frame, codec, out);
            return (kind, energy);
        };
        while fifo.len < FRAME_SAMPLES {
            let draining = match self.draining.as_mut() {
                Some(d) if !d.jitter.stats().delay.is_zero() => Some(d),
                Some(_) => {
                    if let Some(d) = self.draining.take() {
                        self.retired.add_counters(&d.jitter.stats());
                    }
                    None
                }
                None => None,
            };
            let (jitter, packet) = match draining {
                Some(d) => (&mut d.jitter, d.packet),
                None => (&mut self.jitter, self.packet),
            };
            let frame = jitter.pop();
            let kind = kind_of(&frame);
            let slot = &mut fifo.samples[fifo.len..fifo.len + packet];
            slot.fill(0);
            self.concealer.render(frame, codec, slot);
            fifo.len += packet;
            if fifo.n_parts < fifo.parts.len() {
                fifo.parts[fifo.n_parts] = (packet, kind);
                fifo.n_parts += 1;
            }
        }
        out.copy_from_slice(&fifo.samples[..FRAME_SAMPLES]);
        fifo.samples.copy_within(FRAME_SAMPLES..fifo.len, 0);
        fifo.len -= FRAME_SAMPLES;
        // Label by the worst stretch the frame overlaps, and consume it.
        let mut need = FRAME_SAMPLES;
        let mut kind = FrameKind::Audio;
        while need > 0 && fifo.n_parts > 0 {
            let (left, k) = &mut fifo.parts[0];
            if severity(*k) > severity(kind) {
                kind = *k;
            }
            let used = need.min(*left);
            *left -= used;
            need -= used;
            if *left == 0 {
                fifo.parts.copy_within(1..fifo.n_parts, 0);
                fifo.n_parts -= 1;
            }
        }
        (kind, crate::energy::sum_of_squares(out))
    }
}

// The integration tests' own copy: one source for both.
#[cfg(test)]
#[path = "../../../tests/common/delivered.rs"]
mod delivered;

#[cfg(test)]
mod tests {
    use super::delivered::found_in_order;
    use super::*;
    use crate::engine::call::{CallIo, CallMedia};
    use crate::engine::ports::{PortLease, PortPool};
    use crate::engine::{EngineConfig, SessionParams};
    use crate::rtp::RtpHeader;
    use std::net::{SocketAddr, UdpSocket};
    use std::sync::{Arc, Mutex};
    use tokio::sync::mpsc;

    fn ms(v: u32) -> Duration {
        Duration::from_millis(u64::from(v))
    }

    fn frame(v: i16) -> [i16; FRAME_SAMPLES] {
        [v; FRAME_SAMPLES]
    }

    /// A call negotiated at `ptime_ms` with the engine's jitter buffer
    /// floored at `min_delay` and started there (so that it never trims a frame of
    /// these short streams, which is its own business), its far end at
    /// the returned address. Its sockets are real but unused: packets and
    /// ticks are driven by hand.
    fn call(ptime_ms: u32, min_delay: Duration) -> (CallMedia, SocketAddr) {
        let pool = Arc::new(Mutex::new(PortPool::new(&(40_000..=40_001))));
        let far: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let mut params = SessionParams::new(Codec::Pcmu);
        params.remote_rtp = Some(far);
        params.ptime = ms(ptime_ms);
        let mut config = EngineConfig {
            vad: None,
            ..EngineConfig::default()
        };
        config.jitter.min_delay = min_delay;
        config.jitter.initial_delay = min_delay;
        config.jitter.max_delay = config.jitter.max_delay.max(2 * min_delay);
        let io = CallIo {
            rtp: UdpSocket::bind("127.0.0.1:0").unwrap(),
            rtcp: UdpSocket::bind("127.0.0.1:0").unwrap(),
            lease: PortLease::take(&pool).unwrap(),
            events: mpsc::channel(1024).0,
            frames: mpsc::channel(1).0,
        };
        (CallMedia::new(1, &config, params, io), far)
    }

    /// Distinct noise, so that every packet's audio is found only where
    /// it belongs.
    fn noise(n: usize) -> Vec<i16> {
        let mut x = 0x2545_f491_u32;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x % 6001) as i16 - 3000
            })
            .collect()
    }

    /// What a call delivered from a paced stream of packets.
    struct Played {
        /// The payloads sent, in order.
        packets: Vec<Vec<u8>>,
        /// Every delivered frame's samples, in order, and kinds.
        delivered: Vec<i16>,
        kinds: Vec<FrameKind>,
        stats: crate::engine::MediaStats,
        jitter: JitterStats,
    }

    /// Plays a stream of packets of `sizes_ms` through a call negotiated
    /// at `ptime_ms`, on a clock of its own: each packet arrives when the
    /// audio before it has played (read on the next tick), each tick pops
    /// one frame, and ticks run on for a second after the last packet.
    fn play(ptime_ms: u32, sizes_ms: &[u32]) -> Played {
        play_with(ptime_ms, sizes_ms, EngineConfig::default().jitter.min_delay)
    }

    /// [`play`] with the jitter buffer floored at `min_delay`.
    fn play_with(ptime_ms: u32, sizes_ms: &[u32], min_delay: Duration) -> Played {
        let (mut call, far) = call(ptime_ms, min_delay);
        let sizes: Vec<usize> = sizes_ms.iter().map(|&ms| packet_samples(ms)).collect();
        let audio = noise(sizes.iter().sum());
        let start = Instant::now();
        let mut packets = Vec::new();
        let (mut at, mut seq, mut ts) = (0usize, 40_000u16, 3_000_000u32);
        for &n in &sizes {
            let mut payload = vec![0u8; n];
            Codec::Pcmu.encode(&audio[at..at + n], &mut payload);
            let mut header = RtpHeader::new(0, seq, ts, 0x5157);
            header.marker = at == 0;
            let mut pkt = vec![0u8; 12 + n];
            let len = header.write_packet(&payload, 0, &mut pkt).unwrap();
            pkt.truncate(len);
            let due = start + Duration::from_micros(at as u64 * 125);
            packets.push((due, pkt, payload));
            at += n;
            seq = seq.wrapping_add(1);
            ts = ts.wrapping_add(n as u32);
        }
        let ticks = audio.len() / FRAME_SAMPLES + 50;
        let (mut delivered, mut kinds) = (Vec::new(), Vec::new());
        let mut next = 0;
        for tick in 0..ticks {
            // Ticks run 5 ms after the packet grid, as a worker's would at
            // some phase of its own.
            let now = start + Duration::from_millis(20 * tick as u64 + 5);
            while let Some((due, pkt, _)) = packets.get(next) {
                if *due > now {
                    break;
                }
                call.on_rtp(pkt, far, now, now);
                next += 1;
            }
            if call.receive.delivering {
                let mut out = [0i16; FRAME_SAMPLES];
                let (kind, _) = call.receive.playout.pull_frame(Codec::Pcmu, &mut out);
                delivered.extend_from_slice(&out);
                kinds.push(kind);
            }
        }
        Played {
            packets: packets.into_iter().map(|(_, _, p)| p).collect(),
            delivered,
            kinds,
            stats: call.stats(),
            jitter: call.receive.playout.jitter_stats(),
        }
    }

    impl Played {
        /// Every packet's audio comes out whole and in order, none is
        /// lost, late or thrown away, and no frame in between is anything
        /// but audio except where the jitter buffer grew its delay to its
        /// target in whole packets of the new size (a stretch: nothing is
        /// lost, one packet's time is concealed); at most `stretches`, and
        /// one more at the end of the stream, where the buffer runs dry.
        fn assert_continuous(&self, stretches: u64) {
            let found = found_in_order(&self.delivered, &self.packets);
            let st = &self.stats;
            let jb = &self.jitter;
            assert_eq!(found, self.packets.len(), "{:?} {jb:?}", self.kinds);
            assert_eq!((st.lost, st.late, jb.dropped), (0, 0, 0), "{st:?} {jb:?}");
            assert!(jb.stretched <= stretches + 1, "{:?} {jb:?}", self.kinds);
            let audio = |k: &FrameKind| *k == FrameKind::Audio;
            let first = self.kinds.iter().position(audio).unwrap();
            let last = self.kinds.iter().rposition(audio).unwrap();
            let other = self.kinds[first..=last]
                .iter()
                .filter(|k| !audio(k))
                .count();
            // A concealed packet of up to 60 ms spans up to 4 frames.
            assert!(other as u64 <= 4 * jb.stretched, "{:?} {jb:?}", self.kinds);
        }
    }

    fn run(ms: u32, n: usize) -> impl Iterator<Item = u32> {
        std::iter::repeat_n(ms, n)
    }

    #[test]
    fn a_far_end_sending_30_ms_on_a_20_ms_call_is_followed_from_the_first_packet() {
        let p = play(20, &run(30, 60).collect::<Vec<_>>());
        p.assert_continuous(0);
        assert_eq!((p.stats.rx_ptime, p.stats.rx_ptime_changes), (ms(30), 1));
    }

    #[test]
    fn a_change_of_packet_size_mid_stream_is_followed_without_a_gap() {
        // The delay the jitter buffer targets is whole packets: its 40 ms
        // floor is 60 ms in 30 ms packets, and 10 ms packets read on a
        // 20 ms tick need one more; it grows to that once (a stretch).
        for (from, to, stretches) in [
            (20, 30, 1),
            (20, 40, 0),
            (20, 60, 1),
            (20, 120, 1),
            (20, 10, 1),
            (30, 20, 0),
        ] {
            let sizes: Vec<u32> = run(from, 40).chain(run(to, 2400 / to as usize)).collect();
            let p = play(from, &sizes);
            p.assert_continuous(stretches);
            assert_eq!(
                (p.stats.rx_ptime, p.stats.rx_ptime_changes),
                (ms(to), 1),
                "{from} -> {to}"
            );
        }
    }

    #[test]
    fn with_a_deep_buffer_the_old_one_plays_out_before_the_new_one() {
        // 160 ms buffered when the new size is confirmed, three packets
        // after it started: both buffers hold audio for a while.
        for (to, stretches) in [(30, 1), (40, 0), (10, 1)] {
            let sizes: Vec<u32> = run(20, 40).chain(run(to, 2400 / to as usize)).collect();
            let p = play_with(20, &sizes, Duration::from_millis(160));
            p.assert_continuous(stretches);
            assert_eq!(
                (p.stats.rx_ptime, p.stats.rx_ptime_changes),
                (ms(to), 1),
                "20 -> {to}"
            );
        }
    }

    #[test]
    fn changes_back_and_forth_are_each_followed() {
        let sizes: Vec<u32> = run(20, 30).chain(run(40, 20)).chain(run(20, 30)).collect();
        let p = play(20, &sizes);
        p.assert_continuous(0);
        assert_eq!((p.stats.rx_ptime, p.stats.rx_ptime_changes), (ms(20), 2));
    }

    #[test]
    fn a_single_packet_of_another_size_plays_whole_and_the_size_returns() {
        // A 30 ms packet among 20 ms ones: when the buffer runs dry it is
        // all there is to play, so the receive side takes its size and
        // returns to 20 ms with the next packets.
        let sizes: Vec<u32> = run(20, 30).chain([30]).chain(run(20, 30)).collect();
        let p = play(20, &sizes);
        p.assert_continuous(1);
        assert_eq!(p.stats.rx_ptime, ms(20));
    }

    #[test]
    fn a_far_end_that_keeps_changing_is_followed_only_now_and_then() {
        // Three packets of 20 ms, three of 40 ms, and so on, for 4.8 s.
        let sizes: Vec<u32> = (0..20).flat_map(|_| run(20, 3).chain(run(40, 3))).collect();
        let p = play(20, &sizes);
        let changes = p.stats.rx_ptime_changes;
        let packets = sizes.len() as u32;
        assert!(
            changes <= CHANGE_BURST + packets / CHANGE_REFILL_PACKETS,
            "{changes} changes in {packets} packets"
        );
        assert!(changes > CHANGE_BURST, "followed now and then: {changes}");
    }

    #[test]
    fn the_send_side_keeps_the_negotiated_ptime() {
        let (mut call, _) = call(20, Duration::from_millis(40));
        call.update({
            let mut p = call.params.clone();
            p.ptime = ms(40);
            p
        });
        assert!(call
            .send
            .packetizer
            .as_ref()
            .is_some_and(|p| p.packet_samples() == 320));
        assert_eq!(
            call.receive.playout.ptime(),
            ms(20),
            "the receive side follows packets"
        );
    }

    #[test]
    fn packetizer_cuts_30_ms_packets_with_contiguous_timestamps() {
        let mut p = Packetizer::new(30);
        let mut out = [0i16; MAX_PACKET_SAMPLES];
        p.push(&frame(1), 1000);
        assert_eq!(p.take(false, &mut out), None, "20 ms is not a packet yet");
        p.push(&frame(2), 1160);
        assert_eq!(p.take(false, &mut out), Some((1000, 240)));
        assert!(out[..160].iter().all(|&x| x == 1));
        assert!(out[160..240].iter().all(|&x| x == 2));
        assert_eq!(p.take(false, &mut out), None);
        // End of the talkspurt: the 10 ms left go out padded.
        assert_eq!(p.take(true, &mut out), Some((1240, 240)));
        assert!(out[..80].iter().all(|&x| x == 2));
        assert!(out[80..240].iter().all(|&x| x == 0));
        assert_eq!(p.take(true, &mut out), None);
        // A new talkspurt takes the timestamp of its first frame.
        p.push(&frame(3), 5000);
        assert_eq!(p.take(true, &mut out), Some((5000, 240)));
    }

    /// Pushes 20 ms per tick (two slots) into a packetizer of `ptime_ms`
    /// and returns the slots its packets are taken at, one per due slot.
    fn send_slots(ptime_ms: u32, ticks: u64) -> Vec<u64> {
        let mut p = Packetizer::new(ptime_ms);
        let mut out = [0i16; MAX_PACKET_SAMPLES];
        let mut slots = Vec::new();
        for tick in 0..ticks {
            for slot in [2 * tick, 2 * tick + 1] {
                if slot % 2 == 0 {
                    assert!(p.has_room());
                    p.push(&frame(1), (tick * 160) as u32);
                }
                if let Some((ts, n, _)) = p.take_due(slot, false, &mut out) {
                    assert_eq!(ts as usize, slots.len() * n, "timestamps contiguous");
                    slots.push(slot);
                }
            }
        }
        slots
    }

    #[test]
    fn packets_of_30_ms_are_taken_every_30_ms_on_10_ms_slots() {
        // Complete at 20, 40, 80, 100 ms ...; sent at 20, 50, 80, 110 ms.
        assert_eq!(send_slots(30, 12), [2, 5, 8, 11, 14, 17, 20, 23]);
        assert_eq!(send_slots(10, 3), [0, 1, 2, 3, 4, 5]);
        assert_eq!(send_slots(40, 8), [2, 6, 10, 14]);
        assert_eq!(send_slots(120, 12), [10, 22]);
    }

    #[test]
    fn the_end_of_a_talkspurt_goes_out_padded_at_its_time() {
        let mut p = Packetizer::new(30);
        let mut out = [0i16; MAX_PACKET_SAMPLES];
        p.push(&frame(1), 0);
        assert_eq!(p.take_due(0, false, &mut out), None);
        p.push(&frame(2), 160);
        assert_eq!(p.take_due(2, false, &mut out), Some((0, 240, true)));
        p.end_talkspurt();
        assert_eq!(p.take_due(4, false, &mut out), None, "due at slot 5");
        assert_eq!(p.take_due(5, false, &mut out), Some((240, 240, false)));
        assert!(out[..80].iter().all(|&x| x == 2));
        assert!(out[80..240].iter().all(|&x| x == 0));
        assert!(p.is_empty());
        // The next talkspurt starts as soon as its first packet is whole.
        p.push(&frame(3), 5000);
        p.push(&frame(3), 5160);
        assert_eq!(p.take_due(6, false, &mut out), Some((5000, 240, true)));
    }

    #[test]
    fn packetizer_splits_a_frame_into_10_ms_packets() {
        let mut p = Packetizer::new(10);
        let mut out = [0i16; MAX_PACKET_SAMPLES];
        p.push(&frame(7), 0);
        assert_eq!(p.take(false, &mut out), Some((0, 80)));
        assert_eq!(p.take(false, &mut out), Some((80, 80)));
        assert_eq!(p.take(false, &mut out), None);
    }

    #[test]
    fn supported_ptimes() {
        for ok in [10, 20, 30, 40, 60, 120] {
            assert!(ptime_supported(ok), "{ok}");
        }
        for bad in [0, 5, 25, 130, u32::MAX] {
            assert!(!ptime_supported(bad), "{bad}");
        }
        assert_eq!(
            jitter_config(JitterConfig::default(), packet_samples(60)).max_payload,
            480
        );
        assert_eq!(
            jitter_config(JitterConfig::default(), packet_samples(20)).max_payload,
            320
        );
    }
}
