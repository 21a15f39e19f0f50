//! RTP packets (RFC 3550 §5.1): a zero-copy view for received datagrams and
//! an allocation-free header writer for sent ones.
//!
//! A phone call carries 50 packets per second in each direction, so the
//! receive path parses in place over the datagram buffer: [`RtpPacket`] only
//! stores offsets and reads fields on demand. Callers that hold the datagram
//! in a [`bytes::Bytes`] can cut the payload out without copying with
//! [`RtpPacket::payload_range`]. Malformed datagrams produce an [`RtpError`]
//! saying why, so the caller can drop and count them.

use bytes::{BufMut, BytesMut};
use std::ops::Range;
use thiserror::Error;

/// The only RTP version in use (RFC 3550).
pub const RTP_VERSION: u8 = 2;
/// Length of the fixed RTP header, before CSRCs and extension.
pub const FIXED_HEADER_LEN: usize = 12;
/// Largest number of contributing sources a header can list (4-bit CC field).
pub const MAX_CSRCS: usize = 15;

/// Why an RTP datagram was rejected, or why a header could not be written.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum RtpError {
    /// The datagram is shorter than the 12-byte fixed header.
    #[error("datagram of {len} bytes is shorter than the 12-byte RTP header")]
    TooShort {
        /// Datagram length.
        len: usize,
    },
    /// The version field is not 2 (e.g. STUN, DTLS or garbage on the port).
    #[error("RTP version {0}, expected 2")]
    BadVersion(u8),
    /// The CSRC count says the list extends past the end of the datagram.
    #[error("{count} CSRCs do not fit in a {len}-byte datagram")]
    TruncatedCsrcs {
        /// CSRC count from the header.
        count: usize,
        /// Datagram length.
        len: usize,
    },
    /// The X bit is set but the extension header or its data is cut short.
    #[error("header extension of {needed} bytes runs past the {len}-byte datagram")]
    TruncatedExtension {
        /// Bytes needed up to the end of the extension.
        needed: usize,
        /// Datagram length.
        len: usize,
    },
    /// The P bit is set but the padding count is zero or larger than the
    /// bytes after the header.
    #[error("padding of {pad} bytes is invalid with {available} bytes after the header")]
    BadPadding {
        /// The padding count (last octet of the datagram).
        pad: usize,
        /// Bytes available after the header.
        available: usize,
    },
    /// The output buffer cannot hold what was asked to be written.
    #[error("output buffer of {have} bytes is too small, {need} needed")]
    BufferTooSmall {
        /// Bytes required.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// More than 15 CSRCs were given to the writer.
    #[error("{0} CSRCs exceed the RTP limit of 15")]
    TooManyCsrcs(usize),
    /// The payload type does not fit in 7 bits.
    #[error("payload type {0} does not fit in 7 bits")]
    BadPayloadType(u8),
    /// Extension data given to the writer is not a whole number of 32-bit
    /// words, or exceeds 65535 words.
    #[error("header extension of {0} bytes is not a whole number of 32-bit words (max 65535)")]
    BadExtensionLength(usize),
}

/// A header extension (RFC 3550 §5.3.1): a 16-bit profile identifier and
/// data that is a whole number of 32-bit words. RFC 8285 elements live
/// inside `data` (profile 0xBEDE for one-byte, 0x1000-0x100F for two-byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderExtension<'a> {
    /// Profile-defined identifier ("defined by profile" field).
    pub profile: u16,
    /// Extension data, without the 4-byte extension header.
    pub data: &'a [u8],
}

/// A parsed view of one RTP datagram. Cheap to copy; borrows the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    buf: &'a [u8],
    /// Offset of the first payload byte (end of CSRCs and extension).
    header_len: usize,
    /// Offset one past the last payload byte (start of padding).
    payload_end: usize,
}

