//! `switch-line`: the load target for the switch's benchmarks. A whole
//! `agent::switch::Switch` with one trusted-peer line (127.0.0.1) whose
//! profile's agent answers every call: SIP, policy, routing, the call
//! record (SQLite), the media session and the agent, as a deployment runs
//! them.
//!
//! ```text
//! switch-line --listen ADDR:PORT --store PATH [--agent echo|turn]
//!             [--rtp-ports FIRST-LAST] [--rtp-workers N] [--stats-every SECS]
//! ```
//!
//! `--agent echo` (the default) is the built-in `Echo`. `--agent turn` is
//! the turn helper (`agent::turn::TurnAgent`, end of turn at the
//! speech-stopped event) with a speech-to-text, responder and
//! text-to-speech that answer at once: what the switch adds to a turn, with
//! nothing of an engine's own time in it.
//!
//! With `--stats-every`, it prints one line of JSON to stdout every period:
//! calls in progress, media sessions, SIP dialogs and transactions, the
//! process's resident memory, and the turns measured so far with their
//! latency (speech stopped → first reply packet sent, from each turn's
//! timings) at p50 / p99 / max. `switch-load` reads these lines.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent::agents::Echo;
use agent::call::BoxFuture;
use agent::record::SqliteStore;
use agent::routing::TenantConfig;
use agent::speech::{
    Line, Responder, SpeechError, SpeechOut, SpeechToText, TextToSpeech, Utterance,
};
use agent::switch::{Agents, RtpConfig, SipConfig, Switch, SwitchConfig, TrustedPeerConfig};
use agent::turn::{TurnAgent, TurnConfig};
use agent::SharedAgent;

#[derive(Debug)]
struct Args {
    listen: SocketAddr,
    store: PathBuf,
    agent: String,
    rtp_ports: (u16, u16),
    rtp_workers: usize,
    stats_every: Option<Duration>,
}

fn usage() -> String {
    "usage: switch-line --listen ADDR:PORT --store PATH [--agent echo|turn] \
     [--rtp-ports FIRST-LAST] [--rtp-workers N] [--stats-every SECS]"
        .to_string()
}

fn parse_args() -> Result<Args, String> {
    let mut listen = None;
    let mut store = None;
    let mut agent = "echo".to_string();
    let mut rtp_ports = (20000, 40000);
    let mut rtp_workers = 2;
    let mut stats_every = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| format!("{a} needs a value\n{}", usage()))
        };
        match a.as_str() {
            "--listen" => {
                let v = value()?;
                listen = Some(v.parse().map_err(|e| format!("--listen {v}: {e}"))?);
            }
            "--store" => store = Some(PathBuf::from(value()?)),
            "--agent" => {
                agent = value()?;
                if agent != "echo" && agent != "turn" {
                    return Err(format!("--agent {agent}: echo or turn\n{}", usage()));
                }
            }
            "--rtp-ports" => {
                let v = value()?;
                let (a, b) = v
                    .split_once('-')
                    .ok_or_else(|| format!("--rtp-ports {v}: FIRST-LAST"))?;
                let p = |s: &str| {
                    s.parse::<u16>()
                        .map_err(|e| format!("--rtp-ports {v}: {e}"))
                };
                rtp_ports = (p(a)?, p(b)?);
            }
            "--rtp-workers" => {
                let v = value()?;
                rtp_workers = v.parse().map_err(|e| format!("--rtp-workers {v}: {e}"))?;
            }
            "--stats-every" => {
                let v = value()?;
                let secs: f64 = v.parse().map_err(|e| format!("--stats-every {v}: {e}"))?;
                stats_every = Some(Duration::from_secs_f64(secs));
            }
            "-h" | "--help" => return Err(usage()),
            other => return Err(format!("unknown argument {other}\n{}", usage())),
        }
    }
    Ok(Args {
        listen: listen.ok_or_else(usage)?,
        store: store.ok_or_else(usage)?,
        agent,
        rtp_ports,
        rtp_workers,
        stats_every,
    })
}

/// Speech-to-text that hears "hello" in any utterance, at once.
struct InstantStt;

impl SpeechToText for InstantStt {
    fn transcribe<'a>(
        &'a self,
        _utterance: &'a Utterance,
    ) -> BoxFuture<'a, Result<String, SpeechError>> {
        Box::pin(async { Ok("hello".to_string()) })
    }
}

/// A responder that answers "hi" to anything, at once.
struct InstantResponder;

impl Responder for InstantResponder {
    fn respond<'a>(
        &'a self,
        _conversation: &'a [Line],
        _text: &'a str,
    ) -> BoxFuture<'a, Result<String, SpeechError>> {
        Box::pin(async { Ok("hi".to_string()) })
    }
}

/// Text-to-speech that hands over 200 ms of a 440 Hz tone at once.
struct InstantTts {
    audio: Vec<i16>,
}

