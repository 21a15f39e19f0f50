//! Adaptive jitter buffer for fixed-ptime audio, and loss concealment.
//!
//! Packets from a phone network arrive with variable delay, out of order,
//! duplicated, or not at all, and the far end's sample clock never quite
//! matches ours. [`JitterBuffer`] turns that into one frame per ptime:
//!
//! - Storage is a ring of fixed-size slots allocated once at construction;
//!   `push` copies the payload into the slot for its frame, so the receive
//!   path never allocates.
//! - Frames are placed by RTP timestamp (not sequence number), so silence
//!   suppression gaps and reordering land in the right place.
//! - The target delay follows the measured delay spread (max − min transit
//!   time over the last few seconds) within `[min_delay, max_delay]`.
//! - Depth is trimmed when it stays above what the jitter needs (a fast
//!   far-end clock) and stretched by a concealed frame when it runs dry (a
//!   slow clock, a stall, or a jitter increase), so delay stays bounded.
//! - A new SSRC, or a timestamp jump confirmed by the next packet, resyncs.
//!
//! [`Concealer`] then works on decoded samples: it repeats the last good
//! frame with a fade and falls back to comfort noise.

use crate::energy::sum_of_squares;
use crate::g711::Codec;
use std::time::{Duration, Instant};

/// Settings of a [`JitterBuffer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JitterConfig {
    /// RTP clock rate of the payload (8000 for G.711).
    pub clock_rate: u32,
    /// Packetization time: audio per packet and per `pop` (20 ms typical).
    pub ptime: Duration,
    /// Largest payload accepted, in bytes; bigger packets are dropped and counted.
    pub max_payload: usize,
    /// Smallest target delay.
    pub min_delay: Duration,
    /// Largest target delay; depth beyond it is discarded.
    pub max_delay: Duration,
    /// Target delay before any jitter has been measured.
    pub initial_delay: Duration,
    /// Consecutive missing frames reported as [`Frame::Concealed`] before
    /// switching to [`Frame::ComfortNoise`].
    pub conceal_frames: u32,
}

impl Default for JitterConfig {
    fn default() -> Self {
        JitterConfig {
            clock_rate: 8000,
            ptime: Duration::from_millis(20),
            max_payload: 320,
            min_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(200),
            initial_delay: Duration::from_millis(60),
            conceal_frames: 3,
        }
    }
}

/// What to play for the next ptime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// The payload of the packet due now, still encoded.
    Audio(&'a [u8]),
    /// The packet due now is missing (lost, late, or the buffer ran dry):
    /// conceal it from the previous audio.
    Concealed,
    /// Missing for longer than concealment should cover, or re-buffering
    /// after a resync: play comfort noise.
    ComfortNoise,
    /// No packet has been received yet (or still filling to the initial delay).
    Empty,
}

/// Counters of a [`JitterBuffer`], for logs and RTCP-XR style reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JitterStats {
    /// Current buffered delay: the frames from the play head to the
    /// newest received, at the buffer's ptime.
    pub delay: Duration,
    /// Current target delay.
    pub target: Duration,
    /// Packets accepted into the buffer.
    pub received: u64,
    /// Packets that arrived after their frame was played or skipped.
    pub late: u64,
    /// Packets never received, from sequence-number gaps (RFC 3550
    /// expected − received; late packets count as received, not lost).
    pub lost: u64,
    /// `Concealed` frames returned (losses and stretches).
    pub concealed: u64,
    /// `ComfortNoise` frames returned.
    pub comfort_noise: u64,
    /// Packets received twice.
    pub duplicates: u64,
    /// Resynchronisations (new SSRC or confirmed timestamp jump).
    pub resyncs: u64,
    /// Frames discarded to reduce delay (clock drift or a burst).
    pub dropped: u64,
    /// Frames inserted to grow delay (buffer ran dry or jitter grew).
    pub stretched: u64,
    /// Packets larger than `max_payload`, dropped.
    pub oversize: u64,
    /// Single packets with an unconfirmed timestamp jump, dropped.
    pub outliers: u64,
}

