//! Key presses sent by the agent: RFC 4733 telephone events on the
//! negotiated payload type, or in-band DTMF tones when none was negotiated.
//!
//! Each key is one event: its packets carry the RTP timestamp of the tick
//! where the key went down, the marker bit on the first, a duration that
//! grows by one packetization interval per packet, and three end packets
//! with the E bit and the final duration (RFC 4733 §2.5.1). They share the
//! audio's SSRC and sequence numbers. Queued audio waits while a key (or a
//! queue of keys) is sent, and resumes as a new talkspurt afterwards.
//!
//! Clearing the playback (barge-in) cancels the keys that have not started
//! and reports each as [`MediaEvent::DtmfCancelled`]. The key being sent
//! finishes as if nothing happened: an event cut short without its end
//! packets would leave the far end holding the key down until its own
//! timeout, and a tone cut short may not be detected at all.
//!
//! Without a telephone-event payload type the key is played as its dual
//! tone over the audio payload type, followed by a pause of silence, so
//! lines without RFC 4733 (analog gateways) still hear it.

use super::dtmf_receive::DtmfReceive;
use crate::dtmf::ToneGenerator;
use crate::dtmf::{digit_to_event, DetectorConfig, DtmfDetector, DtmfSender, EventPacket};
use crate::engine::event::{FRAME_DURATION, FRAME_SAMPLES};
use crate::engine::tick::SLOT;
use crate::g711::Codec;
use std::collections::VecDeque;
use std::time::Duration;

/// The DTMF of one call, both ways.
#[derive(Debug)]
pub(crate) struct CallDtmf {
    /// Keys received as RFC 4733 telephone events.
    pub(crate) receive: DtmfReceive,
    /// Keys detected in the decoded audio, when asked for
    /// ([`SessionParams::inband_dtmf`](crate::engine::SessionParams::inband_dtmf)).
    pub(crate) inband: Option<DtmfDetector>,
    /// Keys the application sends.
    pub(crate) send: DtmfSend,
}

impl CallDtmf {
    pub(crate) fn new(inband: bool) -> Self {
        CallDtmf {
            receive: DtmfReceive::new(Codec::CLOCK_RATE),
            inband: inband.then(detector),
            send: DtmfSend::default(),
        }
    }

    /// Turns in-band detection on or off (re-INVITE).
    pub(crate) fn set_inband(&mut self, on: bool) {
        if on != self.inband.is_some() {
            self.inband = on.then(detector);
        }
    }
}

fn detector() -> DtmfDetector {
    DtmfDetector::new(DetectorConfig::default())
}

/// Shortest key press sent; shorter requests are lengthened to it (ITU-T
/// Q.24 receivers need about 40 ms of tone).
pub(crate) const MIN_DIGIT: Duration = Duration::from_millis(40);
/// Longest key press sent: the 16-bit duration field at 8 kHz, without
/// the segmentation no key press needs.
pub(crate) const MAX_DIGIT: Duration = Duration::from_millis(8000);
/// Pause between the release of one key and the press of the next.
pub(crate) const INTER_DIGIT_PAUSE: Duration = Duration::from_millis(100);
/// Volume of RFC 4733 events, −dBm0.
const EVENT_VOLUME: u8 = 10;
/// Amplitude of each of the two in-band tones (about −10 dBm0 each).
const TONE_AMPLITUDE: i16 = 6000;
/// Keys waiting to be sent; more are dropped and counted.
pub(crate) const MAX_QUEUED_DIGITS: usize = 64;

#[derive(Debug, Clone, Copy)]
pub(crate) struct QueuedDigit {
    pub(crate) digit: char,
    pub(crate) length: Duration,
}

#[derive(Debug)]
pub(crate) enum Signal {
    /// Packets of `DtmfSend::packets`, the next one at `next`.
    Events { payload_type: u8, next: usize },
    /// Tone samples still to play, then silence samples.
    Tone {
        generator: ToneGenerator,
        tone_left: usize,
        pause_left: usize,
    },
}

#[derive(Debug)]
pub(crate) struct ActiveDigit {
    pub(crate) digit: char,
    pub(crate) length: Duration,
    /// Tick the key went down.
    pub(crate) start_tick: u64,
    /// RTP timestamp of the key-down tick.
    pub(crate) timestamp: u32,
    /// Tick from which the next key may start.
    pub(crate) next_key_tick: u64,
    pub(crate) signal: Signal,
}

