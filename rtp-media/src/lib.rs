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
//! - [`dtmf`]: RFC 4733 telephone events, in-band DTMF detection and call
//!   progress tone generation.
//! - [`engine`]: the media engine: port pairs, worker threads running many
//!   calls each, symmetric RTP, 20 ms paced playback, DTMF/stats/timeout
//!   events, RTCP, and joining two calls.
//!
//! The hot path (parse, jitter buffer, decode) does not allocate per packet;
//! malformed input is dropped and counted, never a panic.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod dtmf;
pub mod engine;
pub mod g711;
pub mod jitter;
pub mod rtcp;
pub mod rtp;
