//! Any bytes as a sequence of jitter buffer operations: pushes with
//! arbitrary sequence/timestamp/SSRC/arrival deltas and payload sizes, and
//! pops. The buffer never panics, pops only ever return payloads that were
//! pushed (right size), and its depth stays within its capacity.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtp_media::jitter::{Frame, JitterBuffer, JitterConfig};
use std::time::{Duration, Instant};

fuzz_target!(|data: &[u8]| {
    let cfg = JitterConfig::default();
    let max_frames = (cfg.max_delay.as_nanos() / cfg.ptime.as_nanos()) as u32;
    // The ring holds 2 * max_frames + 4 slots.
    let capacity = cfg.ptime * (2 * max_frames + 4);
    let mut jb = JitterBuffer::new(cfg);
    let start = Instant::now();
    let mut now = start;
    let (mut seq, mut ts, mut ssrc) = (0u16, 0u32, 0x1234_5678u32);
    let payload = [0x55u8; 400];
    let mut rest = data;
    while let [op, tail @ ..] = rest {
        rest = tail;
        if op & 1 == 0 {
            if let Frame::Audio(p) = jb.pop() {
                assert!(p.len() <= cfg.max_payload);
                assert!(p.iter().all(|&b| b == 0x55), "popped bytes never pushed");
            }
            now += cfg.ptime;
        } else {
            // push: seq delta, ts delta (in frames, signed), arrival delta
            // (ms), payload length, maybe a new SSRC.
            let [ds, dt, da, len, tail @ ..] = rest else {
                break;
            };
            rest = tail;
            seq = seq.wrapping_add(u16::from(*ds).wrapping_sub(8));
            ts = ts.wrapping_add((i32::from(*dt as i8) * 160) as u32);
            if op & 0x80 != 0 {
                ssrc = ssrc.rotate_left(u32::from(*op >> 1));
            }
            if op & 0x40 != 0 {
                // Far jumps (silence suppression, wraps, garbage).
                ts = ts.wrapping_add(u32::from(*dt) << 20);
            }
            now += Duration::from_millis(u64::from(*da));
            let len = usize::from(*len) * 2 % 401;
            jb.push(seq, ts, ssrc, &payload[..len], now);
        }
        let stats = jb.stats();
        assert!(
            stats.delay <= capacity,
            "depth {:?} beyond capacity {capacity:?}",
            stats.delay
        );
        assert!(stats.target <= cfg.max_delay + cfg.ptime);
    }
});
