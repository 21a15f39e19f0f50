//! The FAQ assistant through the switch, with SIPp as the caller on
//! loopback: the `0` key, and the menu's key for a person, reach the
//! profile's human number by a blind transfer (REFER), and a caller who stays silent twice is handed to
//! voicemail. Its speech is a test text-to-speech (a tone as long as the
//! text); no speech reaches its speech-to-text in these calls.

mod sipp;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent::agent::BoxFuture;
use agent::agents::{Assistant, AssistantProfiles};
use agent::call::{AgentOutcome, CallContext};
use agent::record::{HangupCause, Outcome, Speaker};
use agent::routing::TenantConfig;
use agent::speech::{SpeechError, SpeechOut, SpeechToText, TextToSpeech, Utterance};
use agent::switch::Agents;
use agent::turn::TurnConfig;
use agent::{agent_fn, SharedAgent};
use sipp::*;

const CALLER: &str = "<sip:+390212345678@[local_ip]:[local_port]>";
const DID: &str = "+390299887766";

/// Fails the agent if called: these calls send no speech.
struct NoSpeechExpected;

impl SpeechToText for NoSpeechExpected {
    fn transcribe<'a>(
        &'a self,
        utterance: &'a Utterance,
    ) -> BoxFuture<'a, Result<String, SpeechError>> {
        Box::pin(async move {
            Err(SpeechError::Engine(format!(
                "no speech was sent, yet {} ms were heard",
                utterance.duration().as_millis()
            )))
        })
    }
}

/// A 500 Hz tone, 20 ms per character of the text, at 8 kHz.
struct ToneTts;

impl TextToSpeech for ToneTts {
    fn synthesize<'a>(
        &'a self,
        text: &'a str,
        out: &'a mut SpeechOut,
    ) -> BoxFuture<'a, Result<(), SpeechError>> {
        Box::pin(async move {
            let samples: Vec<i16> = (0..text.len() * 160)
                .map(|i| {
                    let t = i as f64 / 8000.0;
                    (6000.0 * (2.0 * std::f64::consts::PI * 500.0 * t).sin()) as i16
                })
                .collect();
            out.play(samples, 8000)
        })
    }
}

/// Tenant "acme" whose profile "front" the assistant answers, with
/// `profile` added to the profile's settings and `limits` as its limits.
fn assistant_tenant(profile: &str, limits: &str) -> TenantConfig {
    toml::from_str(&format!(
        r#"
name = "acme"
default_country = "IT"
time_zone = "Europe/Rome"
default_profile = "front"

[limits]
{limits}

[profiles.front]
agent = "assistant"
time_zone = "Europe/Rome"
greeting = "Hello, this is the shop."
{profile}

[[profiles.front.faq]]
phrases = ["opening hours", "when are you open"]
answer = "We are open Monday to Friday, nine to six."
"#
    ))
    .expect("tenant config")
}

fn assistant(tenant: &TenantConfig, no_input: Duration) -> SharedAgent {
    let tenants = agent::routing::TenantsConfig {
        tenants: vec![tenant.clone()],
    };
    let profiles = AssistantProfiles::from_tenants(&tenants).expect("the assistant's settings");
    let assistant = Assistant::new(Arc::new(NoSpeechExpected), Arc::new(ToneTts), profiles)
        .with_turns(TurnConfig {
            no_input: Some(no_input),
            ..TurnConfig::default()
        });
    Arc::new(assistant)
}

