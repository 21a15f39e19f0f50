//! Whole calls on an FXO port over the simulated analog line: rings with
//! MDMF caller ID between them, the answer after the configured rings, an
//! agent served from the line's 20 ms frames, the far end's hang-up by
//! polarity reversal or busy tone, and the call record each leaves; and
//! the line's echo of a prompt, which must not barge in, against a caller
//! talking over it, who must.
#![cfg(target_os = "linux")]

mod common;

use agent::agents::Echo;
use agent::analog::{answer_one_call, EchoGateSettings, FxoServices, FxoSettings};
use agent::call::{AgentOutcome, CallContext, CallEvent, CallHandle};
use agent::record::{CallRecord, HangupCause, Outcome, SqliteStore};
use agent::routing::{Router, TenantsConfig};
use agent::supervise::Supervision;
use agent::{Agent, AgentError, SharedAgent};
use dahdi_sys::channel::sim::{LineScript, SimulatedChannel};
use dahdi_sys::channel::{AnalogChannel, ChannelError, ChannelEvent, Frame, Hook, SampleFormat};
use rtp_media::callerid::{encode, CallerIdMessage, MessageFormat, Modulation};
use rtp_media::dtmf::ToneGenerator;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The simulated line at a card's pace: each read waits for its 20 ms, as
/// a DAHDI channel's read blocks, so the agent runs beside the line as it
/// would on hardware.
struct Paced {
    line: SimulatedChannel,
    started: Option<Instant>,
    reads: u32,
}

impl Paced {
    fn new(line: SimulatedChannel) -> Self {
        Paced {
            line,
            started: None,
            reads: 0,
        }
    }
}

impl AnalogChannel for Paced {
    fn number(&self) -> u32 {
        self.line.number()
    }
    fn format(&self) -> SampleFormat {
        self.line.format()
    }
    fn read_frame(&mut self) -> Result<Frame, ChannelError> {
        let started = *self.started.get_or_insert_with(Instant::now);
        self.reads += 1;
        let due = started + Duration::from_millis(20) * self.reads;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        self.line.read_frame()
    }
    fn write_frame(&mut self, frame: &Frame) -> Result<(), ChannelError> {
        self.line.write_frame(frame)
    }
    fn next_event(
        &mut self,
        timeout: Option<Duration>,
    ) -> Result<Option<ChannelEvent>, ChannelError> {
        self.line.next_event(timeout)
    }
    fn set_hook(&mut self, hook: Hook) -> Result<(), ChannelError> {
        self.line.set_hook(hook)
    }
}

const CALLER: &str = "2125551234";

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Two rings with an MDMF caller ID burst (Bell 202) between them, then
/// the line waits for us to answer.
fn ringing() -> LineScript {
    let message = CallerIdMessage {
        number: Some(CALLER.into()),
        name: Some("SMITH JOE".into()),
        ..Default::default()
    };
    let burst = encode(&message, MessageFormat::Mdmf, Modulation::Bell202, -13.0).unwrap();
    LineScript::new()
        .ring(ms(400))
        .silence(ms(300))
        .audio(burst)
        .silence(ms(300))
        .ring(ms(400))
        .wait_for_hook(Hook::OffHook)
}

fn store_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("agent-analog-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("calls.sqlite")
}

fn services(name: &str, agent: SharedAgent) -> FxoServices {
    let tenants: TenantsConfig = toml::from_str(
        r#"
        [[tenants]]
        name = "home"
        default_country = "US"
        time_zone = "America/New_York"
        default_profile = "front"
        [tenants.profiles.front]
        agent = "line-agent"
        time_zone = "America/New_York"
        "#,
    )
    .unwrap();
    FxoServices {
        router: Arc::new(Router::new(&tenants).unwrap()),
        store: Arc::new(SqliteStore::open_path(&store_path(name), "default").unwrap()),
        agents: HashMap::from([("line-agent".to_string(), agent)]),
        supervision: Supervision::default(),
    }
}