impl JitterStats {
    /// Adds the counters of `other` to these (for a call whose packets
    /// went through more than one buffer); the delay and target, which
    /// are states and not counts, are left alone. Every counter is named
    /// here, so a new one cannot be forgotten.
    pub(crate) fn add_counters(&mut self, other: &JitterStats) {
        let JitterStats {
            delay: _,
            target: _,
            received,
            late,
            lost,
            concealed,
            comfort_noise,
            duplicates,
            resyncs,
            dropped,
            stretched,
            oversize,
            outliers,
        } = *other;
        self.received += received;
        self.late += late;
        self.lost += lost;
        self.concealed += concealed;
        self.comfort_noise += comfort_noise;
        self.duplicates += duplicates;
        self.resyncs += resyncs;
        self.dropped += dropped;
        self.stretched += stretched;
        self.oversize += oversize;
        self.outliers += outliers;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotState {
    Empty,
    Filled,
    Played,
    Skipped,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    frame: i64,
    state: SlotState,
    len: usize,
}

impl Slot {
    /// The slot holds a packet for `frame`, waiting or played: another
    /// one for it is a duplicate.
    #[inline]
    fn holds(&self, frame: i64) -> bool {
        self.frame == frame && matches!(self.state, SlotState::Filled | SlotState::Played)
    }
}

/// Exact division of a `u32` by a divisor fixed at construction, by one
/// multiplication with a precomputed reciprocal (Lemire, Kaser & Kurz,
/// "Faster remainder by direct computation", 2019): a hardware divide
/// costs more than the rest of a slot lookup, and `push` needs one or two
/// (frame offsets from RTP timestamps).
#[derive(Debug, Clone, Copy)]
struct Divisor {
    d: u32,
    /// ceil(2^64 / d).
    m: u64,
}

impl Divisor {
    fn new(d: u32) -> Self {
        let d = d.max(1);
        Divisor {
            d,
            m: (u64::MAX / u64::from(d)).wrapping_add(1),
        }
    }

    /// `x / d`, exact for every `u32` `x`.
    #[inline]
    fn div(self, x: u32) -> u32 {
        if self.d == 1 {
            return x;
        }
        ((u128::from(self.m) * u128::from(x)) >> 64) as u32
    }

    /// `x.div_euclid(d)` for any `i64`: the fast path covers the values the
    /// buffer sees (offsets within ±2^32 timestamp units).
    #[inline]
    fn div_euclid(self, x: i64) -> i64 {
        match u32::try_from(x.unsigned_abs()) {
            Ok(a) if x >= 0 => i64::from(self.div(a)),
            Ok(a) => {
                let q = self.div(a);
                let exact = q.wrapping_mul(self.d) == a;
                -i64::from(q) - i64::from(!exact)
            }
            Err(_) => x.div_euclid(i64::from(self.d)),
        }
    }
}

/// Consecutive late packets after which the buffer resyncs to them.
const LATE_RUN_RESYNC: u32 = 5;

/// Pops per adaptation window (and packets per jitter window).
const WINDOW: u32 = 50;

/// Consecutive adaptation windows with a surplus frame before it is
/// trimmed, once the stream has needed a stretch. A stretch means a packet
/// came later than the depth allowed; giving that frame back as soon as one
/// window does not use it drops a real frame, only to stretch again at the
/// next such packet (trim, stretch, trim: one lost and one concealed frame
/// every few seconds, on a stream whose late packets are too rare for the
/// spread window to keep). Until the first stretch one window is enough, so
/// the buffer still settles from its initial delay within a second. Eight
/// windows still trim faster than any real clock drift accumulates (one
/// frame per 20 s at 0.1 %).
const TRIM_AFTER_WINDOWS: u32 = 8;

/// Delay-spread estimator: max − min transit time over the current and the
/// previous window of packets, so old spikes age out.
///
/// Transit times are integer nanoseconds: exact, and cheaper per packet
/// than floating-point seconds.
#[derive(Debug, Clone, Copy)]
struct SpreadEstimator {
    cur_min: i64,
    cur_max: i64,
    /// Lowest and highest of the current and the previous window.
    lo: i64,
    hi: i64,
    count: u32,
}

impl SpreadEstimator {
    fn new() -> Self {
        SpreadEstimator {
            cur_min: i64::MAX,
            cur_max: i64::MIN,
            lo: i64::MAX,
            hi: i64::MIN,
            count: 0,
        }
    }

    /// Adds a packet's transit time; returns the spread in nanoseconds.
    #[inline]
    fn add(&mut self, transit_ns: i64) -> i64 {
        self.cur_min = self.cur_min.min(transit_ns);
        self.cur_max = self.cur_max.max(transit_ns);
        self.lo = self.lo.min(transit_ns);
        self.hi = self.hi.max(transit_ns);
        self.count += 1;
        if self.count >= WINDOW {
            // The current window becomes the previous one.
            self.lo = self.cur_min;
            self.hi = self.cur_max;
            self.cur_min = i64::MAX;
            self.cur_max = i64::MIN;
            self.count = 0;
        }
        self.hi.saturating_sub(self.lo)
    }
}

/// Adaptive jitter buffer for one audio stream with a fixed ptime.
#[derive(Debug)]
pub struct JitterBuffer {
    cfg: JitterConfig,
    /// Timestamp units per frame.
    spf: u32,
    /// Division by `spf`.
    spf_div: Divisor,
    /// Slots in use: frames more than this ahead of the play head do not
    /// fit. The ring itself is the next power of two, so that a frame's
    /// slot is a mask of its index rather than a division.
    capacity: i64,
    /// Ring length − 1.
    slot_mask: u64,
    /// Packetization time in nanoseconds (at least 1 ms).
    ptime_ns: i64,
    min_frames: i64,
    max_frames: i64,
    slots: Box<[Slot]>,
    storage: Box<[u8]>,
    ssrc: Option<u32>,
    /// RTP timestamp of frame 0.
    ref_ts: u32,
    /// Next frame to play.
    play_index: i64,
    /// First frame of the current sync; earlier pops are pre-fill.
    start_frame: i64,
    /// Highest frame received since the last sync.
    newest: i64,
    ever_played: bool,
    target_frames: i64,
    missing_run: u32,
    late_run: u32,
    /// Extended sequence numbers of the current sync: first, highest, and
    /// distinct packets received; `lost_before` carries earlier syncs.
    seq_first: i64,
    seq_max: i64,
    seq_received: i64,
    lost_before: u64,
    pending_jump: Option<(u32, u16, u32)>,
    spread: SpreadEstimator,
    /// The spread `target_frames` was last computed from.
    spread_seen: Option<i64>,
    epoch: Option<Instant>,
    win_pops: u32,
    win_min_depth: i64,
    win_max_depth: i64,
    /// Consecutive windows that ended with a surplus frame.
    surplus_windows: u32,
    /// The stream has needed a stretch: trims wait for a steady surplus.
    stretched_in_stream: bool,
    stats: JitterStats,
}

impl JitterBuffer {
    /// Creates a buffer, allocating all slots up front.
    ///
    /// Out-of-range settings are corrected rather than rejected: ptime is at
    /// least 1 ms, `min_delay ≤ initial_delay ≤ max_delay`, and `max_delay`
    /// is at least one ptime.
    pub fn new(config: JitterConfig) -> Self {
        let mut cfg = config;
        cfg.clock_rate = cfg.clock_rate.max(1);
        cfg.ptime = cfg.ptime.max(Duration::from_millis(1));
        cfg.max_delay = cfg.max_delay.max(cfg.ptime);
        cfg.min_delay = cfg.min_delay.min(cfg.max_delay);
        cfg.initial_delay = cfg.initial_delay.clamp(cfg.min_delay, cfg.max_delay);
        let ptime_s = cfg.ptime.as_secs_f64();
        let spf = ((f64::from(cfg.clock_rate) * ptime_s).round() as u32).max(1);
        let frames = |d: Duration| ((d.as_secs_f64() / ptime_s).ceil() as i64).max(1);
        let min_frames = frames(cfg.min_delay);
        let max_frames = frames(cfg.max_delay).max(min_frames);
        let n = (2 * max_frames + 4) as usize;
        let ring = n.next_power_of_two();
        let empty = Slot {
            frame: i64::MIN,
            state: SlotState::Empty,
            len: 0,
        };
        JitterBuffer {
            spf,
            spf_div: Divisor::new(spf),
            capacity: n as i64,
            slot_mask: ring as u64 - 1,
            ptime_ns: i64::try_from(cfg.ptime.as_nanos()).unwrap_or(i64::MAX),
            min_frames,
            max_frames,
            slots: vec![empty; ring].into_boxed_slice(),
            storage: vec![0u8; ring * cfg.max_payload].into_boxed_slice(),
            ssrc: None,
            ref_ts: 0,
            play_index: 0,
            start_frame: 0,
            newest: -1,
            ever_played: false,
            target_frames: frames(cfg.initial_delay).clamp(min_frames, max_frames),
            missing_run: 0,
            late_run: 0,
            seq_first: 0,
            seq_max: -1,
            seq_received: 0,
            lost_before: 0,
            pending_jump: None,
            spread: SpreadEstimator::new(),
            spread_seen: None,
            epoch: None,
            win_pops: 0,
            win_min_depth: i64::MAX,
            win_max_depth: 0,
            surplus_windows: 0,
            stretched_in_stream: false,
            stats: JitterStats::default(),
            cfg,
        }
    }

    /// The configuration in effect (after corrections).
    pub fn config(&self) -> &JitterConfig {
        &self.cfg
    }

    fn capacity(&self) -> i64 {
        self.capacity
    }

    /// The slot of `frame`: distinct for any `capacity` consecutive frames
    /// (the two's complement mask is the Euclidean remainder).
    #[inline]
    fn slot_index(&self, frame: i64) -> usize {
        (frame as u64 & self.slot_mask) as usize
    }

    /// Frames buffered from the play head up to the newest received.
    #[inline]
    fn depth(&self) -> i64 {
        (self.newest - self.play_index + 1).max(0)
    }

    /// Counters and current delay.
    pub fn stats(&self) -> JitterStats {
        let span = |frames: i64| self.cfg.ptime * u32::try_from(frames).unwrap_or(u32::MAX);
        JitterStats {
            delay: span(self.depth()),
            target: span(self.target_frames),
            lost: self.lost_before + self.lost_in_sync(),
            ..self.stats
        }
    }

    /// Current target delay.
    pub fn target_delay(&self) -> Duration {
        self.cfg.ptime * self.target_frames as u32
    }

    /// RTP timestamp of the frame the next [`JitterBuffer::pop`] plays,
    /// once a stream has started; it advances with every pop (pre-fill
    /// included) except a stretch. Places other packets of the stream,
    /// such as telephone events, on the playout timeline.
    pub(crate) fn play_head_timestamp(&self) -> Option<u32> {
        self.ssrc.map(|_| self.head_ts())
    }

    /// Starts a new playout timeline with `ts` as its first packet.
    fn sync(&mut self, ssrc: u32, ts: u32) {
        if self.ssrc.is_some() {
            self.stats.resyncs += 1;
        }
        self.lost_before += self.lost_in_sync();
        self.seq_max = -1;
        self.seq_received = 0;
        for s in self.slots.iter_mut() {
            s.state = SlotState::Empty;
            s.frame = i64::MIN;
        }
        self.ssrc = Some(ssrc);
        self.stretched_in_stream = false;
        self.surplus_windows = 0;
        self.start_frame = self.target_frames - 1;
        self.ref_ts = ts.wrapping_sub(self.start_frame as u32 * self.spf);
        self.play_index = 0;
        self.newest = self.start_frame - 1;
        self.pending_jump = None;
        self.spread = SpreadEstimator::new();
        self.spread_seen = None;
        self.epoch = None;
        self.missing_run = 0;
        self.late_run = 0;
    }

    fn lost_in_sync(&self) -> u64 {
        if self.seq_max < self.seq_first {
            return 0;
        }
        (self.seq_max - self.seq_first + 1 - self.seq_received).max(0) as u64
    }

    /// Tracks the sequence number of a distinct (non-duplicate) packet.
    #[inline]
    fn track_seq(&mut self, seq: u16) {
        if self.seq_max < self.seq_first {
            self.seq_first = i64::from(seq);
            self.seq_max = i64::from(seq);
        } else {
            let diff = i64::from(seq.wrapping_sub(self.seq_max as u16) as i16);
            self.seq_max = self.seq_max.max(self.seq_max + diff);
            self.seq_first = self.seq_first.min(self.seq_max + diff);
        }
        self.seq_received += 1;
    }

    /// Counts a late packet; a run of them means the sender's timeline
    /// went backwards (e.g. paused without advancing timestamps), so resync.
    fn late(&mut self, ssrc: u32, timestamp: u32) -> bool {
        self.late_run += 1;
        if self.late_run >= LATE_RUN_RESYNC {
            self.sync(ssrc, timestamp);
            return true;
        }
        self.stats.late += 1;
        false
    }

    /// Frame offset of `ts` from the play head (negative = already due).
    #[inline]
    fn offset_from_head(&self, ts: u32) -> i64 {
        let delta = i64::from(ts.wrapping_sub(self.head_ts()) as i32);
        self.spf_div.div_euclid(delta)
    }

    /// RTP timestamp of the frame at the play head.
    #[inline]
    fn head_ts(&self) -> u32 {
        self.ref_ts
            .wrapping_add((self.play_index as u32).wrapping_mul(self.spf))
    }

    /// Offers one received packet. The payload is copied into a preallocated
    /// slot; packets that are duplicate, late, oversize or an unconfirmed
    /// jump are dropped and counted.
    #[inline]
    pub fn push(&mut self, seq: u16, timestamp: u32, ssrc: u32, payload: &[u8], arrival: Instant) {
        // The usual packet: of the current stream, for a frame not played
        // yet that fits in the ring, not a duplicate, with no jump pending.
        // It takes the general path's steps for such a packet, with fewer
        // checks.
        if payload.len() <= self.cfg.max_payload
            && self.ssrc == Some(ssrc)
            && self.pending_jump.is_none()
        {
            // A frame at or after the play head: no Euclidean rounding.
            let delta = timestamp.wrapping_sub(self.head_ts()) as i32;
            let offset = u32::try_from(delta).map_or(-1, |d| i64::from(self.spf_div.div(d)));
            if (0..self.capacity).contains(&offset) {
                let frame = self.play_index + offset;
                let idx = self.slot_index(frame);
                if !self.slots[idx].holds(frame) {
                    self.track_seq(seq);
                    self.measure(frame, arrival);
                    self.late_run = 0;
                    self.store(idx, frame, payload);
                    return;
                }
            }
        }
        self.push_general(seq, timestamp, ssrc, payload, arrival);
    }

    /// [`JitterBuffer::push`] for any packet.
    #[inline(never)]
    fn push_general(
        &mut self,
        seq: u16,
        timestamp: u32,
        ssrc: u32,
        payload: &[u8],
        arrival: Instant,
    ) {
        if payload.len() > self.cfg.max_payload {
            self.stats.oversize += 1;
            return;
        }
        if self.ssrc != Some(ssrc) {
            self.sync(ssrc, timestamp);
        }
        let mut offset = self.offset_from_head(timestamp);
        let jump = (self.capacity() * 2).max(50);
        if offset >= self.capacity() || offset <= -jump {
            let confirmed = matches!(self.pending_jump,
                Some((s, q, t)) if s == ssrc && q.wrapping_add(1) == seq
                    && timestamp.wrapping_sub(t) <= 10 * self.spf);
            let buffer_empty = self.newest < self.play_index;
            if confirmed || (offset > 0 && buffer_empty) {
                // A confirmed new timeline, or a talkspurt after silence
                // suppression moved the timestamp ahead: nothing to lose.
                self.sync(ssrc, timestamp);
                offset = self.offset_from_head(timestamp);
            } else if offset > 0 && offset < jump {
                // Ahead of the ring but plausible (a burst, or drift beyond
                // max delay): drop the oldest frames to make room.
                self.skip_frames(offset - self.capacity() + 1);
                offset = self.capacity() - 1;
            } else {
                if self.pending_jump.is_some() {
                    self.stats.outliers += 1;
                }
                self.pending_jump = Some((ssrc, seq, timestamp));
                return;
            }
        }
        if self.pending_jump.take().is_some() {
            self.stats.outliers += 1;
        }
        let frame = self.play_index + offset;
        let idx = self.slot_index(frame);
        if self.slots[idx].holds(frame) {
            self.stats.duplicates += 1;
            return;
        }
        self.track_seq(seq);
        if offset < 0 {
            self.measure(frame, arrival);
            if !self.late(ssrc, timestamp) {
                return;
            }
            offset = self.offset_from_head(timestamp);
        } else {
            self.measure(frame, arrival);
        }
        self.late_run = 0;
        let frame = self.play_index + offset;
        let idx = self.slot_index(frame);
        self.store(idx, frame, payload);
    }

    /// Copies an accepted packet's payload into slot `idx` as `frame`.
    #[inline]
    fn store(&mut self, idx: usize, frame: i64, payload: &[u8]) {
        let base = idx * self.cfg.max_payload;
        self.storage[base..base + payload.len()].copy_from_slice(payload);
        self.slots[idx] = Slot {
            frame,
            state: SlotState::Filled,
            len: payload.len(),
        };
        self.newest = self.newest.max(frame);
        self.stats.received += 1;
    }

    /// Feeds the delay-spread estimator and updates the target delay. Late
    /// packets are measured too: they are exactly the evidence that the
    /// target is too small.
    #[inline]
    fn measure(&mut self, frame: i64, arrival: Instant) {
        // Transit time relative to the stream's own timeline; only its
        // spread matters, so the epoch is arbitrary.
        let epoch = *self.epoch.get_or_insert(arrival);
        let since = arrival.saturating_duration_since(epoch);
        // Whole seconds and nanoseconds rather than `as_nanos` (a u128).
        let since_ns = i64::try_from(since.as_secs())
            .unwrap_or(i64::MAX)
            .saturating_mul(1_000_000_000)
            .saturating_add(i64::from(since.subsec_nanos()));
        let transit_ns = since_ns.saturating_sub(frame.saturating_mul(self.ptime_ns));
        let spread = self.spread.add(transit_ns);
        if self.spread_seen != Some(spread) {
            // The target only changes with the spread: whole frames of
            // spread, rounded up, plus the frame being played.
            self.spread_seen = Some(spread);
            let frames = spread / self.ptime_ns + i64::from(spread % self.ptime_ns != 0);
            self.target_frames = (frames + 1).clamp(self.min_frames, self.max_frames);
        }
    }

    /// Marks `n` frames from the play head as skipped and advances past them.
    fn skip_frames(&mut self, n: i64) {
        for _ in 0..n.max(0) {
            let idx = self.slot_index(self.play_index);
            if self.slots[idx].frame == self.play_index
                && self.slots[idx].state == SlotState::Filled
            {
                self.slots[idx].state = SlotState::Skipped;
            }
            self.play_index += 1;
            self.stats.dropped += 1;
        }
    }

    fn missing(&mut self) -> Frame<'static> {
        self.missing_run += 1;
        if self.missing_run > self.cfg.conceal_frames {
            self.stats.comfort_noise += 1;
            Frame::ComfortNoise
        } else {
            self.stats.concealed += 1;
            Frame::Concealed
        }
    }

    /// Adapts depth once per window: trims a frame when the buffer never
    /// came close to running dry and still holds more than the target;
    /// returns true when a frame should be inserted instead.
    #[inline]
    fn adapt(&mut self, depth: i64) -> bool {
        self.win_min_depth = self.win_min_depth.min(depth);
        self.win_max_depth = self.win_max_depth.max(depth);
        self.win_pops += 1;
        if depth > self.max_frames + 1 || self.win_pops >= WINDOW {
            return self.adapt_now(depth);
        }
        false
    }

    /// [`JitterBuffer::adapt`] past the hard bound or at a window's end.
    #[inline(never)]
    fn adapt_now(&mut self, depth: i64) -> bool {
        if depth > self.max_frames + 1 {
            // Hard bound: never hold more than max delay.
            self.skip_frames(depth - self.max_frames);
            return false;
        }
        if self.win_pops < WINDOW {
            return false;
        }
        let (lo, hi) = (self.win_min_depth, self.win_max_depth);
        self.win_pops = 0;
        self.win_min_depth = i64::MAX;
        self.win_max_depth = 0;
        if lo >= 2 && hi > self.target_frames {
            self.surplus_windows += 1;
            let needed = if self.stretched_in_stream {
                TRIM_AFTER_WINDOWS
            } else {
                1
            };
            if self.surplus_windows >= needed {
                self.surplus_windows = 0;
                self.skip_frames(1);
            }
            false
        } else {
            self.surplus_windows = 0;
            hi < self.target_frames && hi > 0
        }
    }

    /// Returns what to play for the next ptime. Call exactly once per ptime.
    // Always inlined: the usual frame is a few loads and stores, less than
    // the call (the rest is out of line).
    #[inline(always)]
    pub fn pop(&mut self) -> Frame<'_> {
        if self.ssrc.is_none() || self.play_index < self.start_frame {
            return self.pop_before_start();
        }
        let depth = self.depth();
        let stretch = self.adapt(depth);
        let idx = self.slot_index(self.play_index);
        let slot = self.slots[idx];
        let present = slot.frame == self.play_index && slot.state == SlotState::Filled;
        if present && !stretch {
            self.slots[idx].state = SlotState::Played;
            self.play_index += 1;
            self.missing_run = 0;
            self.ever_played = true;
            let base = idx * self.cfg.max_payload;
            return Frame::Audio(&self.storage[base..base + slot.len]);
        }
        self.pop_missing(present)
    }

