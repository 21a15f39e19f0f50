//! 10 s of G.711 through a relay with 40 ± 30 ms delay, 3% loss, 1% reorder
//! and 1% duplicates: the application still gets one frame per 20 ms.

mod common;

use common::relay::{Impairment, ImpairmentRelay};
use rtp_media::engine::{EngineConfig, FrameKind, MediaEngine, MediaEvent, SessionParams};
use rtp_media::g711::Codec;
use rtp_media::rtp::RtpHeader;
use std::net::UdpSocket;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const SECONDS: u64 = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn impaired_stream_plays_continuously() {
    let engine = MediaEngine::new(EngineConfig {
        bind_ip: "127.0.0.1".parse().unwrap(),
        port_range: 22000..=22009,
        workers: 1,
        ..EngineConfig::default()
    })
    .unwrap();
    let mut session = engine
        .open_session(SessionParams::new(Codec::Pcmu))
        .unwrap();
    let relay = ImpairmentRelay::start(session.local_rtp_addr(), Impairment::default()).unwrap();
    let relay_in = relay.a_addr();

    let sender = std::thread::spawn(move || {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut pcm = [0i16; 160];
        let mut payload = [0u8; 160];
        let mut out = [0u8; 200];
        let start = Instant::now();
        let mut phase = 0f32;
        for i in 0..(SECONDS * 50) as usize {
            for s in &mut pcm {
                *s = (6000.0 * phase.sin()) as i16;
                phase += 2.0 * std::f32::consts::PI * 440.0 / 8000.0;
            }
            Codec::Pcmu.encode(&pcm, &mut payload);
            let h = RtpHeader::new(0, 7000u16.wrapping_add(i as u16), 160 * i as u32, 0xFEED);
            let n = h.write_packet(&payload, 0, &mut out).unwrap();
            sock.send_to(&out[..n], relay_in).unwrap();
            let next = start + Duration::from_millis(20 * (i as u64 + 1));
            if let Some(d) = next.checked_duration_since(Instant::now()) {
                std::thread::sleep(d);
            }
        }
    });

    let mut frames = session.take_frames().unwrap();
    let first = frames.recv().await.unwrap();
    let t0 = Instant::now();
    let mut next_index = first.index + 1;
    let mut count = 1u64;
    let mut audio = u64::from(first.kind == FrameKind::Audio);
    let mut concealed = 0u64;
    let until = t0 + Duration::from_secs(SECONDS);
    while Instant::now() < until {
        let f = tokio::time::timeout(Duration::from_millis(200), frames.recv())
            .await
            .expect("a frame every 20 ms")
            .unwrap();
        assert_eq!(f.index, next_index, "no gaps in delivered frames");
        next_index += 1;
        count += 1;
        match f.kind {
            FrameKind::Audio => audio += 1,
            FrameKind::Concealed | FrameKind::ComfortNoise => concealed += 1,
            FrameKind::Silence => {}
        }
    }
    let elapsed = t0.elapsed();
    sender.join().unwrap();
    // One frame per 20 ms tick: the count follows wall-clock time.
    let expected = elapsed.as_millis() as u64 / 20 + 1;
    assert!(
        count.abs_diff(expected) <= 3,
        "{count} frames in {elapsed:?}, expected {expected}"
    );

    // The sender has finished: wait out the relay delay, then take the
    // latest stats (periodic ones may be queued before it).
    tokio::time::sleep(Duration::from_millis(300)).await;
    session.request_stats().unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut stats = None;
    while let Some(ev) = session.try_next_event() {
        if let MediaEvent::Stats(s) = ev {
            stats = Some(s);
        }
    }
    let stats = stats.expect("stats event");
    let relay_lost = relay.counters.a_lost.load(Ordering::Relaxed);
    println!(
        "frames {count} audio {audio} concealed {concealed}; relay lost {relay_lost} dup {} reord {}; stats {stats:?}",
        relay.counters.a_duplicated.load(Ordering::Relaxed),
        relay.counters.a_reordered.load(Ordering::Relaxed)
    );
    assert!(stats.concealed > 0);
    assert!(concealed > 0);
    assert!(
        stats.loss_pct > 1.0 && stats.loss_pct < 6.0,
        "loss {}",
        stats.loss_pct
    );
    assert!(stats.lost >= relay_lost.saturating_sub(5) && stats.lost <= relay_lost + 5);
    assert!(stats.duplicates > 0);
    // Late packets are rare once the buffer has adapted to the jitter.
    assert!(stats.late < 25, "late {}", stats.late);
    assert!(stats.jitter > Duration::from_millis(1));
    assert!(stats.mos > 3.0 && stats.mos < 4.5, "mos {}", stats.mos);
    assert_eq!(stats.frames_overflowed, 0);
}
