//! What the switch reports through the `metrics` facade, read by a
//! recorder installed for this test binary: a trunk account's
//! registration state (SIPp as the registrar), calls by outcome, active
//! calls, policy refusals by reason and agent errors; and a call from the
//! registrar's address placed on the trunk account's line.

mod sipp;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent::call::{AgentOutcome, CallEvent};
use agent::metrics as names;
use agent::record::{HangupCause, Outcome, SqliteStore};
use agent::switch::{Agents, RtpConfig, SipConfig, Switch, SwitchConfig, TrunkAccountConfig};
use agent::{agent_fn, AgentError, SharedAgent};
use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use sip_core::registration::RegistrationState;
use sipp::*;

#[derive(Default)]
struct Samples(Mutex<Vec<f64>>);

impl HistogramFn for Samples {
    fn record(&self, value: f64) {
        self.0.lock().unwrap().push(value);
    }
}

/// Keeps every counter, gauge and histogram by name and labels
/// (`name{label=value}`).
#[derive(Default)]
struct TestRecorder {
    counters: Mutex<HashMap<String, Arc<AtomicU64>>>,
    gauges: Mutex<HashMap<String, Arc<AtomicU64>>>,
    histograms: Mutex<HashMap<String, Arc<Samples>>>,
}

fn key_text(key: &Key) -> String {
    let labels: Vec<String> = key
        .labels()
        .map(|l| format!("{}={}", l.key(), l.value()))
        .collect();
    if labels.is_empty() {
        key.name().to_string()
    } else {
        format!("{}{{{}}}", key.name(), labels.join(","))
    }
}

impl Recorder for TestRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let c = self
            .counters
            .lock()
            .unwrap()
            .entry(key_text(key))
            .or_default()
            .clone();
        Counter::from_arc(c)
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        let g = self
            .gauges
            .lock()
            .unwrap()
            .entry(key_text(key))
            .or_default()
            .clone();
        Gauge::from_arc(g)
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        let h = self
            .histograms
            .lock()
            .unwrap()
            .entry(key_text(key))
            .or_default()
            .clone();
        Histogram::from_arc(h)
    }
}

static RECORDER: std::sync::OnceLock<&'static TestRecorder> = std::sync::OnceLock::new();

fn recorder() -> &'static TestRecorder {
    RECORDER.get_or_init(|| {
        let r: &'static TestRecorder = Box::leak(Box::default());
        metrics::set_global_recorder(r).expect("the only recorder of this binary");
        r
    })
}

fn counter(name: &str) -> u64 {
    recorder()
        .counters
        .lock()
        .unwrap()
        .get(name)
        .map_or(0, |c| c.load(Ordering::Acquire))
}

fn gauge(name: &str) -> Option<f64> {
    recorder()
        .gauges
        .lock()
        .unwrap()
        .get(name)
        .map(|g| f64::from_bits(g.load(Ordering::Acquire)))
}

fn samples(name: &str) -> usize {
    recorder()
        .histograms
        .lock()
        .unwrap()
        .get(name)
        .map_or(0, |h| h.0.lock().unwrap().len())
}

