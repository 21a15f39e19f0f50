//! The call's incoming audio after the socket: reception statistics
//! (RFC 3550 §6.4), the playout (jitter buffer, concealment, packet size),
//! voice activity detection, and the delivered-audio clock.

use super::ptime::Playout;
use crate::engine::config::EngineConfig;
use crate::engine::event::{AudioFrame, FRAME_SAMPLES};
use crate::engine::params::SessionParams;
use crate::g711::Codec;
use crate::rtcp::ReceptionStats;
use crate::vad::{Vad, VadEvent};
use std::time::{Duration, Instant};

/// Farthest a telephone event's timestamp may lie from the play head and
/// still be placed by it (10 s at 8 kHz: longer than any key press). A
/// far end whose events use another timestamp base than its audio gets
/// its keys placed where they arrived instead.
const MAX_EVENT_OFFSET: u32 = 80_000;

/// The receive side of one call.
#[derive(Debug)]
pub(crate) struct ReceiveSide {
    pub(crate) playout: Playout,
    pub(crate) reception: ReceptionStats,
    vad: Option<Vad>,
    /// Audio has arrived: a frame is delivered every tick from now on.
    pub(crate) delivering: bool,
    /// Frames delivered so far.
    frame_index: u64,
    /// When the last RTP packet was accepted (or the call started, or
    /// resumed from hold).
    last_rtp: Instant,
    /// The timeout was reported; again only after packets come back.
    timed_out: bool,
}

impl ReceiveSide {
    pub(crate) fn new(id: u64, config: &EngineConfig, params: &SessionParams) -> Self {
        ReceiveSide {
            playout: Playout::new(id, config.jitter, config.concealer, params.ptime),
            reception: ReceptionStats::new(Codec::CLOCK_RATE),
            vad: config.vad.map(Vad::new),
            delivering: false,
            frame_index: 0,
            last_rtp: Instant::now(),
            timed_out: false,
        }
    }

    /// A packet from the far end was accepted at `now`.
    #[inline]
    pub(crate) fn heard(&mut self, now: Instant) {
        self.last_rtp = now;
        self.timed_out = false;
    }

    /// Resumed from hold: the silence on hold is not a timeout.
    pub(crate) fn resume(&mut self, now: Instant) {
        self.heard(now);
    }

    /// The silence to report as a timeout, once, when it reaches `limit`.
    pub(crate) fn timeout(&mut self, now: Instant, limit: Duration) -> Option<Duration> {
        let silent_for = now.saturating_duration_since(self.last_rtp);
        if self.timed_out || silent_for < limit {
            return None;
        }
        self.timed_out = true;
        Some(silent_for)
    }

    /// Position of the next frame to be delivered on the delivered-audio
    /// clock.
    pub(crate) fn delivered_ts(&self) -> u32 {
        (self.frame_index as u32).wrapping_mul(FRAME_SAMPLES as u32)
    }

    /// Where the received audio of RTP timestamp `rtp_ts` is (or will be)
    /// delivered, on the delivered-audio clock: another packet of the
    /// stream (a telephone event, RFC 4733 §2.1) placed relative to the
    /// play head. Where delivery is now when no audio has been received or
    /// `rtp_ts` is not on the audio's timeline.
    pub(crate) fn delivered_position(&self, rtp_ts: u32) -> u32 {
        let now = self.delivered_ts();
        let Some(next) = self.playout.next_delivered_ts() else {
            return now;
        };
        let ahead = rtp_ts.wrapping_sub(next) as i32;
        if ahead.unsigned_abs() > MAX_EVENT_OFFSET {
            return now;
        }
        now.wrapping_add_signed(ahead)
    }

    /// The next 20 ms frame to deliver (decoded, concealed or silence), and
    /// what the VAD saw in it.
    #[inline]
    pub(crate) fn next_frame(&mut self, codec: Codec) -> (AudioFrame, Option<VadEvent>) {
        let mut samples = [0i16; FRAME_SAMPLES];
        let (kind, energy) = self.playout.pull_frame(codec, &mut samples);
        let media_ts = (self.frame_index as u32).wrapping_mul(FRAME_SAMPLES as u32);
        // VAD on every frame the caller hears, concealed ones included, so
        // its hangovers count real time.
        let vad = self
            .vad
            .as_mut()
            .and_then(|v| v.process_energy(&samples, energy, media_ts));
        let frame = AudioFrame {
            index: self.frame_index,
            media_ts,
            kind,
            samples,
        };
        self.frame_index += 1;
        (frame, vad)
    }
}
