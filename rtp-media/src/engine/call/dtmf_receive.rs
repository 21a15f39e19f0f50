//! Key presses of the caller: RFC 4733 telephone events through the one
//! [`DtmfReceiver`], or in-band tones through
//! the [`DtmfDetector`](crate::dtmf::DtmfDetector) when enabled.
//!
//! Each key is reported twice: [`MediaEvent::DtmfStarted`] when it goes
//! down (a menu acts on it at once, however long the caller holds it) and
//! [`MediaEvent::Dtmf`] when it comes up, with how long it was held. A key
//! still down when the session closes is reported then, with its duration
//! so far.
//!
//! Both carry the key's position on the one media clock of every event of
//! the call: the position in the delivered audio (8 kHz samples since the
//! first delivered frame, as [`AudioFrame::media_ts`](crate::engine::AudioFrame::media_ts) and the speech
//! events). A telephone event's RTP timestamp is on the far end's audio
//! clock (RFC 4733 §2.1), so it is placed relative to the play head: the
//! key is where the audio of the same timestamp is (or will be) delivered.
//! A key's release carries the position its start was reported with, even
//! if the jitter buffer has stretched or trimmed the audio in between.

use super::CallMedia;
use crate::dtmf::{DtmfEvent, DtmfReceiver};
use crate::engine::event::{MediaEvent, FRAME_SAMPLES};
use std::time::Instant;

/// The call's receive side of DTMF.
#[derive(Debug)]
pub(crate) struct DtmfReceive {
    events: DtmfReceiver,
    /// The key down by telephone events, and by in-band tone: (timestamp
    /// of its [`crate::dtmf::DtmfDigit`], position it was reported at).
    event_down: Option<(u32, u32)>,
    tone_down: Option<(u32, u32)>,
}

impl DtmfReceive {
    /// For a telephone-event payload type of `clock_rate` Hz.
    pub(crate) fn new(clock_rate: u32) -> Self {
        DtmfReceive {
            events: DtmfReceiver::new(clock_rate),
            event_down: None,
            tone_down: None,
        }
    }

    /// Telephone-event payloads that could not be parsed.
    pub(crate) fn malformed(&self) -> u64 {
        self.events.malformed()
    }
}

/// Remembers where a key went down, and gives its release the same
/// position.
fn place(down: &mut Option<(u32, u32)>, event: &DtmfEvent, media_ts: u32) -> u32 {
    match *event {
        DtmfEvent::Started(key) => {
            *down = Some((key.timestamp, media_ts));
            media_ts
        }
        DtmfEvent::Ended { key, .. } => match down.take() {
            Some((ts, at)) if ts == key.timestamp => at,
            _ => media_ts,
        },
    }
}

impl CallMedia {
    /// One telephone-event packet.
    pub(super) fn receive_telephone_event(&mut self, ts: u32, payload: &[u8], now: Instant) {
        for event in self.dtmf.receive.events.on_packet(ts, payload, now) {
            self.report_event(event);
        }
    }

    /// Ends a telephone event whose end packets never came.
    pub(super) fn poll_telephone_event(&mut self, now: Instant) {
        if let Some(event) = self.dtmf.receive.events.poll(now) {
            self.report_event(event);
        }
    }

    /// In-band detection on one delivered frame of audio at `media_ts`.
    pub(super) fn detect_inband(&mut self, samples: &[i16; FRAME_SAMPLES], media_ts: u32) {
        let Some(detector) = self.dtmf.inband.as_mut() else {
            return;
        };
        // The detector counts the samples it was given (audio frames
        // only); this frame starts at `media_ts` in the delivered audio.
        let offset = media_ts.wrapping_sub(detector.position() as u32);
        let mut found = [None; 2];
        let mut n = 0;
        detector.process_events(samples, |event| {
            if let Some(slot) = found.get_mut(n) {
                *slot = Some(event);
                n += 1;
            }
        });
        for event in found.into_iter().flatten() {
            self.report_tone(event, offset);
        }
    }

    /// Reports the keys still down: the session is closing.
    pub(crate) fn close_keys(&mut self) {
        if let Some(event) = self.dtmf.receive.events.close() {
            self.report_event(event);
        }
        let media_ts = self.receive.delivered_ts();
        if let Some(detector) = self.dtmf.inband.as_mut() {
            let offset = media_ts.wrapping_sub(detector.position() as u32);
            if let Some(event) = detector.close() {
                self.report_tone(event, offset);
            }
        }
    }

    /// A telephone event, placed by its RTP timestamp.
    fn report_event(&mut self, event: DtmfEvent) {
        let media_ts = self.receive.delivered_position(event.key().timestamp);
        let media_ts = place(&mut self.dtmf.receive.event_down, &event, media_ts);
        self.report_key(event, media_ts);
    }

    /// An in-band key, placed by its position in the detector's audio,
    /// `offset` from the delivered audio's.
    fn report_tone(&mut self, event: DtmfEvent, offset: u32) {
        let media_ts = event.key().timestamp.wrapping_add(offset);
        let media_ts = place(&mut self.dtmf.receive.tone_down, &event, media_ts);
        self.report_key(event, media_ts);
    }

    fn report_key(&mut self, event: DtmfEvent, media_ts: u32) {
        self.emit(match event {
            DtmfEvent::Started(key) => MediaEvent::DtmfStarted {
                digit: key.digit,
                media_ts,
            },
            DtmfEvent::Ended { key, duration } => MediaEvent::Dtmf {
                digit: key.digit,
                duration,
                media_ts,
            },
        });
    }
}