    /// [`JitterBuffer::pop`] with no stream yet, or still filling.
    #[inline(never)]
    fn pop_before_start(&mut self) -> Frame<'static> {
        if self.ssrc.is_none() {
            return Frame::Empty;
        }
        self.play_index += 1;
        if self.ever_played {
            self.stats.comfort_noise += 1;
            return Frame::ComfortNoise;
        }
        Frame::Empty
    }

    /// [`JitterBuffer::pop`] when the frame due is missing, or `present`
    /// but held back to stretch the delay.
    #[inline(never)]
    fn pop_missing(&mut self, present: bool) -> Frame<'static> {
        if present {
            // Insert a frame ahead of real audio to grow the delay.
            self.stats.stretched += 1;
            self.stretched_in_stream = true;
            self.surplus_windows = 0;
            return self.missing();
        }
        if self.newest < self.play_index && self.missing_run == 0 {
            // Ran dry right after audio: hold the play head for one frame so
            // a packet that is merely a little late (slow far-end clock)
            // still plays. Longer gaps advance, so silence or a loss burst
            // does not pile up delay.
            self.stats.stretched += 1;
            self.stretched_in_stream = true;
            self.surplus_windows = 0;
            return self.missing();
        }
        self.play_index += 1;
        self.missing()
    }
}

