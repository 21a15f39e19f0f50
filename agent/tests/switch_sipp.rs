//! The switch with SIPp as the caller on loopback: a call answered with
//! media both ways and DTMF, ended by the agent and recorded; each policy
//! refusal answered with its status and Reason and recorded; many calls
//! in a row leaving no dialog, media session, channel, task or open
//! record behind.

mod sipp;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent::call::{AgentOutcome, CallContext, CallEvent, CallHandle};
use agent::record::{CallStore, HangupCause, Outcome};
use agent::switch::Agents;
use agent::{agent_fn, Agent, AgentError, SharedAgent};
use sipp::*;

const CALLER: &str = "<sip:+390212345678@[local_ip]:[local_port]>";
const DID: &str = "+390299887766";

fn agents(agent: impl Agent) -> Agents {
    let mut agents: Agents = HashMap::new();
    agents.insert("test".into(), Arc::new(agent) as SharedAgent);
    agents
}

/// Waits for the caller to hang up.
async fn until_hung_up(
    _ctx: CallContext,
    mut call: CallHandle,
) -> Result<AgentOutcome, AgentError> {
    while let Some(event) = call.next_event().await {
        if event == CallEvent::HungUp {
            break;
        }
    }
    Ok(AgentOutcome::CallerHungUp)
}

/// 1 s of a loud 440 Hz tone at 8 kHz, repeated `seconds` times.
fn tone(seconds: usize) -> Vec<i16> {
    (0..8000 * seconds)
        .map(|i| {
            let t = i as f64 / 8000.0;
            (8000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16
        })
        .collect()
}

fn energy(samples: &[i16]) -> f64 {
    samples
        .iter()
        .map(|&s| f64::from(s) * f64::from(s))
        .sum::<f64>()
        / samples.len() as f64
}

#[derive(Debug, Default)]
struct Heard {
    loud_frames: usize,
    digits: String,
}

/// Plays a tone, listens for it to come back (SIPp echoes our RTP) and
/// for the caller's key, then hangs up.
async fn tone_then_hang_up(
    mut call: CallHandle,
    heard: Arc<Mutex<Heard>>,
) -> Result<AgentOutcome, AgentError> {
    call.play(tone(4))?;
    let deadline = tokio::time::sleep(Duration::from_secs(15));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            event = call.next_event() => match event {
                Some(CallEvent::Audio(f)) if !f.concealed && energy(&f.samples) > 1.0e6 => {
                    heard.lock().unwrap().loud_frames += 1;
                }
                Some(CallEvent::Dtmf { digit, .. }) => heard.lock().unwrap().digits.push(digit),
                Some(CallEvent::HungUp) | None => return Err(AgentError::failed("the call ended first")),
                Some(_) => {}
            },
            _ = &mut deadline => return Err(AgentError::failed("neither the echo nor the key came")),
        }
        let h = heard.lock().unwrap();
        if h.loud_frames >= 10 && !h.digits.is_empty() {
            break;
        }
    }
    Ok(AgentOutcome::hang_up("heard the echo and the key"))
}

