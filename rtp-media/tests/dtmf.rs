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
    // 800 ms of audio, each 20 ms packet one constant µ-law code (so each
    // can be found among the delivered frames), and a key of 60 ms pressed
    // 400 ms in: its event carries the timestamp of audio packet 20 and is
    // sent alongside the audio, as phones do.
    const SSRC: u32 = 0x5151;
    const KEY_PACKET: usize = 20;
    let ts0 = 123_456u32;
    let code = |k: usize| 0x10 + k as u8;
    let sender = std::thread::spawn(move || {
        let start = std::time::Instant::now();
        let mut seq = 300u16;
        let mut send = |pt: u8, ts: u32, marker: bool, payload: &[u8]| {
            far.send_to(&rtp(pt, seq, ts, SSRC, marker, payload), to)
                .unwrap();
            seq = seq.wrapping_add(1);
        };
        let key_ts = ts0 + 160 * KEY_PACKET as u32;
        for k in 0..40usize {
            send(0, ts0 + 160 * k as u32, k == 0, &[code(k); 160]);
            match k.checked_sub(KEY_PACKET) {
                Some(i @ 0..=2) => {
                    let duration = 160 * (i as u16 + 1);
                    send(EVENT_PT, key_ts, i == 0, &event(4, false, duration));
                }
                Some(3) => {
                    for _ in 0..3 {
                        send(EVENT_PT, key_ts, false, &event(4, true, 480));
                    }
                }
                _ => {}
            }
            let next = start + Duration::from_millis(20 * (k as u64 + 1));
            if let Some(d) = next.checked_duration_since(std::time::Instant::now()) {
                std::thread::sleep(d);
            }
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
        for k in 0..40 {
            let mut want = [0i16; 1];
            Codec::Pcmu.decode(&[code(k)], &mut want);
            if f.samples.iter().all(|&x| x == want[0]) {
                delivered_at.push((k as i64, i64::from(f.media_ts)));
            }
        }
    }
    // The audio of the key's timestamp (or, should that packet have been
    // lost, the nearest one, and where the key's would have been).
    let &(k, at) = delivered_at
        .iter()
        .min_by_key(|(k, _)| (k - KEY_PACKET as i64).abs())
        .expect("the audio was delivered");
    let key_at = (at + (KEY_PACKET as i64 - k) * 160) as u32;
    assert_eq!(
        keys(&events),
        [
            (true, '4', Duration::ZERO, key_at),
            (false, '4', Duration::from_millis(60), key_at)
        ],
        "{events:?}, audio delivered at {delivered_at:?}"
    );
}
