//! DTMF and call-progress tones.
//!
//! Callers talking to an AI agent still press keys. Keys arrive either as
//! RFC 4733 telephone-event packets ([`TelephoneEvent`], turned into key
//! presses by [`DtmfReceiver`]) or, on lines without them, as in-band tones
//! in the audio ([`DtmfDetector`]). We send keys with [`DtmfSender`]'s
//! packets or [`ToneGenerator`]'s tones, which also makes the US ringback
//! and busy tones we play towards the caller.
//!
//! One file per concern: the RFC 4733 event block, key codes and sending
//! sequence (`telephone_event`); the receiver of events (`receiver`);
//! in-band detection (`detector`); tone generation (`tone`). Everything is
//! used from here, `rtp_media::dtmf::*`.

mod detector;
mod receiver;
mod telephone_event;
mod tone;

pub use detector::{DetectorConfig, DtmfDetector};
pub use receiver::{DtmfDigit, DtmfEvent, DtmfEvents, DtmfReceiver, QUIET_END};
pub use telephone_event::{
    digit_to_event, event_to_digit, DtmfError, DtmfSender, EventPacket, TelephoneEvent,
};
pub use tone::ToneGenerator;

// The keypad: two tones per key, one from each group (ITU-T Q.23), shared
// by detection and generation.

/// DTMF row (low group) frequencies in Hz.
pub const ROW_FREQS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
/// DTMF column (high group) frequencies in Hz.
pub const COL_FREQS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
const KEYPAD: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

/// The (row, column) frequencies of a DTMF key.
pub fn digit_frequencies(digit: char) -> Option<(f32, f32)> {
    let d = digit.to_ascii_uppercase();
    for (r, row) in KEYPAD.iter().enumerate() {
        for (c, &k) in row.iter().enumerate() {
            if k == d {
                return Some((ROW_FREQS[r], COL_FREQS[c]));
            }
        }
    }
    None
}
