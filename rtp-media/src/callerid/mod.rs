//! Caller ID on analog lines: who is calling, sent by the exchange between
//! the first and second ring (or before the first).
//!
//! Three ways exist, by country:
//!
//! - FSK at 1200 baud, Bell 202 tones in North America (Telcordia
//!   GR-30-CORE), ITU-T V.23 tones in most of Europe (ETSI EN 300 659-1);
//!   [`CallerIdReceiver`] demodulates either.
//! - Within FSK, a single data message ([`MessageFormat::Sdmf`]: date, time,
//!   number) or a multiple data message ([`MessageFormat::Mdmf`]: typed
//!   parameters, with the name), read by [`CallerIdMessage::parse`], which
//!   checks the checksum.
//! - DTMF digits (`A<number>C`, `D<number>C`, ...), read by
//!   [`DtmfCallerIdReceiver`] on top of the in-band DTMF detector.
//!
//! Each receiver takes the line's audio frame by frame and returns a
//! [`CallerIdMessage`] when one is complete, or a [`CallerIdError`] saying
//! why the one being received was lost (bad checksum, truncated). [`encode`]
//! makes the audio of a burst, for tests and the simulated line.
//!
//! One file per concern: the message formats (`message`), the FSK modem and
//! its receiver (`fsk`), DTMF caller ID (`dtmf`).

mod dtmf;
mod fsk;
mod message;

pub use dtmf::{encode_dtmf, parse_dtmf, DtmfCallerIdReceiver};
pub use fsk::{encode_bytes, CallerIdReceiver, Modulation, DEFAULT_MIN_LEVEL_DBM0};
pub use message::{
    Absence, CallTime, CallerIdError, CallerIdMessage, MessageFormat, MDMF_CALL_SETUP,
    SDMF_CALLER_ID,
};

/// The audio of a caller ID burst carrying `message` in `format`, at
/// `level_dbm0`: for SDMF and MDMF an FSK burst in `modulation` (channel
/// seizure, mark, message), for DTMF the keys of [`encode_dtmf`]
/// (`modulation` unused).
pub fn encode(
    message: &CallerIdMessage,
    format: MessageFormat,
    modulation: Modulation,
    level_dbm0: f32,
) -> Result<Vec<i16>, CallerIdError> {
    match format {
        MessageFormat::Dtmf => encode_dtmf(message, level_dbm0),
        _ => Ok(encode_bytes(
            &message.to_bytes(format)?,
            modulation,
            level_dbm0,
        )),
    }
}
