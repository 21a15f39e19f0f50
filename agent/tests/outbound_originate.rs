//! `Switch::originate` with SIPp as the trunk on loopback: an answered
//! call runs the profile's agent (a tone echoed back, then the agent
//! hangs up) and leaves a complete outbound record; a busy callee and one
//! that never answers (CANCEL after the ring timeout) end as such, with
//! their records; an agent hands the answered call to another.

mod sipp;
mod trunks;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use agent::call::{AgentOutcome, CallEvent, TransferTarget};
use agent::record::{CallDirection, CallStore, HangupCause, Outcome};
use agent::switch::{Agents, OutboundRequest};
use agent::{agent_fn, SharedAgent};
use sipp::*;
use trunks::*;

/// The agent "test": plays a tone, counts loud frames coming back (the
/// trunk echoes), and hangs up after 10 or after 10 s.
fn tone_agent(heard: Arc<AtomicUsize>) -> Agents {
    let agent = agent_fn(move |_ctx, mut call| {
        let heard = heard.clone();
        async move {
            call.play(tone(3))?;
            let deadline = tokio::time::sleep(Duration::from_secs(10));
            tokio::pin!(deadline);
            loop {
                tokio::select! {
                    event = call.next_event() => match event {
                        Some(CallEvent::Audio(f)) if !f.concealed && energy(&f.samples) > 1.0e6 => {
                            if heard.fetch_add(1, Ordering::AcqRel) + 1 >= 10 {
                                break;
                            }
                        }
                        Some(CallEvent::HungUp) | None => return Ok(AgentOutcome::CallerHungUp),
                        Some(_) => {}
                    },
                    () = &mut deadline => break,
                }
            }
            Ok(AgentOutcome::hang_up("heard the tone"))
        }
    });
    let mut agents: Agents = HashMap::new();
    agents.insert("test".into(), Arc::new(agent) as SharedAgent);
    agents
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answered_originated_call_runs_the_profiles_agent_and_is_recorded_whole() {
    let dir = TempDir::new("originate-answer");
    let port = free_port();
    let heard = Arc::new(AtomicUsize::new(0));
    let (switch, store, _) = start_switch_with(
        &dir.0,
        tenant_with_route(&["trunk"]),
        tone_agent(heard.clone()),
        |c| c.trusted_peers.push(trunk("trunk", port)),
    )
    .await;
    let sf = scenario(&dir.0, "answer.xml", &answers_until_bye());
    let mp = free_port().to_string();
    let sipp = start_trunk(port, &sf, &["-rtp_echo", "-mp", &mp]);
    until_listening(port).await;

    let request = OutboundRequest {
        caller_id: Some("+390233333333".into()),
        ..OutboundRequest::new("acme", "0212345678")
    };
    // The status page's list shows the call while its agent runs.
    let status = switch.status();
    let (done, live) = tokio::join!(switch.originate(request, "front"), async {
        for _ in 0..3000 {
            if let Some(call) = status.active_calls().pop() {
                return Some(call);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        None
    });
    assert_eq!(done.outcome, Outcome::Completed);
    assert!(done.answered());
    let live = live.expect("listed while up");
    assert_eq!(live.call_id, done.call_id);
    assert_eq!(live.direction, CallDirection::Outbound);
    assert_eq!(
        (live.line.as_str(), live.agent.as_deref()),
        ("trunk", Some("test"))
    );
    assert_eq!(live.did.as_deref(), Some("+390212345678"));
    assert!(status.active_calls().is_empty(), "off the list once ended");
    let out = sipp.await.unwrap();
    assert!(out.status.success(), "{}", sipp_report(&out));
    assert!(
        heard.load(Ordering::Acquire) >= 10,
        "the agent heard its tone back"
    );

    let record = store.get(&done.call_id).unwrap().expect("recorded");
    assert_eq!(record.direction, CallDirection::Outbound);
    assert_eq!(record.line, "trunk");
    assert_eq!(record.tenant.as_deref(), Some("acme"));
    assert_eq!(record.did.as_deref(), Some("+390212345678"));
    assert_eq!(
        record.caller.e164.as_deref(),
        Some("+390233333333"),
        "the request's caller ID wins over the route's"
    );
    assert_eq!(record.profile.as_deref(), Some("front"));
    assert_eq!(record.agent.as_deref(), Some("test"));
    assert!(record.answer.is_some());
    let end = record.end.expect("closed");
    assert_eq!(end.outcome, Outcome::Completed);
    assert_eq!(end.cause, HangupCause::Agent);
    assert!(record.errors.is_empty(), "{:?}", record.errors);
    wait_until("the call task ends", || switch.calls_in_progress() == 0).await;
    assert_eq!(switch.endpoint().dialog_count(), 0);
    assert_eq!(switch.media_sessions(), 0);
    switch.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_callee_ends_the_originated_call_as_busy_without_running_the_agent() {
    let dir = TempDir::new("originate-busy");
    let port = free_port();
    let heard = Arc::new(AtomicUsize::new(0));
    let (switch, store, _) = start_switch_with(
        &dir.0,
        tenant_with_route(&["trunk"]),
        tone_agent(heard.clone()),
        |c| c.trusted_peers.push(trunk("trunk", port)),
    )
    .await;
    let sf = scenario(&dir.0, "busy.xml", &rejects(486, "Busy Here"));
    let sipp = start_trunk(port, &sf, &[]);
    until_listening(port).await;

    let done = switch
        .originate(OutboundRequest::new("acme", "+390212345678"), "front")
        .await;
    assert_eq!(done.outcome, Outcome::Busy);
    assert_eq!(done.attempts.len(), 1);
    let out = sipp.await.unwrap();
    assert!(out.status.success(), "{}", sipp_report(&out));
    let record = store.get(&done.call_id).unwrap().expect("recorded");
    assert_eq!(record.direction, CallDirection::Outbound);
    assert_eq!(record.answer, None);
    assert_eq!(
        record.caller.e164.as_deref(),
        Some("+390200000000"),
        "the route's caller ID"
    );
    let end = record.end.expect("closed");
    assert_eq!(end.outcome, Outcome::Busy);
    assert_eq!(end.cause, HangupCause::Remote);
    assert_eq!(heard.load(Ordering::Acquire), 0);
    switch.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callee_who_never_answers_is_cancelled_after_the_ring_timeout_and_recorded_as_no_answer()
{
    let dir = TempDir::new("originate-no-answer");
    let port = free_port();
    let (switch, store, _) = start_switch_with(
        &dir.0,
        tenant_with_route(&["trunk"]),
        tone_agent(Arc::new(AtomicUsize::new(0))),
        |c| c.trusted_peers.push(trunk("trunk", port)),
    )
    .await;
    let sf = scenario(&dir.0, "ring.xml", &rings_until_cancelled());
    let sipp = start_trunk(port, &sf, &[]);
    until_listening(port).await;

    let request = OutboundRequest {
        ring_timeout: Duration::from_secs(2),
        ..OutboundRequest::new("acme", "+390212345678")
    };
    let started = std::time::Instant::now();
    let done = switch.originate(request, "front").await;
    assert_eq!(done.outcome, Outcome::NoAnswer);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "not before the ring timeout"
    );
    // SIPp's scenario passes only if our CANCEL came.
    let out = sipp.await.unwrap();
    assert!(out.status.success(), "{}", sipp_report(&out));
    let record = store.get(&done.call_id).unwrap().expect("recorded");
    let end = record.end.expect("closed");
    assert_eq!(end.outcome, Outcome::NoAnswer);
    assert_eq!(end.cause, HangupCause::Switch, "we gave up ringing");
    switch.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_originated_calls_agent_hands_the_call_to_another_agent_on_the_same_line() {
    let dir = TempDir::new("originate-handoff");
    let port = free_port();
    let heard = Arc::new(AtomicUsize::new(0));
    let mut agents = tone_agent(heard.clone());
    let second = agents.remove("test").expect("the tone agent");
    agents.insert("second".into(), second);
    let first = agent_fn(|_ctx, _call| async move {
        Ok(AgentOutcome::Transfer {
            target: TransferTarget::Agent("second".into()),
            reason: Some("the reminder is given by the second agent".into()),
        })
    });
    agents.insert("test".into(), Arc::new(first) as SharedAgent);
    let (switch, store, _) =
        start_switch_with(&dir.0, tenant_with_route(&["trunk"]), agents, |c| {
            c.trusted_peers.push(trunk("trunk", port))
        })
        .await;
    let sf = scenario(&dir.0, "answer.xml", &answers_until_bye());
    let mp = free_port().to_string();
    let sipp = start_trunk(port, &sf, &["-rtp_echo", "-mp", &mp]);
    until_listening(port).await;

    let done = switch
        .originate(OutboundRequest::new("acme", "+390212345678"), "front")
        .await;
    assert_eq!(done.outcome, Outcome::Completed);
    let out = sipp.await.unwrap();
    assert!(out.status.success(), "{}", sipp_report(&out));
    assert!(
        heard.load(Ordering::Acquire) >= 10,
        "the second agent heard its tone back"
    );
    let record = store.get(&done.call_id).unwrap().expect("recorded");
    let handoffs: Vec<_> = record.handoffs.iter().map(|h| h.target.as_str()).collect();
    assert_eq!(handoffs, ["agent second"]);
    assert_eq!(record.end.map(|e| e.cause), Some(HangupCause::Agent));
    switch.shutdown().await;
}