/// Plays a tone and listens until 10 loud frames of it have come back
/// (SIPp echoes our RTP), counting them in `loud`, then hangs up with
/// `reason`.
async fn tone_until_echoed(
    mut call: CallHandle,
    loud: Arc<Mutex<usize>>,
    reason: &'static str,
) -> Result<AgentOutcome, AgentError> {
    call.play(tone(10))?;
    let deadline = tokio::time::sleep(Duration::from_secs(20));
    tokio::pin!(deadline);
    while *loud.lock().unwrap() < 10 {
        tokio::select! {
            event = call.next_event() => match event {
                Some(CallEvent::Audio(f)) if !f.concealed && energy(&f.samples) > 1.0e6 => {
                    *loud.lock().unwrap() += 1;
                }
                Some(CallEvent::HungUp) | None => return Err(AgentError::failed("the call ended first")),
                Some(_) => {}
            },
            _ = &mut deadline => return Err(AgentError::failed("the echo never came back")),
        }
    }
    Ok(AgentOutcome::hang_up(reason))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sipp_call_is_answered_with_media_both_ways_and_dtmf_then_hung_up_and_recorded() {
    require("sipp");
    let dir = TempDir::new("answer");
    let heard = Arc::new(Mutex::new(Heard::default()));
    let h = heard.clone();
    let agent = agent_fn(move |_ctx, call| tone_then_hang_up(call, h.clone()));
    let (switch, store, port) = start_switch(&dir.0, "", agents(agent)).await;
    let mut steps = answered_call(CALLER, DID);
    steps.extend([
        r#"  <pause milliseconds="500"/>"#.to_string(),
        in_dialog(
            "INFO",
            2,
            CALLER,
            DID,
            Some(("application/dtmf-relay", "Signal=5\nDuration=160\n")),
        ),
        r#"  <recv response="200"/>"#.to_string(),
        r#"  <recv request="BYE"/>"#.to_string(),
        OK_TO_LAST.to_string(),
    ]);
    let sf = scenario(&dir.0, "answer.xml", &scenario_of("answer", &steps));
    let mp = free_port().to_string();
    let out = run_sipp(port, &sf, &["-m", "1", "-rtp_echo", "-mp", &mp]).await;
    assert!(out.status.success(), "{}", sipp_report(&out));
    wait_until("the call's end", || switch.calls_in_progress() == 0).await;

    {
        let heard = heard.lock().unwrap();
        assert!(heard.loud_frames >= 10, "{heard:?}");
        assert_eq!(heard.digits, "5", "the INFO key, once");
    }
    let records = records(&store);
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r.line, "sipp");
    assert_eq!(r.tenant.as_deref(), Some("acme"));
    assert_eq!(r.caller.e164.as_deref(), Some("+390212345678"));
    assert_eq!(r.did.as_deref(), Some(DID));
    assert_eq!(r.profile.as_deref(), Some("front"));
    assert_eq!(r.agent.as_deref(), Some("test"));
    assert!(r.answer.is_some());
    let digits: String = r.dtmf.iter().map(|d| d.digit).collect();
    assert_eq!(digits, "5", "the key is in the record once");
    let end = r.end.as_ref().expect("closed");
    assert_eq!(end.outcome, Outcome::Completed);
    assert_eq!(end.cause, HangupCause::Agent);
    assert_eq!(switch.endpoint().dialog_count(), 0);
    assert_eq!(switch.media_sessions(), 0);
    switch.shutdown().await;
}

/// A scenario whose INVITE from `from` is refused with `status`, the
/// Reason header carrying the same cause.
fn refused_scenario(from: &str, status: u16) -> String {
    let steps = vec![
        invite(from, DID),
        r#"  <recv response="100" optional="true"/>"#.to_string(),
        format!(
            r#"  <recv response="{status}">
    <action>
      <ereg regexp="cause={status}" search_in="hdr" header="Reason:" check_it="true" assign_to="reason"/>
    </action>
  </recv>"#
        ),
        ack_failure(from, DID),
        r#"  <Reference variables="reason"/>"#.to_string(),
    ];
    scenario_of("refused", &steps)
}

