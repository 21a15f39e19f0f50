//! An echo-return-loss gate: keeps the line's own echo of our prompt from
//! counting as the caller's speech.
//!
//! A 2-wire analog line carries both directions on one pair; the hybrid
//! that splits them at the card returns part of what we send into what we
//! receive, a few milliseconds later and some decibels down (the echo
//! return loss, ERL; ITU-T G.168 plans for 6 dB at worst, a good line gives
//! 12 dB or more). Without care the voice activity detector hears our own
//! prompt and barge-in cuts it off.
//!
//! The gate keeps the level of each frame we sent over the echo's tail and
//! expects the echo at the loudest of them less the ERL. A received frame
//! no louder than that expectation plus a margin is taken as echo and the
//! detector hears silence instead; a caller talking over the prompt adds
//! their own level on top and passes.

use rtp_media::vad::frame_energy_db;
use std::collections::VecDeque;
use std::time::Duration;

/// The level of digital silence, in dBFS (as the VAD counts it).
const SILENCE_DB: f32 = -100.0;

/// How the echo gate judges a frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EchoGateSettings {
    /// The line's echo return loss, in dB: how far below what we send its
    /// echo comes back (12 dB on a typical line).
    pub return_loss_db: f32,
    /// How far above the expected echo a frame must be to be the caller,
    /// in dB.
    pub margin_db: f32,
    /// How long after we send a frame its echo may still arrive (the
    /// hybrid's delay plus the card's buffering).
    pub tail: Duration,
}

impl Default for EchoGateSettings {
    /// 12 dB of return loss, a 6 dB margin, an 80 ms tail.
    fn default() -> Self {
        EchoGateSettings {
            return_loss_db: 12.0,
            margin_db: 6.0,
            tail: Duration::from_millis(80),
        }
    }
}

/// Tells echo of what we sent from the caller's voice, frame by frame.
#[derive(Debug, Clone)]
pub struct EchoGate {
    settings: EchoGateSettings,
    /// Levels of the frames sent within the tail, newest last.
    sent_db: VecDeque<f32>,
    frames: usize,
}

impl EchoGate {
    /// A gate with `settings`, for 20 ms frames.
    pub fn new(settings: EchoGateSettings) -> Self {
        let frames = (settings.tail.as_millis().div_ceil(20) as usize).max(1) + 1;
        EchoGate {
            settings,
            sent_db: VecDeque::with_capacity(frames),
            frames,
        }
    }

    /// Notes a frame we sent to the line.
    pub fn sent(&mut self, frame: &[i16]) {
        if self.sent_db.len() == self.frames {
            self.sent_db.pop_front();
        }
        self.sent_db.push_back(frame_energy_db(frame));
    }

    /// The level the echo of what we sent may reach now, in dBFS.
    pub fn expected_echo_db(&self) -> f32 {
        let loudest = self.sent_db.iter().copied().fold(SILENCE_DB, f32::max);
        if loudest <= SILENCE_DB {
            SILENCE_DB
        } else {
            loudest - self.settings.return_loss_db
        }
    }

    /// Whether a received frame is only the echo of what we sent (or
    /// quieter): nothing of the caller's to listen to.
    pub fn is_echo(&self, received: &[i16]) -> bool {
        let expected = self.expected_echo_db();
        expected > SILENCE_DB && frame_energy_db(received) < expected + self.settings.margin_db
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(amplitude: f32) -> Vec<i16> {
        (0..160)
            .map(|i| (amplitude * (i as f32 * 0.3).sin()) as i16)
            .collect()
    }

    #[test]
    fn nothing_sent_means_nothing_received_is_echo() {
        let gate = EchoGate::new(EchoGateSettings::default());
        assert!(!gate.is_echo(&sine(100.0)));
        assert!(!gate.is_echo(&[0; 160]));
    }

    #[test]
    fn a_frame_12_db_down_is_echo_and_one_as_loud_as_the_prompt_is_not() {
        let mut gate = EchoGate::new(EchoGateSettings::default());
        gate.sent(&sine(8000.0));
        // 12 dB down: a quarter of the amplitude.
        assert!(gate.is_echo(&sine(2000.0)));
        assert!(gate.is_echo(&sine(3000.0)));
        assert!(!gate.is_echo(&sine(6000.0)));
    }

    #[test]
    fn the_expectation_lasts_the_tail_and_then_falls_away() {
        let mut gate = EchoGate::new(EchoGateSettings::default());
        gate.sent(&sine(8000.0));
        for _ in 0..4 {
            gate.sent(&[0; 160]);
            assert!(gate.is_echo(&sine(2000.0)));
        }
        gate.sent(&[0; 160]);
        assert!(!gate.is_echo(&sine(2000.0)));
    }
}