/// Settings of a [`Concealer`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConcealerConfig {
    /// Consecutive missing frames filled by repeating the last one before
    /// switching to comfort noise.
    pub max_repeats: u32,
    /// Gain applied per repeated frame (0.5 halves each repeat).
    pub fade: f32,
    /// Peak amplitude of comfort noise (white, uniform).
    pub noise_level: i16,
}

impl Default for ConcealerConfig {
    fn default() -> Self {
        ConcealerConfig {
            max_repeats: 3,
            fade: 0.5,
            noise_level: 24,
        }
    }
}

/// What [`Concealer::conceal`] produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concealment {
    /// The last good frame, faded.
    Repeated,
    /// Comfort noise (too many consecutive misses, or no audio yet).
    ComfortNoise,
}

/// Packet loss concealment on decoded 16-bit samples: repeats the last good
/// frame with a per-frame fade, then falls back to low-level comfort noise so
/// the caller never hears a hard drop to digital silence.
#[derive(Debug, Clone)]
pub struct Concealer {
    cfg: ConcealerConfig,
    last: Box<[i16]>,
    last_len: usize,
    /// The last good frame still encoded, when it came from
    /// [`Concealer::render`]: `last` is decoded from it only when a frame
    /// is concealed. Keeping the codes (half the bytes, and long written)
    /// instead of re-reading the samples just decoded spares every good
    /// frame a copy that would stall on the decoder's fresh stores.
    last_codes: Box<[u8]>,
    /// Codec of `last_codes` while they are newer than `last`.
    pending: Option<Codec>,
    misses: u32,
    rng: u32,
}

