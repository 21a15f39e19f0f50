//! The fallback chain with real peers on loopback: an agent that fails
//! is followed by the profile's apology, then the human number (by
//! REFER, the far end being SIPp as the caller), then voicemail when the
//! human cannot be reached; `0` pressed in the menu reaches the human the
//! same way; each step taken is in the call record.

mod sipp;

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent::agents::Ivr;
use agent::call::{AgentOutcome, CallContext};
use agent::record::{CallRecord, HandoffKind, HangupCause, Outcome};
use agent::routing::TenantConfig;
use agent::switch::Agents;
use agent::{agent_fn, Agent, AgentError, SharedAgent};
use rtp_media::g711::Codec;
use sipp::*;

const CALLER: &str = "<sip:+390212345678@[local_ip]:[local_port]>";
const DID: &str = "+390299887766";
const HUMAN: &str = "+390211112222";

/// Tenant "acme" whose profile "front" is answered by the agent "test",
/// may call Italian numbers, has `HUMAN` as its human number, and the
/// profile settings `profile` besides.
fn tenant_with(profile: &str) -> TenantConfig {
    toml::from_str(&format!(
        r#"
name = "acme"
default_country = "IT"
time_zone = "Europe/Rome"
default_profile = "front"

[limits]
outbound = {{ allowed_destination_prefixes = ["+39"] }}

[profiles.front]
agent = "test"
time_zone = "Europe/Rome"
human_number = "{HUMAN}"
{profile}
"#
    ))
    .expect("tenant config")
}

fn agents_with(agent: impl Agent) -> Agents {
    let mut agents: Agents = HashMap::new();
    agents.insert("test".into(), Arc::new(agent) as SharedAgent);
    agents
}

/// An agent whose backend is unreachable.
fn failing() -> impl Agent {
    agent_fn(|_ctx, _call| async {
        Err::<AgentOutcome, _>(AgentError::failed("the model is unreachable"))
    })
}

/// A voicemail agent that notes the call it took and hangs up.
fn voicemail(took: Arc<Mutex<Option<String>>>) -> SharedAgent {
    Arc::new(agent_fn(move |ctx: CallContext, _call| {
        let took = took.clone();
        async move {
            *took.lock().unwrap() = Some(ctx.call_id);
            Ok(AgentOutcome::hang_up("message taken"))
        }
    }))
}

/// `text` spoken by eSpeak NG into a WAV file in `dir`.
fn spoken(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(format!("{name}.wav"));
    let status = std::process::Command::new(require("espeak-ng"))
        .arg("-w")
        .arg(&path)
        .arg(text)
        .status()
        .expect("espeak-ng runs");
    assert!(status.success(), "espeak-ng: {status}");
    path
}

/// The caller's answered call with its media at `rtp` (a socket of the
/// test) instead of SIPp's own media port.
fn answered_call_to(rtp: SocketAddr) -> Vec<String> {
    let mut steps = answered_call(CALLER, DID);
    steps[0] = steps[0].replace("m=audio [media_port]", &format!("m=audio {}", rtp.port()));
    steps
}

/// The REFER to the human number, its 202 and the NOTIFY carrying
/// `final_status` from the far end.
fn refer_answered_with(final_status: &str) -> Vec<String> {
    let notify = in_dialog(
        "NOTIFY",
        2,
        CALLER,
        DID,
        Some(("message/sipfrag", &format!("SIP/2.0 {final_status}\n"))),
    )
    .replace(
        "Max-Forwards: 70\n",
        "Max-Forwards: 70\nEvent: refer\nSubscription-State: terminated;reason=noresource\n",
    );
    vec![
        r#"  <recv request="REFER">
    <action>
      <ereg regexp="sip:\+390211112222@" search_in="hdr" header="Refer-To:" check_it="true" assign_to="to"/>
    </action>
  </recv>"#
            .to_string(),
        OK_TO_LAST.replace("200 OK", "202 Accepted"),
        notify,
        // After a 2xx our 200 to the NOTIFY and our BYE leave together, in
        // either order.
        r#"  <recv response="200" optional="true"/>"#.to_string(),
    ]
}

/// The end of the scenario: the switch's BYE answered.
fn bye_from_switch() -> Vec<String> {
    vec![
        r#"  <recv request="BYE" timeout="20000"/>"#.to_string(),
        OK_TO_LAST.to_string(),
    ]
}

/// RTP the switch sends to a socket of the test, decoded.
struct Listener {
    socket: UdpSocket,
    received: Arc<Mutex<Vec<Vec<i16>>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Listener {
    fn start() -> Listener {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (sock, r, s) = (socket.try_clone().unwrap(), received.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !s.load(Ordering::Relaxed) {
                let Ok((n, _)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                if n <= 12 || buf[0] >> 6 != 2 || buf[1] & 0x7f != 0 {
                    continue;
                }
                let mut samples = vec![0i16; n - 12];
                Codec::Pcmu.decode(&buf[12..n], &mut samples);
                r.lock().unwrap().push(samples);
            }
        });
        Listener {
            socket,
            received,
            stop,
            thread: Some(thread),
        }
    }

    fn addr(&self) -> SocketAddr {
        self.socket.local_addr().unwrap()
    }

    fn finish(mut self) -> Vec<Vec<i16>> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        std::mem::take(&mut *self.received.lock().unwrap())
    }
}