/// A call to the assistant of a profile with a human number and
/// `profile` settings, where the caller presses `key` over the opening:
/// the REFER to the human number is answered and the call is recorded as
/// transferred for `reason`, after the opening and the words before the
/// transfer.
async fn a_key_reaches_the_human_number(profile: &str, key: char, reason: &str) {
    require("sipp");
    let dir = TempDir::new("assistant-key");
    let tenant = assistant_tenant(
        &format!("human_number = \"+390211112222\"\n{profile}"),
        r#"outbound = { allowed_destination_prefixes = ["+39"] }"#,
    );
    let opening = tenant.profiles["front"].menu.as_ref().map_or_else(
        || "Hello, this is the shop.".to_string(),
        |menu| format!("Hello, this is the shop. {menu}"),
    );
    let mut agents: Agents = HashMap::new();
    agents.insert(
        "assistant".into(),
        assistant(&tenant, Duration::from_secs(20)),
    );
    let (switch, store, port) = start_switch_for(&dir.0, tenant, agents).await;
    let notify = in_dialog(
        "NOTIFY",
        3,
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
        // The caller presses 0 while the greeting plays.
        r#"  <pause milliseconds="300"/>"#.to_string(),
        in_dialog(
            "INFO",
            2,
            CALLER,
            DID,
            Some((
                "application/dtmf-relay",
                &format!("Signal={key}\nDuration=160\n"),
            )),
        ),
        r#"  <recv response="200"/>"#.to_string(),
        r#"  <recv request="REFER" timeout="15000">
    <action>
      <ereg regexp="sip:\+390211112222@" search_in="hdr" header="Refer-To:" check_it="true" assign_to="to"/>
    </action>
  </recv>"#
            .to_string(),
        OK_TO_LAST.replace("200 OK", "202 Accepted"),
        notify,
        r#"  <recv response="200" optional="true"/>"#.to_string(),
        r#"  <recv request="BYE"/>"#.to_string(),
        OK_TO_LAST.to_string(),
        r#"  <Reference variables="to"/>"#.to_string(),
    ]);
    let sf = scenario(&dir.0, "zero.xml", &scenario_of("zero", &steps));
    let out = run_sipp(port, &sf, &["-m", "1"]).await;
    assert!(out.status.success(), "{}", sipp_report(&out));
    wait_until("the call's end", || switch.calls_in_progress() == 0).await;

    let r = &records(&store)[0];
    assert_eq!(r.agent.as_deref(), Some("assistant"));
    let end = r.end.as_ref().expect("closed");
    assert_eq!(
        (&end.outcome, end.cause),
        (&Outcome::Completed, HangupCause::Transferred)
    );
    let handoff = r.handoffs.last().expect("the transfer is recorded");
    assert!(
        handoff.target.starts_with("sip:+390211112222@127.0.0.1:"),
        "{}",
        handoff.target
    );
    assert_eq!(handoff.reason.as_deref(), Some(reason));
    assert_eq!(r.dtmf.iter().map(|d| d.digit).collect::<Vec<_>>(), [key]);
    // The greeting (cut short by the key), then the words before the
    // transfer, both played.
    let said: Vec<&str> = r.transcript.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(said.len(), 2, "{said:?}");
    assert_eq!(said[0], opening);
    assert!(said[1].contains("putting you through"), "{said:?}");
    assert!(r
        .transcript
        .iter()
        .all(|l| l.speaker == Speaker::Agent && l.timings.first_audio.is_some()));
    assert_eq!(switch.endpoint().dialog_count(), 0);
    assert_eq!(switch.media_sessions(), 0);
    switch.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_zero_key_reaches_the_profiles_human_number_by_a_refer() {
    a_key_reaches_the_human_number("", '0', "the caller pressed 0").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_menus_person_key_reaches_the_profiles_human_number_by_a_refer() {
    a_key_reaches_the_human_number(
        r#"menu = "Press 1 to talk to the assistant, 2 for a person.""#,
        '2',
        "the caller chose a person in the menu",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_silent_twice_is_handed_to_voicemail() {
    require("sipp");
    let dir = TempDir::new("assistant-silent");
    let tenant = assistant_tenant("voicemail = true", "");
    let mut agents: Agents = HashMap::new();
    agents.insert(
        "assistant".into(),
        assistant(&tenant, Duration::from_millis(1500)),
    );
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
        r#"  <recv request="BYE" timeout="30000"/>"#.to_string(),
        OK_TO_LAST.to_string(),
    ]);
    let sf = scenario(&dir.0, "silent.xml", &scenario_of("silent", &steps));
    let out = run_sipp(port, &sf, &["-m", "1"]).await;
    assert!(out.status.success(), "{}", sipp_report(&out));
    wait_until("the call's end", || switch.calls_in_progress() == 0).await;

    let r = &records(&store)[0];
    assert_eq!(
        took_over.lock().unwrap().as_deref(),
        Some(r.call_id.as_str()),
        "voicemail took the call"
    );
    let handoff = r.handoffs.last().expect("the handoff is recorded");
    assert_eq!(handoff.target, "voicemail");
    assert_eq!(
        handoff.reason.as_deref(),
        Some("no answer 2 times in a row")
    );
    // Greeting, asked again once, then the words before voicemail.
    let said: Vec<&str> = r.transcript.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(said.len(), 3, "{said:?}");
    assert!(said[1].contains("still there"), "{said:?}");
    assert!(said[2].contains("leave a message"), "{said:?}");
    let end = r.end.as_ref().expect("closed");
    assert_eq!(
        (&end.outcome, end.cause),
        (&Outcome::Completed, HangupCause::Agent)
    );
    switch.shutdown().await;
}