impl Concealer {
    /// A concealer for frames of up to `frame_samples` samples (160 for
    /// 20 ms at 8 kHz); the history buffer is allocated here, once.
    pub fn new(frame_samples: usize, config: ConcealerConfig) -> Self {
        Concealer {
            cfg: config,
            last: vec![0; frame_samples].into_boxed_slice(),
            last_len: 0,
            last_codes: vec![0; frame_samples].into_boxed_slice(),
            pending: None,
            misses: 0,
            rng: 0x1234_5678,
        }
    }

    /// Records a good decoded frame as the basis for later concealment.
    pub fn good_frame(&mut self, frame: &[i16]) {
        let n = frame.len().min(self.last.len());
        self.last[..n].copy_from_slice(&frame[..n]);
        self.last_len = n;
        self.pending = None;
        self.misses = 0;
    }

    /// Fills `out` for a missing frame: the last good frame scaled by
    /// `fade^k` for the k-th consecutive miss, or comfort noise after
    /// `max_repeats` misses.
    pub fn conceal(&mut self, out: &mut [i16]) -> Concealment {
        self.misses = self.misses.saturating_add(1);
        if let Some(codec) = self.pending.take() {
            codec.decode(&self.last_codes[..self.last_len], &mut self.last);
        }
        if self.misses > self.cfg.max_repeats || self.last_len == 0 {
            self.comfort_noise(out);
            return Concealment::ComfortNoise;
        }
        let gain = self.cfg.fade.powi(self.misses as i32);
        for (i, o) in out.iter_mut().enumerate() {
            let s = if self.last_len > 0 {
                self.last[i % self.last_len]
            } else {
                0
            };
            *o = (f32::from(s) * gain).round() as i16;
        }
        Concealment::Repeated
    }

    /// Fills `out` with low-level white noise.
    pub fn comfort_noise(&mut self, out: &mut [i16]) {
        let level = i32::from(self.cfg.noise_level.max(0));
        for o in out.iter_mut() {
            // xorshift32
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 17;
            self.rng ^= self.rng << 5;
            *o = if level == 0 {
                0
            } else {
                ((self.rng % (2 * level as u32 + 1)) as i32 - level) as i16
            };
        }
    }

    /// Renders one jitter-buffer frame to samples: decodes audio (and
    /// remembers it), conceals, or generates comfort noise; `Empty` is
    /// silence. Returns the number of samples written to `out`.
    pub fn render(&mut self, frame: Frame<'_>, codec: Codec, out: &mut [i16]) -> usize {
        self.render_inner::<false>(frame, codec, out).0
    }

    /// [`Concealer::render`], also returning the sum of the squared samples
    /// written ([`crate::energy::sum_of_squares`], the VAD gate's input):
    /// computed during the decode for audio, so the frame is read once.
    #[inline]
    pub fn render_energy(
        &mut self,
        frame: Frame<'_>,
        codec: Codec,
        out: &mut [i16],
    ) -> (usize, u64) {
        self.render_inner::<true>(frame, codec, out)
    }

    #[inline(always)]
    fn render_inner<const ENERGY: bool>(
        &mut self,
        frame: Frame<'_>,
        codec: Codec,
        out: &mut [i16],
    ) -> (usize, u64) {
        let Frame::Audio(payload) = frame else {
            return self.render_missing::<ENERGY>(frame, out);
        };
        let (n, sum) = if ENERGY {
            codec.decode_energy(payload, out)
        } else {
            (codec.decode(payload, out), 0)
        };
        let m = n.min(self.last_codes.len());
        self.last_codes[..m].copy_from_slice(&payload[..m]);
        self.last_len = m;
        self.pending = Some(codec);
        self.misses = 0;
        (n, sum)
    }

    /// [`Concealer::render_inner`] for every frame but audio (which it
    /// renders itself; here it would be silence, as `Empty` is).
    #[inline(never)]
    fn render_missing<const ENERGY: bool>(
        &mut self,
        frame: Frame<'_>,
        out: &mut [i16],
    ) -> (usize, u64) {
        match frame {
            Frame::Concealed => {
                self.conceal(out);
            }
            Frame::ComfortNoise => {
                self.misses = self.misses.saturating_add(1);
                self.comfort_noise(out);
            }
            Frame::Audio(_) | Frame::Empty => {
                out.fill(0);
                return (out.len(), 0);
            }
        }
        (out.len(), if ENERGY { sum_of_squares(out) } else { 0 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PT: u64 = 20_000; // ptime in µs

    /// One packet in a simulated stream.
    #[derive(Clone, Copy)]
    struct Pkt {
        seq: u16,
        ts: u32,
        ssrc: u32,
        arrival_us: u64,
    }

    /// Payload that identifies the packet: seq in the first two bytes.
    fn payload(seq: u16) -> [u8; 160] {
        let mut p = [0x55u8; 160];
        p[..2].copy_from_slice(&seq.to_be_bytes());
        p
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Out {
        Audio(u16),
        Concealed,
        Cn,
        Empty,
    }

    /// Runs the buffer: pops every 20 ms (offset by 10 ms), pushing every
    /// packet that has arrived by then. Returns the outputs and the maximum
    /// buffered delay seen.
    fn simulate(jb: &mut JitterBuffer, pkts: Vec<Pkt>, pops: u64) -> (Vec<Out>, u128) {
        simulate_observed(jb, pkts, pops, |_| {})
    }

    /// [`simulate`], calling `after_pop` with the buffer after each pop.
    fn simulate_observed(
        jb: &mut JitterBuffer,
        mut pkts: Vec<Pkt>,
        pops: u64,
        mut after_pop: impl FnMut(&JitterBuffer),
    ) -> (Vec<Out>, u128) {
        pkts.sort_by_key(|p| p.arrival_us);
        let t0 = Instant::now();
        let mut next = 0;
        let mut out = Vec::new();
        let mut max_delay = 0;
        for j in 0..pops {
            let now = j * PT + PT / 2;
            while next < pkts.len() && pkts[next].arrival_us <= now {
                let p = pkts[next];
                jb.push(
                    p.seq,
                    p.ts,
                    p.ssrc,
                    &payload(p.seq),
                    t0 + Duration::from_micros(p.arrival_us),
                );
                next += 1;
            }
            max_delay = max_delay.max(jb.stats().delay.as_millis());
            out.push(match jb.pop() {
                Frame::Audio(a) => Out::Audio(u16::from_be_bytes([a[0], a[1]])),
                Frame::Concealed => Out::Concealed,
                Frame::ComfortNoise => Out::Cn,
                Frame::Empty => Out::Empty,
            });
            after_pop(jb);
        }
        (out, max_delay)
    }

    fn stream(n: u16, delay_us: impl Fn(u16) -> u64) -> Vec<Pkt> {
        (0..n)
            .map(|i| Pkt {
                seq: 1000u16.wrapping_add(i),
                ts: 0xFFFF_F000u32.wrapping_add(u32::from(i) * 160),
                ssrc: 0xA,
                arrival_us: u64::from(i) * PT + delay_us(i),
            })
            .collect()
    }

    /// Outputs strictly between the playout of `a` and of `b`.
    fn between(out: &[Out], a: u16, b: u16) -> &[Out] {
        let i = out.iter().position(|o| *o == Out::Audio(a)).unwrap();
        let j = out.iter().position(|o| *o == Out::Audio(b)).unwrap();
        &out[i + 1..j]
    }

    fn increasing(seqs: &[u16]) -> bool {
        seqs.windows(2).all(|w| w[0] < w[1])
    }

    /// A fixed 60 ms delay: no adaptation, so frame positions are exact.
    fn fixed_60ms() -> JitterConfig {
        JitterConfig {
            min_delay: Duration::from_millis(60),
            initial_delay: Duration::from_millis(60),
            ..JitterConfig::default()
        }
    }

    fn audio_seqs(out: &[Out]) -> Vec<u16> {
        out.iter()
            .filter_map(|o| {
                if let Out::Audio(s) = o {
                    Some(*s)
                } else {
                    None
                }
            })
            .collect()
    }

    #[test]
    fn divisor_matches_hardware_division() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for d in [
            1u32,
            2,
            3,
            7,
            24,
            160,
            240,
            2_000,
            48_000,
            u32::MAX - 1,
            u32::MAX,
        ] {
            let div = Divisor::new(d);
            let edges = [0i64, 1, -1, i64::from(d), -i64::from(d), i64::from(d) - 1];
            let more = [
                i64::from(u32::MAX),
                -i64::from(u32::MAX),
                i64::MAX,
                i64::MIN,
            ];
            let check = |v: i64| {
                assert_eq!(div.div_euclid(v), v.div_euclid(i64::from(d)), "{v} / {d}");
            };
            edges.iter().chain(&more).for_each(|&v| check(v));
            for _ in 0..20_000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                check(x as i32 as i64);
                check((x >> 20) as i64 - (1 << 43));
            }
        }
    }

    #[test]
    fn empty_before_first_packet() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        assert_eq!(jb.pop(), Frame::Empty);
        assert_eq!(
            jb.stats(),
            JitterStats {
                target: Duration::from_millis(60),
                ..JitterStats::default()
            }
        );
    }

    #[test]
    fn in_order_stream_plays_every_packet_once_across_ts_wrap() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let (out, max_delay) = simulate(&mut jb, stream(300, |_| 3_000), 320);
        let seqs = audio_seqs(&out);
        let s = jb.stats();
        assert!(increasing(&seqs));
        // Shrinking from the initial 60 ms to 20 ms costs exactly two frames.
        assert_eq!(s.dropped, 2, "{s:?}");
        assert_eq!(seqs.len() + 2, 300);
        assert_eq!((seqs[0], seqs[seqs.len() - 1]), (1000, 1299));
        // Only pre-fill before the first audio; nothing concealed in between.
        let first = out.iter().position(|o| matches!(o, Out::Audio(_))).unwrap();
        assert!(out[..first].iter().all(|o| *o == Out::Empty));
        assert!(first <= 3);
        assert!(out[first..first + 298]
            .iter()
            .all(|o| matches!(o, Out::Audio(_))));
        assert_eq!((s.lost, s.late, s.duplicates, s.resyncs), (0, 0, 0, 0));
        // Zero jitter: the delay shrinks to the minimum.
        assert_eq!(s.target, Duration::from_millis(20));
        assert!(max_delay <= 60);
    }