fn rms(samples: &[i16]) -> f64 {
    (samples.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / samples.len().max(1) as f64)
        .sqrt()
}

fn step_targets(r: &CallRecord) -> Vec<(HandoffKind, String)> {
    r.handoffs
        .iter()
        .map(|h| (h.kind, h.target.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_agent_apologises_then_the_call_is_referred_to_the_profiles_human_number() {
    require("sipp");
    let dir = TempDir::new("fallback-refer");
    let apology = spoken(&dir.0, "sorry", "Sorry, something went wrong.");
    let tenant = tenant_with(&format!("apology = {:?}", apology.to_str().unwrap()));
    let (switch, store, port) = start_switch_for(&dir.0, tenant, agents_with(failing())).await;
    let media = Listener::start();
    let mut steps = answered_call_to(media.addr());
    steps.extend(refer_answered_with("200 OK"));
    steps.extend(bye_from_switch());
    steps.push(r#"  <Reference variables="to"/>"#.to_string());
    let sf = scenario(&dir.0, "refer.xml", &scenario_of("fallback refer", &steps));
    let out = run_sipp(port, &sf, &["-m", "1"]).await;
    assert!(out.status.success(), "{}", sipp_report(&out));
    wait_until("the call's end", || switch.calls_in_progress() == 0).await;

    // The apology was spoken to the caller before the transfer.
    let spoken: Vec<_> = media.finish();
    let loud = spoken.iter().filter(|f| rms(f) > 500.0).count();
    assert!(
        loud >= 25,
        "{loud} frames of the apology reached the caller"
    );

    let r = &records(&store)[0];
    let end = r.end.as_ref().expect("closed");
    assert_eq!(
        (&end.outcome, end.cause),
        (&Outcome::Completed, HangupCause::Transferred)
    );
    let steps = step_targets(r);
    assert_eq!(steps.len(), 2, "{steps:?}");
    assert_eq!(steps[0], (HandoffKind::Fallback, "apology".to_string()));
    assert_eq!(steps[1].0, HandoffKind::Fallback);
    assert!(
        steps[1].1.starts_with("sip:+390211112222@127.0.0.1:"),
        "{steps:?}"
    );
    assert_eq!(
        r.handoffs[1].reason.as_deref(),
        Some("agent failed: the model is unreachable")
    );
    assert!(
        r.errors.iter().any(|e| e.message.contains("unreachable")),
        "{:?}",
        r.errors
    );
    assert_eq!(switch.endpoint().dialog_count(), 0);
    assert_eq!(switch.media_sessions(), 0);
    switch.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_agents_call_goes_to_voicemail_when_the_human_is_busy() {
    require("sipp");
    let dir = TempDir::new("fallback-busy");
    let took = Arc::new(Mutex::new(None));
    let mut agents = agents_with(failing());
    agents.insert("voicemail".into(), voicemail(took.clone()));
    let (switch, store, port) =
        start_switch_for(&dir.0, tenant_with("voicemail = true"), agents).await;
    let mut steps = answered_call(CALLER, DID);
    steps.extend(refer_answered_with("486 Busy Here"));
    steps.extend(bye_from_switch());
    steps.push(r#"  <Reference variables="to"/>"#.to_string());
    let sf = scenario(&dir.0, "busy.xml", &scenario_of("fallback busy", &steps));
    let out = run_sipp(port, &sf, &["-m", "1"]).await;
    assert!(out.status.success(), "{}", sipp_report(&out));
    wait_until("the call's end", || switch.calls_in_progress() == 0).await;

    let r = &records(&store)[0];
    assert_eq!(took.lock().unwrap().as_deref(), Some(r.call_id.as_str()));
    let end = r.end.as_ref().expect("closed");
    assert_eq!(
        (&end.outcome, end.cause),
        (&Outcome::Completed, HangupCause::Agent)
    );
    assert_eq!(
        step_targets(r),
        [(HandoffKind::Fallback, "voicemail".to_string())]
    );
    let why = r.handoffs[0].reason.as_deref().unwrap_or_default();
    assert!(why.contains("486"), "the handoff says why: {why}");
    assert!(
        r.errors
            .iter()
            .any(|e| e.component == "transfer" && e.message.contains("486")),
        "{:?}",
        r.errors
    );
    switch.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_voicemail_a_failing_agents_call_ends_saying_the_human_did_not_answer() {
    require("sipp");
    let dir = TempDir::new("fallback-end");
    let (switch, store, port) =
        start_switch_for(&dir.0, tenant_with(""), agents_with(failing())).await;
    let mut steps = answered_call(CALLER, DID);
    steps.extend(refer_answered_with("480 Temporarily Unavailable"));
    steps.extend(bye_from_switch());
    steps.push(r#"  <Reference variables="to"/>"#.to_string());
    let sf = scenario(&dir.0, "end.xml", &scenario_of("fallback end", &steps));
    let out = run_sipp(port, &sf, &["-m", "1"]).await;
    assert!(out.status.success(), "{}", sipp_report(&out));
    wait_until("the call's end", || switch.calls_in_progress() == 0).await;

    let r = &records(&store)[0];
    let end = r.end.as_ref().expect("closed");
    assert_eq!(end.cause, HangupCause::Error);
    let Outcome::AgentFailed { reason } = &end.outcome else {
        panic!("{:?}", end.outcome);
    };
    assert!(
        reason.starts_with(
            "agent failed: the model is unreachable; then the transfer to operator failed"
        ) && reason.contains("480"),
        "{reason}"
    );
    assert!(r.handoffs.is_empty(), "{:?}", r.handoffs);
    switch.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_pressed_in_the_menu_reaches_the_human_and_voicemail_when_the_human_is_busy() {
    require("sipp");
    let dir = TempDir::new("fallback-zero");
    let menu = spoken(&dir.0, "menu", "For sales press one.");
    let took = Arc::new(Mutex::new(None));
    let mut agents = agents_with(Ivr::new(menu, Default::default()));
    agents.insert("voicemail".into(), voicemail(took.clone()));
    let (switch, store, port) =
        start_switch_for(&dir.0, tenant_with("voicemail = true"), agents).await;
    let mut steps = answered_call(CALLER, DID);
    steps.extend([
        in_dialog(
            "INFO",
            2,
            CALLER,
            DID,
            Some(("application/dtmf-relay", "Signal=0\nDuration=160\n")),
        ),
        r#"  <recv response="200"/>"#.to_string(),
    ]);
    // The REFER's NOTIFY then takes CSeq 3.
    let mut refer = refer_answered_with("486 Busy Here");
    refer[2] = refer[2].replace("CSeq: 2 NOTIFY", "CSeq: 3 NOTIFY");
    steps.extend(refer);
    steps.extend(bye_from_switch());
    steps.push(r#"  <Reference variables="to"/>"#.to_string());
    let sf = scenario(&dir.0, "zero.xml", &scenario_of("zero pressed", &steps));
    let out = run_sipp(port, &sf, &["-m", "1"]).await;
    assert!(out.status.success(), "{}", sipp_report(&out));
    wait_until("the call's end", || switch.calls_in_progress() == 0).await;

    let r = &records(&store)[0];
    assert_eq!(took.lock().unwrap().as_deref(), Some(r.call_id.as_str()));
    assert_eq!(r.dtmf.iter().map(|d| d.digit).collect::<String>(), "0");
    let end = r.end.as_ref().expect("closed");
    assert_eq!(
        (&end.outcome, end.cause),
        (&Outcome::Completed, HangupCause::Agent)
    );
    assert_eq!(
        step_targets(r),
        [(HandoffKind::Fallback, "voicemail".to_string())]
    );
    assert!(
        r.errors
            .iter()
            .any(|e| e.message.starts_with("transfer to operator failed")
                && e.message.contains("486")),
        "{:?}",
        r.errors
    );
    switch.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voicemail_that_fails_too_ends_the_call_as_failed_without_going_round_again() {
    require("sipp");
    let dir = TempDir::new("fallback-twice");
    let runs = Arc::new(Mutex::new(0));
    let r = runs.clone();
    let broken_voicemail = agent_fn(move |_ctx, _call| {
        *r.lock().unwrap() += 1;
        async { Err::<AgentOutcome, _>(AgentError::failed("the disk is full")) }
    });
    let mut agents = agents_with(failing());
    agents.insert(
        "voicemail".into(),
        Arc::new(broken_voicemail) as SharedAgent,
    );
    // No human number: the agent's failure goes to voicemail at once.
    let mut tenant = tenant_with("voicemail = true");
    tenant
        .profiles
        .get_mut("front")
        .expect("profile")
        .human_number = None;
    let (switch, store, port) = start_switch_for(&dir.0, tenant, agents).await;
    let mut steps = answered_call(CALLER, DID);
    steps.extend(bye_from_switch());
    let sf = scenario(&dir.0, "twice.xml", &scenario_of("fails twice", &steps));
    let out = run_sipp(port, &sf, &["-m", "1"]).await;
    assert!(out.status.success(), "{}", sipp_report(&out));
    wait_until("the call's end", || switch.calls_in_progress() == 0).await;

    assert_eq!(*runs.lock().unwrap(), 1, "voicemail ran once");
    let r = &records(&store)[0];
    let end = r.end.as_ref().expect("closed");
    assert_eq!(
        (&end.outcome, end.cause),
        (
            &Outcome::AgentFailed {
                reason: "agent failed: the disk is full".into()
            },
            HangupCause::Error
        )
    );
    assert_eq!(
        step_targets(r),
        [(HandoffKind::Fallback, "voicemail".to_string())]
    );
    assert_eq!(
        r.errors.iter().filter(|e| e.component == "agent").count(),
        2
    );
    switch.shutdown().await;
}
