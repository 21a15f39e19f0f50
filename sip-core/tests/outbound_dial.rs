//! Placing calls, between two of our endpoints in one process (loopback
//! UDP): the progress a caller sees, and each way a call fails (busy, no
//! such number, nobody answers before the ring timeout, nobody at the
//! address) as the typed outcome an application acts on. After each,
//! neither endpoint keeps a dialog or a call.

mod common;

use std::time::Duration;

use common::pair::{answer, answered, next_event, next_progress, Pair, CALLEE_RTP, STEP};
use sip_core::call::CallEvent;
use sip_core::outbound::{CallTarget, DialOptions, FailureKind, Progress};
use sip_core::sdp::Codec;

#[tokio::test]
async fn ringing_then_answered_with_the_callee_media_negotiated() {
    let mut pair = Pair::new().await;
    let mut dialing = pair.dial(pair.options("bob"));
    let incoming = pair.next_incoming().await;
    assert_eq!(incoming.did(), "bob");
    assert_eq!(incoming.call_id(), dialing.call_id());
    incoming.ring();
    loop {
        match next_progress(&mut dialing).await {
            Progress::Trying => continue,
            Progress::Ringing => break,
            other => panic!("expected ringing, got {other:?}"),
        }
    }
    let (mut callee, _) = answer(incoming).expect("answered");
    let caller = match next_progress(&mut dialing).await {
        Progress::Answered(call) => call,
        other => panic!("expected the answer, got {other:?}"),
    };
    let media = caller.media().expect("negotiated from the 200's SDP");
    assert_eq!(media.codec, Codec::Pcmu);
    assert_eq!(media.remote_rtp.map(|a| a.port()), Some(CALLEE_RTP));
    assert_eq!(next_event(&mut callee).await, CallEvent::Confirmed);
    caller.hangup().await.expect("hangup");
    pair.settled().await;
}

/// Dials `user`, lets the callee refuse with `code`, and returns how the
/// caller saw it fail.
async fn refused_with(code: u16) -> sip_core::outbound::CallFailure {
    let mut pair = Pair::new().await;
    let dialing = pair.dial(pair.options("bob"));
    pair.next_incoming().await.reject(code);
    let failure = answered(dialing).await.expect_err("the call is refused");
    pair.settled().await;
    failure
}

#[tokio::test]
async fn busy_callee_fails_the_call_as_busy_with_486() {
    let failure = refused_with(486).await;
    assert_eq!(failure.kind, FailureKind::Busy);
    assert_eq!(failure.code, Some(486));
    assert_eq!(failure.reason, "Busy Here");
}

#[tokio::test]
async fn unknown_number_fails_the_call_as_not_found_with_404() {
    let failure = refused_with(404).await;
    assert_eq!(failure.kind, FailureKind::NotFound);
    assert_eq!(failure.code, Some(404));
}

#[tokio::test]
async fn callee_redirecting_to_a_target_fails_the_call_with_302() {
    let mut pair = Pair::new().await;
    let dialing = pair.dial(pair.options("bob"));
    let target = CallTarget::parse_setting("forward_to", "sip:carol@127.0.0.1").expect("a SIP URI");
    pair.next_incoming().await.redirect(&target);
    let failure = answered(dialing).await.expect_err("redirected");
    assert_eq!(failure.code, Some(302));
    assert_eq!(failure.kind, FailureKind::Other);
    pair.settled().await;
}

#[tokio::test]
async fn ringing_past_the_ring_timeout_is_cancelled_and_fails_as_no_answer() {
    let mut pair = Pair::new().await;
    let mut opts = pair.options("bob");
    opts.ring_timeout = Duration::from_millis(300);
    let dialing = pair.dial(opts);
    let mut incoming = pair.next_incoming().await;
    incoming.ring();
    // Nobody answers: the caller's CANCEL reaches the callee.
    tokio::time::timeout(STEP, incoming.cancelled())
        .await
        .expect("the ring timeout sends CANCEL");
    let failure = answered(dialing).await.expect_err("nobody answered");
    assert_eq!(failure.kind, FailureKind::NoAnswer);
    assert_eq!(failure.code, Some(487));
    drop(incoming);
    pair.settled().await;
}

#[tokio::test]
async fn nobody_at_the_address_fails_the_call_as_unreachable() {
    let pair = Pair::new().await;
    // A socket that takes the INVITE and never answers: Timer B (64*T1,
    // 320 ms with the pair's timers) ends the transaction.
    let silent = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let to = format!("sip:bob@{}", silent.local_addr().expect("address"));
    let opts = DialOptions::with_media(&to, common::pair::media(20000)).expect("dial options");
    let dialing = pair.dial(opts);
    let failure = answered(dialing).await.expect_err("nobody answers");
    assert_eq!(failure.kind, FailureKind::Unreachable);
    assert_eq!(failure.code, None);
    pair.settled().await;
}
