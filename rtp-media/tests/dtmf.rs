//! Keys the caller presses, received as RFC 4733 telephone events by the
//! media engine over real sockets on 127.0.0.1: reported when they go
//! down, when they come up, when the session closes with one held, and
//! placed on the delivered-audio clock of every other event.

mod common;

use common::{engine, events_until, events_until_quiet, peer, rtp};
use rtp_media::dtmf::TelephoneEvent;
use rtp_media::engine::{FrameKind, MediaEvent, SessionParams};
use rtp_media::g711::Codec;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const EVENT_PT: u8 = 101;

fn event(event: u8, end: bool, duration: u16) -> [u8; 4] {
    TelephoneEvent {
        event,
        end,
        volume: 10,
        duration,
    }
    .to_bytes()
}

/// A session receiving telephone events on [`EVENT_PT`] from `far`.
fn params(far: SocketAddr) -> SessionParams {
    let mut params = SessionParams::new(Codec::Pcmu);
    params.remote_rtp = Some(far);
    params.telephone_event_pt = Some(EVENT_PT);
    params
}

/// The key events among `events`: (started, digit, duration, media_ts).
fn keys(events: &[MediaEvent]) -> Vec<(bool, char, Duration, u32)> {
    events
        .iter()
        .filter_map(|e| match *e {
            MediaEvent::DtmfStarted { digit, media_ts } => {
                Some((true, digit, Duration::ZERO, media_ts))
            }
            MediaEvent::Dtmf {
                digit,
                duration,
                media_ts,
            } => Some((false, digit, duration, media_ts)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_held_key_is_reported_when_it_goes_down_not_only_when_it_is_released() {
    let eng = engine(23000, 2);
    let far = peer();
    let mut s = eng.open_session(params(far.local_addr().unwrap())).unwrap();
    let to = s.local_rtp_addr();
    // The caller holds '9' for 1.5 s: an update every 50 ms, then the
    // three end packets.
    let released = Arc::new(AtomicBool::new(false));
    let sender = {
        let released = released.clone();
        std::thread::spawn(move || {
            let mut seq = 10u16;
            for step in 1..=30u16 {
                let p = rtp(
                    EVENT_PT,
                    seq,
                    4000,
                    0x77,
                    step == 1,
                    &event(9, false, 400 * step),
                );
                far.send_to(&p, to).unwrap();
                seq += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            released.store(true, Ordering::SeqCst);
            for _ in 0..3 {
                far.send_to(
                    &rtp(EVENT_PT, seq, 4000, 0x77, false, &event(9, true, 12_000)),
                    to,
                )
                .unwrap();
                seq += 1;
            }
        })
    };
    let down = events_until(&mut s, Duration::from_secs(1), |e| {
        matches!(e, MediaEvent::DtmfStarted { .. })
    })
    .await;
    let released_before_reported = released.load(Ordering::SeqCst);
    assert_eq!(keys(&down), [(true, '9', Duration::ZERO, 0)], "{down:?}");
    assert!(!released_before_reported, "the key went down 1.5 s ago");
    sender.join().unwrap();
    let up = events_until_quiet(&mut s, Duration::from_millis(300)).await;
    assert_eq!(
        keys(&up),
        [(false, '9', Duration::from_millis(1500), 0)],
        "{up:?}"
    );
}

#[tokio::test]
async fn a_key_held_when_the_session_closes_is_reported_by_close_with_its_duration_so_far() {
    let eng = engine(23020, 2);
    let far = peer();
    let mut s = eng.open_session(params(far.local_addr().unwrap())).unwrap();
    let to = s.local_rtp_addr();
    for (i, duration) in [400u16, 800, 1200].into_iter().enumerate() {
        let p = rtp(
            EVENT_PT,
            1 + i as u16,
            9000,
            0x78,
            i == 0,
            &event(11, false, duration),
        );
        far.send_to(&p, to).unwrap();
    }
    let down = events_until(&mut s, Duration::from_secs(1), |e| {
        matches!(e, MediaEvent::DtmfStarted { .. })
    })
    .await;
    assert_eq!(keys(&down), [(true, '#', Duration::ZERO, 0)], "{down:?}");
    // The caller hangs up with the key still down.
    let rest = s.close().await;
    assert_eq!(
        keys(&rest),
        [(false, '#', Duration::from_millis(150), 0)],
        "{rest:?}"
    );
}

#[tokio::test]
async fn telephone_events_are_placed_where_the_audio_of_their_timestamp_is_delivered() {
    let eng = engine(23040, 2);
    let far = peer();
    let mut s = eng.open_session(params(far.local_addr().unwrap())).unwrap();
    let to = s.local_rtp_addr();
    // 400 ms of audio, each 20 ms packet one constant µ-law code (so each
    // can be found among the delivered frames), then a key of 60 ms whose
    // event starts where the audio stops.
    const SSRC: u32 = 0x5151;
    let (ts0, seq0) = (123_456u32, 300u16);
    let code = |k: usize| 0x10 + k as u8;
    let sender = std::thread::spawn(move || {
        let start = std::time::Instant::now();
        let pace = |n: u64| {
            let next = start + Duration::from_millis(20 * n);
            if let Some(d) = next.checked_duration_since(std::time::Instant::now()) {
                std::thread::sleep(d);
            }
        };
        for k in 0..20usize {
            let p = rtp(
                0,
                seq0 + k as u16,
                ts0 + 160 * k as u32,
                SSRC,
                k == 0,
                &[code(k); 160],
            );
            far.send_to(&p, to).unwrap();
            pace(k as u64 + 1);
        }
        let key_ts = ts0 + 160 * 20;
        for (i, (end, duration)) in [(false, 160), (false, 320), (false, 480), (true, 480)]
            .into_iter()
            .chain([(true, 480); 2])
            .enumerate()
        {
            let p = rtp(
                EVENT_PT,
                seq0 + 20 + i as u16,
                key_ts,
                SSRC,
                i == 0,
                &event(4, end, duration),
            );
            far.send_to(&p, to).unwrap();
            pace(21 + i as u64);
        }
    });
    sender.join().unwrap();
    let events = events_until_quiet(&mut s, Duration::from_millis(300)).await;
    // Where each audio packet was delivered.
    let mut delivered_at = Vec::new();
    while let Some(f) = s.try_next_frame() {
        if f.kind != FrameKind::Audio {
            continue;
        }
        for k in 0..20 {
            let mut want = [0i16; 1];
            Codec::Pcmu.decode(&[code(k)], &mut want);
            if f.samples.iter().all(|&x| x == want[0]) {
                delivered_at.push((k as u32, f.media_ts));
            }
        }
    }
    let &(k, at) = delivered_at.last().expect("the audio was delivered");
    // The key starts 20 packets after the first: where the audio after
    // packet k would have been delivered.
    let key_at = at + (20 - k) * 160;
    assert_eq!(
        keys(&events),
        [
            (true, '4', Duration::ZERO, key_at),
            (false, '4', Duration::from_millis(60), key_at)
        ],
        "{events:?}, audio delivered at {delivered_at:?}"
    );
}
