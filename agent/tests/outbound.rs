//! Calls placed by the switch through a tenant's outbound routes, with
//! SIPp on loopback ports as the trunks: failover from a trunk answering
//! 503 to one that answers, media both ways on the answered leg, and the
//! call record of every placed call.

mod sipp;
mod trunks;

use std::collections::HashMap;
use std::time::Duration;

use agent::record::{CallDirection, CallStore, HangupCause, Outcome};
use agent::switch::{NotConnected, OutboundRequest, TrunkAccountConfig};
use rtp_media::engine::FrameKind;
use sip_core::registration::RegistrationState;
use sipp::*;
use trunks::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trunk_answering_503_fails_over_to_the_next_trunk_which_answers_with_media() {
    let dir = TempDir::new("outbound-failover");
    let (port_a, port_b) = (free_port(), free_port());
    let (switch, store, _) = start_switch_with(
        &dir.0,
        tenant_with_route(&["trunk-a", "trunk-b"]),
        HashMap::new(),
        |c| {
            c.trusted_peers.push(trunk("trunk-a", port_a));
            c.trusted_peers.push(trunk("trunk-b", port_b));
        },
    )
    .await;
    let sf_a = scenario(&dir.0, "a.xml", &rejects(503, "Service Unavailable"));
    let sf_b = scenario(&dir.0, "b.xml", &answers_until_bye());
    let media_port = free_port();
    let mp = media_port.to_string();
    let a = start_trunk(port_a, &sf_a, &[]);
    let b = start_trunk(port_b, &sf_b, &["-rtp_echo", "-mp", &mp]);
    until_listening(port_a).await;
    until_listening(port_b).await;

    let request = OutboundRequest::new("acme", "02 1234 5678");
    let call_id = request.call_id.clone();
    let mut leg = switch
        .place_call(request)
        .await
        .expect("the second trunk answers");
    assert_eq!(leg.route, "italy");
    assert_eq!(leg.trunk, "trunk-b");
    assert_eq!(leg.destination, "+390212345678");
    let tried: Vec<(&str, Option<u16>)> = leg
        .attempts
        .iter()
        .map(|t| (t.trunk.as_str(), t.failure.as_ref().and_then(|f| f.status)))
        .collect();
    assert_eq!(tried, [("trunk-a", Some(503)), ("trunk-b", None)]);
    assert_eq!(leg.attempts[1].dial, "+390212345678");

    // The leg's media session is open towards the trunk: SIPp echoes our
    // tone back.
    let tone: Vec<i16> = (0..8000 * 3)
        .map(|i| {
            let t = f64::from(i) / 8000.0;
            (8000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16
        })
        .collect();
    leg.session.play(tone).expect("play");
    let mut frames = leg.session.take_frames().expect("frames");
    let mut loud = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while loud < 10 {
        match tokio::time::timeout_at(deadline, frames.recv()).await {
            Ok(Some(f)) if f.kind == FrameKind::Audio && energy(&f.samples) > 1.0e6 => loud += 1,
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    assert!(
        loud >= 10,
        "only {loud} loud frames came back from the trunk"
    );

    leg.end(HangupCause::Agent).await;
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    assert!(a.status.success(), "{}", sipp_report(&a));
    assert!(b.status.success(), "{}", sipp_report(&b));

    let record = store.get(&call_id).unwrap().expect("the call is recorded");
    assert_eq!(record.direction, CallDirection::Outbound);
    assert_eq!(record.line, "trunk-b");
    assert_eq!(record.tenant.as_deref(), Some("acme"));
    assert_eq!(record.did.as_deref(), Some("+390212345678"));
    assert_eq!(record.caller.e164.as_deref(), Some("+390200000000"));
    assert!(record.answer.is_some());
    let end = record.end.expect("closed");
    assert_eq!(end.outcome, Outcome::Completed);
    assert_eq!(end.cause, HangupCause::Agent);
    assert_eq!(record.errors.len(), 1, "{:?}", record.errors);
    assert!(
        record.errors[0].message.contains("trunk-a") && record.errors[0].message.contains("503"),
        "{:?}",
        record.errors
    );
    let (used, reserved) = switch
        .router()
        .tenant("acme")
        .unwrap()
        .policy()
        .minutes_used(jiff::Timestamp::now());
    assert_eq!(reserved, Duration::ZERO, "the reservation is given back");
    assert!(
        used > Duration::ZERO && used < Duration::from_secs(60),
        "{used:?}"
    );
    wait_until("no dialog left", || switch.endpoint().dialog_count() == 0).await;
    assert_eq!(switch.media_sessions(), 0);
    switch.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_callee_is_not_rung_again_on_the_next_trunk() {
    let dir = TempDir::new("outbound-busy");
    let (port_a, port_b) = (free_port(), free_port());
    let (switch, store, _) = start_switch_with(
        &dir.0,
        tenant_with_route(&["trunk-a", "trunk-b"]),
        HashMap::new(),
        |c| {
            c.trusted_peers.push(trunk("trunk-a", port_a));
            c.trusted_peers.push(trunk("trunk-b", port_b));
        },
    )
    .await;
    let sf_a = scenario(&dir.0, "a.xml", &rejects(486, "Busy Here"));
    let a = start_trunk(port_a, &sf_a, &[]);
    until_listening(port_a).await;

    let request = OutboundRequest::new("acme", "+390212345678");
    let call_id = request.call_id.clone();
    let not = switch.place_call(request).await.expect_err("busy");
    assert_eq!(not.ending, NotConnected::Busy);
    assert_eq!(not.attempts.len(), 1, "{:?}", not.attempts);
    assert_eq!(not.attempts[0].trunk, "trunk-a");
    let a = a.await.unwrap();
    assert!(a.status.success(), "{}", sipp_report(&a));
    let record = store.get(&call_id).unwrap().expect("recorded");
    assert_eq!(record.direction, CallDirection::Outbound);
    assert_eq!(record.end.map(|e| e.outcome), Some(Outcome::Busy));
    switch.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_policy_refuses_a_destination_outside_the_allowed_prefixes_before_any_invite() {
    let dir = TempDir::new("outbound-policy");
    let port_a = free_port();
    let (switch, store, _) = start_switch_with(
        &dir.0,
        tenant_with_route(&["trunk-a"]),
        HashMap::new(),
        |c| c.trusted_peers.push(trunk("trunk-a", port_a)),
    )
    .await;
    // Nothing listens on trunk-a: an INVITE would fail, not be refused.
    let request = OutboundRequest::new("acme", "+442079460018");
    let call_id = request.call_id.clone();
    let not = switch.place_call(request).await.expect_err("refused");
    assert!(
        matches!(not.ending, NotConnected::Refused { status: 403, .. }),
        "{:?}",
        not.ending
    );
    assert!(not.attempts.is_empty());
    let record = store.get(&call_id).unwrap().expect("recorded");
    assert_eq!(
        record.end.map(|e| e.outcome),
        Some(Outcome::Refused {
            status: 403,
            reason: "destination".into()
        })
    );
    switch.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trunk_answering_408_fails_over_and_the_next_trunks_busy_ends_the_call() {
    let dir = TempDir::new("outbound-408");
    let (port_a, port_b) = (free_port(), free_port());
    let (switch, store, _) = start_switch_with(
        &dir.0,
        tenant_with_route(&["trunk-a", "trunk-b"]),
        HashMap::new(),
        |c| {
            c.trusted_peers.push(trunk("trunk-a", port_a));
            c.trusted_peers.push(trunk("trunk-b", port_b));
        },
    )
    .await;
    let sf_a = scenario(&dir.0, "a.xml", &rejects(408, "Request Timeout"));
    let sf_b = scenario(&dir.0, "b.xml", &rejects(486, "Busy Here"));
    let a = start_trunk(port_a, &sf_a, &[]);
    let b = start_trunk(port_b, &sf_b, &[]);
    until_listening(port_a).await;
    until_listening(port_b).await;

    let request = OutboundRequest::new("acme", "+390212345678");
    let call_id = request.call_id.clone();
    let not = switch.place_call(request).await.expect_err("busy");
    assert_eq!(not.ending, NotConnected::Busy);
    let tried: Vec<(&str, Option<u16>)> = not
        .attempts
        .iter()
        .map(|t| (t.trunk.as_str(), t.failure.as_ref().and_then(|f| f.status)))
        .collect();
    assert_eq!(tried, [("trunk-a", Some(408)), ("trunk-b", Some(486))]);
    for out in [a.await.unwrap(), b.await.unwrap()] {
        assert!(out.status.success(), "{}", sipp_report(&out));
    }
    let record = store.get(&call_id).unwrap().expect("recorded");
    assert_eq!(record.line, "trunk-b");
    assert_eq!(record.end.map(|e| e.outcome), Some(Outcome::Busy));
    assert!(
        record.errors[0].message.contains("408"),
        "{:?}",
        record.errors
    );
    switch.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trunk_that_never_responds_fails_over_after_the_invite_transaction_times_out() {
    let dir = TempDir::new("outbound-silent");
    // Nothing listens on trunk-a's port: the INVITE goes unanswered until
    // RFC 3261 Timer B (64 × T1 = 32 s) ends the transaction.
    let (port_a, port_b) = (free_port(), free_port());
    let (switch, _store, _) = start_switch_with(
        &dir.0,
        tenant_with_route(&["trunk-a", "trunk-b"]),
        HashMap::new(),
        |c| {
            c.trusted_peers.push(trunk("trunk-a", port_a));
            c.trusted_peers.push(trunk("trunk-b", port_b));
        },
    )
    .await;
    let sf_b = scenario(&dir.0, "b.xml", &answers_until_bye());
    let b = start_trunk(port_b, &sf_b, &["-timeout", "90s"]);
    until_listening(port_b).await;

    let request = OutboundRequest {
        ring_timeout: Duration::from_secs(60),
        ..OutboundRequest::new("acme", "+390212345678")
    };
    let leg = switch.place_call(request).await.expect("trunk-b answers");
    assert_eq!(leg.trunk, "trunk-b");
    let first = &leg.attempts[0];
    assert_eq!(first.trunk, "trunk-a");
    let failure = first.failure.as_ref().expect("trunk-a failed");
    assert_eq!(failure.status, None, "no response at all: {failure:?}");
    leg.end(HangupCause::Agent).await;
    let b = b.await.unwrap();
    assert!(b.status.success(), "{}", sipp_report(&b));
    switch.shutdown().await;
}

/// SIPp as the provider of a trunk account: the registrar (REGISTER and,
/// at shutdown, the REGISTER that removes it, in one call) and the proxy
/// that takes our INVITE to the account's domain, challenges it (407) and
/// answers the INVITE that carries the account's credentials.
fn provider() -> String {
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="provider">
  <recv request="REGISTER" optional="true" next="register"/>
  <recv request="INVITE">
    <action>
      <ereg regexp="^INVITE sip:\+390212345678@127\.0\.0\.1:[0-9]+ SIP/2\.0" search_in="msg" check_it="true" assign_to="ruri"/>
      <ereg regexp="From: .sip:\+390200000000@127\.0\.0\.1:[0-9]+." search_in="msg" check_it="true" assign_to="from"/>
    </action>
  </recv>
  <send><![CDATA[
SIP/2.0 407 Proxy Authentication Required
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Proxy-Authenticate: Digest realm="provider.test", nonce="4f1c2b9a", algorithm=MD5, qop="auth"
Content-Length: 0
]]></send>
  <recv request="ACK"/>
  <recv request="INVITE">
    <action>
      <ereg regexp="Proxy-Authorization: Digest [^\r\n]*username=.1001." search_in="msg" check_it="true" assign_to="auth"/>
    </action>
  </recv>
  <nop><action><log message="checked [$ruri] [$from] [$auth]"/></action></nop>
{RING_AND_ANSWER}
  <recv request="BYE"/>
{OK_TO_LAST}
  <nop next="done"/>
  <label id="register"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
[last_Contact:];expires=300
Content-Length: 0
]]></send>
  <recv request="REGISTER"/>
{OK_TO_LAST}
  <label id="done"/>
</scenario>
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trunk_account_carries_the_call_to_its_domain_answering_the_challenge_with_its_credentials(
) {
    let dir = TempDir::new("outbound-account");
    let provider_port = free_port();
    let sf = scenario(&dir.0, "provider.xml", &provider());
    // Two SIPp calls: the registration (and its removal), and ours.
    let sipp = start_trunk_for(provider_port, &sf, 2, &[]);
    until_listening(provider_port).await;
    let (switch, store, _) = start_switch_with(
        &dir.0,
        tenant_with_route(&["provider"]),
        HashMap::new(),
        |c| {
            c.accounts.push(TrunkAccountConfig::new(
                "provider",
                "acme",
                &format!("127.0.0.1:{provider_port}"),
                "1001",
                "secret",
            ))
        },
    )
    .await;
    let sw = &switch;
    wait_until("registered", || {
        matches!(
            sw.registration("provider"),
            Some(RegistrationState::Registered { .. })
        )
    })
    .await;

    let request = OutboundRequest::new("acme", "+390212345678");
    let call_id = request.call_id.clone();
    let leg = switch
        .place_call(request)
        .await
        .expect("the provider answers");
    assert_eq!(leg.trunk, "provider");
    leg.end(HangupCause::Agent).await;
    switch.shutdown().await;
    let out = sipp.await.unwrap();
    assert!(out.status.success(), "{}", sipp_report(&out));
    let record = store.get(&call_id).unwrap().expect("recorded");
    assert_eq!(record.line, "provider");
    assert_eq!(record.end.map(|e| e.outcome), Some(Outcome::Completed));
}