#[inline]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline]
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl<'a> RtpPacket<'a> {
    /// Validates `buf` as an RTP datagram and returns a view over it.
    ///
    /// Checks the version, that the CSRC list and header extension fit, and
    /// that any padding count is between 1 and the bytes after the header.
    #[inline]
    pub fn parse(buf: &'a [u8]) -> Result<Self, RtpError> {
        let len = buf.len();
        // Nearly every audio packet: version 2, no padding, extension or
        // CSRCs (first octet 0x80). One test decides it.
        if len >= FIXED_HEADER_LEN && buf[0] == 0x80 {
            return Ok(RtpPacket {
                buf,
                header_len: FIXED_HEADER_LEN,
                payload_end: len,
            });
        }
        if len < FIXED_HEADER_LEN {
            return Err(RtpError::TooShort { len });
        }
        let version = buf[0] >> 6;
        if version != RTP_VERSION {
            return Err(RtpError::BadVersion(version));
        }
        let cc = (buf[0] & 0x0F) as usize;
        let mut header_len = FIXED_HEADER_LEN + 4 * cc;
        if header_len > len {
            return Err(RtpError::TruncatedCsrcs { count: cc, len });
        }
        if buf[0] & 0x10 != 0 {
            if header_len + 4 > len {
                return Err(RtpError::TruncatedExtension {
                    needed: header_len + 4,
                    len,
                });
            }
            let words = be16(buf, header_len + 2) as usize;
            let needed = header_len + 4 + 4 * words;
            if needed > len {
                return Err(RtpError::TruncatedExtension { needed, len });
            }
            header_len = needed;
        }
        let mut payload_end = len;
        if buf[0] & 0x20 != 0 {
            let available = len - header_len;
            let pad = buf[len - 1] as usize;
            if pad == 0 || pad > available {
                return Err(RtpError::BadPadding { pad, available });
            }
            payload_end = len - pad;
        }
        Ok(RtpPacket {
            buf,
            header_len,
            payload_end,
        })
    }

    /// The whole datagram this view was parsed from.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// Whether the P bit is set (payload followed by padding).
    pub fn has_padding(&self) -> bool {
        self.buf[0] & 0x20 != 0
    }

    /// Number of padding bytes at the end (0 when the P bit is clear).
    pub fn padding_len(&self) -> usize {
        self.buf.len() - self.payload_end
    }

    /// The M bit. For audio it marks the first packet of a talkspurt; for
    /// RFC 4733 events the first packet of an event.
    #[inline]
    pub fn marker(&self) -> bool {
        self.buf[1] & 0x80 != 0
    }

    /// The 7-bit payload type, to be mapped to a codec via SDP.
    #[inline]
    pub fn payload_type(&self) -> u8 {
        self.buf[1] & 0x7F
    }

    /// The 16-bit sequence number, incremented by one per packet sent.
    #[inline]
    pub fn sequence(&self) -> u16 {
        be16(self.buf, 2)
    }

    /// The media timestamp in clock-rate units (8000 Hz for G.711).
    #[inline]
    pub fn timestamp(&self) -> u32 {
        be32(self.buf, 4)
    }

    /// The synchronization source identifier of the sender.
    #[inline]
    pub fn ssrc(&self) -> u32 {
        be32(self.buf, 8)
    }

    /// Number of contributing sources listed (CC field).
    pub fn csrc_count(&self) -> usize {
        (self.buf[0] & 0x0F) as usize
    }

    /// The contributing sources, e.g. the participants a mixer combined.
    pub fn csrcs(&self) -> impl Iterator<Item = u32> + 'a {
        let buf = self.buf;
        (0..self.csrc_count()).map(move |i| be32(buf, FIXED_HEADER_LEN + 4 * i))
    }

    /// The header extension when the X bit is set.
    pub fn extension(&self) -> Option<HeaderExtension<'a>> {
        if self.buf[0] & 0x10 == 0 {
            return None;
        }
        let at = FIXED_HEADER_LEN + 4 * self.csrc_count();
        Some(HeaderExtension {
            profile: be16(self.buf, at),
            data: &self.buf[at + 4..self.header_len],
        })
    }

    /// Length of the header including CSRCs and extension.
    #[inline]
    pub fn header_len(&self) -> usize {
        self.header_len
    }

    /// The payload, without header and padding.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[self.header_len..self.payload_end]
    }

    /// Where the payload sits in the datagram, so a caller holding the
    /// datagram as `Bytes` can take `bytes.slice(range)` without copying.
    #[inline]
    pub fn payload_range(&self) -> Range<usize> {
        self.header_len..self.payload_end
    }
}

