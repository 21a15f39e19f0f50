//! Defects a real softphone (baresip) found in the media engine, each
//! over real sockets on 127.0.0.1: the pacing of packets of a ptime that
//! is not 20 ms, the address put into SDP when bound to all interfaces,
//! and the port pair an answer must name before the call's media opens.

mod common;

use common::{collect_rtp_for, engine, engine_with, peer, rtp, stats};
use rtp_media::engine::{MediaError, SessionParams};
use rtp_media::g711::Codec;
use rtp_media::rtp::RtpPacket;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// RFC 3550 §6.4.1 interarrival jitter of packets received at `arrivals`
/// with RTP timestamps `timestamps` (8 kHz), as the far end computes it.
fn interarrival_jitter(arrivals: &[Instant], timestamps: &[u32]) -> Duration {
    let mut j = 0.0f64;
    for i in 1..arrivals.len() {
        let r = arrivals[i].duration_since(arrivals[i - 1]).as_secs_f64();
        let s = f64::from(timestamps[i].wrapping_sub(timestamps[i - 1])) / 8000.0;
        let d = (r - s).abs();
        j += (d - j) / 16.0;
    }
    Duration::from_secs_f64(j)
}

/// Plays 3 s on a call negotiated at `ptime_ms` and returns the far end's
/// interarrival jitter and median gap between packets.
async fn sent_stream_at(ptime_ms: u64, base: u16) -> (Duration, Duration, usize) {
    let eng = engine(base, 2);
    let far = peer();
    let mut params = SessionParams::new(Codec::Pcmu);
    params.remote_rtp = Some(far.local_addr().unwrap());
    params.ptime = Duration::from_millis(ptime_ms);
    let s = eng.open_session(params).unwrap();
    s.play(vec![1000i16; 24_000]).unwrap();
    let got = collect_rtp_for(&far, Duration::from_millis(300), Duration::from_secs(8));
    let (mut arrivals, mut timestamps) = (Vec::new(), Vec::new());
    for (at, d) in &got {
        let p = RtpPacket::parse(d).unwrap();
        assert_eq!(p.payload().len() as u64, ptime_ms * 8);
        arrivals.push(*at);
        timestamps.push(p.timestamp());
    }
    let mut gaps: Vec<Duration> = arrivals.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort();
    let median = gaps[gaps.len() / 2];
    (
        interarrival_jitter(&arrivals, &timestamps),
        median,
        got.len(),
    )
}

#[tokio::test]
async fn a_30_ms_call_sends_a_packet_every_30_ms_not_at_20_and_40() {
    // Sent on the 20 ms tick, 30 ms packets left 20 and 40 ms apart: a
    // jitter of about 10 ms at the far end (baresip measured 9.6 ms).
    let (jitter, median, n) = sent_stream_at(30, 23100).await;
    assert_eq!(n, 100);
    assert!(
        (Duration::from_millis(27)..=Duration::from_millis(33)).contains(&median),
        "median gap {median:?}"
    );
    assert!(jitter < Duration::from_millis(4), "jitter {jitter:?}");
}

#[tokio::test]
async fn a_10_ms_call_sends_a_packet_every_10_ms_not_two_per_tick() {
    let (jitter, median, n) = sent_stream_at(10, 23140).await;
    assert_eq!(n, 300);
    assert!(
        (Duration::from_millis(7)..=Duration::from_millis(13)).contains(&median),
        "median gap {median:?}"
    );
    assert!(jitter < Duration::from_millis(4), "jitter {jitter:?}");
}

