//! The media engine over real sockets on 127.0.0.1.

mod common;

use common::{
    collect_rtp_for, engine, engine_with, events_until, events_until_quiet, peer, rtp, stats,
};

use rtp_media::dtmf::TelephoneEvent;
use rtp_media::engine::{
    Direction, EngineConfig, FrameKind, MediaEngine, MediaError, MediaEvent, MediaSession,
    SessionParams,
};
use rtp_media::g711::Codec;
use rtp_media::rtcp::{self, RtcpPacket};
use rtp_media::rtp::RtpPacket;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// Deterministic pseudo-random µ-law payloads, distinct per packet.
fn payloads(n: usize, seed: u32) -> Vec<[u8; 160]> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            let mut p = [0u8; 160];
            for b in &mut p {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                *b = x as u8;
            }
            p
        })
        .collect()
}

/// Sends payloads as a paced RTP stream from `sock` to `to` on a thread.
fn stream(
    sock: UdpSocket,
    to: SocketAddr,
    payloads: Vec<[u8; 160]>,
) -> std::thread::JoinHandle<UdpSocket> {
    std::thread::spawn(move || {
        let start = Instant::now();
        for (i, p) in payloads.iter().enumerate() {
            let pkt = rtp(0, 1000 + i as u16, 5000 + 160 * i as u32, 0xABCD, i == 0, p);
            sock.send_to(&pkt, to).unwrap();
            let next = start + Duration::from_millis(20 * (i as u64 + 1));
            if let Some(d) = next.checked_duration_since(Instant::now()) {
                std::thread::sleep(d);
            }
        }
        sock
    })
}

fn decode(p: &[u8]) -> Vec<i16> {
    let mut out = vec![0i16; p.len()];
    Codec::Pcmu.decode(p, &mut out);
    out
}

fn tone(samples: usize, freq: f32) -> Vec<i16> {
    (0..samples)
        .map(|i| {
            let t = i as f32 / 8000.0;
            (8000.0 * (2.0 * std::f32::consts::PI * freq * t).sin()) as i16
        })
        .collect()
}

/// Receives RTP datagrams on `sock` until `idle` passes without one (or
/// 3 s in all).
fn collect_rtp(sock: &UdpSocket, idle: Duration) -> Vec<(Instant, Vec<u8>)> {
    collect_rtp_for(sock, idle, Duration::from_secs(3))
}

/// How many of `got` match `want` as an in-order subsequence.
fn in_order_matches(got: &[Vec<i16>], want: &[Vec<i16>]) -> usize {
    let mut pos = 0;
    let mut n = 0;
    for g in got {
        if let Some(j) = want[pos..].iter().position(|x| x == g) {
            pos += j + 1;
            n += 1;
        }
    }
    n
}

#[tokio::test]
async fn received_rtp_is_delivered_as_decoded_frames() {
    let eng = engine(21000, 4);
    let sender = peer();
    let mut params = SessionParams::new(Codec::Pcmu);
    params.remote_rtp = Some(sender.local_addr().unwrap());
    let mut s = eng.open_session(params).unwrap();
    let sent = payloads(50, 7);
    stream(sender, s.local_rtp_addr(), sent.clone())
        .join()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let mut audio = Vec::new();
    let mut last_index = None;
    while let Some(f) = s.try_next_frame() {
        if let Some(prev) = last_index {
            assert_eq!(f.index, prev + 1, "frames are consecutive");
        }
        last_index = Some(f.index);
        if f.kind == FrameKind::Audio {
            audio.push(f.samples.to_vec());
        }
    }
    // Loopback loses nothing: every audio frame is the G.711 decode of a
    // sent packet, in order. (On a busy machine the jitter buffer may still
    // trim one frame or conceal a packet that missed its tick.)
    let expected: Vec<Vec<i16>> = sent.iter().map(|p| decode(p)).collect();
    assert_eq!(in_order_matches(&audio, &expected), audio.len());
    assert!(audio.len() >= 48, "{} of 50 frames", audio.len());
    let st = stats(&mut s).await;
    assert_eq!(st.packets_received, 50);
    assert_eq!(st.lost, 0);
}