    #[test]
    fn reordered_packets_play_in_order() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        // Odd packets take 30 ms longer: each one arrives after its successor.
        let pkts = stream(400, |i| if i % 2 == 1 { 35_000 } else { 5_000 });
        let (out, _) = simulate(&mut jb, pkts, 420);
        let seqs = audio_seqs(&out);
        let s = jb.stats();
        assert!(increasing(&seqs));
        assert_eq!(seqs.len() as u64 + s.dropped, 400, "{s:?}");
        assert_eq!((s.lost, s.late), (0, 0), "{s:?}");
        assert!(s.target >= Duration::from_millis(40), "{s:?}");
    }

    #[test]
    fn lost_packets_are_concealed_in_place() {
        let mut jb = JitterBuffer::new(fixed_60ms());
        let lost = [1010, 1011, 1050, 1100, 1101, 1102, 1103, 1104];
        let pkts: Vec<Pkt> = stream(200, |_| 2_000)
            .into_iter()
            .filter(|p| !lost.contains(&p.seq))
            .collect();
        let (out, _) = simulate(&mut jb, pkts, 220);
        assert_eq!(between(&out, 1009, 1012), [Out::Concealed; 2]);
        assert_eq!(between(&out, 1049, 1051), [Out::Concealed]);
        // Five in a row empty the 60 ms buffer: the play head holds for one
        // frame, then conceals three and fills the rest with comfort noise.
        assert_eq!(
            between(&out, 1099, 1105),
            [
                Out::Concealed,
                Out::Concealed,
                Out::Concealed,
                Out::Cn,
                Out::Cn,
                Out::Cn
            ]
        );
        let s = jb.stats();
        assert_eq!(audio_seqs(&out).len() as u64 + s.dropped, 192);
        assert_eq!(s.lost, 8);
        // Within the stream (the buffer also holds once when it ends).
        let end = out.iter().position(|o| *o == Out::Audio(1199)).unwrap();
        let count = |k: Out| out[..end].iter().filter(|o| **o == k).count();
        assert_eq!(count(Out::Concealed), 6);
        assert_eq!(count(Out::Cn), 3);
        assert_eq!(s.stretched, 2);
        // The held frame is kept for a few windows before a trim may give
        // it back, and this stream ends first.
        assert_eq!(s.dropped, 0);
    }

    /// The media engine's setting: a 40 ms floor (one frame of slack for
    /// the phase between packet arrival and the worker's tick).
    fn engine_floor() -> JitterConfig {
        JitterConfig {
            min_delay: Duration::from_millis(40),
            ..JitterConfig::default()
        }
    }

    #[test]
    fn a_recurring_late_packet_does_not_make_the_buffer_trim_and_stretch_in_turn() {
        // Every 3.2 s one packet comes 25 ms late (a sender or a scheduler
        // that stalls now and then): too rare for the spread window (two
        // seconds), so each one makes the buffer hold a frame. Trimming that
        // frame back at the next window dropped a real frame every time
        // (9 dropped and 9 stretched here before trims waited).
        let mut jb = JitterBuffer::new(engine_floor());
        let n = 1500;
        let pkts = stream(n, |i| if i % 160 == 50 { 27_000 } else { 2_000 });
        let (out, _) = simulate(&mut jb, pkts, u64::from(n) + 20);
        let s = jb.stats();
        let seqs = audio_seqs(&out);
        assert!(increasing(&seqs));
        assert_eq!(seqs.len() as u64 + s.dropped, u64::from(n), "{s:?}");
        // Settling from the initial delay may trim once or twice; after
        // that the held frame stays while the late packets keep coming.
        assert!(s.dropped <= 2, "{s:?}");
        assert!(s.stretched <= 3, "{s:?}");
        assert_eq!(s.late, 0, "{s:?}");
    }

    #[test]
    fn a_frame_held_for_one_late_packet_is_trimmed_after_the_cooldown() {
        let mut jb = JitterBuffer::new(engine_floor());
        let n = 1000;
        let pkts = stream(n, |i| if i == 300 { 27_000 } else { 2_000 });
        let (out, _) = simulate(&mut jb, pkts, u64::from(n) + 20);
        let s = jb.stats();
        // The late packet's hold (the stream's end holds once more).
        let held = out.iter().position(|o| *o == Out::Concealed).unwrap();
        assert!(held > 300 && held < 320, "held at {held}");
        // The surplus goes, but not before the cooldown.
        assert!(s.dropped >= 1, "{s:?}");
        // Where, in play-out order, the first frame after the hold is missing.
        let played: Vec<(usize, u16)> = out
            .iter()
            .enumerate()
            .filter_map(|(k, o)| match o {
                Out::Audio(q) => Some((k, *q)),
                _ => None,
            })
            .filter(|&(k, _)| k > held)
            .collect();
        let gap_at = played
            .windows(2)
            .find(|w| w[1].1 != w[0].1.wrapping_add(1))
            .map(|w| w[1].0)
            .expect("a trimmed frame after the late packet");
        assert!(
            gap_at >= held + ((TRIM_AFTER_WINDOWS - 1) * WINDOW) as usize,
            "trimmed at {gap_at}, held at {held}"
        );
    }

    #[test]
    fn duplicates_are_dropped_and_counted() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let mut pkts = stream(100, |_| 1_000);
        let dups: Vec<Pkt> = pkts
            .iter()
            .filter(|p| p.seq % 5 == 0)
            .map(|p| Pkt {
                // Some duplicates arrive while still buffered, some after playout.
                arrival_us: p.arrival_us + if p.seq % 10 == 0 { 500 } else { 100_000 },
                ..*p
            })
            .collect();
        pkts.extend(dups);
        let (out, _) = simulate(&mut jb, pkts, 120);
        let seqs = audio_seqs(&out);
        let s = jb.stats();
        assert!(increasing(&seqs));
        assert_eq!(seqs.len() as u64 + s.dropped, 100);
        assert_eq!(s.duplicates, 20, "{s:?}");
        assert_eq!(s.late, 0);
    }

    #[test]
    fn late_packet_is_dropped_and_concealed() {
        let mut jb = JitterBuffer::new(fixed_60ms());
        let pkts = stream(200, |i| if i == 120 { 400_000 } else { 1_000 });
        let (out, _) = simulate(&mut jb, pkts, 220);
        let seqs = audio_seqs(&out);
        assert!(!seqs.contains(&1120));
        assert_eq!(between(&out, 1119, 1121), [Out::Concealed]);
        assert!(increasing(&seqs));
        let s = jb.stats();
        assert_eq!(seqs.len() as u64 + s.dropped, 199);
        assert_eq!(s.late, 1);
        // Late is not lost: the packet did arrive.
        assert_eq!(s.lost, 0);
    }

    /// Sender clock off by `ppm`: packet i is sent at i × 20 ms × (1 − ppm/1e6).
    fn drift_stream(n: u32, ppm: i64) -> Vec<Pkt> {
        (0..n)
            .map(|i| {
                let ideal = i64::from(i) * PT as i64;
                let sent = ideal - ideal * ppm / 1_000_000;
                // Deterministic ±4 ms jitter.
                let jitter = (i64::from(i).wrapping_mul(7919) % 9 - 4) * 1000;
                Pkt {
                    seq: i as u16,
                    ts: i * 160,
                    ssrc: 7,
                    arrival_us: (sent + 10_000 + jitter) as u64,
                }
            })
            .collect()
    }

    #[test]
    fn fast_sender_clock_drift_keeps_depth_bounded() {
        // 10 minutes of packets from a sender 0.1 % fast.
        let n = 30_000;
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let (out, max_delay) = simulate(&mut jb, drift_stream(n, 1000), u64::from(n));
        let s = jb.stats();
        // 30 surplus frames accumulate over 10 minutes; they must be trimmed.
        assert!(max_delay <= 120, "max delay {max_delay} ms, {s:?}");
        assert!((25..=60).contains(&s.dropped), "{s:?}");
        assert_eq!(s.late, 0, "{s:?}");
        assert!(audio_seqs(&out).len() as u64 + s.dropped >= u64::from(n) - 40);
    }

    #[test]
    fn slow_sender_clock_drift_stretches_instead_of_losing() {
        let n = 30_000;
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let (out, max_delay) = simulate(&mut jb, drift_stream(n, -1000), u64::from(n) + 100);
        let s = jb.stats();
        assert!(max_delay <= 120, "max delay {max_delay} ms, {s:?}");
        // Every packet is played (bar frames trimmed while settling from
        // the initial delay); the missing 30 frames are stretched in.
        let seqs = audio_seqs(&out);
        assert!(increasing(&seqs));
        assert_eq!(seqs.len() as u64 + s.dropped, u64::from(n), "{s:?}");
        assert!(s.dropped <= 2, "{s:?}");
        assert_eq!(s.late, 0);
        assert_eq!(s.lost, 0);
        assert!(s.stretched >= 25, "{s:?}");
    }

    #[test]
    fn ssrc_change_resyncs() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let mut pkts = stream(100, |_| 1_000);
        // A new source (e.g. after a transfer) with unrelated seq and ts.
        pkts.extend((0..100u16).map(|i| Pkt {
            seq: 50_000 + i,
            ts: 77_777 + u32::from(i) * 160,
            ssrc: 0xB,
            arrival_us: (100 + u64::from(i)) * PT + 1_000,
        }));
        let (out, _) = simulate(&mut jb, pkts, 220);
        let seqs = audio_seqs(&out);
        assert!(increasing(&seqs));
        // Packets of the old source still buffered are flushed by the
        // resync; the new source plays from its first packet to its last.
        let b: Vec<u16> = seqs.iter().copied().filter(|&s| s >= 50_000).collect();
        assert_eq!((b[0], b[b.len() - 1]), (50_000, 50_099));
        let s = jb.stats();
        assert_eq!(seqs.len() as u64 + s.dropped + 1, 200, "{s:?}");
        assert_eq!(s.resyncs, 1);
    }

    #[test]
    fn silence_suppression_timestamp_jump_plays_without_loss() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let mut pkts = stream(50, |_| 1_000);
        // 5 s of silence (no packets), then the talkspurt resumes with the
        // timestamp advanced by 5 s but consecutive sequence numbers.
        pkts.extend((0..50u16).map(|i| Pkt {
            seq: 1050 + i,
            ts: 0xFFFF_F000u32.wrapping_add((50 + 250 + u32::from(i)) * 160),
            ssrc: 0xA,
            arrival_us: (300 + u64::from(i)) * PT + 1_000,
        }));
        let (out, _) = simulate(&mut jb, pkts, 360);
        let seqs = audio_seqs(&out);
        let s = jb.stats();
        assert!(increasing(&seqs));
        assert_eq!(seqs.len() as u64 + s.dropped, 100, "{s:?}");
        assert!(seqs.contains(&1050) && seqs.contains(&1099));
        assert_eq!((s.lost, s.late), (0, 0), "{s:?}");
        // The silence was filled with concealment then comfort noise.
        assert!(out.iter().filter(|o| **o == Out::Cn).count() > 200);
    }

    #[test]
    fn sender_pausing_without_advancing_timestamps_resyncs_after_late_run() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let mut pkts = stream(50, |_| 1_000);
        // 1 s pause, then the stream continues where its timestamps left off.
        pkts.extend(stream(100, |_| 1_000).into_iter().skip(50).map(|p| Pkt {
            arrival_us: p.arrival_us + 1_000_000,
            ..p
        }));
        let (out, _) = simulate(&mut jb, pkts, 200);
        let seqs = audio_seqs(&out);
        let s = jb.stats();
        assert_eq!(s.late, u64::from(LATE_RUN_RESYNC) - 1, "{s:?}");
        assert_eq!(s.resyncs, 1);
        assert_eq!(s.lost, 0);
        assert!(increasing(&seqs));
        assert_eq!(seqs.len() as u64 + s.dropped + s.late, 100, "{s:?}");
        assert_eq!(seqs[seqs.len() - 1], 1099);
    }

    #[test]
    fn single_outlier_timestamp_is_ignored_but_confirmed_jump_resyncs() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let mut pkts = stream(100, |_| 1_000);
        // Packet 1040 carries a garbage timestamp.
        pkts[40].ts = pkts[40].ts.wrapping_add(8000 * 100);
        let (out, _) = simulate(&mut jb, pkts, 110);
        let seqs = audio_seqs(&out);
        assert_eq!(seqs.len() as u64 + jb.stats().dropped, 99);
        assert!(!seqs.contains(&1040));
        let s = jb.stats();
        assert_eq!((s.resyncs, s.outliers), (0, 1));

        // Two consecutive packets agreeing on a new timeline: resync.
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let mut pkts = stream(100, |_| 1_000);
        for p in pkts.iter_mut().skip(40) {
            p.ts = p.ts.wrapping_add(8000 * 100);
        }
        let (out, _) = simulate(&mut jb, pkts, 110);
        let seqs = audio_seqs(&out);
        assert_eq!(jb.stats().resyncs, 1);
        assert!(seqs.contains(&1041) && seqs.contains(&1099));
        assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn target_delay_adapts_up_and_back_down() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        // 4 s of calm, 4 s of ±60 ms jitter, 8 s of calm.
        let pkts = stream(800, |i| match i {
            200..=399 => u64::from(i % 7) * 20_000 + 1_000,
            _ => 1_000,
        });
        let mut targets = Vec::new();
        simulate_observed(&mut jb, pkts, 820, |jb| {
            targets.push(jb.stats().target.as_millis())
        });
        assert_eq!(targets[190], 20);
        assert!(targets[380] >= 120, "{}", targets[380]);
        assert!(targets[380] <= 200);
        assert_eq!(targets[810], 20);
        assert!(jb.stats().delay <= Duration::from_millis(60));
    }

    #[test]
    fn oversize_and_hostile_input_never_panics() {
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let t0 = Instant::now();
        jb.push(1, 0, 1, &[0u8; 321], t0);
        assert_eq!(jb.stats().oversize, 1);
        assert_eq!(jb.pop(), Frame::Empty);
        let mut x: u32 = 99;
        for i in 0..20_000u32 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let len = (x % 200) as usize;
            jb.push(
                x as u16,
                x.rotate_left(7),
                x % 3,
                &[0xAB; 200][..len],
                t0 + Duration::from_millis(u64::from(i)),
            );
            if i % 3 == 0 {
                if let Frame::Audio(a) = jb.pop() {
                    assert!(a.len() <= 320);
                }
            }
        }
        // Zero/odd configuration is corrected, not a panic.
        let mut jb = JitterBuffer::new(JitterConfig {
            clock_rate: 0,
            ptime: Duration::ZERO,
            max_payload: 0,
            min_delay: Duration::from_secs(5),
            max_delay: Duration::ZERO,
            initial_delay: Duration::ZERO,
            conceal_frames: 0,
        });
        jb.push(1, 1, 1, &[], t0);
        jb.push(1, 1, 1, &[1], t0);
        for _ in 0..5 {
            jb.pop();
        }
    }

    #[test]
    fn concealer_fades_then_comfort_noise() {
        let mut c = Concealer::new(160, ConcealerConfig::default());
        let mut out = [0i16; 160];
        // Before any audio, a miss is comfort noise.
        assert_eq!(c.conceal(&mut out), Concealment::ComfortNoise);
        let good: Vec<i16> = (0..160).map(|i| (i as i16 - 80) * 100).collect();
        c.good_frame(&good);
        for k in 1..=3 {
            assert_eq!(c.conceal(&mut out), Concealment::Repeated);
            let gain = 0.5f32.powi(k);
            for (o, g) in out.iter().zip(&good) {
                assert_eq!(*o, (f32::from(*g) * gain).round() as i16);
            }
        }
        assert_eq!(c.conceal(&mut out), Concealment::ComfortNoise);
        let level = ConcealerConfig::default().noise_level;
        assert!(out.iter().all(|s| s.abs() <= level));
        assert!(out.iter().any(|&s| s != 0));
        let rms = (out.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / 160.0).sqrt();
        assert!(rms > 5.0 && rms < 20.0, "rms {rms}");
        // A good frame resets the miss count.
        c.good_frame(&good);
        assert_eq!(c.conceal(&mut out), Concealment::Repeated);
        assert_eq!(out[0], (f32::from(good[0]) * 0.5).round() as i16);
    }

    #[test]
    fn concealer_renders_jitter_frames() {
        let mut c = Concealer::new(160, ConcealerConfig::default());
        let mut out = [0i16; 160];
        let payload = [0x80u8; 160]; // µ-law +32124
        assert_eq!(c.render(Frame::Audio(&payload), Codec::Pcmu, &mut out), 160);
        assert!(out.iter().all(|&s| s == 32124));
        c.render(Frame::Concealed, Codec::Pcmu, &mut out);
        assert!(out.iter().all(|&s| s == 16062));
        c.render(Frame::Empty, Codec::Pcmu, &mut out);
        assert!(out.iter().all(|&s| s == 0));
        c.render(Frame::ComfortNoise, Codec::Pcmu, &mut out);
        assert!(out.iter().all(|&s| s.abs() <= 24));
    }

    #[test]
    fn concealer_energy_is_the_sum_of_squares_of_what_it_renders() {
        let (mut plain, mut with) = (
            Concealer::new(160, ConcealerConfig::default()),
            Concealer::new(160, ConcealerConfig::default()),
        );
        let payload: Vec<u8> = (0..=255u8).cycle().skip(7).take(160).collect();
        let (mut a, mut b) = ([0i16; 160], [0i16; 160]);
        let frames = [
            Frame::Empty,
            Frame::Audio(&payload),
            Frame::Audio(&payload[..37]),
            Frame::Concealed,
            Frame::Concealed,
            Frame::ComfortNoise,
            Frame::Audio(&payload[100..]),
        ];
        for codec in [Codec::Pcmu, Codec::Pcma] {
            for frame in frames {
                a.fill(0);
                b.fill(0);
                let n = plain.render(frame, codec, &mut a);
                let (m, sum) = with.render_energy(frame, codec, &mut b);
                assert_eq!((m, a), (n, b), "{frame:?}");
                assert_eq!(sum, crate::energy::sum_of_squares(&b[..m]), "{frame:?}");
                assert!(sum > 0 || matches!(frame, Frame::Empty), "{frame:?}");
            }
        }
    }
}