/// The fields of an RTP header to be written by [`RtpHeader::write`].
///
/// Borrowed CSRC and extension data keep the writer allocation free.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader<'a> {
    /// The M bit (start of talkspurt / start of event).
    pub marker: bool,
    /// 7-bit payload type.
    pub payload_type: u8,
    /// Sequence number.
    pub sequence: u16,
    /// Media timestamp.
    pub timestamp: u32,
    /// Our synchronization source.
    pub ssrc: u32,
    /// Contributing sources (at most 15).
    pub csrcs: &'a [u32],
    /// Optional header extension; data must be a whole number of words.
    pub extension: Option<HeaderExtension<'a>>,
}

impl<'a> RtpHeader<'a> {
    /// A plain header with no marker, CSRCs or extension.
    pub fn new(payload_type: u8, sequence: u16, timestamp: u32, ssrc: u32) -> Self {
        RtpHeader {
            marker: false,
            payload_type,
            sequence,
            timestamp,
            ssrc,
            csrcs: &[],
            extension: None,
        }
    }

    /// Number of bytes [`write`](Self::write) produces.
    pub fn len(&self) -> usize {
        FIXED_HEADER_LEN + 4 * self.csrcs.len() + self.extension.map_or(0, |e| 4 + e.data.len())
    }

    /// Always false: a header is at least 12 bytes. Present for API symmetry
    /// with `len`.
    pub fn is_empty(&self) -> bool {
        false
    }

    fn validate(&self, padding: bool) -> Result<u8, RtpError> {
        if self.csrcs.len() > MAX_CSRCS {
            return Err(RtpError::TooManyCsrcs(self.csrcs.len()));
        }
        if self.payload_type > 0x7F {
            return Err(RtpError::BadPayloadType(self.payload_type));
        }
        if let Some(e) = self.extension {
            if e.data.len() % 4 != 0 || e.data.len() / 4 > u16::MAX as usize {
                return Err(RtpError::BadExtensionLength(e.data.len()));
            }
        }
        let mut b0 = RTP_VERSION << 6 | self.csrcs.len() as u8;
        if padding {
            b0 |= 0x20;
        }
        if self.extension.is_some() {
            b0 |= 0x10;
        }
        Ok(b0)
    }

