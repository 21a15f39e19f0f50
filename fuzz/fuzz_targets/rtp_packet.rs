//! Any bytes as a received RTP datagram: parsing returns an error or a view
//! whose accessors all stay inside the datagram, and re-writing the header
//! from the parsed fields reproduces the original bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtp_media::rtp::{RtpHeader, RtpPacket};

fuzz_target!(|data: &[u8]| {
    let Ok(p) = RtpPacket::parse(data) else {
        return;
    };
    assert_eq!(p.as_bytes(), data);
    let csrcs: Vec<u32> = p.csrcs().collect();
    assert_eq!(csrcs.len(), p.csrc_count());
    let ext = p.extension();
    let range = p.payload_range();
    assert!(range.start == p.header_len() && range.end <= data.len());
    assert_eq!(p.payload(), &data[range.clone()]);
    assert_eq!(range.end + p.padding_len(), data.len());
    assert_eq!(p.has_padding(), data[0] & 0x20 != 0);

    let header = RtpHeader {
        marker: p.marker(),
        payload_type: p.payload_type(),
        sequence: p.sequence(),
        timestamp: p.timestamp(),
        ssrc: p.ssrc(),
        csrcs: &csrcs,
        extension: ext,
    };
    assert_eq!(header.len(), p.header_len());
    let mut out = vec![0u8; data.len()];
    let n = header.write(&mut out).expect("a parsed header re-writes");
    // `write` describes a packet without padding: the P bit is clear.
    assert_eq!(out[0], data[0] & !0x20);
    assert_eq!(&out[1..n], &data[1..n]);
    // Whole packet with the same padding: identical except the pad bytes
    // before the count, which we write as zero.
    if let Ok(pad) = u8::try_from(p.padding_len()) {
        let n = header
            .write_packet(p.payload(), pad, &mut out)
            .expect("a parsed packet re-writes");
        assert_eq!(n, data.len());
        assert_eq!(&out[..range.end], &data[..range.end]);
        if pad > 0 {
            assert_eq!(out[n - 1], data[n - 1], "padding count");
        }
        let again = RtpPacket::parse(&out[..n]).expect("re-written packet parses");
        assert_eq!(again.payload(), p.payload());
    }
});
