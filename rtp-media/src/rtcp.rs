//! RTCP (RFC 3550 §6): sender and receiver reports, SDES CNAME, BYE,
//! compound packets, the receiver-side statistics that fill report blocks
//! (RFC 3550 appendix A.1, A.3, A.8), round-trip time from LSR/DLSR, and a
//! MOS estimate from the simplified ITU-T G.107 E-model.
//!
//! Parsing is zero-copy over the datagram; writing goes into a
//! caller-provided buffer. Carriers use RTCP to judge call quality, and we
//! use it to report it, so loss, jitter and RTT here follow the RFC exactly.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use thiserror::Error;

/// RTCP packet type: sender report.
pub const PT_SR: u8 = 200;
/// RTCP packet type: receiver report.
pub const PT_RR: u8 = 201;
/// RTCP packet type: source description.
pub const PT_SDES: u8 = 202;
/// RTCP packet type: goodbye.
pub const PT_BYE: u8 = 203;
/// RTCP packet type: application defined.
pub const PT_APP: u8 = 204;
/// SDES item type of the canonical name.
pub const SDES_CNAME: u8 = 1;
/// Size of one report block on the wire.
pub const REPORT_BLOCK_LEN: usize = 24;
/// Most report blocks one SR/RR can carry (5-bit count).
pub const MAX_REPORT_BLOCKS: usize = 31;

/// Why an RTCP datagram was rejected or a packet could not be written.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum RtcpError {
    /// Fewer than 4 bytes remain where a packet header was expected.
    #[error("{len} bytes left, too short for an RTCP header")]
    TooShort {
        /// Bytes remaining.
        len: usize,
    },
    /// The version field is not 2.
    #[error("RTCP version {0}, expected 2")]
    BadVersion(u8),
    /// The length field points past the end of the datagram.
    #[error("RTCP packet claims {claimed} bytes but {available} remain")]
    BadLength {
        /// Bytes the length field claims.
        claimed: usize,
        /// Bytes remaining in the datagram.
        available: usize,
    },
    /// The padding count is zero or exceeds the packet body.
    #[error("RTCP padding of {0} bytes is invalid")]
    BadPadding(usize),
    /// The body is too short for the packet type and count.
    #[error("RTCP packet type {packet_type} body of {len} bytes is too short")]
    Truncated {
        /// Packet type.
        packet_type: u8,
        /// Body length.
        len: usize,
    },
    /// A compound packet does not start with SR or RR (RFC 3550 §6.1).
    #[error("compound RTCP must start with SR or RR, found type {0}")]
    NotReportFirst(u8),
    /// The output buffer is too small.
    #[error("output buffer of {have} bytes is too small, {need} needed")]
    BufferTooSmall {
        /// Bytes required.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// More than 31 report blocks or SSRCs, or an item longer than 255 bytes.
    #[error("too many entries or item too long for RTCP")]
    TooLarge,
}

#[inline]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline]
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// One reception report block: how one source's stream is arriving.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// The source this block reports on.
    pub ssrc: u32,
    /// Fraction of packets lost since the previous report, in 1/256 units.
    pub fraction_lost: u8,
    /// Cumulative packets lost (24-bit signed: duplicates can make it negative).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received (cycles in the top 16 bits).
    pub highest_seq: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP timestamp of the last SR received (0 if none).
    pub lsr: u32,
    /// Delay since that SR, in units of 1/65536 s.
    pub dlsr: u32,
}

impl ReportBlock {
    fn parse(b: &[u8]) -> ReportBlock {
        let lost = be32(b, 4) & 0x00FF_FFFF;
        // Sign-extend the 24-bit field.
        let cumulative_lost = ((lost << 8) as i32) >> 8;
        ReportBlock {
            ssrc: be32(b, 0),
            fraction_lost: b[4],
            cumulative_lost,
            highest_seq: be32(b, 8),
            jitter: be32(b, 12),
            lsr: be32(b, 16),
            dlsr: be32(b, 20),
        }
    }

    fn write(&self, out: &mut [u8]) {
        let lost = (self.cumulative_lost.clamp(-0x80_0000, 0x7F_FFFF) as u32) & 0x00FF_FFFF;
        out[0..4].copy_from_slice(&self.ssrc.to_be_bytes());
        out[4..8].copy_from_slice(&(u32::from(self.fraction_lost) << 24 | lost).to_be_bytes());
        out[8..12].copy_from_slice(&self.highest_seq.to_be_bytes());
        out[12..16].copy_from_slice(&self.jitter.to_be_bytes());
        out[16..20].copy_from_slice(&self.lsr.to_be_bytes());
        out[20..24].copy_from_slice(&self.dlsr.to_be_bytes());
    }

    /// Fraction lost as a percentage (0.0 to 99.6).
    pub fn loss_percent(&self) -> f64 {
        f64::from(self.fraction_lost) * 100.0 / 256.0
    }
}

/// Iterator over the report blocks of an SR or RR, read in place.
#[derive(Debug, Clone)]
pub struct ReportBlocks<'a> {
    data: &'a [u8],
}

impl Iterator for ReportBlocks<'_> {
    type Item = ReportBlock;
    fn next(&mut self) -> Option<ReportBlock> {
        if self.data.len() < REPORT_BLOCK_LEN {
            return None;
        }
        let (block, rest) = self.data.split_at(REPORT_BLOCK_LEN);
        self.data = rest;
        Some(ReportBlock::parse(block))
    }
}

/// The sender information section of an SR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderInfo {
    /// Wallclock time of the report, 64-bit NTP format.
    pub ntp_timestamp: u64,
    /// The RTP timestamp corresponding to the same instant.
    pub rtp_timestamp: u32,
    /// Packets sent since the start of the stream.
    pub packet_count: u32,
    /// Payload octets sent since the start of the stream.
    pub octet_count: u32,
}