#[tokio::test]
async fn playback_of_one_second_is_fifty_paced_packets() {
    let eng = engine(21100, 4);
    let far = peer();
    let mut params = SessionParams::new(Codec::Pcmu);
    params.remote_rtp = Some(far.local_addr().unwrap());
    let mut s = eng.open_session(params).unwrap();
    let t = tone(8000, 440.0);
    let id = s.play(t.clone()).unwrap();
    let got = collect_rtp(&far, Duration::from_millis(300));
    assert_eq!(got.len(), 50);
    let pkts: Vec<RtpPacket<'_>> = got
        .iter()
        .map(|(_, d)| RtpPacket::parse(d).unwrap())
        .collect();
    for (i, w) in pkts.windows(2).enumerate() {
        assert_eq!(
            w[1].sequence(),
            w[0].sequence().wrapping_add(1),
            "seq at {i}"
        );
        assert_eq!(
            w[1].timestamp(),
            w[0].timestamp().wrapping_add(160),
            "ts at {i}"
        );
        assert!(!w[1].marker());
        assert_eq!(w[1].ssrc(), w[0].ssrc());
    }
    assert!(
        pkts[0].marker(),
        "first packet of a talkspurt has the marker"
    );
    // Payload is the µ-law encoding of what was played.
    let mut enc = vec![0u8; 8000];
    Codec::Pcmu.encode(&t, &mut enc);
    let sent: Vec<u8> = pkts.iter().flat_map(|p| p.payload().to_vec()).collect();
    assert_eq!(sent, enc);
    // Paced at 20 ms: 49 intervals ≈ 980 ms.
    let span = got[49].0 - got[0].0;
    assert!(
        span > Duration::from_millis(900) && span < Duration::from_millis(1100),
        "span {span:?}"
    );
    let wanted = MediaEvent::PlaybackFinished {
        id,
        interrupted: false,
    };
    let events = events_until(&mut s, Duration::from_millis(200), |e| *e == wanted).await;
    assert_eq!(events.last(), Some(&wanted));
}

#[tokio::test]
async fn talkspurt_after_silence_sets_marker_and_ts_follows_time() {
    let eng = engine(21150, 2);
    let far = peer();
    let mut params = SessionParams::new(Codec::Pcma);
    params.remote_rtp = Some(far.local_addr().unwrap());
    let s = eng.open_session(params).unwrap();
    s.play(tone(320, 300.0)).unwrap();
    let a = collect_rtp(&far, Duration::from_millis(200));
    s.play(tone(160, 300.0)).unwrap();
    let b = collect_rtp(&far, Duration::from_millis(200));
    assert_eq!((a.len(), b.len()), (2, 1));
    let p0 = RtpPacket::parse(&a[0].1).unwrap();
    let p1 = RtpPacket::parse(&a[1].1).unwrap();
    let p2 = RtpPacket::parse(&b[0].1).unwrap();
    assert!(p0.marker() && !p1.marker() && p2.marker());
    assert_eq!(p0.payload_type(), 8);
    assert_eq!(p2.sequence(), p1.sequence().wrapping_add(1));
    // The gap of silence advanced the timestamp by at least 200 ms.
    assert!(p2.timestamp().wrapping_sub(p1.timestamp()) >= 1600);
}

#[tokio::test]
async fn clear_playback_stops_sending_at_once() {
    let eng = engine(21200, 4);
    let far = peer();
    let mut params = SessionParams::new(Codec::Pcmu);
    params.remote_rtp = Some(far.local_addr().unwrap());
    let mut s = eng.open_session(params).unwrap();
    let id = s.play(tone(5 * 8000, 440.0)).unwrap();
    let mut buf = [0u8; 2048];
    let mut n = 0;
    while n < 10 {
        if far.recv_from(&mut buf).is_ok() {
            n += 1;
        }
    }
    s.clear_playback().unwrap();
    let after = collect_rtp(&far, Duration::from_millis(300));
    assert!(after.len() <= 2, "{} packets after clear", after.len());
    let wanted = MediaEvent::PlaybackFinished {
        id,
        interrupted: true,
    };
    let events = events_until(&mut s, Duration::from_millis(200), |e| *e == wanted).await;
    assert_eq!(events.last(), Some(&wanted));
    // New audio plays again after a barge-in.
    s.play(tone(160, 440.0)).unwrap();
    assert_eq!(collect_rtp(&far, Duration::from_millis(200)).len(), 1);
}

