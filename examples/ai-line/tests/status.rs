//! The status server against a real switch on loopback: a SIPp call seen
//! live on `/status` and on the page (loaded in headless Chromium), then
//! its record with the transcript, turn timings and recording on `/calls`,
//! `/calls/{id}`, `/calls/{id}/recording` and the page, and counted on
//! `/metrics`; paging through `/calls`; with a token set, 401 for every
//! data endpoint without it, and an account whose registrar refuses it
//! shown as FAILED with the reason, on `/status` and on the page opened
//! with the token.

#[path = "../../../agent/tests/sipp/mod.rs"]
mod sipp;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent::call::{AgentOutcome, CallContext, CallEvent, CallHandle, RecordingMode};
use agent::record::{
    CallDirection, CallRecord, CallStore, Party, Speaker, SqliteStore, StoreSettings, TurnTimings,
};
use agent::switch::{Agents, SwitchStatus, TrunkAccountConfig};
use agent::{agent_fn, AgentError, SharedAgent};
use ai_line::status::{self, StatusState};
use serde_json::Value;
use sipp::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

const CALLER: &str = "<sip:+390212345678@[local_ip]:[local_port]>";
const DID: &str = "+390299887766";
const QUESTION: &str = "what are your opening hours";
const ANSWER: &str = "we are open from nine to five";

/// One HTTP answer.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

/// `GET path` over HTTP/1.1, with the bearer token if given.
async fn get(addr: SocketAddr, path: &str, token: Option<&str>) -> Answer {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP head");
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let answer = Answer {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    };
    assert_eq!(
        answer.header("transfer-encoding"),
        None,
        "every answer has its length"
    );
    answer
}

/// Starts the status server on a free loopback port.
async fn start_status(
    switch: SwitchStatus,
    store: Arc<SqliteStore>,
    token: Option<&str>,
) -> SocketAddr {
    let state = StatusState::new(switch, store, status::install_metrics_recorder().unwrap())
        .with_token(token.map(str::to_string));
    let listener = status::bind("127.0.0.1:0".parse().unwrap(), &state)
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(status::serve(listener, state));
    addr
}

/// The page at `url` as headless Chromium has it once its script has run.
async fn rendered_page(dir: &Path, url: &str) -> String {
    let chromium = require("chromium");
    let profile = dir.join(format!("chromium-{}", free_port()));
    let run = tokio::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            &format!("--user-data-dir={}", profile.display()),
            "--virtual-time-budget=3000",
            "--dump-dom",
            url,
        ])
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(90), run)
        .await
        .expect("chromium finished in time")
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The text of the page's table body `id` (its markup, tags and all).
fn section<'a>(dom: &'a str, id: &str) -> &'a str {
    let start = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in the page:\n{dom}"));
    let end = dom[start..].find("</tbody>").expect("the table ends") + start;
    &dom[start..end]
}