/// One SDES item (type, text) inside a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdesItem<'a> {
    /// Item type (1 = CNAME, 2 = NAME, ...).
    pub item_type: u8,
    /// Item text, UTF-8 by RFC but not validated.
    pub text: &'a [u8],
}

/// An SDES chunk: one source and the start of its item list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdesChunk<'a> {
    /// The source described.
    pub ssrc: u32,
    items: &'a [u8],
}

impl<'a> SdesChunk<'a> {
    /// The items of this chunk; stops at the end marker or at a truncated item.
    pub fn items(&self) -> impl Iterator<Item = SdesItem<'a>> + 'a {
        let mut rest = self.items;
        std::iter::from_fn(move || {
            let (&item_type, tail) = rest.split_first()?;
            if item_type == 0 {
                return None;
            }
            let (&len, tail) = tail.split_first()?;
            let text = tail.get(..len as usize)?;
            rest = &tail[len as usize..];
            Some(SdesItem { item_type, text })
        })
    }

    /// The CNAME item, if present.
    pub fn cname(&self) -> Option<&'a [u8]> {
        self.items()
            .find(|i| i.item_type == SDES_CNAME)
            .map(|i| i.text)
    }
}

/// Iterator over SDES chunks, read in place.
#[derive(Debug, Clone)]
pub struct SdesChunks<'a> {
    data: &'a [u8],
    remaining: usize,
}

impl<'a> Iterator for SdesChunks<'a> {
    type Item = SdesChunk<'a>;
    fn next(&mut self) -> Option<SdesChunk<'a>> {
        if self.remaining == 0 || self.data.len() < 4 {
            return None;
        }
        self.remaining -= 1;
        let ssrc = be32(self.data, 0);
        let items = &self.data[4..];
        // Find the end marker (a zero type octet at an item boundary), then
        // skip to the next 32-bit boundary measured from the chunk start.
        let mut at = 0;
        loop {
            match items.get(at) {
                None => {
                    self.data = &[];
                    break;
                }
                Some(0) => {
                    let consumed = 4 + at + 1;
                    let aligned = consumed.div_ceil(4) * 4;
                    self.data = self.data.get(aligned..).unwrap_or(&[]);
                    break;
                }
                Some(_) => match items.get(at + 1) {
                    Some(&len) => at += 2 + len as usize,
                    None => {
                        self.data = &[];
                        break;
                    }
                },
            }
        }
        Some(SdesChunk { ssrc, items })
    }
}

/// One RTCP packet out of a compound datagram.
#[derive(Debug, Clone)]
pub enum RtcpPacket<'a> {
    /// Sender report: the sender's own counters plus reception reports.
    SenderReport {
        /// The sender.
        ssrc: u32,
        /// Sender information.
        info: SenderInfo,
        /// Reception report blocks.
        reports: ReportBlocks<'a>,
    },
    /// Receiver report from a participant that is not sending.
    ReceiverReport {
        /// The reporter.
        ssrc: u32,
        /// Reception report blocks.
        reports: ReportBlocks<'a>,
    },
    /// Source descriptions.
    SourceDescription(SdesChunks<'a>),
    /// Sources leaving the session.
    Goodbye {
        /// Raw SSRC list; iterate with [`RtcpPacket::bye_ssrcs`].
        ssrcs: &'a [u8],
        /// Optional reason text.
        reason: Option<&'a [u8]>,
    },
    /// Any other packet type (APP, RTPFB, PSFB, XR ...), passed through.
    Other {
        /// Packet type.
        packet_type: u8,
        /// The 5-bit count/format field.
        count: u8,
        /// Body after the 4-byte header, padding removed.
        body: &'a [u8],
    },
}

impl<'a> RtcpPacket<'a> {
    /// The SSRCs of a BYE packet (empty for other types).
    pub fn bye_ssrcs(&self) -> impl Iterator<Item = u32> + 'a {
        let raw: &'a [u8] = match self {
            RtcpPacket::Goodbye { ssrcs, .. } => ssrcs,
            _ => &[],
        };
        raw.chunks_exact(4).map(|c| be32(c, 0))
    }

    fn parse_one(packet_type: u8, count: u8, body: &'a [u8]) -> Result<Self, RtcpError> {
        let count_usize = count as usize;
        let truncated = RtcpError::Truncated {
            packet_type,
            len: body.len(),
        };
        match packet_type {
            PT_SR => {
                let need = 24 + REPORT_BLOCK_LEN * count_usize;
                if body.len() < need {
                    return Err(truncated);
                }
                let ntp = (u64::from(be32(body, 4)) << 32) | u64::from(be32(body, 8));
                Ok(RtcpPacket::SenderReport {
                    ssrc: be32(body, 0),
                    info: SenderInfo {
                        ntp_timestamp: ntp,
                        rtp_timestamp: be32(body, 12),
                        packet_count: be32(body, 16),
                        octet_count: be32(body, 20),
                    },
                    reports: ReportBlocks {
                        data: &body[24..need],
                    },
                })
            }
            PT_RR => {
                let need = 4 + REPORT_BLOCK_LEN * count_usize;
                if body.len() < need {
                    return Err(truncated);
                }
                Ok(RtcpPacket::ReceiverReport {
                    ssrc: be32(body, 0),
                    reports: ReportBlocks {
                        data: &body[4..need],
                    },
                })
            }
            PT_SDES => Ok(RtcpPacket::SourceDescription(SdesChunks {
                data: body,
                remaining: count_usize,
            })),
            PT_BYE => {
                let need = 4 * count_usize;
                if body.len() < need {
                    return Err(truncated);
                }
                let reason = match body.get(need) {
                    Some(&len) => Some(
                        body.get(need + 1..need + 1 + len as usize)
                            .ok_or(truncated)?,
                    ),
                    None => None,
                };
                Ok(RtcpPacket::Goodbye {
                    ssrcs: &body[..need],
                    reason,
                })
            }
            _ => Ok(RtcpPacket::Other {
                packet_type,
                count,
                body,
            }),
        }
    }
}

