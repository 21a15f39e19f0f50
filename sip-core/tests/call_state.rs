//! The INVITE dialog's state machine between two of our endpoints in one
//! process (loopback UDP): answer, ACK and BYE from either side, CANCEL
//! before the answer, refusal with a code, hold and unhold by re-INVITE
//! from either side, DTMF by INFO both ways. After each, neither endpoint
//! keeps a dialog or a call.

mod common;

use std::time::Duration;

use common::pair::{answer, answered, next_event, Pair, CALLEE_RTP, CALLER_RTP, STEP};
use sip_core::call::{CallError, CallEvent, HangupCause};
use sip_core::outbound::FailureKind;
use sip_core::sdp::{Codec, Direction, NegotiatedMedia};

#[tokio::test]
async fn answered_call_is_confirmed_by_the_ack_and_both_sides_agree_on_the_media() {
    let mut pair = Pair::new().await;
    let (caller, callee) = pair.establish("alice").await;
    let ours = caller.media().expect("the caller negotiated");
    let theirs = callee.media().expect("the callee negotiated");
    for m in [&ours, &theirs] {
        assert_eq!((m.codec, m.payload_type), (Codec::Pcmu, 0));
        assert_eq!(m.telephone_event_pt, Some(101));
        assert_eq!(m.ptime, Duration::from_millis(20));
        assert_eq!(m.direction, Direction::SendRecv);
    }
    assert_eq!(ours.remote_rtp.map(|a| a.port()), Some(CALLEE_RTP));
    assert_eq!(theirs.remote_rtp.map(|a| a.port()), Some(CALLER_RTP));
    assert_eq!(caller.call_id(), callee.call_id());
    assert_eq!(pair.caller.dialog_count(), 1);
    assert_eq!(pair.callee.dialog_count(), 1);
    caller.hangup().await.expect("hangup");
    pair.settled().await;
}

#[tokio::test]
async fn caller_hangs_up_and_the_callee_sees_the_bye() {
    let mut pair = Pair::new().await;
    let (mut caller, mut callee) = pair.establish("alice").await;
    caller.hangup().await.expect("BYE answered");
    assert!(!caller.is_active());
    assert_eq!(
        next_event(&mut callee).await,
        CallEvent::Hangup(HangupCause::RemoteBye)
    );
    assert!(!callee.is_active());
    assert_eq!(
        next_event(&mut caller).await,
        CallEvent::Hangup(HangupCause::LocalHangup)
    );
    // A second hangup has nothing left to end.
    assert!(matches!(caller.hangup().await, Err(CallError::Ended)));
    pair.settled().await;
}

#[tokio::test]
async fn callee_hangs_up_and_the_caller_sees_the_bye() {
    let mut pair = Pair::new().await;
    let (mut caller, mut callee) = pair.establish("alice").await;
    callee.hangup().await.expect("BYE answered");
    assert_eq!(
        next_event(&mut caller).await,
        CallEvent::Hangup(HangupCause::RemoteBye)
    );
    assert_eq!(
        next_event(&mut callee).await,
        CallEvent::Hangup(HangupCause::LocalHangup)
    );
    assert!(matches!(callee.hangup().await, Err(CallError::Ended)));
    pair.settled().await;
}

#[tokio::test]
async fn callee_hanging_up_at_once_still_gets_the_ack_before_its_bye() {
    let mut pair = Pair::new().await;
    let dialing = pair.dial(pair.options("alice"));
    let incoming = pair.next_incoming().await;
    let (mut callee, _) = answer(incoming).expect("answered");
    // Hung up before the ACK came: the BYE waits for it (RFC 3261 15).
    callee.hangup().await.expect("BYE answered");
    let mut caller = answered(dialing).await.expect("the caller got the 200");
    assert_eq!(
        next_event(&mut caller).await,
        CallEvent::Hangup(HangupCause::RemoteBye)
    );
    // The callee never saw a failure: its 200 was acknowledged, then BYE.
    assert_eq!(
        next_event(&mut callee).await,
        CallEvent::Hangup(HangupCause::LocalHangup)
    );
    pair.settled().await;
}

