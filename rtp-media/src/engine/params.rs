//! What SDP negotiated for one call, as plain values: codec, payload types,
//! remote addresses, packet time and direction. The engine knows nothing
//! of SIP; the field names are those of the SDP negotiation result, so the
//! conversion from one to the other is field for field.

use super::error::MediaError;
use crate::g711::Codec;
use std::net::SocketAddr;
use std::time::Duration;

/// Shortest packet time accepted.
pub const MIN_PTIME: Duration = Duration::from_millis(10);
/// Longest packet time accepted (960 G.711 bytes, within one MTU).
pub const MAX_PTIME: Duration = Duration::from_millis(120);
/// Packet times are whole multiples of this.
pub const PTIME_STEP: Duration = Duration::from_millis(10);

/// `ptime` is a whole multiple of 10 ms from 10 to 120 ms.
pub(crate) fn ptime_supported(ptime: Duration) -> bool {
    (MIN_PTIME..=MAX_PTIME).contains(&ptime) && ptime.as_nanos() % PTIME_STEP.as_nanos() == 0
}

/// Which ways media flows, from the SDP direction attribute as seen by us
/// (RFC 3264 §6.1: our answer's attribute, or the mirror of the offer's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// `a=sendrecv`: both ways.
    #[default]
    SendRecv,
    /// `a=sendonly`: we send, and do not deliver received audio.
    SendOnly,
    /// `a=recvonly` (we are on hold by the remote): we do not send.
    RecvOnly,
    /// `a=inactive`: neither way.
    Inactive,
}

impl Direction {
    /// We send RTP (`sendrecv` or `sendonly`).
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// We receive and deliver RTP (`sendrecv` or `recvonly`).
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }
}

/// Media parameters of one call, as negotiated in SDP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionParams {
    /// G.711 law.
    pub codec: Codec,
    /// RTP payload type of the audio (normally the codec's static type).
    pub payload_type: u8,
    /// Payload type of RFC 4733 telephone-event, if negotiated.
    pub telephone_event_pt: Option<u8>,
    /// Where to send RTP until latching finds the real source; `None` waits
    /// for the first packets.
    pub remote_rtp: Option<SocketAddr>,
    /// Where to send RTCP; default is the RTP address with port + 1.
    pub remote_rtcp: Option<SocketAddr>,
    /// Packet time (RFC 4566 `a=ptime`): 10 to 120 ms in steps of 10 ms.
    /// Playback is sent in packets of this size, one every `ptime`.
    /// Received packets are expected at this size, but the far end's real
    /// size is what counts: when a few packets in a row (or all there is
    /// to play) carry another whole number of 10 ms, the receive side
    /// switches to it without a gap in the audio
    /// ([`MediaStats::rx_ptime`](super::MediaStats::rx_ptime)). Frames to
    /// and from the application stay 20 ms whatever it is.
    pub ptime: Duration,
    /// Send and/or receive.
    pub direction: Direction,
    /// Also detect DTMF tones in the decoded audio (for lines without
    /// RFC 4733).
    pub inband_dtmf: bool,
}

impl SessionParams {
    /// Send-receive, 20 ms, the codec's static payload type, telephone-event
    /// on 101, remote address unknown.
    pub fn new(codec: Codec) -> Self {
        SessionParams {
            codec,
            payload_type: codec.payload_type(),
            telephone_event_pt: Some(101),
            remote_rtp: None,
            remote_rtcp: None,
            ptime: Duration::from_millis(20),
            direction: Direction::SendRecv,
            inband_dtmf: false,
        }
    }

    /// Checks what the engine cannot run: a packet time that is not a
    /// multiple of 10 ms from 10 to 120 ms
    /// ([`MediaError::UnsupportedPtime`]), payload types outside 0..=127
    /// or audio and telephone-event on the same one
    /// ([`MediaError::BadPayloadType`]). Opening or updating a session
    /// does this too; call it first to check an answer before using it.
    pub fn validate(&self) -> Result<(), MediaError> {
        if !ptime_supported(self.ptime) {
            return Err(MediaError::UnsupportedPtime(self.ptime));
        }
        let bad = self.payload_type > 127
            || self
                .telephone_event_pt
                .is_some_and(|e| e > 127 || e == self.payload_type);
        if bad {
            return Err(MediaError::BadPayloadType {
                audio: self.payload_type,
                event: self.telephone_event_pt,
            });
        }
        Ok(())
    }
}

/// Samples at 8 kHz in `ptime`.
pub(crate) fn ptime_samples(ptime: Duration) -> usize {
    (ptime.as_micros() * u128::from(Codec::CLOCK_RATE) / 1_000_000) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direction_sends_and_receives_as_the_sdp_attribute_says() {
        let cases = [
            (Direction::SendRecv, true, true),
            (Direction::SendOnly, true, false),
            (Direction::RecvOnly, false, true),
            (Direction::Inactive, false, false),
        ];
        for (d, sends, receives) in cases {
            assert_eq!((d.sends(), d.receives()), (sends, receives), "{d:?}");
        }
    }

    #[test]
    fn ptime_must_be_whole_10_ms_from_10_to_120() {
        for ms in [10, 20, 30, 40, 60, 120] {
            assert!(ptime_supported(Duration::from_millis(ms)), "{ms}");
        }
        for bad in [
            Duration::ZERO,
            Duration::from_millis(5),
            Duration::from_millis(25),
            Duration::from_millis(130),
            Duration::from_micros(20_500),
            Duration::MAX,
        ] {
            assert!(!ptime_supported(bad), "{bad:?}");
            let mut p = SessionParams::new(Codec::Pcmu);
            p.ptime = bad;
            assert!(matches!(p.validate(), Err(MediaError::UnsupportedPtime(d)) if d == bad));
        }
    }
}