    fn write_fields(&self, b0: u8, out: &mut [u8]) {
        out[0] = b0;
        out[1] = (u8::from(self.marker) << 7) | self.payload_type;
        out[2..4].copy_from_slice(&self.sequence.to_be_bytes());
        out[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        out[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        let mut at = FIXED_HEADER_LEN;
        for c in self.csrcs {
            out[at..at + 4].copy_from_slice(&c.to_be_bytes());
            at += 4;
        }
        if let Some(e) = self.extension {
            out[at..at + 2].copy_from_slice(&e.profile.to_be_bytes());
            out[at + 2..at + 4].copy_from_slice(&((e.data.len() / 4) as u16).to_be_bytes());
            out[at + 4..at + 4 + e.data.len()].copy_from_slice(e.data);
        }
    }

    /// Writes the header at the start of `out`; returns its length.
    pub fn write(&self, out: &mut [u8]) -> Result<usize, RtpError> {
        let b0 = self.validate(false)?;
        let need = self.len();
        if out.len() < need {
            return Err(RtpError::BufferTooSmall {
                need,
                have: out.len(),
            });
        }
        self.write_fields(b0, &mut out[..need]);
        Ok(need)
    }

    /// Writes a whole packet — header, payload and `padding` pad bytes (the
    /// last one holding the count; 0 for none) — into `out`; returns its length.
    pub fn write_packet(
        &self,
        payload: &[u8],
        padding: u8,
        out: &mut [u8],
    ) -> Result<usize, RtpError> {
        let b0 = self.validate(padding > 0)?;
        let hlen = self.len();
        let need = hlen + payload.len() + padding as usize;
        if out.len() < need {
            return Err(RtpError::BufferTooSmall {
                need,
                have: out.len(),
            });
        }
        self.write_fields(b0, &mut out[..hlen]);
        out[hlen..hlen + payload.len()].copy_from_slice(payload);
        if padding > 0 {
            let pad = &mut out[hlen + payload.len()..need];
            pad.fill(0);
            pad[padding as usize - 1] = padding;
        }
        Ok(need)
    }

    /// Appends header and payload to `out`. Allocates only if `out` lacks
    /// capacity, so reusing one `BytesMut` per stream keeps sends allocation free.
    pub fn put_packet(&self, payload: &[u8], out: &mut BytesMut) -> Result<(), RtpError> {
        let b0 = self.validate(false)?;
        let hlen = self.len();
        let start = out.len();
        out.resize(start + hlen, 0);
        self.write_fields(b0, &mut out[start..]);
        out.put_slice(payload);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use webrtc_util::marshal::Unmarshal;

    /// A hand-assembled packet: V=2, P=1, X=1, CC=2, M=1, PT=0.
    fn full_packet() -> Vec<u8> {
        let mut p = vec![
            0xB2, 0x80, 0x12, 0x34, // V=2 P X CC=2, M PT=0, seq 0x1234
            0xDE, 0xAD, 0xBE, 0xEF, // ts
            0x01, 0x02, 0x03, 0x04, // ssrc
            0x00, 0x00, 0x00, 0x0A, // csrc 1
            0x00, 0x00, 0x00, 0x0B, // csrc 2
            0xBE, 0xDE, 0x00, 0x01, // ext profile, 1 word
            0x10, 0xAA, 0x00, 0x00, // one-byte element id 1 len 1, padding
        ];
        p.extend_from_slice(&[0x55; 160]);
        p.extend_from_slice(&[0, 0, 3]); // 3 bytes of padding
        p
    }

    /// Fuzz find (rtp_packet): a padded packet with an extension and CSRCs.
    /// `RtpHeader::write` emits the header of an unpadded packet (P clear);
    /// `write_packet` with the parsed padding length restores the P bit and
    /// the count byte, so the packet round-trips.
    #[test]
    fn fuzz_padded_packet_with_extension_round_trips() {
        let data: &[u8] = &[
            0xb3, 0xb3, 0xb3, 0xb3, 0xb3, 0xb3, 0xb3, 0xb3, 0xb3, 0xb3, 0xb3, 0xb3, 0xb3, 0xb3,
            0xb3, 0xb3, 0xb3, 0xb3, 0xb3, 0xb3, 0xb3, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0xb3, 0xb3, 0xb3, 0xb3, 0xb3, 0xb3, 0xb3, 0x0a,
        ];
        let p = RtpPacket::parse(data).unwrap();
        assert!(p.has_padding());
        assert_eq!(p.csrc_count(), 3);
        let ext = p.extension().unwrap();
        assert_eq!(ext.data.len(), 0);
        assert_eq!(p.padding_len(), 10);
        let csrcs: Vec<u32> = p.csrcs().collect();
        let header = RtpHeader {
            marker: p.marker(),
            payload_type: p.payload_type(),
            sequence: p.sequence(),
            timestamp: p.timestamp(),
            ssrc: p.ssrc(),
            csrcs: &csrcs,
            extension: Some(ext),
        };
        let mut out = [0u8; 64];
        let n = header.write(&mut out).unwrap();
        assert_eq!(n, p.header_len());
        assert_eq!(out[0], data[0] & !0x20);
        assert_eq!(&out[1..n], &data[1..n]);
        let n = header.write_packet(p.payload(), 10, &mut out).unwrap();
        assert_eq!(n, data.len());
        assert_eq!(out[0], data[0]);
        assert_eq!(&out[..data.len() - 10], &data[..data.len() - 10]);
        assert_eq!(out[n - 1], 10);
        assert_eq!(RtpPacket::parse(&out[..n]).unwrap().payload(), p.payload());
    }

    #[test]
    fn parses_all_header_fields() {
        let p = full_packet();
        let r = RtpPacket::parse(&p).unwrap();
        assert!(r.marker());
        assert_eq!(r.payload_type(), 0);
        assert_eq!(r.sequence(), 0x1234);
        assert_eq!(r.timestamp(), 0xDEAD_BEEF);
        assert_eq!(r.ssrc(), 0x0102_0304);
        assert_eq!(r.csrcs().collect::<Vec<_>>(), vec![0x0A, 0x0B]);
        let ext = r.extension().unwrap();
        assert_eq!(ext.profile, 0xBEDE);
        assert_eq!(ext.data, &[0x10, 0xAA, 0, 0]);
        assert_eq!(r.header_len(), 28);
        assert!(r.has_padding());
        assert_eq!(r.padding_len(), 3);
        assert_eq!(r.payload(), &[0x55; 160][..]);
        assert_eq!(r.payload_range(), 28..188);
    }

    #[test]
    fn minimal_packet_with_empty_payload() {
        let p = [0x80, 0x08, 0, 1, 0, 0, 0, 160, 0, 0, 0, 7];
        let r = RtpPacket::parse(&p).unwrap();
        assert!(!r.marker());
        assert_eq!(r.payload_type(), 8);
        assert_eq!(r.timestamp(), 160);
        assert!(r.payload().is_empty());
        assert!(r.extension().is_none());
        assert_eq!(r.csrcs().count(), 0);
    }

    #[test]
    fn malformed_packets_are_errors() {
        let good = full_packet();
        // Every truncation of a packet with CSRCs, extension and padding must
        // be rejected or parse to something consistent, never panic.
        for n in 0..good.len() {
            let _ = RtpPacket::parse(&good[..n]);
        }
        assert_eq!(
            RtpPacket::parse(&good[..5]),
            Err(RtpError::TooShort { len: 5 })
        );
        assert_eq!(
            RtpPacket::parse(&good[..16]),
            Err(RtpError::TruncatedCsrcs { count: 2, len: 16 })
        );
        assert_eq!(
            RtpPacket::parse(&good[..22]),
            Err(RtpError::TruncatedExtension {
                needed: 24,
                len: 22
            })
        );
        assert_eq!(
            RtpPacket::parse(&good[..26]),
            Err(RtpError::TruncatedExtension {
                needed: 28,
                len: 26
            })
        );

        let mut v1 = good.clone();
        v1[0] = (v1[0] & 0x3F) | 0x40;
        assert_eq!(RtpPacket::parse(&v1), Err(RtpError::BadVersion(1)));

        // Padding count larger than everything after the header.
        let mut big_pad = good.clone();
        let last = big_pad.len() - 1;
        big_pad[last] = 200;
        assert_eq!(
            RtpPacket::parse(&big_pad),
            Err(RtpError::BadPadding {
                pad: 200,
                available: 163
            })
        );
        let mut zero_pad = good.clone();
        zero_pad[last] = 0;
        assert!(matches!(
            RtpPacket::parse(&zero_pad),
            Err(RtpError::BadPadding { pad: 0, .. })
        ));
        // P bit with no bytes after the header.
        let p = [0xA0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(
            RtpPacket::parse(&p),
            Err(RtpError::BadPadding {
                pad: 1,
                available: 0
            })
        );
        // Padding that consumes the whole payload exactly is valid.
        let p = [0xA0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2];
        assert_eq!(RtpPacket::parse(&p).unwrap().payload(), &[] as &[u8]);
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A simple xorshift generator drives random headers of random lengths.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut buf = [0u8; 64];
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 65) as usize;
            for (i, b) in buf.iter_mut().enumerate() {
                *b = (x >> ((i % 8) * 8)) as u8 ^ i as u8;
            }
            buf[0] = (buf[0] & 0x3F) | 0x80;
            if let Ok(p) = RtpPacket::parse(&buf[..len]) {
                assert!(p.header_len() <= p.payload_range().end);
                assert!(p.payload_range().end <= len);
                let _ = (p.csrcs().count(), p.extension(), p.payload());
            }
        }
    }

    #[test]
    fn writer_round_trips_through_parser() {
        let csrcs = [7u32, 9, 0xFFFF_FFFF];
        let ext_data = [1u8, 2, 3, 4, 5, 6, 7, 8];
        let mut h = RtpHeader::new(101, 65535, 4_000_000_000, 0xCAFE_BABE);
        h.marker = true;
        h.csrcs = &csrcs;
        h.extension = Some(HeaderExtension {
            profile: 0x1000,
            data: &ext_data,
        });
        let payload = [0x11u8; 4];
        let mut out = [0u8; 64];
        let n = h.write_packet(&payload, 4, &mut out).unwrap();
        assert_eq!(n, 12 + 12 + 12 + 4 + 4);
        let p = RtpPacket::parse(&out[..n]).unwrap();
        assert!(p.marker());
        assert_eq!(p.payload_type(), 101);
        assert_eq!(p.sequence(), 65535);
        assert_eq!(p.timestamp(), 4_000_000_000);
        assert_eq!(p.ssrc(), 0xCAFE_BABE);
        assert_eq!(p.csrcs().collect::<Vec<_>>(), csrcs);
        assert_eq!(p.extension(), h.extension);
        assert_eq!(p.payload(), payload);
        assert_eq!(p.padding_len(), 4);

        // Header only.
        let hn = h.write(&mut out).unwrap();
        assert_eq!(hn, h.len());
        // BytesMut variant produces the same bytes as write + payload.
        let mut bm = BytesMut::with_capacity(64);
        h.put_packet(&payload, &mut bm).unwrap();
        let mut flat = [0u8; 64];
        let fnl = h.write_packet(&payload, 0, &mut flat).unwrap();
        assert_eq!(&bm[..], &flat[..fnl]);
    }

    #[test]
    fn writer_rejects_bad_input() {
        let mut h = RtpHeader::new(0, 1, 2, 3);
        let mut small = [0u8; 11];
        assert_eq!(
            h.write(&mut small),
            Err(RtpError::BufferTooSmall { need: 12, have: 11 })
        );
        let mut out = [0u8; 200];
        assert_eq!(
            h.write_packet(&[0; 160], 0, &mut out[..171]),
            Err(RtpError::BufferTooSmall {
                need: 172,
                have: 171
            })
        );
        h.payload_type = 128;
        assert_eq!(h.write(&mut out), Err(RtpError::BadPayloadType(128)));
        h.payload_type = 0;
        let many = [0u32; 16];
        h.csrcs = &many;
        assert_eq!(h.write(&mut out), Err(RtpError::TooManyCsrcs(16)));
        h.csrcs = &[];
        h.extension = Some(HeaderExtension {
            profile: 1,
            data: &[1, 2, 3],
        });
        assert_eq!(h.write(&mut out), Err(RtpError::BadExtensionLength(3)));
    }

    #[test]
    fn rtp_crate_parses_what_we_build() {
        let csrcs = [0x1111_1111u32, 0x2222_2222];
        let ext = [0xAAu8; 12];
        let payloads: [&[u8]; 3] = [&[], &[0xFF; 160], &[1, 2, 3]];
        for (i, payload) in payloads.iter().enumerate() {
            for with_csrc in [false, true] {
                for with_ext in [false, true] {
                    for padding in [0u8, 1, 4] {
                        let mut h = RtpHeader::new(
                            (i as u8 * 37) & 0x7F,
                            0xFFF0 + i as u16,
                            0x8000_0000 + i as u32 * 160,
                            0x5EED_0000 + i as u32,
                        );
                        h.marker = i % 2 == 0;
                        if with_csrc {
                            h.csrcs = &csrcs;
                        }
                        if with_ext {
                            // A profile that is neither RFC 8285 form, so
                            // the rtp crate keeps the data as one blob.
                            h.extension = Some(HeaderExtension {
                                profile: 0x0042,
                                data: &ext,
                            });
                        }
                        let mut out = [0u8; 256];
                        let n = h.write_packet(payload, padding, &mut out).unwrap();
                        let ours = RtpPacket::parse(&out[..n]).unwrap();
                        let mut raw = Bytes::copy_from_slice(&out[..n]);
                        let theirs = rtp::packet::Packet::unmarshal(&mut raw).unwrap();
                        assert_eq!(theirs.header.version, 2);
                        assert_eq!(theirs.header.padding, ours.has_padding());
                        assert_eq!(theirs.header.marker, ours.marker());
                        assert_eq!(theirs.header.payload_type, ours.payload_type());
                        assert_eq!(theirs.header.sequence_number, ours.sequence());
                        assert_eq!(theirs.header.timestamp, ours.timestamp());
                        assert_eq!(theirs.header.ssrc, ours.ssrc());
                        assert_eq!(theirs.header.csrc, ours.csrcs().collect::<Vec<_>>());
                        assert_eq!(theirs.header.extension, ours.extension().is_some());
                        if let Some(e) = ours.extension() {
                            assert_eq!(theirs.header.extension_profile, e.profile);
                            assert_eq!(theirs.header.extensions.len(), 1);
                            assert_eq!(&theirs.header.extensions[0].payload[..], e.data);
                        }
                        assert_eq!(&theirs.payload[..], ours.payload());
                        assert_eq!(&theirs.payload[..], *payload);
                    }
                }
            }
        }
    }
}
