//! Helpers shared by the media engine's tests on 127.0.0.1.
#![allow(dead_code)]

pub mod delivered;
pub mod relay;

use rtp_media::engine::{EngineConfig, MediaEngine, MediaEvent, MediaSession, MediaStats};
use rtp_media::g711::Codec;
use rtp_media::rtp::RtpHeader;
use std::net::{SocketAddr, UdpSocket};
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

/// Events of a session, in order, until `quiet` passes without one, or
/// `done` says the one just received is what the test waits for (it is
/// then the last of the list), or 10 s in all. The one way these tests
/// wait for events.
pub async fn events_until(
    s: &mut MediaSession,
    quiet: Duration,
    mut done: impl FnMut(&MediaEvent) -> bool,
) -> Vec<MediaEvent> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut out = Vec::new();
    while Instant::now() < deadline {
        let Ok(Some(ev)) = tokio::time::timeout(quiet, s.next_event()).await else {
            break;
        };
        let stop = done(&ev);
        out.push(ev);
        if stop {
            break;
        }
    }
    out
}

/// [`events_until`] `quiet` passes without an event.
pub async fn events_until_quiet(s: &mut MediaSession, quiet: Duration) -> Vec<MediaEvent> {
    events_until(s, quiet, |_| false).await
}

/// Asks the session for its statistics and waits (up to 2 s) for them.
pub async fn stats(s: &mut MediaSession) -> MediaStats {
    s.request_stats().unwrap();
    let events = events_until(s, Duration::from_secs(2), |e| {
        matches!(e, MediaEvent::Stats(_))
    })
    .await;
    match events.last() {
        Some(MediaEvent::Stats(st)) => st.clone(),
        _ => panic!("no stats event"),
    }
}

/// Sends `payloads` (PCMU, payload type 0) from `sock` to `to` as one
/// paced RTP stream on a thread: sequence numbers from `seq`, timestamps
/// from `ts` advancing by each payload's length (one byte per sample), and
/// each packet sent once the audio before it has had time to play, so
/// packets of different sizes keep real time.
pub fn send_paced(
    sock: UdpSocket,
    to: SocketAddr,
    ssrc: u32,
    seq: u16,
    ts: u32,
    payloads: Vec<Vec<u8>>,
) -> std::thread::JoinHandle<UdpSocket> {
    std::thread::spawn(move || {
        let start = Instant::now();
        let mut sent_samples = 0u64;
        for (i, p) in payloads.iter().enumerate() {
            let pkt = rtp(
                0,
                seq.wrapping_add(i as u16),
                ts.wrapping_add(sent_samples as u32),
                ssrc,
                i == 0,
                p,
            );
            sock.send_to(&pkt, to).unwrap();
            sent_samples += p.len() as u64;
            let next = start + Duration::from_micros(sent_samples * 125);
            if let Some(d) = next.checked_duration_since(Instant::now()) {
                std::thread::sleep(d);
            }
        }
        sock
    })
}

/// Cuts 8 kHz `audio` into PCMU payloads of `sizes` samples each, in turn
/// (the last one shorter if the audio runs out).
pub fn pcmu_payloads(audio: &[i16], sizes: impl IntoIterator<Item = usize>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut at = 0;
    for n in sizes {
        if at >= audio.len() {
            break;
        }
        let chunk = &audio[at..(at + n).min(audio.len())];
        let mut p = vec![0u8; chunk.len()];
        Codec::Pcmu.encode(chunk, &mut p);
        out.push(p);
        at += n;
    }
    out
}
