//! Helpers shared by the media engine's tests on 127.0.0.1.
#![allow(dead_code)]

use rtp_media::engine::{EngineConfig, MediaEngine, MediaEvent, MediaSession, MediaStats};
use rtp_media::rtp::RtpHeader;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

/// An engine on its own port range (`pairs` RTP/RTCP pairs from `base`), so
/// tests can run in parallel; `f` adjusts the configuration.
pub fn engine_with(base: u16, pairs: u16, f: impl FnOnce(&mut EngineConfig)) -> MediaEngine {
    let mut cfg = EngineConfig {
        bind_ip: "127.0.0.1".parse().unwrap(),
        port_range: base..=base + 2 * pairs - 1,
        workers: 2,
        frame_queue: 1000,
        event_queue: 256,
        // Start at the floor so the buffer never trims a frame in these
        // short streams (trimming is the jitter buffer's own business).
        jitter: rtp_media::jitter::JitterConfig {
            initial_delay: Duration::from_millis(40),
            ..EngineConfig::default().jitter
        },
        ..EngineConfig::default()
    };
    f(&mut cfg);
    MediaEngine::new(cfg).unwrap()
}

/// [`engine_with`] and the test defaults.
pub fn engine(base: u16, pairs: u16) -> MediaEngine {
    engine_with(base, pairs, |_| {})
}

/// The far end's socket, with a short read timeout.
pub fn peer() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    s
}

/// One RTP packet.
pub fn rtp(pt: u8, seq: u16, ts: u32, ssrc: u32, marker: bool, payload: &[u8]) -> Vec<u8> {
    let mut h = RtpHeader::new(pt, seq, ts, ssrc);
    h.marker = marker;
    let mut out = vec![0u8; 12 + payload.len()];
    let n = h.write_packet(payload, 0, &mut out).unwrap();
    out.truncate(n);
    out
}

/// Receives datagrams on `sock`, each with its arrival time, until `idle`
/// passes without one (or `max` in all).
pub fn collect_rtp_for(sock: &UdpSocket, idle: Duration, max: Duration) -> Vec<(Instant, Vec<u8>)> {
    let mut got = Vec::new();
    let mut buf = [0u8; 2048];
    let start = Instant::now();
    let mut last = Instant::now();
    while last.elapsed() < idle && start.elapsed() < max {
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            last = Instant::now();
            got.push((last, buf[..n].to_vec()));
        }
    }
    got
}

/// Asks the session for its statistics and waits (up to 2 s) for them.
pub async fn stats(s: &mut MediaSession) -> MediaStats {
    s.request_stats().unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(200), s.next_event()).await {
            Ok(Some(MediaEvent::Stats(st))) => return st,
            Ok(Some(_)) | Err(_) => {}
            Ok(None) => break,
        }
    }
    panic!("no stats event");
}