/// Per-call outgoing DTMF state.
#[derive(Debug, Default)]
pub(crate) struct DtmfSend {
    pub(crate) queue: VecDeque<QueuedDigit>,
    pub(crate) active: Option<ActiveDigit>,
    /// The active event's packets (buffer reused from key to key).
    pub(crate) packets: Vec<EventPacket>,
    /// Tick before which the next key may not start (the pause after the
    /// previous key's release).
    pub(crate) pause_until: u64,
    /// Keys fully sent.
    pub(crate) sent: u64,
    /// Keys dropped because the queue was full.
    dropped: u64,
    /// Keys cancelled before they started.
    pub(crate) cancelled: u64,
}

/// Time from the key going down to `slot`.
pub(crate) fn since_key_down(active: &ActiveDigit, slot: u64) -> Duration {
    SLOT * slot.saturating_sub(2 * active.start_tick) as u32
}

/// Whole ticks from the key-down tick until `after` has passed.
fn ticks_for(after: Duration) -> u64 {
    let frame = FRAME_DURATION.as_nanos();
    after.as_nanos().div_ceil(frame) as u64
}

impl DtmfSend {
    /// Queues a key press; `false` when the queue is full.
    pub(crate) fn push(&mut self, digit: char, length: Duration) -> bool {
        if self.queue.len() >= MAX_QUEUED_DIGITS {
            self.dropped += 1;
            return false;
        }
        self.queue.push_back(QueuedDigit {
            digit,
            length: length.clamp(MIN_DIGIT, MAX_DIGIT),
        });
        true
    }

    /// An event packet of the key being sent is due at `slot` (10 ms
    /// slots; the key went down at slot `2 × start_tick`).
    pub(crate) fn events_due(&self, slot: u64) -> bool {
        let Some(active) = &self.active else {
            return false;
        };
        let Signal::Events { next, .. } = &active.signal else {
            return false;
        };
        let elapsed = since_key_down(active, slot);
        self.packets
            .get(*next)
            .is_some_and(|p| p.send_after <= elapsed)
    }

    /// A key is being sent, or keys wait: audio must wait too.
    pub(crate) fn busy(&self) -> bool {
        self.active.is_some() || !self.queue.is_empty()
    }

    pub(crate) fn sent(&self) -> u64 {
        self.sent
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }

    pub(crate) fn cancelled(&self) -> u64 {
        self.cancelled
    }

    /// Starts the next queued key at `tick` (RTP timestamp `timestamp`).
    pub(crate) fn start_next(
        &mut self,
        tick: u64,
        timestamp: u32,
        event_pt: Option<u8>,
        ptime: Duration,
    ) -> bool {
        let Some(q) = self.queue.pop_front() else {
            return false;
        };
        let release = ticks_for(q.length);
        let pause = ticks_for(INTER_DIGIT_PAUSE);
        let signal = match (event_pt, digit_to_event(q.digit)) {
            (Some(payload_type), Some(_)) => {
                let sender = DtmfSender {
                    clock_rate: Codec::CLOCK_RATE,
                    interval: ptime,
                    volume: EVENT_VOLUME,
                };
                self.packets.clear();
                if let Some(packets) = sender.packets(q.digit, timestamp, q.length) {
                    self.packets.extend(packets);
                }
                Signal::Events {
                    payload_type,
                    next: 0,
                }
            }
            _ => {
                let Some(generator) = ToneGenerator::dtmf(q.digit, TONE_AMPLITUDE) else {
                    // Digits are checked by the session; nothing to send.
                    return false;
                };
                Signal::Tone {
                    generator,
                    tone_left: release as usize * FRAME_SAMPLES,
                    pause_left: pause as usize * FRAME_SAMPLES,
                }
            }
        };
        self.active = Some(ActiveDigit {
            digit: q.digit,
            length: q.length,
            start_tick: tick,
            timestamp,
            next_key_tick: tick + release + pause,
            signal,
        });
        true
    }
}

/// What the DTMF sender does with this tick's send slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DtmfSlot {
    /// No key: queued audio goes out as usual.
    Audio,
    /// A key owns the slot (packets sent, or a pause between them).
    Taken,
}