impl TextToSpeech for InstantTts {
    fn synthesize<'a>(
        &'a self,
        _text: &'a str,
        out: &'a mut SpeechOut,
    ) -> BoxFuture<'a, Result<(), SpeechError>> {
        Box::pin(async move { out.play(self.audio.clone(), 8000) })
    }
}

fn turn_agent() -> SharedAgent {
    let audio = (0..1600)
        .map(|i| ((i as f32 * 2.0 * std::f32::consts::PI * 440.0 / 8000.0).sin() * 8000.0) as i16)
        .collect();
    Arc::new(TurnAgent::new(
        Arc::new(InstantStt),
        Arc::new(InstantResponder),
        Arc::new(InstantTts { audio }),
        TurnConfig {
            // The turn is over at the speech-stopped event: what is left
            // between it and the reply on the wire is the switch's.
            end_of_turn: Duration::ZERO,
            ..TurnConfig::default()
        },
    ))
}

/// Keeps every turn latency the switch reports (`metrics` facade).
#[derive(Default)]
struct TurnLatencies(Mutex<Vec<f64>>);

impl metrics::HistogramFn for TurnLatencies {
    fn record(&self, value: f64) {
        if let Ok(mut v) = self.0.lock() {
            v.push(value);
        }
    }
}

/// The recorder of this process: the turn latency histogram only.
struct Recorder(Arc<TurnLatencies>);

impl metrics::Recorder for Recorder {
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn register_counter(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        metrics::Counter::noop()
    }
    fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::noop()
    }
    fn register_histogram(
        &self,
        key: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        if key.name() == agent::metrics::TURN_LATENCY {
            metrics::Histogram::from_arc(self.0.clone())
        } else {
            metrics::Histogram::noop()
        }
    }
}

/// The `q` quantile of sorted `v`, in milliseconds.
fn quantile_ms(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let i = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1;
    v[i] * 1000.0
}

/// Resident set size of this process in bytes (Linux).
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

fn config(args: &Args) -> Result<SwitchConfig, String> {
    let tenant: TenantConfig = toml::from_str(&format!(
        r#"
name = "bench"
default_country = "IT"
time_zone = "Europe/Rome"
default_profile = "line"
[limits]
refuse_anonymous = false
[profiles.line]
agent = "{}"
time_zone = "Europe/Rome"
"#,
        args.agent
    ))
    .map_err(|e| format!("tenant: {e}"))?;
    let mut sip = SipConfig::listen(args.listen);
    sip.max_calls = None;
    Ok(SwitchConfig {
        sip,
        rtp: RtpConfig {
            bind: args.listen.ip(),
            ports: args.rtp_ports,
            workers: args.rtp_workers,
            ..RtpConfig::default()
        },
        accounts: Vec::new(),
        trusted_peers: vec![TrustedPeerConfig {
            name: "bench-peer".into(),
            address: "127.0.0.1".into(),
            tenant: "bench".into(),
        }],
        tenants: vec![tenant],
        store: None,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SWITCH_LINE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let latencies = Arc::new(TurnLatencies::default());
    if metrics::set_global_recorder(Recorder(latencies.clone())).is_err() {
        eprintln!("a metrics recorder was already installed");
    }
    let config = match config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let store = match SqliteStore::open_path(&args.store, "switch-line") {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("cannot open the call store {}: {e}", args.store.display());
            return ExitCode::from(1);
        }
    };
    let agent: SharedAgent = if args.agent == "turn" {
        turn_agent()
    } else {
        Arc::new(Echo)
    };
    let agents: Agents = HashMap::from([(args.agent.clone(), agent)]);
    let switch = match Switch::start(config, store, agents).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("the switch did not start: {e}");
            return ExitCode::from(1);
        }
    };
    eprintln!(
        "switch-line listening on {} (agent {})",
        args.listen, args.agent
    );
    let stats = async {
        let Some(every) = args.stats_every else {
            return std::future::pending().await;
        };
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            let mut turns = latencies.0.lock().map(|v| v.clone()).unwrap_or_default();
            turns.sort_by(f64::total_cmp);
            let ep = switch.endpoint();
            let (server_tx, client_tx) = ep.transaction_counts();
            println!(
                "{{\"calls\":{},\"media_sessions\":{},\"dialogs\":{},\"server_transactions\":{server_tx},\"client_transactions\":{client_tx},\"rss_bytes\":{},\"turns\":{},\"turn_p50_ms\":{:.2},\"turn_p99_ms\":{:.2},\"turn_max_ms\":{:.2}}}",
                switch.calls_in_progress(),
                switch.media_sessions(),
                ep.dialog_count(),
                rss_bytes(),
                turns.len(),
                quantile_ms(&turns, 0.5),
                quantile_ms(&turns, 0.99),
                turns.last().map_or(0.0, |m| m * 1000.0),
            );
        }
    };
    tokio::select! {
        _ = stats => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    switch.shutdown().await;
    ExitCode::SUCCESS
}