fn refusal_of(store: &impl CallStore) -> Vec<(u16, String)> {
    let mut v: Vec<(u16, String)> = store
        .recent(100)
        .unwrap()
        .into_iter()
        .map(|r| match r.end.expect("closed").outcome {
            Outcome::Refused { status, reason } => (status, reason),
            other => panic!("not a refusal: {other:?}"),
        })
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_and_blocked_callers_are_refused_with_433_and_403_and_recorded() {
    require("sipp");
    let dir = TempDir::new("refuse");
    let agent = agent_fn(|_ctx, _call| async {
        Err::<AgentOutcome, _>(AgentError::failed("a refused call reached the agent"))
    });
    let (switch, store, port) = start_switch(
        &dir.0,
        r#"blocked_callers = ["+390287654321"]"#,
        agents(agent),
    )
    .await;
    let anonymous = r#""Anonymous" <sip:anonymous@anonymous.invalid>"#;
    let sf = scenario(&dir.0, "anon.xml", &refused_scenario(anonymous, 433));
    let out = run_sipp(port, &sf, &["-m", "1"]).await;
    assert!(out.status.success(), "{}", sipp_report(&out));
    let blocked = "<sip:+390287654321@[local_ip]:[local_port]>";
    let sf = scenario(&dir.0, "blocked.xml", &refused_scenario(blocked, 403));
    let out = run_sipp(port, &sf, &["-m", "1"]).await;
    assert!(out.status.success(), "{}", sipp_report(&out));
    wait_until("both refusals served", || switch.calls_in_progress() == 0).await;

    assert_eq!(
        refusal_of(store.as_ref()),
        vec![(403, "blocked".to_string()), (433, "anonymous".to_string())]
    );
    for r in records(&store) {
        assert_eq!(r.end.unwrap().cause, HangupCause::Switch);
        assert!(r.answer.is_none(), "refused before any answer");
    }
    assert_eq!(switch.media_sessions(), 0);
    switch.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_over_the_tenants_channel_limit_is_refused_with_486_and_recorded() {
    require("sipp");
    let dir = TempDir::new("channels");
    let agent = agent_fn(until_hung_up);
    let (switch, store, port) = start_switch(&dir.0, "channels = 1", agents(agent)).await;
    // The first call holds the only channel for 3 s.
    let held = scenario_of(
        "held",
        &[
            answered_call(CALLER, DID),
            vec![
                r#"  <pause milliseconds="3000"/>"#.to_string(),
                in_dialog("BYE", 2, CALLER, DID, None),
                r#"  <recv response="200"/>"#.to_string(),
            ],
        ]
        .concat(),
    );
    let held = scenario(&dir.0, "held.xml", &held);
    let first = tokio::spawn(async move { run_sipp(port, &held, &["-m", "1"]).await });
    let s = &switch;
    wait_until("the first call holds the channel", || {
        s.router()
            .tenant("acme")
            .is_some_and(|t| t.policy().channels().in_use() == 1)
    })
    .await;
    let second = "<sip:+390211112222@[local_ip]:[local_port]>";
    let sf = scenario(&dir.0, "over.xml", &refused_scenario(second, 486));
    let out = run_sipp(port, &sf, &["-m", "1"]).await;
    assert!(out.status.success(), "{}", sipp_report(&out));
    let out = first.await.unwrap();
    assert!(out.status.success(), "{}", sipp_report(&out));
    wait_until("both calls served", || switch.calls_in_progress() == 0).await;

    let mut outcomes: Vec<Outcome> = records(&store)
        .into_iter()
        .map(|r| r.end.expect("closed").outcome)
        .collect();
    outcomes.sort_by_key(|o| format!("{o:?}"));
    assert_eq!(
        outcomes,
        vec![
            Outcome::Completed,
            Outcome::Refused {
                status: 486,
                reason: "channels".into()
            }
        ]
    );
    assert_eq!(
        switch
            .router()
            .tenant("acme")
            .unwrap()
            .policy()
            .channels()
            .in_use(),
        0
    );
    switch.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_calls_in_a_row_leave_no_dialog_session_channel_task_or_open_record() {
    require("sipp");
    let dir = TempDir::new("many");
    let agent = agent_fn(until_hung_up);
    let (switch, store, port) = start_switch(&dir.0, "", agents(agent)).await;
    let mut steps = answered_call(CALLER, DID);
    steps.extend([
        r#"  <pause milliseconds="200"/>"#.to_string(),
        in_dialog("BYE", 2, CALLER, DID, None),
        r#"  <recv response="200"/>"#.to_string(),
    ]);
    let sf = scenario(&dir.0, "many.xml", &scenario_of("many", &steps));
    let out = run_sipp(port, &sf, &["-m", "200", "-r", "40", "-l", "20"]).await;
    assert!(out.status.success(), "{}", sipp_report(&out));
    wait_until("every call served", || switch.calls_in_progress() == 0).await;

    assert_eq!(switch.endpoint().dialog_count(), 0, "dialogs left");
    assert_eq!(switch.endpoint().active_calls(), 0, "calls left");
    assert_eq!(switch.media_sessions(), 0, "media sessions (ports) left");
    assert_eq!(
        switch
            .router()
            .tenant("acme")
            .unwrap()
            .policy()
            .channels()
            .in_use(),
        0,
        "channels left"
    );
    let records = records(&store);
    assert_eq!(records.len(), 200);
    for r in &records {
        let end = r.end.as_ref().expect("no record left open");
        assert_eq!(end.outcome, Outcome::Completed, "{r:?}");
        assert_eq!(end.cause, HangupCause::Remote, "{r:?}");
    }
    switch.shutdown().await;
}

fn sdp(port: &str, direction: &str) -> String {
    format!(
        "v=0\n\
o=user1 53655765 2353687638 IN IP[local_ip_type] [local_ip]\n\
s=-\n\
c=IN IP[media_ip_type] [media_ip]\n\
t=0 0\n\
m=audio {port} RTP/AVP 0 101\n\
a=rtpmap:0 PCMU/8000\n\
a=rtpmap:101 telephone-event/8000\n\
a={direction}\n"
    )
}

/// A re-INVITE that moves the media to `port` with `direction`, and
/// checks that our answer carries `answer`.
fn reinvite(cseq: u32, port: &str, direction: &str, answer: &str, var: &str) -> Vec<String> {
    vec![
        in_dialog(
            "INVITE",
            cseq,
            CALLER,
            DID,
            Some(("application/sdp", &sdp(port, direction))),
        ),
        r#"  <recv response="100" optional="true"/>"#.to_string(),
        format!(
            r#"  <recv response="200">
    <action>
      <ereg regexp="a={answer}" search_in="body" check_it="true" assign_to="{var}"/>
    </action>
  </recv>"#
        ),
        in_dialog("ACK", cseq, CALLER, DID, None),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn re_invites_put_the_media_on_hold_and_move_it_to_the_callers_new_address() {
    require("sipp");
    let dir = TempDir::new("hold");
    let loud = Arc::new(Mutex::new(0usize));
    let l = loud.clone();
    let agent = agent_fn(move |_ctx, call| {
        tone_until_echoed(call, l.clone(), "heard the echo at the new address")
    });
    let (switch, store, port) = start_switch(&dir.0, "", agents(agent)).await;
    // The call starts towards a port where nobody echoes; the re-INVITEs
    // hold it, then resume it on SIPp's echo port.
    let dead = free_port().to_string();
    let mut steps =
        vec![invite(CALLER, DID).replace("m=audio [media_port]", &format!("m=audio {dead}"))];
    steps.extend([
        r#"  <recv response="100" optional="true"/>"#.to_string(),
        r#"  <recv response="180" optional="true"/>"#.to_string(),
        r#"  <recv response="200"/>"#.to_string(),
        in_dialog("ACK", 1, CALLER, DID, None),
        r#"  <pause milliseconds="600"/>"#.to_string(),
    ]);
    steps.extend(reinvite(2, "[media_port]", "sendonly", "recvonly", "held"));
    steps.push(r#"  <pause milliseconds="400"/>"#.to_string());
    steps.extend(reinvite(
        3,
        "[media_port]",
        "sendrecv",
        "sendrecv",
        "resumed",
    ));
    steps.extend([
        r#"  <recv request="BYE"/>"#.to_string(),
        OK_TO_LAST.to_string(),
        r#"  <Reference variables="held,resumed"/>"#.to_string(),
    ]);
    let sf = scenario(&dir.0, "hold.xml", &scenario_of("hold", &steps));
    let mp = free_port().to_string();
    let out = run_sipp(port, &sf, &["-m", "1", "-rtp_echo", "-mp", &mp]).await;
    assert!(out.status.success(), "{}", sipp_report(&out));
    wait_until("the call's end", || switch.calls_in_progress() == 0).await;

    // SIPp checked our answers (recvonly to its hold, sendrecv to its
    // resume); the echo only exists at the address of the re-INVITEs.
    assert!(*loud.lock().unwrap() >= 10);
    let end = records(&store)[0].end.clone().expect("closed");
    assert_eq!(
        (end.outcome, end.cause),
        (Outcome::Completed, HangupCause::Agent)
    );
    assert_eq!(switch.media_sessions(), 0);
    switch.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_echo_agent_answers_a_sipp_call_and_hangs_up_when_the_caller_presses_hash() {
    require("sipp");
    let dir = TempDir::new("echo");
    let (switch, store, port) = start_switch(&dir.0, "", agents(agent::agents::Echo)).await;
    let mut steps = answered_call(CALLER, DID);
    steps.extend([
        r#"  <pause milliseconds="1000"/>"#.to_string(),
        in_dialog(
            "INFO",
            2,
            CALLER,
            DID,
            Some(("application/dtmf-relay", "Signal=#\nDuration=160\n")),
        ),
        r#"  <recv response="200"/>"#.to_string(),
        r#"  <recv request="BYE"/>"#.to_string(),
        OK_TO_LAST.to_string(),
    ]);
    let sf = scenario(&dir.0, "echo.xml", &scenario_of("echo", &steps));
    let mp = free_port().to_string();
    let out = run_sipp(port, &sf, &["-m", "1", "-rtp_echo", "-mp", &mp]).await;
    assert!(out.status.success(), "{}", sipp_report(&out));
    wait_until("the call's end", || switch.calls_in_progress() == 0).await;

    let r = &records(&store)[0];
    assert_eq!(r.agent.as_deref(), Some("test"));
    let end = r.end.as_ref().expect("closed");
    assert_eq!(
        (&end.outcome, end.cause),
        (&Outcome::Completed, HangupCause::Agent)
    );
    assert_eq!(switch.endpoint().dialog_count(), 0);
    assert_eq!(switch.media_sessions(), 0);
    switch.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_agent_is_recorded_as_failed_and_the_call_hung_up() {
    require("sipp");
    let dir = TempDir::new("fails");
    let agent = agent_fn(|_ctx, _call| async {
        Err::<AgentOutcome, _>(AgentError::failed("the model is unreachable"))
    });
    let (switch, store, port) = start_switch(&dir.0, "", agents(agent)).await;
    let mut steps = answered_call(CALLER, DID);
    steps.extend([
        r#"  <recv request="BYE"/>"#.to_string(),
        OK_TO_LAST.to_string(),
    ]);
    let sf = scenario(&dir.0, "fails.xml", &scenario_of("fails", &steps));
    let out = run_sipp(port, &sf, &["-m", "1"]).await;
    assert!(out.status.success(), "{}", sipp_report(&out));
    wait_until("the call's end", || switch.calls_in_progress() == 0).await;

    let r = &records(&store)[0];
    let end = r.end.as_ref().expect("closed");
    assert_eq!(
        end.outcome,
        Outcome::AgentFailed {
            reason: "agent failed: the model is unreachable".into()
        }
    );
    assert_eq!(end.cause, HangupCause::Error);
    assert!(
        r.errors.iter().any(|e| e.message.contains("unreachable")),
        "the supervisor wrote the failure: {:?}",
        r.errors
    );
    assert_eq!(switch.media_sessions(), 0);
    switch.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_agent_is_followed_by_voicemail_where_the_profile_offers_it() {
    require("sipp");
    let dir = TempDir::new("fallback");
    let mut tenant = tenant("");
    tenant
        .profiles
        .get_mut("front")
        .expect("the test profile")
        .voicemail = true;
    let mut agents = agents(agent_fn(|_ctx, _call| async {
        Err::<AgentOutcome, _>(AgentError::failed("the model is unreachable"))
    }));
    let took_over = Arc::new(Mutex::new(None));
    let t = took_over.clone();
    let voicemail = agent_fn(move |ctx: CallContext, _call| {
        let t = t.clone();
        async move {
            *t.lock().unwrap() = Some(ctx.call_id);
            Ok(AgentOutcome::hang_up("message taken"))
        }
    });
    agents.insert("voicemail".into(), Arc::new(voicemail) as SharedAgent);
    let (switch, store, port) = start_switch_for(&dir.0, tenant, agents).await;
    let mut steps = answered_call(CALLER, DID);
    steps.extend([
        r#"  <recv request="BYE"/>"#.to_string(),
        OK_TO_LAST.to_string(),
    ]);
    let sf = scenario(&dir.0, "fallback.xml", &scenario_of("fallback", &steps));
    let out = run_sipp(port, &sf, &["-m", "1"]).await;
    assert!(out.status.success(), "{}", sipp_report(&out));
    wait_until("the call's end", || switch.calls_in_progress() == 0).await;

    let r = &records(&store)[0];
    assert_eq!(
        took_over.lock().unwrap().as_deref(),
        Some(r.call_id.as_str())
    );
    let end = r.end.as_ref().expect("closed");
    assert_eq!(
        (&end.outcome, end.cause),
        (&Outcome::Completed, HangupCause::Agent)
    );
    assert!(
        r.handoffs.iter().any(|h| h.target == "voicemail"),
        "the fallback is in the record: {:?}",
        r.handoffs
    );
    switch.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_whose_media_goes_silent_is_hung_up_and_recorded_as_a_media_timeout() {
    require("sipp");
    let dir = TempDir::new("timeout");
    // SIPp sends no RTP at all; after a second the switch sends BYE.
    let (switch, store, port) = start_switch_with(
        &dir.0,
        tenant(""),
        agents(agent_fn(until_hung_up)),
        |config| config.rtp.timeout_secs = 1,
    )
    .await;
    let mut steps = answered_call(CALLER, DID);
    steps.extend([
        r#"  <recv request="BYE" timeout="10000"/>"#.to_string(),
        OK_TO_LAST.to_string(),
    ]);
    let sf = scenario(&dir.0, "silent.xml", &scenario_of("silent", &steps));
    let out = run_sipp(port, &sf, &["-m", "1"]).await;
    assert!(out.status.success(), "{}", sipp_report(&out));
    wait_until("the call's end", || switch.calls_in_progress() == 0).await;

    let end = records(&store)[0].end.clone().expect("closed");
    assert_eq!(
        (end.outcome, end.cause),
        (Outcome::Completed, HangupCause::MediaTimeout)
    );
    assert_eq!(switch.endpoint().dialog_count(), 0);
    assert_eq!(switch.media_sessions(), 0);
    switch.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_without_an_offer_gets_ours_and_its_media_starts_with_the_answer_in_the_ack() {
    require("sipp");
    let dir = TempDir::new("late");
    let heard = Arc::new(Mutex::new(0usize));
    let h = heard.clone();
    let agent = agent_fn(move |_ctx, call| tone_until_echoed(call, h.clone(), "heard the echo"));
    let (switch, store, port) = start_switch(&dir.0, "", agents(agent)).await;
    // The INVITE has no body; our 200 OK carries the offer and the ACK
    // the answer, naming SIPp's echo port.
    let bare = invite(CALLER, DID);
    let head_end = bare
        .find("Content-Type: application/sdp")
        .expect("the offer's headers");
    let no_offer = format!("{}Content-Length: 0\n\n]]></send>", &bare[..head_end]);
    let steps = vec![
        no_offer,
        r#"  <recv response="100" optional="true"/>"#.to_string(),
        r#"  <recv response="180" optional="true"/>"#.to_string(),
        r#"  <recv response="200">
    <action>
      <ereg regexp="m=audio [0-9]+ RTP/AVP" search_in="body" check_it="true" assign_to="offer"/>
    </action>
  </recv>"#
            .to_string(),
        in_dialog(
            "ACK",
            1,
            CALLER,
            DID,
            Some(("application/sdp", &sdp("[media_port]", "sendrecv"))),
        ),
        r#"  <recv request="BYE"/>"#.to_string(),
        OK_TO_LAST.to_string(),
        r#"  <Reference variables="offer"/>"#.to_string(),
    ];
    let sf = scenario(&dir.0, "late.xml", &scenario_of("late offer", &steps));
    let mp = free_port().to_string();
    let out = run_sipp(port, &sf, &["-m", "1", "-rtp_echo", "-mp", &mp]).await;
    assert!(out.status.success(), "{}", sipp_report(&out));
    wait_until("the call's end", || switch.calls_in_progress() == 0).await;

    assert!(*heard.lock().unwrap() >= 10);
    let end = records(&store)[0].end.clone().expect("closed");
    assert_eq!(
        (end.outcome, end.cause),
        (Outcome::Completed, HangupCause::Agent)
    );
    assert_eq!(switch.media_sessions(), 0);
    switch.shutdown().await;
}

/// An agent that hands every call to `number`.
fn transfers_to(number: &'static str) -> impl Agent {
    agent_fn(move |_ctx, _call| async move {
        Ok(AgentOutcome::Transfer {
            target: agent::call::TransferTarget::Number(number.into()),
            reason: Some("the caller asked for sales".into()),
        })
    })
}

const OUTBOUND_TO_ITALY: &str = r#"outbound = { allowed_destination_prefixes = ["+39"] }"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_transfer_to_a_number_is_a_refer_and_the_switch_leaves_once_the_target_answers() {
    require("sipp");
    let dir = TempDir::new("refer");
    let (switch, store, port) = start_switch(
        &dir.0,
        OUTBOUND_TO_ITALY,
        agents(transfers_to("+390211112222")),
    )
    .await;
    let notify = in_dialog(
        "NOTIFY",
        2,
        CALLER,
        DID,
        Some(("message/sipfrag", "SIP/2.0 200 OK\n")),
    )
    .replace(
        "Max-Forwards: 70\n",
        "Max-Forwards: 70\nEvent: refer\nSubscription-State: terminated;reason=noresource\n",
    );
    let mut steps = answered_call(CALLER, DID);
    steps.extend([
        r#"  <recv request="REFER">
    <action>
      <ereg regexp="sip:\+390211112222@" search_in="hdr" header="Refer-To:" check_it="true" assign_to="to"/>
    </action>
  </recv>"#
            .to_string(),
        OK_TO_LAST.replace("200 OK", "202 Accepted"),
        notify,
        // Our 200 to the NOTIFY and our BYE leave together, in either order.
        r#"  <recv response="200" optional="true"/>"#.to_string(),
        r#"  <recv request="BYE"/>"#.to_string(),
        OK_TO_LAST.to_string(),
        r#"  <Reference variables="to"/>"#.to_string(),
    ]);
    let sf = scenario(&dir.0, "refer.xml", &scenario_of("refer", &steps));
    let out = run_sipp(port, &sf, &["-m", "1"]).await;
    assert!(out.status.success(), "{}", sipp_report(&out));
    wait_until("the call's end", || switch.calls_in_progress() == 0).await;

    let r = &records(&store)[0];
    let end = r.end.as_ref().expect("closed");
    assert_eq!(
        (&end.outcome, end.cause),
        (&Outcome::Completed, HangupCause::Transferred)
    );
    let handoff = r.handoffs.last().expect("the transfer is recorded");
    // Sent to where the call came from (SIPp), which places it.
    assert!(
        handoff.target.starts_with("sip:+390211112222@127.0.0.1:"),
        "{}",
        handoff.target
    );
    assert_eq!(
        handoff.reason.as_deref(),
        Some("the caller asked for sales")
    );
    assert_eq!(switch.endpoint().dialog_count(), 0);
    switch.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_the_outbound_policy_refuses_is_not_sent_and_the_call_is_hung_up() {
    require("sipp");
    let dir = TempDir::new("refer-refused");
    // +44 is not an allowed destination of the tenant.
    let (switch, store, port) = start_switch(
        &dir.0,
        OUTBOUND_TO_ITALY,
        agents(transfers_to("+442079460000")),
    )
    .await;
    let mut steps = answered_call(CALLER, DID);
    steps.extend([
        r#"  <recv request="BYE"/>"#.to_string(),
        OK_TO_LAST.to_string(),
    ]);
    let sf = scenario(&dir.0, "norefer.xml", &scenario_of("no refer", &steps));
    let out = run_sipp(port, &sf, &["-m", "1"]).await;
    assert!(out.status.success(), "{}", sipp_report(&out));
    wait_until("the call's end", || switch.calls_in_progress() == 0).await;

    let r = &records(&store)[0];
    let end = r.end.as_ref().expect("closed");
    assert_eq!(end.cause, HangupCause::Agent);
    assert!(r.handoffs.is_empty(), "{:?}", r.handoffs);
    assert!(
        r.errors
            .iter()
            .any(|e| e.message.contains("policy refuses")),
        "{:?}",
        r.errors
    );
    switch.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_handing_a_call_to_each_other_run_on_it_in_turn_until_the_limit() {
    require("sipp");
    let dir = TempDir::new("handoffs");
    let runs = Arc::new(Mutex::new(Vec::new()));
    let r = runs.clone();
    // The agent hands the call to itself, again and again.
    let agent = agent_fn(move |ctx: CallContext, _call| {
        let runs = r.clone();
        async move {
            runs.lock().unwrap().push(ctx.call_id);
            Ok(AgentOutcome::Transfer {
                target: agent::call::TransferTarget::Agent("test".into()),
                reason: None,
            })
        }
    });
    let (switch, store, port) = start_switch(&dir.0, "", agents(agent)).await;
    let mut steps = answered_call(CALLER, DID);
    steps.extend([
        r#"  <recv request="BYE"/>"#.to_string(),
        OK_TO_LAST.to_string(),
    ]);
    let sf = scenario(&dir.0, "handoffs.xml", &scenario_of("handoffs", &steps));
    let out = run_sipp(port, &sf, &["-m", "1"]).await;
    assert!(out.status.success(), "{}", sipp_report(&out));
    wait_until("the call's end", || switch.calls_in_progress() == 0).await;

    let r = &records(&store)[0];
    assert_eq!(
        runs.lock().unwrap().len(),
        8,
        "the limit of agents per call"
    );
    assert!(runs.lock().unwrap().iter().all(|id| *id == r.call_id));
    assert_eq!(
        r.handoffs.len(),
        7,
        "each handoff taken is recorded: {:?}",
        r.handoffs
    );
    assert_eq!(r.end.as_ref().unwrap().cause, HangupCause::Agent);
    assert!(r.errors.iter().any(|e| e.message.contains("took turns")));
    switch.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutting_the_switch_down_ends_a_live_call_with_bye_and_completes_its_record() {
    require("sipp");
    let dir = TempDir::new("shutdown");
    let (switch, store, port) = start_switch(&dir.0, "", agents(agent_fn(until_hung_up))).await;
    let mut steps = answered_call(CALLER, DID);
    steps.extend([
        r#"  <recv request="BYE" timeout="20000"/>"#.to_string(),
        OK_TO_LAST.to_string(),
    ]);
    let sf = scenario(&dir.0, "shutdown.xml", &scenario_of("shutdown", &steps));
    let caller = tokio::spawn(async move { run_sipp(port, &sf, &["-m", "1"]).await });
    wait_until("the call is answered", || switch.media_sessions() == 1).await;
    assert_eq!(switch.calls_in_progress(), 1);

    switch.shutdown().await;
    let out = caller.await.unwrap();
    assert!(
        out.status.success(),
        "the caller got our BYE: {}",
        sipp_report(&out)
    );
    let r = &records(&store)[0];
    let end = r
        .end
        .as_ref()
        .expect("the record is closed by the shutdown");
    assert_eq!(
        (&end.outcome, end.cause),
        (&Outcome::Completed, HangupCause::Shutdown)
    );
    assert!(r.answer.is_some(), "the call was answered: {r:?}");
}