#[tokio::test]
async fn caller_cancels_before_the_answer_and_gets_487() {
    let mut pair = Pair::new().await;
    let mut dialing = pair.dial(pair.options("alice"));
    let mut incoming = pair.next_incoming().await;
    incoming.ring();
    // Cancel once the callee's ringing reached the caller, so that the
    // CANCEL has a transaction to end.
    loop {
        match common::pair::next_progress(&mut dialing).await {
            sip_core::outbound::Progress::Ringing => break,
            sip_core::outbound::Progress::Trying => continue,
            other => panic!("expected ringing, got {other:?}"),
        }
    }
    dialing.cancel();
    tokio::time::timeout(STEP, incoming.cancelled())
        .await
        .expect("the callee learns of the CANCEL");
    assert!(incoming.is_cancelled());
    let failure = answered(dialing).await.expect_err("the call was cancelled");
    assert_eq!(failure.kind, FailureKind::NoAnswer);
    assert_eq!(failure.code, Some(487));
    // Answering after the CANCEL is too late.
    assert!(matches!(answer(incoming), Err(CallError::Cancelled)));
    pair.settled().await;
}

#[tokio::test]
async fn callee_refuses_with_603_and_a_reason_and_the_caller_sees_declined() {
    let mut pair = Pair::new().await;
    let dialing = pair.dial(pair.options("alice"));
    let incoming = pair.next_incoming().await;
    incoming.reject_with(603, Some("Q.850;cause=21"));
    let failure = answered(dialing).await.expect_err("refused");
    assert_eq!(failure.kind, FailureKind::Declined);
    assert_eq!(failure.code, Some(603));
    pair.settled().await;
}

/// Puts the far end on hold from `holder` and takes it off again: each
/// re-INVITE is answered by the other side, which reports the new media.
async fn hold_and_unhold(holder: &sip_core::call::Call, held: &mut sip_core::call::Call) {
    let ours = holder.hold(true).await.expect("hold re-INVITE answered");
    assert_eq!(ours.direction, Direction::SendOnly);
    let theirs = modified(held).await;
    assert_eq!(theirs.0.direction, Direction::RecvOnly);
    assert!(theirs.1.contains("a=sendonly\r\n"), "{}", theirs.1);
    assert_eq!(held.media().map(|m| m.direction), Some(Direction::RecvOnly));

    let ours = holder.hold(false).await.expect("unhold re-INVITE answered");
    assert_eq!(ours.direction, Direction::SendRecv);
    let theirs = modified(held).await;
    assert_eq!(theirs.0.direction, Direction::SendRecv);
    assert!(theirs.1.contains("a=sendrecv\r\n"), "{}", theirs.1);
    assert_eq!(
        holder.media().map(|m| m.direction),
        Some(Direction::SendRecv)
    );
}

/// The next event of `call`, which must be a session change through SDP
/// negotiation: its media and the remote SDP.
async fn modified(call: &mut sip_core::call::Call) -> (NegotiatedMedia, String) {
    match next_event(call).await {
        CallEvent::SessionModified {
            remote_sdp,
            media: Some(media),
            ..
        } => (media, remote_sdp),
        other => panic!("expected a session change, got {other:?}"),
    }
}

#[tokio::test]
async fn caller_puts_the_callee_on_hold_and_back_by_reinvite() {
    let mut pair = Pair::new().await;
    let (caller, mut callee) = pair.establish("alice").await;
    hold_and_unhold(&caller, &mut callee).await;
    caller.hangup().await.expect("hangup");
    pair.settled().await;
}

#[tokio::test]
async fn callee_puts_the_caller_on_hold_and_back_by_reinvite() {
    let mut pair = Pair::new().await;
    let (mut caller, callee) = pair.establish("alice").await;
    hold_and_unhold(&callee, &mut caller).await;
    callee.hangup().await.expect("hangup");
    pair.settled().await;
}

#[tokio::test]
async fn dtmf_by_info_arrives_with_its_digit_and_duration_both_ways() {
    let mut pair = Pair::new().await;
    let (mut caller, mut callee) = pair.establish("alice").await;
    caller
        .send_dtmf_info('5', Duration::from_millis(160))
        .await
        .expect("INFO answered");
    assert_eq!(
        next_event(&mut callee).await,
        CallEvent::Dtmf {
            digit: '5',
            duration: Some(Duration::from_millis(160))
        }
    );
    callee
        .send_dtmf_info('#', Duration::from_millis(250))
        .await
        .expect("INFO answered");
    assert_eq!(
        next_event(&mut caller).await,
        CallEvent::Dtmf {
            digit: '#',
            duration: Some(Duration::from_millis(250))
        }
    );
    // Not a DTMF key: refused before anything is sent.
    assert!(matches!(
        caller.send_dtmf_info('x', Duration::from_millis(100)).await,
        Err(CallError::Invalid(_))
    ));
    caller.hangup().await.expect("hangup");
    assert_eq!(
        next_event(&mut callee).await,
        CallEvent::Hangup(HangupCause::RemoteBye)
    );
    pair.settled().await;
}
