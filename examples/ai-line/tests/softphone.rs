//! The test-call softphone against an in-process switch on loopback: what
//! it plays to the `Echo` agent comes back (recorded, timed, with RTP
//! statistics), the keys it presses reach the `Ivr` agent, and a refused
//! call reports the SIP status, in the library and as the binary's exit
//! status; the `call` command prints each turn in the order given; and a
//! call to SIPp, a SIP peer of another make, hears its RTP echo; with the
//! offline speech engines, words said to Echo come back as those words
//! and the offline assistant's greeting and FAQ answer are heard and timed.

use std::collections::{BTreeMap, HashMap};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use agent::agents::{Assistant, AssistantProfiles, Echo, Ivr};
use agent::call::{AgentOutcome, CallContext, CallEvent, CallHandle, TransferTarget};
use agent::engines::{EspeakConfig, PocketSphinxConfig};
use agent::record::{CallStore, SqliteStore};
use agent::routing::{TenantConfig, TenantsConfig};
use agent::switch::{Agents, RtpConfig, SipConfig, Switch, SwitchConfig, TrustedPeerConfig};
use agent::{agent_fn, AgentError, SharedAgent};
use ai_line::softphone::{call, CallPlan, Ending, Latency, Reply, SoftphoneError, Speech, Step};
use rtp_media::prompt::Prompt;
use sip_core::outbound::FailureKind;