/// Iterator over the packets of a compound RTCP datagram. Stops after the
/// first error.
#[derive(Debug, Clone)]
pub struct CompoundIter<'a> {
    rest: &'a [u8],
}

/// Iterates the packets in a compound RTCP datagram, parsing in place.
pub fn parse_compound(buf: &[u8]) -> CompoundIter<'_> {
    CompoundIter { rest: buf }
}

/// Validates a compound datagram per RFC 3550 A.2: every packet well formed
/// and the first one an SR or RR. Returns the number of packets.
pub fn validate_compound(buf: &[u8]) -> Result<usize, RtcpError> {
    let mut n = 0;
    for p in parse_compound(buf) {
        let p = p?;
        if n == 0
            && !matches!(
                p,
                RtcpPacket::SenderReport { .. } | RtcpPacket::ReceiverReport { .. }
            )
        {
            return Err(RtcpError::NotReportFirst(buf[1]));
        }
        n += 1;
    }
    if n == 0 {
        return Err(RtcpError::TooShort { len: buf.len() });
    }
    Ok(n)
}

impl<'a> Iterator for CompoundIter<'a> {
    type Item = Result<RtcpPacket<'a>, RtcpError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let r = self.next_inner();
        if r.is_err() {
            self.rest = &[];
        }
        Some(r)
    }
}

impl<'a> CompoundIter<'a> {
    fn next_inner(&mut self) -> Result<RtcpPacket<'a>, RtcpError> {
        let buf = self.rest;
        if buf.len() < 4 {
            return Err(RtcpError::TooShort { len: buf.len() });
        }
        let version = buf[0] >> 6;
        if version != 2 {
            return Err(RtcpError::BadVersion(version));
        }
        let claimed = (be16(buf, 2) as usize + 1) * 4;
        if claimed > buf.len() {
            return Err(RtcpError::BadLength {
                claimed,
                available: buf.len(),
            });
        }
        let packet = &buf[..claimed];
        self.rest = &buf[claimed..];
        let mut body = &packet[4..];
        if buf[0] & 0x20 != 0 {
            let pad = packet[claimed - 1] as usize;
            if pad == 0 || pad > body.len() {
                return Err(RtcpError::BadPadding(pad));
            }
            body = &body[..body.len() - pad];
        }
        RtcpPacket::parse_one(buf[1], buf[0] & 0x1F, body)
    }
}

fn check_room(out: &[u8], need: usize) -> Result<(), RtcpError> {
    if out.len() < need {
        Err(RtcpError::BufferTooSmall {
            need,
            have: out.len(),
        })
    } else {
        Ok(())
    }
}

fn write_header(out: &mut [u8], count: u8, packet_type: u8, total_len: usize) {
    out[0] = 0x80 | (count & 0x1F);
    out[1] = packet_type;
    out[2..4].copy_from_slice(&((total_len / 4 - 1) as u16).to_be_bytes());
}

/// Writes a sender report into `out`; returns its length.
pub fn write_sender_report(
    out: &mut [u8],
    ssrc: u32,
    info: &SenderInfo,
    reports: &[ReportBlock],
) -> Result<usize, RtcpError> {
    if reports.len() > MAX_REPORT_BLOCKS {
        return Err(RtcpError::TooLarge);
    }
    let len = 28 + REPORT_BLOCK_LEN * reports.len();
    check_room(out, len)?;
    write_header(out, reports.len() as u8, PT_SR, len);
    out[4..8].copy_from_slice(&ssrc.to_be_bytes());
    out[8..16].copy_from_slice(&info.ntp_timestamp.to_be_bytes());
    out[16..20].copy_from_slice(&info.rtp_timestamp.to_be_bytes());
    out[20..24].copy_from_slice(&info.packet_count.to_be_bytes());
    out[24..28].copy_from_slice(&info.octet_count.to_be_bytes());
    for (i, r) in reports.iter().enumerate() {
        let at = 28 + i * REPORT_BLOCK_LEN;
        r.write(&mut out[at..at + REPORT_BLOCK_LEN]);
    }
    Ok(len)
}

/// Writes a receiver report into `out`; returns its length.
pub fn write_receiver_report(
    out: &mut [u8],
    ssrc: u32,
    reports: &[ReportBlock],
) -> Result<usize, RtcpError> {
    if reports.len() > MAX_REPORT_BLOCKS {
        return Err(RtcpError::TooLarge);
    }
    let len = 8 + REPORT_BLOCK_LEN * reports.len();
    check_room(out, len)?;
    write_header(out, reports.len() as u8, PT_RR, len);
    out[4..8].copy_from_slice(&ssrc.to_be_bytes());
    for (i, r) in reports.iter().enumerate() {
        let at = 8 + i * REPORT_BLOCK_LEN;
        r.write(&mut out[at..at + REPORT_BLOCK_LEN]);
    }
    Ok(len)
}

