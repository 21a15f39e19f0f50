//! Media for a phone line: everything between a UDP socket and a 20 ms frame
//! of 8 kHz 16-bit audio.
//!
//! The crate is independent of SIP signalling: it only knows payload types,
//! SSRCs, sequence numbers and samples. Modules:
//!
//! - [`g711`]: µ-law / A-law companding (PCMU / PCMA), table driven.
//! - [`rtp`]: zero-copy RTP packet view and header writer (RFC 3550).
//! - [`rtcp`]: RTCP SR/RR/SDES/BYE, reception statistics, RTT and MOS.
//! - [`jitter`]: adaptive jitter buffer over a fixed ring, and loss concealment.
//! - [`callerid`]: caller ID on analog lines: Bell 202 and V.23 FSK
//!   (SDMF, MDMF) and DTMF caller ID, decoded from the line's audio.
//! - [`progress`]: call progress tone detection (dial, busy, reorder,
//!   ringback) with each country's frequencies and cadences.
//! - [`dtmf`]: RFC 4733 telephone events, in-band DTMF detection and call
//!   progress tone generation.
//! - [`energy`]: a frame's sum of squared samples, the one kernel behind
//!   the decoder's, the concealer's and the VAD gate's frame energy.
//! - [`resample`]: streaming and one-shot sample-rate conversion (8 kHz line
//!   ↔ 16/24 kHz voice engines, any rate for prompts).
//! - [`vad`]: per-call voice activity detection (adaptive energy gate in
//!   front of the `earshot` network), with backdated start/stop timestamps.
//! - [`prompt`]: audio files (WAV, MP3, FLAC, Ogg/Vorbis via `symphonia`)
//!   decoded to 8 kHz mono 20 ms frames for playback.
//! - [`recording`]: call recording to 16-bit 8 kHz WAV, caller, agent or
//!   both as stereo.
//! - [`engine`]: the media engine: port pairs, worker threads running many
//!   calls each, symmetric RTP, 20 ms paced playback, DTMF/speech/stats/
//!   timeout events, RTCP, joining two calls, and per call: sending DTMF
//!   (RFC 4733 or in-band), recording to WAV, audio at 16/24 kHz for the
//!   application, and any ptime from 10 to 120 ms on the wire.
//!
//! The hot path (parse, jitter buffer, decode) does not allocate per packet;
//! malformed input is dropped and counted, never a panic.

#![warn(missing_docs)]
// `unsafe` is denied everywhere except the x86_64 SIMD kernels of the
// per-frame hot path (G.711 decode, frame energy), where the receive-path
// benchmark shows the gain; each has a portable fallback.
#![deny(unsafe_code)]

// Lets a test helper shared with the integration tests (which name the
// crate) be included by path in the unit tests.
#[cfg(test)]
extern crate self as rtp_media;

pub mod callerid;
pub mod dtmf;
pub mod energy;
pub mod engine;
pub mod g711;
mod goertzel;
pub mod jitter;
pub mod progress;
pub mod prompt;
pub mod recording;
pub mod resample;
pub mod rtcp;
pub mod rtp;
pub mod vad;
