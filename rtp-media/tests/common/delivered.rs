//! What the application was delivered, checked against what was sent.
//!
//! Shared, as this one file, by the integration tests (`common`) and by
//! the engine's packetization unit tests inside the crate, which include
//! it by path: one copy, and no test helper in the library's API.

use rtp_media::g711::Codec;

/// How many of `payloads` (PCMU) are found decoded in `delivered`, in
/// order and each one whole (concealed frames in between are skipped).
pub fn found_in_order(delivered: &[i16], payloads: &[Vec<u8>]) -> usize {
    let mut pos = 0;
    let mut found = 0;
    for p in payloads {
        let mut want = vec![0i16; p.len()];
        Codec::Pcmu.decode(p, &mut want);
        if let Some(at) = delivered[pos..]
            .windows(want.len())
            .position(|w| w == &want[..])
        {
            pos += at + want.len();
            found += 1;
        }
    }
    found
}