/// A free UDP port on 127.0.0.1 (also free for TCP in practice).
fn free_port() -> u16 {
    for _ in 0..50 {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = s.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port");
}

/// A scratch directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "ai-line-softphone-{name}-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `seconds` of a `hz` sine at 8 kHz, at about -12 dBFS.
fn tone(hz: f64, seconds: f64) -> Vec<i16> {
    (0..(8000.0 * seconds) as usize)
        .map(|i| (8000.0 * (2.0 * std::f64::consts::PI * hz * i as f64 / 8000.0).sin()) as i16)
        .collect()
}

/// Writes `samples` as an 8 kHz mono 16-bit WAV file.
fn write_wav(path: &Path, samples: &[i16]) {
    let data = (samples.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + data as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&8000u32.to_le_bytes());
    out.extend_from_slice(&16000u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    std::fs::write(path, out).unwrap();
}

/// The power of `samples` at `hz` (Goertzel), per sample.
fn power_at(samples: &[i16], hz: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * hz / 8000.0;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    (s1 * s1 + s2 * s2 - coeff * s1 * s2) / samples.len().max(1) as f64
}

/// One tenant, "acme", whose calls go to the profile answered by
/// `agent`; `limits` is its `[limits]` table.
fn tenant(agent: &str, limits: &str) -> TenantConfig {
    toml::from_str(&format!(
        r#"
name = "acme"
default_country = "IT"
time_zone = "Europe/Rome"
default_profile = "front"

[limits]
{limits}

[profiles.front]
agent = "{agent}"
time_zone = "Europe/Rome"
"#
    ))
    .expect("tenant config")
}

/// A switch on a free loopback port taking calls from 127.0.0.1 (the
/// softphone) as a trusted peer of `tenant`, with `agents`.
async fn start_switch(
    dir: &Path,
    tenant: TenantConfig,
    agents: Agents,
) -> (Switch, Arc<SqliteStore>, u16) {
    let port = free_port();
    let rtp_first = 30000 + (port % 100) * 200;
    let config = SwitchConfig {
        sip: SipConfig::listen(format!("127.0.0.1:{port}").parse().unwrap()),
        rtp: RtpConfig {
            bind: "127.0.0.1".parse().unwrap(),
            ports: (rtp_first, rtp_first + 199),
            ..RtpConfig::default()
        },
        accounts: vec![],
        trusted_peers: vec![TrustedPeerConfig {
            name: "softphone".into(),
            address: "127.0.0.1".into(),
            tenant: "acme".into(),
        }],
        tenants: vec![tenant],
        store: None,
    };
    let store = Arc::new(SqliteStore::open_path(&dir.join("calls.sqlite"), "test").unwrap());
    let switch = Switch::start(config, store.clone(), agents)
        .await
        .expect("switch starts");
    (switch, store, port)
}

fn agents(list: Vec<(&str, SharedAgent)>) -> Agents {
    let mut agents: Agents = HashMap::new();
    for (name, agent) in list {
        agents.insert(name.to_string(), agent);
    }
    agents
}

/// A plan calling the switch on `port` from loopback, as the caller
/// `+390212345678` (a number, so the tenant's policy sees who calls).
fn plan_to(port: u16, user: &str) -> CallPlan {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let mut plan = CallPlan::new(&format!("sip:{user}@127.0.0.1:{port}")).unwrap();
    plan.local = "127.0.0.1:0".parse().unwrap();
    plan.from = Some("sip:+390212345678@127.0.0.1".parse().unwrap());
    plan.timing.greeting_wait = Duration::from_millis(500);
    plan.timing.reply_silence = Duration::from_millis(600);
    plan
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_played_to_echo_comes_back_recorded_with_its_latency_and_rtp_statistics() {
    let dir = TempDir::new("echo");
    let agents = agents(vec![("echo", Arc::new(Echo) as SharedAgent)]);
    let (switch, _store, port) = start_switch(&dir.0, tenant("echo", ""), agents).await;
    let file = dir.0.join("tone.wav");
    write_wav(&file, &tone(600.0, 1.0));
    let heard = dir.0.join("heard.wav");
    let mut plan = plan_to(port, "echo");
    plan.steps.push(Step::Play(file.clone()));
    plan.record = Some(heard.clone());

    let report = call(plan).await.expect("the call is answered");
    println!("{report}");
    assert_eq!(report.ending, Ending::WeHungUp);
    assert!(report.greeting.is_none(), "Echo says nothing first");
    assert_eq!(report.turns.len(), 1);
    let turn = &report.turns[0];
    assert_eq!(turn.spoke, Duration::from_secs(1), "our tone");
    let reply = turn.reply.as_ref().expect("the echo is the reply");
    // The echo of a 1 s tone is a reply of about 1 s that starts while we
    // still play: the far end echoes us.
    assert!(
        matches!(turn.latency(), Some(Latency::During(d)) if d < Duration::from_millis(900)),
        "latency {:?}",
        turn.latency()
    );
    let length = reply.length();
    assert!(
        length >= Duration::from_millis(900) && length <= Duration::from_millis(1200),
        "the echo lasted {length:?}"
    );
    let stats = report.stats.as_ref().expect("statistics at the end");
    assert!(stats.packets_received >= 50, "{stats:?}");
    assert!(stats.packets_sent >= 50, "{stats:?}");
    assert!(stats.mos >= 1.0 && stats.mos <= 4.5, "{stats:?}");

    // The recording holds the echo: about a second of the same tone.
    let (path, recorded) = report.recording.as_ref().expect("recorded");
    assert_eq!(path, &heard);
    assert!(*recorded >= Duration::from_millis(1500), "{recorded:?}");
    let audio = Prompt::load(&heard).expect("the recording is a WAV file");
    let loud: Vec<&[i16]> = audio
        .samples()
        .chunks(160)
        .filter(|f| power_at(f, 600.0) > 1.0e5)
        .collect();
    assert!(
        (45..=60).contains(&loud.len()),
        "{} frames of the tone in the recording",
        loud.len()
    );
    for frame in &loud {
        assert!(
            power_at(frame, 600.0) > 20.0 * power_at(frame, 1000.0),
            "the echo is the tone we played"
        );
    }
    switch.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_pressed_after_the_menu_reaches_the_ivr_which_transfers_the_call() {
    let dir = TempDir::new("ivr");
    let prompt = dir.0.join("menu.wav");
    write_wav(&prompt, &tone(800.0, 0.6));
    let menu = Ivr::new(
        &prompt,
        BTreeMap::from([('1', TransferTarget::Agent("echo".into()))]),
    );
    let agents = agents(vec![
        ("ivr", Arc::new(menu) as SharedAgent),
        ("echo", Arc::new(Echo) as SharedAgent),
    ]);
    let (switch, store, port) = start_switch(&dir.0, tenant("ivr", ""), agents).await;
    let echoed = dir.0.join("after-menu.wav");
    write_wav(&echoed, &tone(500.0, 0.5));
    let mut plan = plan_to(port, "menu");
    plan.timing.greeting_wait = Duration::from_secs(3);
    plan.steps.push(Step::Digits("1".into()));
    plan.steps.push(Step::Play(echoed));

    let report = call(plan).await.expect("the call is answered");
    println!("{report}");
    let greeting = report
        .greeting
        .as_ref()
        .expect("the menu's prompt is heard");
    assert!(
        greeting.length() >= Duration::from_millis(500),
        "{greeting:?}"
    );
    assert_eq!(report.turns.len(), 2);
    // After the key the echo agent has the call: what we play comes back.
    assert!(report.turns[1].reply.is_some(), "{report}");
    switch.shutdown().await;
    let record = store
        .get(&report.call_id)
        .unwrap()
        .expect("the call's record");
    let keys: String = record.dtmf.iter().map(|d| d.digit).collect();
    assert_eq!(keys, "1", "the key reached the agent once");
    assert!(
        record.handoffs.iter().any(|h| h.target.contains("echo")),
        "{:?}",
        record.handoffs
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_call_reports_the_sip_status() {
    let dir = TempDir::new("refused");
    let agents = agents(vec![("echo", Arc::new(Echo) as SharedAgent)]);
    let limits = r#"blocked_callers = ["+390212345678"]"#;
    let (switch, _store, port) = start_switch(&dir.0, tenant("echo", limits), agents).await;

    let err = call(plan_to(port, "echo")).await.expect_err("refused");
    assert_eq!(err.sip_status(), Some(403), "{err}");
    assert!(matches!(err, SoftphoneError::NotAnswered(_)));
    assert!(err.to_string().contains("403"), "{err}");

    // The binary says so too, with a failing exit status.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_ai-line"))
        .args([
            "call",
            &format!("sip:echo@127.0.0.1:{port}"),
            "--local",
            "127.0.0.1",
            "--from",
            "sip:+390212345678@127.0.0.1",
        ])
        .output()
        .await
        .expect("ai-line runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("403"), "{stderr}");
    switch.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_call_command_prints_each_turn_in_the_order_given_and_the_rtp_statistics() {
    let dir = TempDir::new("command");
    let agents = agents(vec![("echo", Arc::new(Echo) as SharedAgent)]);
    let (switch, _store, port) = start_switch(&dir.0, tenant("echo", ""), agents).await;
    let file = dir.0.join("tone.wav");
    write_wav(&file, &tone(600.0, 0.5));
    let heard = dir.0.join("heard.wav");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_ai-line"))
        .args([
            "call",
            &format!("sip:echo@127.0.0.1:{port}"),
            "--local",
            "127.0.0.1",
            "--from",
            "sip:+390212345678@127.0.0.1",
            "--digits",
            "5",
            "--play",
            file.to_str().unwrap(),
            "--reply-silence",
            "600ms",
            "--reply-timeout",
            "2s",
            "--greeting-wait",
            "300ms",
            "--record",
            heard.to_str().unwrap(),
        ])
        .output()
        .await
        .expect("ai-line runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].contains("answered, PCMU"), "{stdout}");
    assert!(lines[1].starts_with("turn 1: pressed 5; "), "{stdout}");
    assert!(
        lines[2].starts_with("turn 2: played ") && lines[2].contains("reply began"),
        "{stdout}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("RTP: ") && l.contains("MOS")),
        "{stdout}"
    );
    assert!(Prompt::load(&heard).is_ok(), "the recording is written");
    switch.shutdown().await;
}

/// What the tests expect the far end to say: speech-to-text listens for
/// these phrases (the generic English model hears eSpeak's "hello" as
/// "oh").
fn expected_phrases() -> Vec<String> {
    [
        "hello",
        "goodbye",
        "thank you",
        "opening hours",
        "speak to a person",
    ]
    .map(String::from)
    .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_said_to_echo_comes_back_as_the_words_hello() {
    let dir = TempDir::new("say");
    let agents = agents(vec![("echo", Arc::new(Echo) as SharedAgent)]);
    let (switch, _store, port) = start_switch(&dir.0, tenant("echo", ""), agents).await;
    let mut plan = plan_to(port, "echo");
    plan.speech =
        Speech::offline(expected_phrases()).expect("eSpeak NG and PocketSphinx are installed");
    plan.steps.push(Step::Say("hello".into()));
    plan.steps.push(Step::Say("thank you".into()));

    let report = call(plan).await.expect("the call is answered");
    println!("{report}");
    let heard: Vec<String> = report
        .turns
        .iter()
        .map(|turn| {
            assert!(turn.spoke > Duration::from_millis(200), "{turn:?}");
            let reply = turn.reply.as_ref().expect("the echo is the reply");
            reply
                .words
                .clone()
                .expect("transcribed")
                .expect("speech-to-text works")
        })
        .collect();
    let phrases = |words: &str| -> Vec<String> {
        expected_phrases()
            .into_iter()
            .filter(|p| words.contains(p.as_str()))
            .collect()
    };
    assert_eq!(phrases(&heard[0]), ["hello"], "{heard:?}");
    assert_eq!(phrases(&heard[1]), ["thank you"], "{heard:?}");
    assert!(report.to_string().contains("\"hello\""), "{report}");
    switch.shutdown().await;
}

/// Answers each utterance of the caller, once it has stopped talking
/// (the switch's voice activity detection), with 400 ms of a tone.
async fn answer_each_utterance(
    _ctx: CallContext,
    mut call: CallHandle,
) -> Result<AgentOutcome, AgentError> {
    while let Some(event) = call.next_event().await {
        if let CallEvent::SpeechStopped { .. } = event {
            call.play(tone(700.0, 0.4))?;
        }
    }
    Ok(AgentOutcome::CallerHungUp)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_that_waits_for_the_end_of_our_speech_has_its_latency_measured_after_it() {
    let dir = TempDir::new("latency");
    let agents = agents(vec![(
        "answer",
        Arc::new(agent_fn(answer_each_utterance)) as SharedAgent,
    )]);
    let (switch, _store, port) = start_switch(&dir.0, tenant("answer", ""), agents).await;
    let mut plan = plan_to(port, "answer");
    plan.speech =
        Speech::offline(expected_phrases()).expect("eSpeak NG and PocketSphinx are installed");
    plan.steps
        .push(Step::Say("what are your opening hours".into()));
    plan.steps.push(Step::Say("thank you".into()));

    let report = call(plan).await.expect("the call is answered");
    println!("{report}");
    assert_eq!(report.turns.len(), 2);
    for turn in &report.turns {
        let reply = turn.reply.as_ref().expect("the agent answers each turn");
        assert!(
            matches!(turn.latency(), Some(Latency::After(_))),
            "the reply comes after our speech: {turn:?}"
        );
        let length = reply.length();
        assert!(
            length >= Duration::from_millis(360) && length <= Duration::from_millis(480),
            "the agent's 400 ms tone: {length:?}"
        );
    }
    switch.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_where_nobody_listens_fails_unreachable_without_a_sip_status() {
    let err = call(plan_to(free_port(), "nobody"))
        .await
        .expect_err("nobody answers");
    let SoftphoneError::NotAnswered(failure) = &err else {
        panic!("not a failed call: {err}");
    };
    assert_eq!(failure.kind, FailureKind::Unreachable, "{err}");
    assert_eq!(err.sip_status(), None);
}

/// The path of `bin`; fails the test when the peer is missing, so an
/// interop test never passes without having run.
fn require(bin: &str) -> PathBuf {
    ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"]
        .iter()
        .map(|dir| PathBuf::from(dir).join(bin))
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!("{bin} is not installed: run ./scripts/test, which installs the test peers")
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_to_sipp_answering_with_its_rtp_echo_hears_the_tone_back() {
    let sipp = require("sipp");
    let dir = TempDir::new("sipp");
    let port = free_port();
    let media_port = free_port();
    // SIPp's built-in answering scenario: 200 OK with its SDP, then it
    // waits for our BYE; its media port echoes what we send.
    let mut peer = tokio::process::Command::new(sipp)
        .args(["-sn", "uas", "-i", "127.0.0.1", "-p", &port.to_string()])
        .args([
            "-mi",
            "127.0.0.1",
            "-mp",
            &media_port.to_string(),
            "-rtp_echo",
        ])
        .args(["-m", "1", "-timeout", "30s", "-nostdin"])
        .current_dir(&dir.0)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("sipp runs");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let file = dir.0.join("tone.wav");
    write_wav(&file, &tone(600.0, 1.0));
    let mut plan = plan_to(port, "service");
    plan.steps.push(Step::Play(file));

    let report = call(plan).await.expect("SIPp answers");
    println!("{report}");
    assert_eq!(report.ending, Ending::WeHungUp);
    let turn = &report.turns[0];
    assert!(
        matches!(turn.latency(), Some(Latency::During(_))),
        "the echo starts while we play: {turn:?}"
    );
    let stats = report.stats.as_ref().expect("statistics");
    assert!(stats.packets_received >= 45, "{stats:?}");
    let _ = tokio::time::timeout(Duration::from_secs(10), peer.wait()).await;
}

/// A tenant whose calls the offline assistant answers, with one FAQ.
fn assistant_tenant() -> TenantConfig {
    toml::from_str(
        r#"
name = "acme"
default_country = "IT"
time_zone = "Europe/Rome"
default_profile = "front"

[profiles.front]
agent = "assistant"
time_zone = "Europe/Rome"
greeting = "Hello, this is the shop. How can I help?"

[[profiles.front.faq]]
phrases = ["opening hours", "when are you open"]
answer = "We are open Monday to Friday, from nine to six."

[[profiles.front.faq]]
phrases = ["where are you", "what is your address"]
answer = "We are at via Roma one, in Milan."
"#,
    )
    .expect("tenant config")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_assistant_greets_then_answers_the_question_said_after_its_greeting() {
    let dir = TempDir::new("assistant");
    let tenant = assistant_tenant();
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
    let agents = agents(vec![("assistant", Arc::new(assistant) as SharedAgent)]);
    let (switch, _store, port) = start_switch(&dir.0, tenant, agents).await;
    let mut plan = plan_to(port, "shop");
    plan.timing.greeting_wait = Duration::from_secs(5);
    plan.speech = Speech::offline(
        ["how can i help", "monday to friday", "via roma"]
            .map(String::from)
            .to_vec(),
    )
    .expect("eSpeak NG and PocketSphinx are installed");
    plan.steps
        .push(Step::Say("what are your opening hours".into()));

    let report = call(plan).await.expect("the call is answered");
    println!("{report}");
    let words = |reply: Option<&Reply>| -> String {
        reply
            .and_then(|r| r.words.clone())
            .expect("transcribed")
            .expect("speech-to-text works")
    };
    let greeting = words(report.greeting.as_ref());
    assert!(greeting.contains("how can i help"), "{report}");
    let turn = &report.turns[0];
    let answer = words(turn.reply.as_ref());
    assert!(answer.contains("monday to friday"), "{report}");
    assert!(!answer.contains("via roma"), "{report}");
    assert!(
        matches!(turn.latency(), Some(Latency::After(_))),
        "the assistant answers once we have spoken: {turn:?}"
    );
    switch.shutdown().await;
}