#[tokio::test]
async fn bound_to_all_interfaces_sdp_gets_the_routed_address_never_0_0_0_0() {
    let eng = engine_with(23180, 2, |c| c.bind_ip = "0.0.0.0".parse().unwrap());
    let mut s = eng.open_session(SessionParams::new(Codec::Pcmu)).unwrap();
    assert!(s.local_rtp_addr().ip().is_unspecified());
    // Nothing to go by yet: an error, not 0.0.0.0.
    assert!(matches!(
        s.advertised_rtp_addr(),
        Err(MediaError::NoAdvertisedAddress)
    ));
    // Once the remote is known, the address the kernel routes to it.
    let far = peer();
    let mut params = SessionParams::new(Codec::Pcmu);
    params.remote_rtp = Some(far.local_addr().unwrap());
    s.update(params).unwrap();
    let ours = s.advertised_rtp_addr().unwrap();
    assert_eq!(
        ours,
        SocketAddr::new("127.0.0.1".parse().unwrap(), s.local_rtp_port())
    );
    // And it is where the call's media really is.
    let payload = [0xffu8; 160];
    for i in 0..5u16 {
        far.send_to(&rtp(0, i, u32::from(i) * 160, 9, i == 0, &payload), ours)
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let received = stats(&mut s).await.packets_received;
    assert_eq!(received, 5);
}

#[tokio::test]
async fn the_advertised_address_is_what_sdp_gets_and_must_be_specific() {
    let public: IpAddr = "198.51.100.7".parse().unwrap();
    let eng = engine_with(23220, 2, |c| {
        c.bind_ip = "0.0.0.0".parse().unwrap();
        c.advertised_ip = Some(public);
    });
    let s = eng.open_session(SessionParams::new(Codec::Pcmu)).unwrap();
    assert_eq!(
        s.advertised_rtp_addr().unwrap(),
        SocketAddr::new(public, s.local_rtp_port())
    );
    let r = eng.reserve_ports().unwrap();
    assert_eq!(
        r.advertised_rtp_addr(None).unwrap(),
        SocketAddr::new(public, r.rtp_port())
    );
    // A specific bind address is advertised as it is.
    let eng = engine(23260, 2);
    let s = eng.open_session(SessionParams::new(Codec::Pcmu)).unwrap();
    assert_eq!(s.advertised_rtp_addr().unwrap(), s.local_rtp_addr());
    // An unspecified advertised address is refused.
    let bad = rtp_media::engine::MediaEngine::new(rtp_media::engine::EngineConfig {
        advertised_ip: Some("0.0.0.0".parse().unwrap()),
        ..Default::default()
    });
    assert!(matches!(bad, Err(MediaError::Config(_))));
}

#[tokio::test]
async fn a_reserved_port_pair_is_held_used_by_the_session_and_freed_on_drop() {
    // One pair in the range: what is held cannot be handed out twice.
    let eng = engine(23300, 1);
    let r = eng.reserve_ports().unwrap();
    let rtp_addr = r.local_rtp_addr();
    assert_eq!(rtp_addr.port(), 23300);
    assert_eq!(r.local_rtcp_addr().port(), 23301);
    assert!(matches!(
        eng.reserve_ports(),
        Err(MediaError::PortsExhausted { .. })
    ));
    assert!(UdpSocket::bind(rtp_addr).is_err(), "the port is bound");

    // Dropped without opening: the pair is free again.
    drop(r);
    assert!(UdpSocket::bind(rtp_addr).is_ok(), "the socket is closed");
    let r = eng.reserve_ports().unwrap();
    assert_eq!(r.local_rtp_addr(), rtp_addr);

    // Opened with what was negotiated after the answer named the port.
    let far = peer();
    let mut params = SessionParams::new(Codec::Pcma);
    params.remote_rtp = Some(far.local_addr().unwrap());
    let sdp_addr = r.advertised_rtp_addr(params.remote_rtp).unwrap();
    assert_eq!(sdp_addr, rtp_addr);
    let s = eng.open_session_on(r, params).unwrap();
    assert_eq!(s.local_rtp_addr(), rtp_addr);
    s.play(vec![0i16; 800]).unwrap();
    let got = collect_rtp_for(&far, Duration::from_millis(200), Duration::from_secs(3));
    assert!(!got.is_empty());
    let p = RtpPacket::parse(&got[0].1).unwrap();
    assert_eq!(p.payload_type(), 8, "PCMA, as negotiated");
    // The packets come from the reserved port.
    s.play(vec![0i16; 160]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut buf = [0u8; 2048];
    let from = loop {
        if let Ok((_, from)) = far.recv_from(&mut buf) {
            break from;
        }
        assert!(Instant::now() < deadline, "nothing sent");
    };
    assert_eq!(from, rtp_addr);

    // Closing the session frees the pair too.
    s.close().await;
    assert!(eng.reserve_ports().is_ok());
}

#[tokio::test]
async fn a_30_ms_call_sends_its_key_updates_every_30_ms_too() {
    let eng = engine(23340, 2);
    let far = peer();
    let mut params = SessionParams::new(Codec::Pcmu);
    params.remote_rtp = Some(far.local_addr().unwrap());
    params.ptime = Duration::from_millis(30);
    let s = eng.open_session(params).unwrap();
    s.send_dtmf('7', Duration::from_millis(1500)).unwrap();
    let got = collect_rtp_for(&far, Duration::from_millis(300), Duration::from_secs(5));
    let updates: Vec<Instant> = got
        .iter()
        .filter(|(_, d)| {
            let p = RtpPacket::parse(d).unwrap();
            p.payload_type() == 101 && p.payload()[1] & 0x80 == 0
        })
        .map(|(at, _)| *at)
        .collect();
    assert_eq!(updates.len(), 50);
    // The RFC 3550 jitter estimate against one packet every 30 ms (on the
    // 20 ms tick they went 20 and 40 ms apart: about 10 ms).
    let mut j = 0.0f64;
    for w in updates.windows(2) {
        let d = ((w[1] - w[0]).as_secs_f64() - 0.030).abs();
        j += (d - j) / 16.0;
    }
    let jitter = Duration::from_secs_f64(j);
    assert!(jitter < Duration::from_millis(4), "jitter {jitter:?}");
}