/// Writes an SDES packet with one chunk holding only a CNAME; returns its length.
pub fn write_sdes_cname(out: &mut [u8], ssrc: u32, cname: &[u8]) -> Result<usize, RtcpError> {
    if cname.len() > 255 {
        return Err(RtcpError::TooLarge);
    }
    // header + ssrc + type + len + text + at least one zero octet, to a word.
    let len = (4 + 4 + 2 + cname.len() + 1).div_ceil(4) * 4;
    check_room(out, len)?;
    write_header(out, 1, PT_SDES, len);
    out[4..8].copy_from_slice(&ssrc.to_be_bytes());
    out[8] = SDES_CNAME;
    out[9] = cname.len() as u8;
    out[10..10 + cname.len()].copy_from_slice(cname);
    out[10 + cname.len()..len].fill(0);
    Ok(len)
}

/// Writes a BYE for `ssrcs` with an optional reason; returns its length.
pub fn write_bye(out: &mut [u8], ssrcs: &[u32], reason: Option<&[u8]>) -> Result<usize, RtcpError> {
    if ssrcs.len() > MAX_REPORT_BLOCKS || reason.is_some_and(|r| r.len() > 255) {
        return Err(RtcpError::TooLarge);
    }
    let reason_len = reason.map_or(0, |r| 1 + r.len());
    let len = (4 + 4 * ssrcs.len() + reason_len).div_ceil(4) * 4;
    check_room(out, len)?;
    write_header(out, ssrcs.len() as u8, PT_BYE, len);
    for (i, s) in ssrcs.iter().enumerate() {
        out[4 + 4 * i..8 + 4 * i].copy_from_slice(&s.to_be_bytes());
    }
    let at = 4 + 4 * ssrcs.len();
    out[at..len].fill(0);
    if let Some(r) = reason {
        out[at] = r.len() as u8;
        out[at + 1..at + 1 + r.len()].copy_from_slice(r);
    }
    Ok(len)
}

