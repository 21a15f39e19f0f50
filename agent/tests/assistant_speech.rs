//! The FAQ assistant end to end, offline: a SIPp caller plays questions
//! spoken by eSpeak NG (G.711 RTP, `rtp_stream`) into a call the switch
//! answers with the assistant, which hears them with PocketSphinx (told
//! the FAQ's phrases) and answers with eSpeak NG. The record holds the
//! caller's recognised words, the answers and each turn's timings; asking
//! for an operator ends in a REFER to the profile's human number.

mod sipp;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use agent::agents::{Assistant, AssistantProfiles};
use agent::engines::{EspeakConfig, PocketSphinxConfig};
use agent::record::{HangupCause, Outcome, Speaker};
use agent::routing::{TenantConfig, TenantsConfig};
use agent::switch::Agents;
use agent::SharedAgent;
use sipp::*;

const CALLER: &str = "<sip:+390212345678@[local_ip]:[local_port]>";
const DID: &str = "+390299887766";
const HOURS: &str = "We are open Monday to Friday, from nine to six.";

fn tenant() -> TenantConfig {
    toml::from_str(&format!(
        r#"
name = "acme"
default_country = "IT"
time_zone = "Europe/Rome"
default_profile = "front"

[limits]
outbound = {{ allowed_destination_prefixes = ["+39"] }}

[profiles.front]
agent = "assistant"
time_zone = "Europe/Rome"
greeting = "Hello, this is the shop. How can I help?"
human_number = "+390211112222"

[[profiles.front.faq]]
phrases = ["opening hours", "when are you open"]
answer = "{HOURS}"

[[profiles.front.faq]]
phrases = ["where are you", "what is your address"]
answer = "We are at via Roma one, in Milan."
"#
    ))
    .expect("tenant config")
}

/// `text` spoken by eSpeak NG into a G.711 µ-law WAV file at 8 kHz, as
/// SIPp's `rtp_stream` plays it.
fn spoken(dir: &Path, name: &str, text: &str) -> PathBuf {
    let wide = dir.join(format!("{name}-22k.wav"));
    let status = std::process::Command::new(require("espeak-ng"))
        .arg("-w")
        .arg(&wide)
        .arg(text)
        .status()
        .expect("espeak-ng runs");
    assert!(status.success(), "espeak-ng: {status}");
    let line = dir.join(format!("{name}.wav"));
    let status = std::process::Command::new(require("sox"))
        .arg(&wide)
        .args(["-r", "8000", "-c", "1", "-e", "mu-law"])
        .arg(&line)
        .status()
        .expect("sox runs");
    assert!(status.success(), "sox: {status}");
    line
}

fn play(file: &Path) -> String {
    format!(
        r#"  <nop><action><exec rtp_stream="{},1,0"/></action></nop>"#,
        file.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn espeak_spoken_questions_get_the_faq_answer_and_asking_for_an_operator_transfers() {
    require("sipp");
    let dir = TempDir::new("assistant-speech");
    let tenant = tenant();
    let profiles = AssistantProfiles::from_tenants(&TenantsConfig {
        tenants: vec![tenant.clone()],
    })
    .expect("the assistant's settings");
    let assistant = Assistant::offline(
        profiles,
        PocketSphinxConfig::default(),
        EspeakConfig::default(),
    )
    .expect("PocketSphinx loads its model");
    let mut agents: Agents = HashMap::new();
    agents.insert("assistant".into(), Arc::new(assistant) as SharedAgent);
    let (switch, store, port) = start_switch_for(&dir.0, tenant, agents).await;

    let question = spoken(&dir.0, "hours", "what are your opening hours");
    let operator = spoken(&dir.0, "operator", "can I speak to an operator please");
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
        // After the greeting, the question; after its answer, the
        // request for a person.
        r#"  <pause milliseconds="4000"/>"#.to_string(),
        play(&question),
        r#"  <pause milliseconds="9000"/>"#.to_string(),
        play(&operator),
        r#"  <recv request="REFER" timeout="30000">
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
    let sf = scenario(&dir.0, "speech.xml", &scenario_of("speech", &steps));
    let mp = free_port().to_string();
    let out = run_sipp(port, &sf, &["-m", "1", "-mp", &mp]).await;
    wait_until("the call's end", || switch.calls_in_progress() == 0).await;
    let heard: Vec<(Speaker, String)> = records(&store)[0]
        .transcript
        .iter()
        .map(|l| (l.speaker, l.text.clone()))
        .collect();
    assert!(out.status.success(), "{}\n{heard:#?}", sipp_report(&out));

    let r = &records(&store)[0];
    let lines: Vec<(Speaker, &str)> = r
        .transcript
        .iter()
        .map(|l| (l.speaker, l.text.as_str()))
        .collect();
    let [greeting, asked, answer, for_person, goodbye] = &r.transcript[..] else {
        panic!("greeting, question, answer, request, transfer: {lines:#?}");
    };
    assert_eq!(greeting.speaker, Speaker::Agent);
    assert_eq!(greeting.text, "Hello, this is the shop. How can I help?");
    // The caller's words as recognised, and the FAQ's answer to them.
    assert_eq!(asked.speaker, Speaker::Remote);
    assert!(asked.text.contains("opening hours"), "{:?}", asked.text);
    assert_eq!(
        (answer.speaker, answer.text.as_str()),
        (Speaker::Agent, HOURS)
    );
    // Each moment of the answer's turn, in order.
    let t = answer.timings;
    let (Some(eos), Some(tr), Some(rr), Some(fa)) = (
        t.end_of_speech,
        t.transcript_ready,
        t.reply_ready,
        t.first_audio,
    ) else {
        panic!("{t:?}");
    };
    assert!(eos <= tr && tr <= rr && rr <= fa, "{t:?}");
    assert_eq!(asked.timings.end_of_speech, Some(eos));
    assert_eq!(for_person.speaker, Speaker::Remote);
    assert!(
        for_person.text.contains("operator"),
        "{:?}",
        for_person.text
    );
    assert_eq!(goodbye.speaker, Speaker::Agent);

    let handoff = r.handoffs.last().expect("the transfer is recorded");
    assert!(
        handoff.target.starts_with("sip:+390211112222@127.0.0.1:"),
        "{}",
        handoff.target
    );
    assert_eq!(
        handoff.reason.as_deref(),
        Some("the caller asked for a person")
    );
    let end = r.end.as_ref().expect("closed");
    assert_eq!(
        (&end.outcome, end.cause),
        (&Outcome::Completed, HangupCause::Transferred)
    );
    switch.shutdown().await;
}