fn settings() -> FxoSettings {
    FxoSettings::new("dahdi/1", "home")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Runs one call on `script` and returns its record and the line.
fn one_call(
    name: &str,
    script: LineScript,
    agent: SharedAgent,
    settings: &FxoSettings,
) -> (CallRecord, SimulatedChannel) {
    one_call_on(name, SimulatedChannel::new(1, script), agent, settings)
}

/// [`one_call`] on a line of the test's making (another echo).
fn one_call_on(
    name: &str,
    line: SimulatedChannel,
    agent: SharedAgent,
    settings: &FxoSettings,
) -> (CallRecord, SimulatedChannel) {
    let rt = runtime();
    let services = services(name, agent);
    let mut line = Paced::new(line);
    let call_id = answer_one_call(&mut line, settings, &services, rt.handle())
        .unwrap()
        .expect("a call came");
    let record = services.store.get(&call_id).unwrap().expect("a record");
    (record, line.line)
}

/// The share of `samples`' power at `freq` Hz.
fn share_at(samples: &[i16], freq: f64) -> f64 {
    common::tone_share(samples, freq, 8000)
}

fn assert_caller_and_end(record: &CallRecord, cause: HangupCause) {
    assert_eq!(record.line, "dahdi/1");
    assert_eq!(record.tenant.as_deref(), Some("home"));
    assert_eq!(record.caller.raw, CALLER);
    assert_eq!(record.caller.e164.as_deref(), Some("+12125551234"));
    assert_eq!(record.caller.name.as_deref(), Some("SMITH JOE"));
    assert_eq!(record.agent.as_deref(), Some("line-agent"));
    assert!(record.answer.is_some(), "answered: {record:?}");
    let end = record.end.as_ref().expect("the record is closed");
    assert_eq!((&end.outcome, end.cause), (&Outcome::Completed, cause));
}

#[test]
fn a_call_answered_after_two_rings_reaches_the_echo_agent_and_ends_on_polarity_reversal() {
    let caller_says = common::tone(8000 * 6 / 10, 1000.0, 8000, 6000.0);
    let script = ringing()
        .silence(ms(400))
        .audio(caller_says)
        .silence(ms(600))
        .event(ChannelEvent::Polarity)
        .silence(ms(2000));
    let (record, line) = one_call("polarity", script, Arc::new(Echo), &settings());
    assert_caller_and_end(&record, HangupCause::Remote);
    // Answered once, on hook once the far end went.
    assert_eq!(line.hooks(), [Hook::OffHook, Hook::OnHook]);
    // The agent heard the caller's tone, and the caller heard it back.
    let sent = line.sent();
    let loud = sent.iter().filter(|s| s.unsigned_abs() > 3000).count();
    assert!(loud > 8 * 400, "{loud} loud samples sent back");
    let loudest = sent
        .chunks(160)
        .max_by_key(|f| f.iter().map(|s| i64::from(*s).pow(2)).sum::<i64>())
        .unwrap();
    let share = share_at(loudest, 1000.0);
    assert!(
        share > 0.8,
        "the loudest frame sent is {share} the caller's tone"
    );
    // The call ended at the reversal, not at the end of the script.
    assert!(!line.finished(), "the line was left at the reversal");
}

#[test]
fn a_call_on_a_line_without_disconnect_signals_ends_on_busy_tone() {
    let caller_says = common::tone(8000 * 6 / 10, 1000.0, 8000, 6000.0);
    let mut busy = vec![0i16; 8000 * 4];
    ToneGenerator::busy_us(3000).fill(&mut busy);
    let script = ringing()
        .silence(ms(400))
        .audio(caller_says)
        .silence(ms(600))
        .audio(busy)
        .silence(ms(3000));
    let (record, line) = one_call("busy", script, Arc::new(Echo), &settings());
    assert_caller_and_end(&record, HangupCause::Remote);
    assert_eq!(line.hooks(), [Hook::OffHook, Hook::OnHook]);
    // Heard within the busy tone's first seconds, not at the script's end.
    assert!(!line.finished(), "the busy tone was heard while it played");
}

/// What the prompting agent saw.
#[derive(Debug, Default, Clone)]
struct Heard {
    speech_started: usize,
    interrupted: Option<bool>,
}

/// Plays a prompt with barge-in on, then hangs up once it has finished or
/// been cut.
struct Prompter {
    prompt: Vec<i16>,
    heard: Arc<Mutex<Heard>>,
}

impl Agent for Prompter {
    async fn run(
        &self,
        _ctx: CallContext,
        mut call: CallHandle,
    ) -> Result<AgentOutcome, AgentError> {
        call.set_barge_in(true)?;
        let id = call.play(self.prompt.clone())?;
        while let Some(event) = call.next_event().await {
            match event {
                CallEvent::SpeechStarted { .. } => self.heard.lock().unwrap().speech_started += 1,
                CallEvent::PlaybackFinished {
                    id: done,
                    interrupted,
                } if done == id => {
                    self.heard.lock().unwrap().interrupted = Some(interrupted);
                    return Ok(AgentOutcome::hang_up("prompt done"));
                }
                _ => {}
            }
        }
        Ok(AgentOutcome::CallerHungUp)
    }
}

fn prompt() -> Vec<i16> {
    common::speech(
        "Thank you for calling. Please tell me briefly how I can help you today.",
        "analog-prompt",
    )
}

fn prompted_call(
    name: &str,
    line: SimulatedChannel,
    settings: &FxoSettings,
) -> (Heard, CallRecord) {
    let heard = Arc::new(Mutex::new(Heard::default()));
    let agent = Arc::new(Prompter {
        prompt: prompt(),
        heard: heard.clone(),
    });
    let (record, _line) = one_call_on(name, line, agent, settings);
    let heard = heard.lock().unwrap().clone();
    (heard, record)
}

/// A line whose hybrid returns our audio 20 ms later and `loss_db` down.
fn line_with_echo(script: LineScript, loss_db: f32) -> SimulatedChannel {
    SimulatedChannel::new(1, script).with_echo(ms(20), loss_db)
}

#[test]
fn the_lines_echo_of_a_prompt_does_not_barge_in() {
    // The simulated line's own echo: 20 ms, 12 dB down.
    let line = SimulatedChannel::new(1, ringing().silence(ms(15_000)));
    let (heard, record) = prompted_call("echo-only", line, &settings());
    assert_eq!(heard.interrupted, Some(false), "{heard:?}");
    assert_eq!(heard.speech_started, 0, "{heard:?}");
    assert_caller_and_end(&record, HangupCause::Agent);
}

#[test]
fn a_poor_hybrids_echo_barges_in_without_the_gate_and_not_with_it() {
    // 6 dB of return loss, the worst G.168 plans for: loud enough an echo
    // that a bare speech detector takes it for the caller.
    let script = || ringing().silence(ms(15_000));
    let mut ungated = settings();
    ungated.line.echo_gate.return_loss_db = f32::INFINITY;
    let (heard, _) = prompted_call("echo-ungated", line_with_echo(script(), 6.0), &ungated);
    assert_eq!(heard.interrupted, Some(true), "ungated: {heard:?}");
    assert!(heard.speech_started >= 1, "ungated: {heard:?}");

    let mut gated = settings();
    gated.line.echo_gate = EchoGateSettings {
        return_loss_db: 6.0,
        ..EchoGateSettings::default()
    };
    let (heard, _) = prompted_call("echo-gated", line_with_echo(script(), 6.0), &gated);
    assert_eq!(heard.interrupted, Some(false), "gated: {heard:?}");
    assert_eq!(heard.speech_started, 0, "gated: {heard:?}");
}

#[test]
fn a_caller_talking_over_the_prompt_barges_in_through_its_echo() {
    let caller = common::speech(
        "Hello, I would like to speak to someone please.",
        "analog-caller",
    );
    let script = ringing()
        .silence(ms(1200))
        .audio(caller)
        .silence(ms(15_000));
    let (heard, record) = prompted_call("barge-in", SimulatedChannel::new(1, script), &settings());
    assert_eq!(heard.interrupted, Some(true), "{heard:?}");
    assert!(heard.speech_started >= 1, "{heard:?}");
    assert_caller_and_end(&record, HangupCause::Agent);
}