/// Seconds between the NTP epoch (1900) and the Unix epoch (1970).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// Converts wallclock time to the 64-bit NTP format used in SRs.
pub fn ntp_timestamp(t: SystemTime) -> u64 {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = d.as_secs() + NTP_UNIX_OFFSET;
    let frac = (u64::from(d.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

/// The middle 32 bits of an NTP timestamp, the form LSR uses (16.16 seconds).
pub fn ntp_middle(ntp: u64) -> u32 {
    (ntp >> 16) as u32
}

/// Round-trip time from a report block we received (RFC 3550 §6.4.1):
/// `A - LSR - DLSR`, where `arrival_middle` is the middle 32 bits of the NTP
/// time at which the report arrived. `None` when the peer has not yet seen
/// an SR from us (LSR 0) or the result would be negative (clock trouble).
pub fn round_trip_time(arrival_middle: u32, lsr: u32, dlsr: u32) -> Option<Duration> {
    if lsr == 0 {
        return None;
    }
    let rtt = arrival_middle.wrapping_sub(lsr).wrapping_sub(dlsr);
    // A negative result wraps to a huge value; anything over 18 hours is bogus.
    if rtt > 0x1000_0000 * 4 {
        return None;
    }
    Some(Duration::from_nanos((u64::from(rtt) * 1_000_000_000) >> 16))
}

const RTP_SEQ_MOD: u32 = 1 << 16;
const MAX_DROPOUT: u16 = 3000;
const MAX_MISORDER: u16 = 100;
const MIN_SEQUENTIAL: u32 = 2;

/// What [`ReceptionStats::on_packet`] concluded about a packet's sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqVerdict {
    /// Counted as received.
    Valid,
    /// Still in probation: the source has not yet sent enough in-order packets.
    Probation,
    /// A jump too large to be loss; held until the next packet confirms it
    /// (then the sequence is restarted).
    BadJump,
}

/// Receiver statistics for one source, per RFC 3550 appendix A.1 (sequence
/// tracking with wrap-around, cycles and probation), A.3 (expected and lost)
/// and A.8 (interarrival jitter). One per remote SSRC; a new SSRC resets it.
#[derive(Debug, Clone)]
pub struct ReceptionStats {
    clock_rate: u32,
    ssrc: Option<u32>,
    max_seq: u16,
    cycles: u32,
    base_seq: u32,
    bad_seq: u32,
    probation: u32,
    received: u32,
    expected_prior: u32,
    received_prior: u32,
    transit: Option<i32>,
    /// Jitter ×16, the fixed-point form of RFC 3550 A.8.
    jitter_q4: u32,
    epoch: Option<Instant>,
    last_sr: Option<(u32, Instant)>,
    ssrc_changes: u32,
}

impl ReceptionStats {
    /// Statistics for a stream with the given RTP clock rate (8000 for G.711).
    pub fn new(clock_rate: u32) -> Self {
        ReceptionStats {
            clock_rate: clock_rate.max(1),
            ssrc: None,
            max_seq: 0,
            cycles: 0,
            base_seq: 0,
            bad_seq: RTP_SEQ_MOD + 1,
            probation: MIN_SEQUENTIAL,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            transit: None,
            jitter_q4: 0,
            epoch: None,
            last_sr: None,
            ssrc_changes: 0,
        }
    }

    fn init_seq(&mut self, seq: u16) {
        self.base_seq = u32::from(seq);
        self.max_seq = seq;
        self.bad_seq = RTP_SEQ_MOD + 1;
        self.cycles = 0;
        self.received = 0;
        self.received_prior = 0;
        self.expected_prior = 0;
    }

    fn new_source(&mut self, ssrc: u32, seq: u16) {
        if self.ssrc.is_some() {
            self.ssrc_changes += 1;
        }
        let changes = self.ssrc_changes;
        *self = ReceptionStats::new(self.clock_rate);
        self.ssrc_changes = changes;
        self.ssrc = Some(ssrc);
        self.init_seq(seq);
        self.max_seq = seq.wrapping_sub(1);
        self.probation = MIN_SEQUENTIAL;
    }

    /// RFC 3550 A.1 `update_seq`.
    fn update_seq(&mut self, seq: u16) -> SeqVerdict {
        let udelta = seq.wrapping_sub(self.max_seq);
        if self.probation > 0 {
            if seq == self.max_seq.wrapping_add(1) {
                self.probation -= 1;
                self.max_seq = seq;
                if self.probation == 0 {
                    self.init_seq(seq);
                    self.received += 1;
                    return SeqVerdict::Valid;
                }
            } else {
                self.probation = MIN_SEQUENTIAL - 1;
                self.max_seq = seq;
            }
            return SeqVerdict::Probation;
        } else if udelta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles += RTP_SEQ_MOD;
            }
            self.max_seq = seq;
        } else if u32::from(udelta) <= RTP_SEQ_MOD - u32::from(MAX_MISORDER) {
            if u32::from(seq) == self.bad_seq {
                // Two sequential packets after a big jump: the source restarted.
                self.init_seq(seq);
            } else {
                self.bad_seq = (u32::from(seq) + 1) & (RTP_SEQ_MOD - 1);
                return SeqVerdict::BadJump;
            }
        }
        // Otherwise a duplicate or reordered packet: counted, max unchanged.
        self.received += 1;
        SeqVerdict::Valid
    }

    /// Records one received RTP packet.
    pub fn on_packet(
        &mut self,
        ssrc: u32,
        seq: u16,
        timestamp: u32,
        arrival: Instant,
    ) -> SeqVerdict {
        if self.ssrc != Some(ssrc) {
            self.new_source(ssrc, seq);
        }
        let verdict = self.update_seq(seq);
        let epoch = *self.epoch.get_or_insert(arrival);
        let elapsed = arrival.saturating_duration_since(epoch);
        let arrival_ts =
            ((elapsed.as_nanos() * u128::from(self.clock_rate)) / 1_000_000_000) as u32;
        let transit = arrival_ts.wrapping_sub(timestamp) as i32;
        if verdict == SeqVerdict::Valid {
            if let Some(prev) = self.transit {
                let d = transit.wrapping_sub(prev).unsigned_abs();
                // J += (|D| - J) / 16, with J kept ×16 (RFC 3550 A.8).
                self.jitter_q4 = self
                    .jitter_q4
                    .wrapping_add(d)
                    .wrapping_sub((self.jitter_q4 + 8) >> 4);
            }
        }
        self.transit = Some(transit);
        verdict
    }

    /// Records the arrival of a sender report from this source, for LSR/DLSR.
    pub fn on_sender_report(&mut self, ntp_timestamp: u64, arrival: Instant) {
        self.last_sr = Some((ntp_middle(ntp_timestamp), arrival));
    }

    /// The source currently tracked.
    pub fn ssrc(&self) -> Option<u32> {
        self.ssrc
    }

    /// How many times the remote SSRC changed.
    pub fn ssrc_changes(&self) -> u32 {
        self.ssrc_changes
    }

    /// Packets counted as received (duplicates included, per RFC 3550).
    pub fn received(&self) -> u32 {
        self.received
    }

    /// Extended highest sequence number received.
    pub fn extended_max(&self) -> u32 {
        self.cycles.wrapping_add(u32::from(self.max_seq))
    }

    /// Packets expected: extended max − base + 1 (0 before the source is valid).
    pub fn expected(&self) -> u32 {
        if self.ssrc.is_none() || self.probation > 0 {
            return 0;
        }
        self.extended_max()
            .wrapping_sub(self.base_seq)
            .wrapping_add(1)
    }

    /// Cumulative packets lost: expected − received (negative with duplicates).
    pub fn cumulative_lost(&self) -> i64 {
        i64::from(self.expected()) - i64::from(self.received)
    }

    /// Interarrival jitter in timestamp units.
    pub fn jitter(&self) -> u32 {
        self.jitter_q4 >> 4
    }

    /// Interarrival jitter as a time span ([`ReceptionStats::jitter`]
    /// at the stream's clock rate).
    pub fn jitter_duration(&self) -> Duration {
        let nanos = u64::from(self.jitter_q4) * 1_000_000_000 / 16;
        Duration::from_nanos(nanos / u64::from(self.clock_rate))
    }

    /// Builds the report block for this source and starts a new reporting
    /// interval (fraction lost is per interval, RFC 3550 A.3).
    pub fn report_block(&mut self, now: Instant) -> ReportBlock {
        let expected = self.expected();
        let expected_interval = expected.wrapping_sub(self.expected_prior);
        self.expected_prior = expected;
        let received_interval = self.received.wrapping_sub(self.received_prior);
        self.received_prior = self.received;
        let lost_interval = i64::from(expected_interval) - i64::from(received_interval);
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / i64::from(expected_interval)).min(255) as u8
        };
        let (lsr, dlsr) = match self.last_sr {
            Some((lsr, at)) => {
                let delay = now.saturating_duration_since(at);
                let units = (delay.as_nanos() << 16) / 1_000_000_000;
                (lsr, units.min(u128::from(u32::MAX)) as u32)
            }
            None => (0, 0),
        };
        ReportBlock {
            ssrc: self.ssrc.unwrap_or(0),
            fraction_lost,
            cumulative_lost: self.cumulative_lost().clamp(-0x80_0000, 0x7F_FFFF) as i32,
            highest_seq: self.extended_max(),
            jitter: self.jitter(),
            lsr,
            dlsr,
        }
    }
}