/// Tells the test it is on the line and has said its lines, then waits
/// for the test to let it go (or the caller to hang up) and hangs up.
async fn speak_then_wait(
    ctx: CallContext,
    mut call: CallHandle,
    on_line: mpsc::UnboundedSender<String>,
    release: Arc<Mutex<Option<oneshot::Receiver<()>>>>,
) -> Result<AgentOutcome, AgentError> {
    call.start_recording(RecordingMode::Both)
        .await
        .map_err(|e| AgentError::failed(e.to_string()))?;
    call.transcript(
        Speaker::Remote,
        QUESTION,
        Duration::from_millis(1_200),
        TurnTimings {
            end_of_speech: Some(Duration::from_millis(2_000)),
            transcript_ready: Some(Duration::from_millis(2_150)),
            ..TurnTimings::default()
        },
    );
    call.transcript(
        Speaker::Agent,
        ANSWER,
        Duration::from_millis(2_400),
        TurnTimings {
            end_of_speech: Some(Duration::from_millis(2_000)),
            transcript_ready: Some(Duration::from_millis(2_150)),
            reply_ready: Some(Duration::from_millis(2_300)),
            first_audio: Some(Duration::from_millis(2_400)),
        },
    );
    let _ = on_line.send(ctx.call_id.clone());
    let release = release.lock().unwrap().take();
    if let Some(release) = release {
        tokio::select! {
            _ = release => {}
            _ = async { while !matches!(call.next_event().await, Some(CallEvent::HungUp) | None) {} } => {
                return Ok(AgentOutcome::CallerHungUp);
            }
        }
    }
    call.stop_recording()
        .await
        .map_err(|e| AgentError::failed(e.to_string()))?;
    Ok(AgentOutcome::hang_up("the test is done"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sipp_call_is_shown_live_then_as_its_record_with_transcript_recording_and_metrics() {
    require("sipp");
    require("chromium");
    let dir = TempDir::new("status-call");
    let recordings = dir.0.join("recordings");
    std::fs::create_dir_all(&recordings).unwrap();
    let (on_line_tx, mut on_line) = mpsc::unbounded_channel();
    let (release_tx, release_rx) = oneshot::channel();
    let release = Arc::new(Mutex::new(Some(release_rx)));
    let agent =
        agent_fn(move |ctx, call| speak_then_wait(ctx, call, on_line_tx.clone(), release.clone()));
    let mut agents: Agents = HashMap::new();
    agents.insert("test".into(), Arc::new(agent) as SharedAgent);
    let db = dir.0.join("calls.sqlite");
    let store_settings = StoreSettings {
        database: db.clone(),
        recordings: recordings.clone(),
        instance: "test".into(),
    };
    let (switch, store, port) = start_switch_with(&dir.0, tenant(""), agents, |c| {
        c.store = Some(store_settings)
    })
    .await;
    let http = start_status(switch.status(), store.clone(), None).await;

    // Nothing yet.
    let idle = get(http, "/status", None).await;
    assert_eq!(idle.status, 200);
    assert_eq!(idle.header("content-type"), Some("application/json"));
    assert_eq!(
        idle.json(),
        serde_json::json!({"accounts": [], "active_calls": []})
    );

    let mut steps = answered_call(CALLER, DID);
    steps.extend([
        r#"  <recv request="BYE"/>"#.to_string(),
        OK_TO_LAST.to_string(),
    ]);
    let sf = scenario(&dir.0, "call.xml", &scenario_of("call", &steps));
    let sipp = tokio::spawn(async move { run_sipp(port, &sf, &["-m", "1"]).await });
    let call_id = tokio::time::timeout(Duration::from_secs(30), on_line.recv())
        .await
        .expect("the agent took the call")
        .unwrap();

    // Live: on /status with its context, and on the page.
    let live = get(http, "/status", None).await.json();
    let calls = live["active_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 1, "{live}");
    let c = &calls[0];
    assert_eq!(c["call_id"], call_id.as_str());
    assert_eq!(c["line"], "sipp");
    assert_eq!(c["tenant"], "acme");
    assert_eq!(c["direction"], "inbound");
    assert_eq!(c["caller"]["e164"], "+390212345678");
    assert_eq!(c["did"], DID);
    assert_eq!(c["agent"], "test");
    let since: jiff::Timestamp = c["since"].as_str().unwrap().parse().unwrap();
    assert!(since <= jiff::Timestamp::now());
    let listed = get(http, "/calls", None).await.json();
    assert_eq!(listed["calls"][0]["call_id"], call_id.as_str());
    assert_eq!(listed["calls"][0]["end"], Value::Null, "still up");

    let page = rendered_page(&dir.0, &format!("http://{http}/")).await;
    let live_rows = section(&page, "live");
    assert!(live_rows.contains(&call_id), "live call not shown:\n{page}");
    assert!(live_rows.contains("+390212345678"), "{live_rows}");
    assert!(live_rows.contains(DID), "{live_rows}");

    // The end: the agent hangs up, SIPp answers the BYE.
    release_tx.send(()).unwrap();
    let out = sipp.await.unwrap();
    assert!(out.status.success(), "{}", sipp_report(&out));
    let s = store.clone();
    let id = call_id.clone();
    wait_until("the record to be closed", move || {
        s.get(&id).unwrap().is_some_and(|r| r.end.is_some())
    })
    .await;
    wait_until("the call to leave the live list", || {
        switch.status().active_calls().is_empty()
    })
    .await;
    let after = get(http, "/status", None).await.json();
    assert_eq!(after["active_calls"], serde_json::json!([]));

    // Its record, newest first on /calls and whole on /calls/{id}.
    let listed = get(http, "/calls", None).await;
    assert_eq!(listed.status, 200);
    let listed = listed.json();
    let first = &listed["calls"][0];
    assert_eq!(first["call_id"], call_id.as_str());
    assert_eq!(first["end"]["outcome"]["kind"], "completed");
    assert_eq!(first["agent"], "test");
    assert_eq!(listed["next_before"], Value::Null, "one call, one page");
    let encoded: String = call_id
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let one = get(http, &format!("/calls/{encoded}"), None).await;
    assert_eq!(one.status, 200);
    let one = one.json();
    assert_eq!(one["call_id"], call_id.as_str());
    let transcript = one["transcript"].as_array().unwrap();
    assert_eq!(transcript.len(), 2, "{one}");
    assert_eq!(transcript[0]["speaker"], "remote");
    assert_eq!(transcript[0]["text"], QUESTION);
    assert_eq!(transcript[1]["speaker"], "agent");
    assert_eq!(transcript[1]["text"], ANSWER);
    assert_eq!(
        transcript[1]["timings"]["first_audio"],
        serde_json::json!({"secs": 2, "nanos": 400_000_000})
    );
    assert_eq!(
        transcript[1]["timings"]["end_of_speech"],
        serde_json::json!({"secs": 2, "nanos": 0})
    );
    let recording_url = one["recording_url"].as_str().expect("a recording link");
    assert_eq!(recording_url, format!("/calls/{encoded}/recording"));

    let wav = get(http, recording_url, None).await;
    assert_eq!(wav.status, 200);
    assert_eq!(wav.header("content-type"), Some("audio/wav"));
    assert_eq!(&wav.body[..4], b"RIFF");
    assert_eq!(&wav.body[8..12], b"WAVE");
    let on_disk = std::fs::read(one["recording"].as_str().unwrap()).unwrap();
    assert_eq!(wav.body, on_disk);

    let missing = get(http, "/calls/no-such-call", None).await;
    assert_eq!(missing.status, 404);
    assert!(missing.json()["error"]
        .as_str()
        .unwrap()
        .contains("no-such-call"));
    let no_recording = get(http, "/calls/no-such-call/recording", None).await;
    assert_eq!(no_recording.status, 404);

    // Counted on /metrics in the Prometheus text format.
    let metrics = get(http, "/metrics", None).await;
    assert_eq!(metrics.status, 200);
    assert!(metrics
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = String::from_utf8(metrics.body).unwrap();
    assert!(
        text.contains(&format!(
            "{}{{outcome=\"completed\"}} 1",
            agent::metrics::CALLS
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("{} 0", agent::metrics::ACTIVE_CALLS)),
        "{text}"
    );
    assert!(
        text.contains(&format!("# TYPE {} summary", agent::metrics::CALL_DURATION))
            || text.contains(&format!(
                "# TYPE {} histogram",
                agent::metrics::CALL_DURATION
            )),
        "{text}"
    );

    // The page shows no live call now, and the record with its transcript.
    let page = rendered_page(&dir.0, &format!("http://{http}/")).await;
    assert!(section(&page, "live").contains("No calls now"), "{page}");
    let latest = section(&page, "calls");
    assert!(latest.contains(QUESTION), "transcript not shown:\n{page}");
    assert!(latest.contains(ANSWER), "{latest}");
    assert!(latest.contains("completed"), "{latest}");
    assert!(latest.contains("400 ms to reply"), "{latest}");
    assert!(
        latest.contains(&format!("href=\"{recording_url}\"")),
        "{latest}"
    );
    switch.shutdown().await;
}

/// A closed-at-once record started `minute` minutes after 09:00.
fn past_call(store: &SqliteStore, id: &str, minute: i64) {
    let start: jiff::Timestamp = "2026-12-04T09:00:00Z".parse().unwrap();
    let record = CallRecord::new(
        id,
        "sipp",
        CallDirection::Inbound,
        Party::raw("+390212345678"),
        start + jiff::SignedDuration::from_mins(minute),
    );
    store.open(&record).unwrap();
}

fn ids(page: &Value) -> Vec<String> {
    page["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["call_id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_listed_newest_first_a_page_at_a_time_by_limit_and_before() {
    let dir = TempDir::new("status-pages");
    let (switch, store, _) = start_switch(&dir.0, "", HashMap::new()).await;
    for (i, minute) in [0, 1, 2, 3, 4].into_iter().enumerate() {
        past_call(&store, &format!("c{i}"), minute);
    }
    let http = start_status(switch.status(), store.clone(), None).await;

    let first = get(http, "/calls?limit=2", None).await.json();
    assert_eq!(ids(&first), ["c4", "c3"]);
    assert_eq!(first["next_before"], "c3");
    let second = get(http, "/calls?limit=2&before=c3", None).await.json();
    assert_eq!(ids(&second), ["c2", "c1"]);
    let last = get(http, "/calls?limit=2&before=c1", None).await.json();
    assert_eq!(ids(&last), ["c0"]);
    assert_eq!(last["next_before"], Value::Null);
    let all = get(http, "/calls", None).await.json();
    assert_eq!(ids(&all), ["c4", "c3", "c2", "c1", "c0"]);

    let unknown = get(http, "/calls?before=nobody", None).await;
    assert_eq!(unknown.status, 404);
    assert!(unknown.json()["error"].as_str().unwrap().contains("nobody"));
    let bad = get(http, "/calls?limit=many", None).await;
    assert_eq!(bad.status, 400);
    switch.shutdown().await;
}

/// A registrar that refuses the account.
const REFUSING_REGISTRAR: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="refusing registrar">
  <recv request="REGISTER"/>
  <send><![CDATA[
SIP/2.0 403 Forbidden
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
async fn with_a_token_every_data_endpoint_answers_401_without_it_and_a_refused_account_shows_failed(
) {
    require("sipp");
    let dir = TempDir::new("status-token");
    let registrar_port = free_port();
    let sf = scenario(&dir.0, "registrar.xml", REFUSING_REGISTRAR);
    let registrar = tokio::spawn(async move { run_sipp_server(registrar_port, &sf).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (switch, store, _) = start_switch_with(&dir.0, tenant(""), HashMap::new(), |c| {
        c.accounts = vec![TrunkAccountConfig::new(
            "main",
            "acme",
            &format!("127.0.0.1:{registrar_port}"),
            "1001",
            "secret",
        )]
    })
    .await;
    past_call(&store, "c0", 0);
    let token = "s3cret-t0ken";
    let http = start_status(switch.status(), store.clone(), Some(token)).await;

    for path in [
        "/status",
        "/calls",
        "/calls/c0",
        "/calls/c0/recording",
        "/metrics",
    ] {
        let none = get(http, path, None).await;
        assert_eq!(none.status, 401, "{path} without a token");
        assert_eq!(none.header("www-authenticate"), Some("Bearer"));
        let wrong = get(http, path, Some("s3cret-t0kem")).await;
        assert_eq!(wrong.status, 401, "{path} with a wrong token");
        let right = get(http, path, Some(token)).await;
        let expected = if path.ends_with("/recording") {
            404 // c0 was not recorded
        } else {
            200
        };
        assert_eq!(right.status, expected, "{path} with the token");
    }
    // The page itself carries no data, only the script that asks with
    // the token from its URL.
    let page = get(http, "/", None).await;
    assert_eq!(page.status, 200);
    assert!(page
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    assert!(!String::from_utf8_lossy(&page.body).contains("c0"));

    let out = registrar.await.unwrap();
    assert!(out.status.success(), "{}", sipp_report(&out));
    let mut account = Value::Null;
    for _ in 0..200 {
        account = get(http, "/status", Some(token)).await.json()["accounts"][0].clone();
        if account["state"] == "FAILED" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(account["name"], "main");
    assert_eq!(account["state"], "FAILED", "{account}");
    assert_eq!(account["code"], 403);
    assert!(
        account["reason"].as_str().unwrap().contains("Forbidden"),
        "{account}"
    );

    // The page, given the token after '#', shows the account; without it,
    // why it shows nothing.
    require("chromium");
    let page = rendered_page(&dir.0, &format!("http://{http}/#token={token}")).await;
    let accounts = section(&page, "accounts");
    assert!(accounts.contains("main"), "{page}");
    assert!(accounts.contains("FAILED"), "{accounts}");
    assert!(accounts.contains("Forbidden"), "{accounts}");
    assert!(section(&page, "calls").contains("+390212345678"), "{page}");
    let refused = rendered_page(&dir.0, &format!("http://{http}/")).await;
    assert!(refused.contains("401"), "{refused}");
    assert!(
        !section(&refused, "accounts").contains("FAILED"),
        "{refused}"
    );
    // Not shut down: unregistering from the registrar, gone now, would
    // wait out the REGISTER's transaction timeout.
    drop(switch);
}

#[test]
fn the_line_refuses_to_start_with_its_status_page_off_loopback_and_no_token() {
    let dir = TempDir::new("status-refusal");
    let sip = free_port();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ai-line"))
        .current_dir(&dir.0)
        .env_remove(status::TOKEN_ENV)
        .args(["--sip-listen", &format!("127.0.0.1:{sip}")])
        .args(["--agent", "echo", "--cdr"])
        .arg(dir.0.join("calls.db"))
        // Refused before anything is bound.
        .args(["--http", "0.0.0.0:8080"])
        .output()
        .expect("ai-line runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("0.0.0.0:8080"), "{stderr}");
    assert!(stderr.contains("not a loopback address"), "{stderr}");
    assert!(stderr.contains(status::TOKEN_ENV), "{stderr}");
}