#[tokio::test]
async fn rfc4733_digits_arrive_once_with_duration() {
    let eng = engine(21300, 4);
    let sender = peer();
    let mut params = SessionParams::new(Codec::Pcmu);
    params.remote_rtp = Some(sender.local_addr().unwrap());
    let mut s = eng.open_session(params).unwrap();
    let to = s.local_rtp_addr();
    let mut seq = 1u16;
    for (event, ts) in [(5u8, 8000u32), (11u8, 16000u32)] {
        for step in 1..=8u16 {
            let end = step > 5;
            let ev = TelephoneEvent {
                event,
                end,
                volume: 10,
                duration: 160 * step.min(5),
            };
            let pkt = rtp(101, seq, ts, 0x1234, step == 1, &ev.to_bytes());
            seq += 1;
            sender.send_to(&pkt, to).unwrap();
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let digits: Vec<_> = events_until_quiet(&mut s, Duration::from_millis(300))
        .await
        .into_iter()
        .filter_map(|e| match e {
            MediaEvent::Dtmf {
                digit, duration, ..
            } => Some((digit, duration)),
            _ => None,
        })
        .collect();
    assert_eq!(
        digits,
        vec![
            ('5', Duration::from_millis(100)),
            ('#', Duration::from_millis(100))
        ]
    );
}

#[tokio::test]
async fn latches_to_the_real_source_port() {
    let eng = engine(21400, 4);
    let signalled = peer();
    let real = peer();
    let mut params = SessionParams::new(Codec::Pcmu);
    params.remote_rtp = Some(signalled.local_addr().unwrap());
    let mut s = eng.open_session(params).unwrap();
    stream(
        real.try_clone().unwrap(),
        s.local_rtp_addr(),
        payloads(5, 3),
    )
    .join()
    .unwrap();
    tokio::time::sleep(Duration::from_millis(60)).await;
    s.play(tone(1600, 500.0)).unwrap();
    let at_real = collect_rtp(&real, Duration::from_millis(250));
    let at_signalled = collect_rtp(&signalled, Duration::from_millis(50));
    assert_eq!(at_real.len(), 10);
    assert!(at_signalled.is_empty());
    let mut changed = None;
    while let Some(ev) = s.try_next_event() {
        if let MediaEvent::RemoteAddressChanged { from, to } = ev {
            changed = Some((from, to));
        }
    }
    assert_eq!(
        changed,
        Some((
            Some(signalled.local_addr().unwrap()),
            real.local_addr().unwrap()
        ))
    );
    assert_eq!(stats(&mut s).await.latch_changes, 1);
}

#[tokio::test]
async fn malformed_packets_are_counted_not_fatal() {
    let eng = engine(21500, 4);
    let sender = peer();
    let mut params = SessionParams::new(Codec::Pcmu);
    params.remote_rtp = Some(sender.local_addr().unwrap());
    let mut s = eng.open_session(params).unwrap();
    let to = s.local_rtp_addr();
    let mut bad_padding = rtp(0, 1, 0, 1, false, &[0xFF; 160]);
    bad_padding[0] |= 0x20;
    if let Some(last) = bad_padding.last_mut() {
        *last = 0;
    }
    let garbage: Vec<Vec<u8>> = vec![
        vec![1, 2, 3],
        vec![0x40; 40], // version 1
        bad_padding,
        vec![0x8F, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], // 15 CSRCs, none present
    ];
    for g in &garbage {
        sender.send_to(g, to).unwrap();
    }
    sender
        .send_to(&rtp(96, 1, 0, 1, false, &[0; 160]), to)
        .unwrap();
    sender.send_to(&[0xFF; 7], s.local_rtcp_addr()).unwrap();
    stream(sender, to, payloads(10, 9)).join().unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let st = stats(&mut s).await;
    assert_eq!(st.malformed, 4);
    assert_eq!(st.unknown_payload, 1);
    assert_eq!(st.rtcp_malformed, 1);
    assert_eq!(st.packets_received, 10);
    let mut audio = 0;
    while let Some(f) = s.try_next_frame() {
        audio += usize::from(f.kind == FrameKind::Audio);
    }
    assert_eq!(audio, 10);
}

#[tokio::test]
async fn port_pool_exhaustion_and_reuse() {
    let eng = engine(21600, 2);
    let params = SessionParams::new(Codec::Pcmu);
    let a = eng.open_session(params.clone()).unwrap();
    let b = eng.open_session(params.clone()).unwrap();
    let mut ports = [a.local_rtp_port(), b.local_rtp_port()];
    ports.sort_unstable();
    assert_eq!(ports, [21600, 21602]);
    assert_eq!(a.local_rtcp_addr().port(), a.local_rtp_port() + 1);
    assert!(matches!(
        eng.open_session(params.clone()),
        Err(MediaError::PortsExhausted { .. })
    ));
    let freed = a.local_rtp_port();
    a.close().await;
    let c = eng.open_session(params.clone()).unwrap();
    assert_eq!(c.local_rtp_port(), freed);
    drop(b);
    drop(c);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let d = eng.open_session(params.clone()).unwrap();
    let e = eng.open_session(params).unwrap();
    assert_ne!(d.local_rtp_port(), e.local_rtp_port());
}

#[tokio::test]
async fn invalid_params_are_rejected() {
    let eng = engine(21650, 2);
    let mut p = SessionParams::new(Codec::Pcmu);
    p.ptime = Duration::from_millis(25);
    assert!(matches!(
        eng.open_session(p),
        Err(MediaError::UnsupportedPtime(d)) if d == Duration::from_millis(25)
    ));
    for bad in [0, 5, 130] {
        let mut p = SessionParams::new(Codec::Pcmu);
        p.ptime = Duration::from_millis(bad);
        assert!(matches!(
            eng.open_session(p),
            Err(MediaError::UnsupportedPtime(_))
        ));
    }
    let mut p = SessionParams::new(Codec::Pcmu);
    p.telephone_event_pt = Some(0);
    assert!(matches!(
        eng.open_session(p),
        Err(MediaError::BadPayloadType { .. })
    ));
    assert!(MediaEngine::new(EngineConfig {
        workers: 0,
        ..EngineConfig::default()
    })
    .is_err());
}

#[tokio::test]
async fn hold_stops_sending_and_resume_restarts() {
    let eng = engine(21700, 2);
    let far = peer();
    let mut params = SessionParams::new(Codec::Pcmu);
    params.remote_rtp = Some(far.local_addr().unwrap());
    params.direction = Direction::RecvOnly;
    let s = eng.open_session(params.clone()).unwrap();
    s.play(tone(1600, 440.0)).unwrap();
    assert!(collect_rtp(&far, Duration::from_millis(200)).is_empty());
    params.direction = Direction::SendRecv;
    s.update(params).unwrap();
    assert_eq!(collect_rtp(&far, Duration::from_millis(200)).len(), 10);
}

#[tokio::test]
async fn sendonly_delivers_no_frames_and_update_moves_target() {
    let eng = engine(21750, 2);
    let sender = peer();
    let other = peer();
    let mut params = SessionParams::new(Codec::Pcmu);
    params.remote_rtp = Some(sender.local_addr().unwrap());
    params.direction = Direction::SendOnly;
    let mut s = eng.open_session(params.clone()).unwrap();
    let sender = stream(sender, s.local_rtp_addr(), payloads(5, 1))
        .join()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(s.try_next_frame().is_none());
    // re-INVITE to a new address.
    params.remote_rtp = Some(other.local_addr().unwrap());
    s.update(params).unwrap();
    s.play(tone(320, 440.0)).unwrap();
    assert_eq!(collect_rtp(&other, Duration::from_millis(200)).len(), 2);
    assert!(collect_rtp(&sender, Duration::from_millis(20)).is_empty());
}

#[tokio::test]
async fn timeout_when_no_rtp() {
    let eng = engine_with(21800, 2, |c| {
        c.rtp_timeout = Some(Duration::from_millis(200));
    });
    let mut s = eng.open_session(SessionParams::new(Codec::Pcmu)).unwrap();
    let events = events_until(&mut s, Duration::from_secs(2), |e| {
        matches!(e, MediaEvent::Timeout { .. })
    })
    .await;
    let ev = match events.last() {
        Some(MediaEvent::Timeout { silent_for }) => Some(*silent_for),
        _ => None,
    };
    assert!(ev.is_some_and(|d| d >= Duration::from_millis(200)));
}

#[tokio::test]
async fn rtcp_reports_and_round_trip_time() {
    let eng = engine_with(21850, 2, |c| {
        c.rtcp_interval = Duration::from_millis(100);
    });
    let far = peer();
    let far_rtcp = peer();
    let mut params = SessionParams::new(Codec::Pcmu);
    params.remote_rtp = Some(far.local_addr().unwrap());
    params.remote_rtcp = Some(far_rtcp.local_addr().unwrap());
    let mut s = eng.open_session(params).unwrap();
    s.play(tone(8000, 440.0)).unwrap();
    // Wait for a sender report from the engine.
    let mut buf = [0u8; 1500];
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut sr = None;
    while Instant::now() < deadline && sr.is_none() {
        if let Ok((n, _)) = far_rtcp.recv_from(&mut buf) {
            assert!(rtcp::validate_compound(&buf[..n]).is_ok());
            for p in rtcp::parse_compound(&buf[..n]).flatten() {
                if let RtcpPacket::SenderReport { ssrc, info, .. } = p {
                    sr = Some((ssrc, info.ntp_timestamp));
                }
            }
        }
    }
    let (ssrc, ntp) = sr.expect("no SR");
    // Answer with an RR that held the SR for 10 ms.
    std::thread::sleep(Duration::from_millis(10));
    let block = rtcp::ReportBlock {
        ssrc,
        lsr: rtcp::ntp_middle(ntp),
        dlsr: 655, // 10 ms in 1/65536 s
        ..rtcp::ReportBlock::default()
    };
    let n = rtcp::write_receiver_report(&mut buf, 0x5555, &[block]).unwrap();
    far_rtcp.send_to(&buf[..n], s.local_rtcp_addr()).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let st = stats(&mut s).await;
    assert_eq!(st.rtcp_received, 1);
    assert!(st.rtcp_sent >= 1);
    let rtt = st.rtt.expect("rtt");
    assert!(rtt < Duration::from_millis(200), "rtt {rtt:?}");
}

/// Joins two calls of `eng` and checks that the agent hears the caller.
fn joined_calls_forward_audio_on(eng: &MediaEngine, same_worker: bool) {
    let caller = peer();
    let agent = peer();
    let mut pa = SessionParams::new(Codec::Pcmu);
    pa.remote_rtp = Some(caller.local_addr().unwrap());
    let mut pb = SessionParams::new(Codec::Pcmu);
    pb.remote_rtp = Some(agent.local_addr().unwrap());
    let a = eng.open_session(pa).unwrap();
    let b = eng.open_session(pb).unwrap();
    // New sessions go to the least loaded worker: with two workers the two
    // calls land on different ones, with one worker on the same.
    let loads = eng.worker_loads();
    assert_eq!(
        loads.iter().filter(|&&l| l > 0).count() == 1,
        same_worker,
        "{loads:?}"
    );
    let bridge = MediaSession::join(&a, &b).unwrap();
    let sent = payloads(50, 11);
    let th = stream(caller, a.local_rtp_addr(), sent.clone());
    // After the caller stops, concealment and comfort noise keep flowing.
    let got = collect_rtp_for(
        &agent,
        Duration::from_millis(400),
        Duration::from_millis(1600),
    );
    th.join().unwrap();
    // The agent hears the caller's audio, in order, after the jitter buffer
    // (compared decoded: µ-law has two codes for zero).
    let heard: Vec<Vec<i16>> = got
        .iter()
        .map(|(_, d)| decode(RtpPacket::parse(d).unwrap().payload()))
        .collect();
    let said: Vec<Vec<i16>> = sent.iter().map(|p| decode(p)).collect();
    // Every caller frame arrives, in order; on a busy machine the jitter
    // buffer may insert a concealed frame or trim one, nothing else.
    let matched = in_order_matches(&heard, &said);
    assert!(
        matched >= 48,
        "{matched} of 50 frames forwarded in order, {} heard",
        heard.len()
    );
    drop(bridge);
}

#[tokio::test]
async fn joined_calls_on_two_workers_forward_audio() {
    joined_calls_forward_audio_on(&engine(21900, 4), false);
}

#[tokio::test]
async fn joined_calls_on_one_worker_forward_audio() {
    // Frames pass inside the worker, without the command channel.
    let eng = engine_with(22600, 4, |c| c.workers = 1);
    joined_calls_forward_audio_on(&eng, true);
}

#[tokio::test]
async fn inband_keys_are_reported_when_the_tone_starts_and_ends_on_the_delivered_audio_clock() {
    let eng = engine(21950, 2);
    let sender = peer();
    let mut params = SessionParams::new(Codec::Pcmu);
    params.remote_rtp = Some(sender.local_addr().unwrap());
    params.inband_dtmf = true;
    let mut s = eng.open_session(params).unwrap();
    // 200 ms of '7', then 200 ms of silence.
    let mut tone = rtp_media::dtmf::ToneGenerator::dtmf('7', 8000).unwrap();
    let mut frames = Vec::new();
    for i in 0..20 {
        let mut pcm = [0i16; 160];
        if i < 10 {
            tone.fill(&mut pcm);
        }
        let mut p = [0u8; 160];
        Codec::Pcmu.encode(&pcm, &mut p);
        frames.push(p);
    }
    stream(sender, s.local_rtp_addr(), frames).join().unwrap();
    let keys: Vec<_> = events_until_quiet(&mut s, Duration::from_millis(300))
        .await
        .into_iter()
        .filter(|e| matches!(e, MediaEvent::DtmfStarted { .. } | MediaEvent::Dtmf { .. }))
        .collect();
    // Where the tone is in the delivered audio: the first frame of it.
    let mut tone_at = None;
    while let Some(f) = s.try_next_frame() {
        if f.kind == FrameKind::Audio && f.samples.iter().any(|&x| x != 0) {
            tone_at.get_or_insert(f.media_ts);
        }
    }
    let tone_at = i64::from(tone_at.expect("the tone was delivered"));
    let [MediaEvent::DtmfStarted {
        digit: '7',
        media_ts: down,
    }, MediaEvent::Dtmf {
        digit: '7',
        duration,
        media_ts,
    }] = keys[..]
    else {
        panic!("{keys:?}");
    };
    // One key, placed where its tone starts (to 5 ms), held for 200 ms
    // (each edge to 5 ms).
    assert_eq!(down, media_ts);
    assert!(
        (i64::from(down) - tone_at).abs() <= 40,
        "{keys:?} tone at {tone_at}"
    );
    let ms = duration.as_secs_f64() * 1000.0;
    assert!((ms - 200.0).abs() <= 11.0, "{keys:?}");
}

#[tokio::test]
async fn playbacks_finish_in_order_and_empty_play_at_once() {
    let eng = engine(21970, 2);
    let far = peer();
    let mut params = SessionParams::new(Codec::Pcmu);
    params.remote_rtp = Some(far.local_addr().unwrap());
    let mut s = eng.open_session(params).unwrap();
    let empty = s.play(Vec::new()).unwrap();
    let a = s.play(tone(240, 300.0)).unwrap(); // 1.5 frames
    let b = s.play(tone(390, 600.0)).unwrap(); // ends inside frame 4
                                               // Plays are concatenated without gaps; the last frame is padded.
    assert_eq!(collect_rtp(&far, Duration::from_millis(200)).len(), 4);
    let mut finished = Vec::new();
    while let Some(ev) = s.try_next_event() {
        if let MediaEvent::PlaybackFinished { id, interrupted } = ev {
            assert!(!interrupted);
            finished.push(id);
        }
    }
    assert_eq!(finished, vec![empty, a, b]);
}

#[tokio::test]
async fn a_burst_beyond_one_tick_read_is_drained_on_later_ticks() {
    // A worker reads at most 64 datagrams per socket per tick and learns of
    // new data from edge-triggered readiness, which fires on arrival only:
    // what is left after the cap must still be read, with nothing more
    // arriving.
    let eng = engine(22400, 2);
    let sender = peer();
    let mut params = SessionParams::new(Codec::Pcmu);
    params.remote_rtp = Some(sender.local_addr().unwrap());
    let mut s = eng.open_session(params).unwrap();
    let to = s.local_rtp_addr();
    let burst = 120;
    for (i, p) in payloads(burst, 31).iter().enumerate() {
        let pkt = rtp(0, 7000 + i as u16, 160 * i as u32, 0x5EED, i == 0, p);
        sender.send_to(&pkt, to).unwrap();
    }
    let mut received = 0;
    for _ in 0..50 {
        received = stats(&mut s).await.packets_received;
        if received == burst as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    assert_eq!(received, burst as u64);
}