/// Estimates the mean opinion score (1.0 to 4.5) of a G.711 call from
/// one-way latency, jitter and packet loss, with the simplified ITU-T G.107
/// E-model: `R = 93.2 − Id − Ie_eff`, `MOS = 1 + 0.035R + 7·10⁻⁶·R(R−60)(100−R)`.
///
/// Delay impairment `Id` uses the Cole–Rosenbluth fit on an effective delay
/// of latency + 2×jitter (the jitter buffer adds about that much):
/// `Id = 0.024d + 0.11(d − 177.3)` above 177.3 ms. Equipment impairment for
/// G.711 with loss concealment (Ie = 0, Bpl = 25.1 per ITU-T G.113) under
/// random loss: `Ie_eff = 95·Ppl / (Ppl + 25.1)`.
pub fn mos_estimate(latency: Duration, jitter: Duration, loss_pct: f64) -> f64 {
    let latency = latency.as_secs_f64() * 1000.0;
    let jitter = jitter.as_secs_f64() * 1000.0;
    let loss = if loss_pct.is_finite() {
        loss_pct.clamp(0.0, 100.0)
    } else {
        100.0
    };
    let d = latency + 2.0 * jitter;
    let id = 0.024 * d + if d > 177.3 { 0.11 * (d - 177.3) } else { 0.0 };
    let ie_eff = 95.0 * loss / (loss + 25.1);
    let r = 93.2 - id - ie_eff;
    if r <= 0.0 {
        1.0
    } else if r >= 100.0 {
        4.5
    } else {
        // The cubic dips just below 1 for R under about 6.5; clamp it.
        (1.0 + 0.035 * r + 7e-6 * r * (r - 60.0) * (100.0 - r)).max(1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(ssrc: u32, lost: i32) -> ReportBlock {
        ReportBlock {
            ssrc,
            fraction_lost: 64,
            cumulative_lost: lost,
            highest_seq: 0x0001_0005,
            jitter: 37,
            lsr: 0x1234_5678,
            dlsr: 0x0001_8000,
        }
    }

    #[test]
    fn parses_hand_made_sr_with_block() {
        let raw: [u8; 52] = [
            0x81, 200, 0, 12, // V=2 RC=1 SR, length 12 words
            0, 0, 0, 1, // ssrc
            0xE0, 0, 0, 0, 0x80, 0, 0, 0, // ntp 0xE0000000.80000000
            0, 0, 0x03, 0x20, // rtp ts 800
            0, 0, 0, 5, // packets
            0, 0, 3, 0x20, // octets 800
            0, 0, 0, 2, // block ssrc
            0x20, 0xFF, 0xFF, 0xFE, // fraction 32, cumulative -2
            0, 1, 0, 9, // highest seq: 1 cycle, 9
            0, 0, 0, 80, // jitter
            0xAB, 0xCD, 0xEF, 0x01, // lsr
            0, 2, 0, 0, // dlsr
        ];
        let mut it = parse_compound(&raw);
        let Some(Ok(RtcpPacket::SenderReport {
            ssrc,
            info,
            reports,
        })) = it.next()
        else {
            panic!("expected SR");
        };
        assert!(it.next().is_none());
        assert_eq!(ssrc, 1);
        assert_eq!(info.ntp_timestamp, 0xE000_0000_8000_0000);
        assert_eq!(info.rtp_timestamp, 800);
        assert_eq!(info.packet_count, 5);
        assert_eq!(info.octet_count, 800);
        let blocks: Vec<_> = reports.collect();
        assert_eq!(
            blocks,
            vec![ReportBlock {
                ssrc: 2,
                fraction_lost: 32,
                cumulative_lost: -2,
                highest_seq: 0x0001_0009,
                jitter: 80,
                lsr: 0xABCD_EF01,
                dlsr: 0x0002_0000,
            }]
        );
        assert_eq!(blocks[0].loss_percent(), 12.5);
    }

    #[test]
    fn compound_round_trip_rr_sdes_bye() {
        let mut buf = [0u8; 256];
        let blocks = [block(10, 5), block(11, -1)];
        let mut n = write_receiver_report(&mut buf, 0xAAAA_0001, &blocks).unwrap();
        n += write_sdes_cname(&mut buf[n..], 0xAAAA_0001, b"line1@ai.example").unwrap();
        n += write_bye(&mut buf[n..], &[0xAAAA_0001, 7], Some(b"hangup")).unwrap();
        assert_eq!(n % 4, 0);
        assert_eq!(validate_compound(&buf[..n]), Ok(3));
        let packets: Vec<_> = parse_compound(&buf[..n]).collect::<Result<_, _>>().unwrap();
        match &packets[0] {
            RtcpPacket::ReceiverReport { ssrc, reports } => {
                assert_eq!(*ssrc, 0xAAAA_0001);
                assert_eq!(reports.clone().collect::<Vec<_>>(), blocks);
            }
            p => panic!("expected RR, got {p:?}"),
        }
        match &packets[1] {
            RtcpPacket::SourceDescription(chunks) => {
                let c: Vec<_> = chunks.clone().collect();
                assert_eq!(c.len(), 1);
                assert_eq!(c[0].ssrc, 0xAAAA_0001);
                assert_eq!(c[0].cname(), Some(&b"line1@ai.example"[..]));
            }
            p => panic!("expected SDES, got {p:?}"),
        }
        match &packets[2] {
            p @ RtcpPacket::Goodbye { reason, .. } => {
                assert_eq!(p.bye_ssrcs().collect::<Vec<_>>(), vec![0xAAAA_0001, 7]);
                assert_eq!(*reason, Some(&b"hangup"[..]));
            }
            p => panic!("expected BYE, got {p:?}"),
        }
    }

    #[test]
    fn sr_round_trip_and_cname_lengths() {
        let info = SenderInfo {
            ntp_timestamp: 0x0102_0304_0506_0708,
            rtp_timestamp: 160,
            packet_count: 1,
            octet_count: 160,
        };
        let mut buf = [0u8; 128];
        let n = write_sender_report(&mut buf, 9, &info, &[block(3, 0x7F_FFFF)]).unwrap();
        assert_eq!(n, 52);
        match parse_compound(&buf[..n]).next() {
            Some(Ok(RtcpPacket::SenderReport {
                ssrc,
                info: i,
                mut reports,
            })) => {
                assert_eq!(ssrc, 9);
                assert_eq!(i, info);
                assert_eq!(reports.next().map(|r| r.cumulative_lost), Some(0x7F_FFFF));
            }
            p => panic!("{p:?}"),
        }
        // Every CNAME length yields a word-aligned packet that parses back.
        for len in 0..=40 {
            let cname = vec![b'x'; len];
            let n = write_sdes_cname(&mut buf, 1, &cname).unwrap();
            assert_eq!(n % 4, 0);
            let Some(Ok(RtcpPacket::SourceDescription(mut c))) = parse_compound(&buf[..n]).next()
            else {
                panic!("sdes");
            };
            assert_eq!(c.next().and_then(|c| c.cname()), Some(&cname[..]));
        }
        // Empty BYE.
        let n = write_bye(&mut buf, &[5], None).unwrap();
        assert_eq!(n, 8);
        let Some(Ok(p)) = parse_compound(&buf[..n]).next() else {
            panic!()
        };
        assert!(matches!(p, RtcpPacket::Goodbye { reason: None, .. }));
    }

    #[test]
    fn malformed_rtcp_is_rejected() {
        let mut buf = [0u8; 64];
        let n = write_receiver_report(&mut buf, 1, &[block(2, 0)]).unwrap();
        let good = &buf[..n];
        for cut in 1..n {
            let r: Result<Vec<_>, _> = parse_compound(&good[..cut]).collect();
            assert!(r.is_err(), "truncated at {cut} must fail");
        }
        let mut bad = good.to_vec();
        bad[0] = 0x41;
        assert_eq!(validate_compound(&bad), Err(RtcpError::BadVersion(1)));
        // RC says 2 blocks but the length only holds one.
        let mut bad = good.to_vec();
        bad[0] = 0x82;
        assert!(matches!(
            validate_compound(&bad),
            Err(RtcpError::Truncated {
                packet_type: 201,
                ..
            })
        ));
        // Padding count too big.
        let mut bad = good.to_vec();
        bad[0] |= 0x20;
        bad[n - 1] = 200;
        assert_eq!(validate_compound(&bad), Err(RtcpError::BadPadding(200)));
        // SDES first is not a valid compound.
        let m = write_sdes_cname(&mut buf, 1, b"a").unwrap();
        assert_eq!(
            validate_compound(&buf[..m]),
            Err(RtcpError::NotReportFirst(PT_SDES))
        );
        // Writer limits.
        assert_eq!(
            write_receiver_report(&mut buf, 1, &[block(1, 0); 32]),
            Err(RtcpError::TooLarge)
        );
        assert!(matches!(
            write_receiver_report(&mut buf[..20], 1, &[block(1, 0)]),
            Err(RtcpError::BufferTooSmall { need: 32, have: 20 })
        ));
        // Random garbage never panics.
        let mut x: u32 = 12345;
        for _ in 0..5000 {
            let mut g = [0u8; 40];
            for b in g.iter_mut() {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                *b = (x >> 16) as u8;
            }
            g[0] = 0x80 | (g[0] & 0x3F);
            for p in parse_compound(&g).flatten() {
                if let RtcpPacket::SourceDescription(c) = p {
                    for chunk in c {
                        let _ = chunk.items().count();
                    }
                }
            }
        }
    }

    #[test]
    fn sequence_tracking_probation_wrap_and_loss() {
        let t0 = Instant::now();
        let mut s = ReceptionStats::new(8000);
        // First packet is probation, second validates (MIN_SEQUENTIAL = 2).
        assert_eq!(s.on_packet(1, 65530, 0, t0), SeqVerdict::Probation);
        assert_eq!(s.expected(), 0);
        assert_eq!(s.on_packet(1, 65531, 160, t0), SeqVerdict::Valid);
        // Continue across the wrap, losing 65534 and 2.
        for seq in [65532u16, 65533, 65535, 0, 1, 3, 4] {
            assert_eq!(s.on_packet(1, seq, 0, t0), SeqVerdict::Valid);
        }
        assert_eq!(s.extended_max(), 65536 + 4);
        assert_eq!(s.expected(), 65540 - 65531 + 1);
        assert_eq!(s.received(), 8);
        assert_eq!(s.cumulative_lost(), 2);
        let rb = s.report_block(t0);
        assert_eq!(rb.ssrc, 1);
        assert_eq!(rb.cumulative_lost, 2);
        assert_eq!(rb.highest_seq, 0x0001_0004);
        assert_eq!(rb.fraction_lost, (2 * 256 / 10) as u8);
        // Next interval with no loss reports zero fraction, same cumulative.
        for seq in 5..15u16 {
            s.on_packet(1, seq, 0, t0);
        }
        let rb = s.report_block(t0);
        assert_eq!(rb.fraction_lost, 0);
        assert_eq!(rb.cumulative_lost, 2);
        // A duplicate makes cumulative loss go down (RFC 3550 semantics).
        s.on_packet(1, 14, 0, t0);
        assert_eq!(s.cumulative_lost(), 1);
        // Reordered old packet does not move max or add a cycle.
        s.on_packet(1, 10, 0, t0);
        assert_eq!(s.extended_max(), 65536 + 14);
    }

    #[test]
    fn big_jump_restarts_after_two_sequential_packets() {
        let t0 = Instant::now();
        let mut s = ReceptionStats::new(8000);
        for seq in 100..110u16 {
            s.on_packet(5, seq, 0, t0);
        }
        assert_eq!(s.on_packet(5, 20_000, 0, t0), SeqVerdict::BadJump);
        assert_eq!(s.extended_max(), 109);
        assert_eq!(s.on_packet(5, 20_001, 0, t0), SeqVerdict::Valid);
        assert_eq!(s.extended_max(), 20_001);
        assert_eq!(s.expected(), 1);
        assert_eq!(s.received(), 1);
        // New SSRC resets everything and counts a change.
        assert_eq!(s.on_packet(6, 7, 0, t0), SeqVerdict::Probation);
        assert_eq!(s.ssrc(), Some(6));
        assert_eq!(s.ssrc_changes(), 1);
    }

    #[test]
    fn jitter_follows_rfc_estimator() {
        let t0 = Instant::now();
        // Perfectly paced stream: zero jitter.
        let mut s = ReceptionStats::new(8000);
        for i in 0..200u32 {
            s.on_packet(
                1,
                i as u16,
                i * 160,
                t0 + Duration::from_millis(20 * u64::from(i)),
            );
        }
        assert_eq!(s.jitter(), 0);
        // Alternating ±5 ms arrival offset: |D| is 80 timestamp units on each
        // packet, so the estimate converges to 80 (10 ms).
        let mut s = ReceptionStats::new(8000);
        for i in 0..2000u32 {
            let offset = if i % 2 == 0 { 0 } else { 10 };
            let at = t0 + Duration::from_millis(20 * u64::from(i) + offset);
            s.on_packet(1, i as u16, i * 160, at);
        }
        assert!((78..=80).contains(&s.jitter()), "jitter {}", s.jitter());
        let jitter = s.jitter_duration().as_secs_f64() * 1000.0;
        assert!((jitter - 10.0).abs() < 0.3, "{jitter} ms");
    }

    #[test]
    fn lsr_dlsr_and_rtt() {
        let t0 = Instant::now();
        let mut s = ReceptionStats::new(8000);
        s.on_packet(1, 1, 0, t0);
        s.on_packet(1, 2, 160, t0);
        let sr_ntp = 0x0000_1234_8000_0000u64; // 0x1234.5 s
        s.on_sender_report(sr_ntp, t0);
        let rb = s.report_block(t0 + Duration::from_millis(250));
        assert_eq!(rb.lsr, 0x1234_8000);
        assert_eq!(rb.dlsr, 0x4000); // 0.25 s in 1/65536 units
                                     // The sender gets the RR back 0.4 s after sending the SR: RTT = 0.15 s.
        let arrival = rb.lsr + (0.4 * 65536.0) as u32;
        let rtt = round_trip_time(arrival, rb.lsr, rb.dlsr).unwrap();
        assert!((rtt.as_secs_f64() - 0.15).abs() < 0.001, "{rtt:?}");
        assert_eq!(round_trip_time(arrival, 0, 0), None);
        assert_eq!(round_trip_time(rb.lsr, rb.lsr, rb.dlsr), None);
        // NTP conversion: the Unix epoch is 2208988800 s after 1900.
        let ntp = ntp_timestamp(UNIX_EPOCH + Duration::from_millis(1500));
        assert_eq!(ntp >> 32, 2_208_988_801);
        assert_eq!(ntp as u32, 0x8000_0000);
        assert_eq!(ntp_middle(ntp), ((2_208_988_801u64 << 16) as u32) | 0x8000);
    }

    #[test]
    fn mos_is_bounded_and_monotonic() {
        let ms = Duration::from_millis;
        let best = mos_estimate(Duration::ZERO, Duration::ZERO, 0.0);
        // R = 93.2 gives the G.107 ceiling for narrowband, about 4.41.
        assert!((best - 4.409).abs() < 0.01, "{best}");
        let typical = mos_estimate(ms(50), ms(5), 0.0);
        assert!(typical < best && typical > 4.3);
        let lossy = mos_estimate(ms(50), ms(5), 5.0);
        // 5% random loss with PLC: Ie_eff ≈ 15.8 → R ≈ 75.8 → MOS ≈ 3.85.
        assert!((lossy - 3.85).abs() < 0.05, "{lossy}");
        let mut prev = 5.0;
        for loss in 0..=100 {
            let m = mos_estimate(ms(20), ms(2), f64::from(loss));
            assert!(m <= prev && (1.0..=4.5).contains(&m));
            prev = m;
        }
        let mut prev = 5.0;
        for lat in (0..1000).step_by(10) {
            let m = mos_estimate(ms(lat), Duration::ZERO, 0.0);
            assert!(m <= prev, "latency {lat}");
            prev = m;
        }
        assert!(mos_estimate(ms(400), Duration::ZERO, 0.0) < 3.7);
        assert_eq!(mos_estimate(ms(10_000), Duration::ZERO, 50.0), 1.0);
        assert_eq!(mos_estimate(Duration::MAX, Duration::MAX, 0.0), 1.0);
        // A loss that is not a number counts as total loss.
        let total_loss = mos_estimate(Duration::ZERO, Duration::ZERO, 100.0);
        assert_eq!(
            mos_estimate(Duration::ZERO, Duration::ZERO, f64::NAN),
            total_loss
        );
        assert!(mos_estimate(Duration::ZERO, Duration::ZERO, -3.0) <= best);
    }
}