const REGISTRAR: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="registrar">
  <recv request="REGISTER"/>
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
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
]]></send>
</scenario>
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_calls_refusals_and_agent_errors_are_counted_through_the_metrics_facade() {
    require("sipp");
    recorder();
    let dir = TempDir::new("metrics");

    // SIPp is the trunk's registrar; it also places the calls, from the
    // registrar's address to our DID, so they come in on the trunk line.
    let registrar_port = free_port();
    let sf = scenario(&dir.0, "registrar.xml", REGISTRAR);
    let sipp_registrar = {
        let sf = sf.clone();
        tokio::spawn(async move { run_sipp_server(registrar_port, &sf).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;

    let port = free_port();
    let rtp_first = 30000 + (port % 100) * 200;
    let mut tenant = tenant("");
    tenant.dids.insert("+390299887766".into(), "front".into());
    let config = SwitchConfig {
        sip: SipConfig::listen(format!("127.0.0.1:{port}").parse().unwrap()),
        rtp: RtpConfig {
            bind: "127.0.0.1".parse().unwrap(),
            ports: (rtp_first, rtp_first + 199),
            ..RtpConfig::default()
        },
        accounts: vec![TrunkAccountConfig::new(
            "main",
            "acme",
            &format!("127.0.0.1:{registrar_port}"),
            "1001",
            "secret",
        )],
        trusted_peers: vec![],
        tenants: vec![tenant],
        store: None,
    };
    let store = Arc::new(SqliteStore::open_path(&dir.0.join("calls.sqlite"), "test").unwrap());
    let served = Arc::new(AtomicU64::new(0));
    let s = served.clone();
    // The first two calls are served to their end; the third one's agent fails.
    let agent = agent_fn(move |_ctx, mut call| {
        let n = s.fetch_add(1, Ordering::AcqRel);
        async move {
            if n == 2 {
                return Err(AgentError::failed("the model is unreachable"));
            }
            while let Some(e) = call.next_event().await {
                if e == CallEvent::HungUp {
                    break;
                }
            }
            Ok(AgentOutcome::CallerHungUp)
        }
    });
    let mut agents: Agents = HashMap::new();
    agents.insert("test".into(), Arc::new(agent) as SharedAgent);
    let switch = Switch::start(config, store.clone(), agents)
        .await
        .expect("switch starts");

    let sw = &switch;
    wait_until("registered", || {
        matches!(
            sw.registration("main"),
            Some(RegistrationState::Registered { expires, .. }) if expires == Duration::from_secs(300)
        )
    })
    .await;
    wait_until("the registration gauge", || {
        gauge(&format!("{}{{account=main}}", names::REGISTERED)) == Some(1.0)
    })
    .await;

    const DID: &str = "+390299887766";
    const CALLER: &str = "<sip:+390212345678@[local_ip]:[local_port]>";
    let answered = scenario_of(
        "answered",
        &[
            answered_call(CALLER, DID),
            vec![
                r#"  <pause milliseconds="300"/>"#.to_string(),
                in_dialog("BYE", 2, CALLER, DID, None),
                r#"  <recv response="200"/>"#.to_string(),
            ],
        ]
        .concat(),
    );
    let sf = scenario(&dir.0, "answered.xml", &answered);
    let out = run_sipp(port, &sf, &["-m", "1"]).await;
    assert!(out.status.success(), "{}", sipp_report(&out));
    // The provider sends the next call to our account's user, the DID in To.
    let to_account = answered.replacen(&format!("INVITE sip:{DID}@"), "INVITE sip:1001@", 1);
    assert_ne!(to_account, answered);
    let sf = scenario(&dir.0, "to_account.xml", &to_account);
    let out = run_sipp(port, &sf, &["-m", "1"]).await;
    assert!(out.status.success(), "{}", sipp_report(&out));
    wait_until("the first call served", || switch.calls_in_progress() == 0).await;

    // The failing agent's call: answered, then hung up by us.
    let failing = scenario_of(
        "agent fails",
        &[
            answered_call(CALLER, DID),
            vec![
                r#"  <recv request="BYE"/>"#.to_string(),
                OK_TO_LAST.to_string(),
            ],
        ]
        .concat(),
    );
    let sf = scenario(&dir.0, "failing.xml", &failing);
    let out = run_sipp(port, &sf, &["-m", "1"]).await;
    assert!(out.status.success(), "{}", sipp_report(&out));

    let anonymous = r#""Anonymous" <sip:anonymous@anonymous.invalid>"#;
    let refused = scenario_of(
        "refused",
        &[
            invite(anonymous, DID),
            r#"  <recv response="100" optional="true"/>"#.to_string(),
            r#"  <recv response="433"/>"#.to_string(),
            ack_failure(anonymous, DID),
        ],
    );
    let sf = scenario(&dir.0, "refused.xml", &refused);
    let out = run_sipp(port, &sf, &["-m", "1"]).await;
    assert!(out.status.success(), "{}", sipp_report(&out));
    wait_until("every call served", || switch.calls_in_progress() == 0).await;

    let calls = |outcome: &str| counter(&format!("{}{{outcome={outcome}}}", names::CALLS));
    assert_eq!(calls("completed"), 2);
    assert_eq!(calls("agent_failed"), 1);
    assert_eq!(calls("refused"), 1);
    assert_eq!(
        counter(&format!("{}{{reason=anonymous}}", names::POLICY_REFUSALS)),
        1
    );
    assert_eq!(counter(names::AGENT_ERRORS), 1);
    assert_eq!(gauge(names::ACTIVE_CALLS), Some(0.0));
    assert_eq!(
        samples(names::CALL_DURATION),
        3,
        "three answered calls ended"
    );

    let records = records(&store);
    assert_eq!(records.len(), 4);
    for r in &records {
        assert_eq!(r.line, "main", "on the trunk account's line: {r:?}");
        assert_eq!(r.tenant.as_deref(), Some("acme"));
        assert_eq!(
            r.did.as_deref(),
            Some(DID),
            "the DID from To when sent to 1001"
        );
    }
    let failed = records
        .iter()
        .find(|r| matches!(r.end.as_ref().unwrap().outcome, Outcome::AgentFailed { .. }))
        .expect("the failing agent's record");
    assert_eq!(failed.end.as_ref().unwrap().cause, HangupCause::Error);

    switch.shutdown().await;
    assert_eq!(
        gauge(&format!("{}{{account=main}}", names::REGISTERED)),
        Some(0.0)
    );
    let out = sipp_registrar.await.unwrap();
    assert!(out.status.success(), "{}", sipp_report(&out));
}
