//! The status server: what the line is doing, for an operator and for
//! Prometheus.
//!
//! - `GET /status`: each trunk account's registration (`REGED`, `FAILED`
//!   with the reason, …) and the calls in progress (call id, line, tenant,
//!   caller, DID, agent, since when);
//! - `GET /calls?limit=N&before=CALL_ID`: the latest call records, newest
//!   first, a page at a time (`next_before` names the call to pass as
//!   `before` for the next page);
//! - `GET /calls/{id}`: one record with its transcript and turn timings,
//!   and `recording_url` where the call was recorded;
//! - `GET /calls/{id}/recording`: that recording, as `audio/wav`;
//! - `GET /metrics`: every metric of the [`metrics`](agent::metrics) facade
//!   in the Prometheus text format (install the recorder once per process
//!   with [`install_metrics_recorder`]);
//! - `GET /`: one HTML page showing registration, live calls and the latest
//!   calls with their transcripts, refreshing itself every two seconds. It
//!   is self-contained (no external assets) and works offline.
//!
//! On a loopback address the server answers anyone on the machine. On any
//! other address it refuses to start without a token, and every request
//! for data must carry it (`Authorization: Bearer TOKEN`; 401 without).
//! With a token set, even on loopback, the token is required too. The
//! page at `/` holds no data, only the script that fetches it: open it as
//! `http://HOST:PORT/#token=TOKEN` (the part after `#` never leaves the
//! browser) and it sends the token with each request.
//!
//! ```no_run
//! # async fn run(switch: &agent::switch::Switch, store: std::sync::Arc<dyn agent::record::CallStore>) -> Result<(), ai_line::status::StatusError> {
//! use ai_line::status::{self, StatusState};
//!
//! let metrics = status::install_metrics_recorder()?;
//! let token = status::token_from(None); // or the config's
//! let state = StatusState::new(switch.status(), store, metrics).with_token(token);
//! let listener = status::bind("127.0.0.1:8080".parse().unwrap(), &state).await?;
//! tokio::spawn(status::serve(listener, state));
//! # Ok(()) }
//! ```

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use agent::record::{CallRecord, CallStore, StoreError};
use agent::switch::{ActiveCall, SwitchStatus};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde::{Deserialize, Serialize};
use sip_core::registration::RegistrationState;
use tokio::net::TcpListener;
use tracing::{error, info};

/// The environment variable that sets the status server's bearer token
/// when the configuration does not.
pub const TOKEN_ENV: &str = "AI_LINE_HTTP_TOKEN";

/// How many records `/calls` returns without `?limit=`.
pub const DEFAULT_PAGE: usize = 20;
/// The most records one `/calls` page returns, whatever `?limit=` asks.
pub const MAX_PAGE: usize = 200;

/// Why the status server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// A non-loopback address was asked for with no token to protect it.
    #[error(
        "the status server would listen on {addr}, which is not a loopback address, without a \
         token: set the token in the configuration's [http] section or the {TOKEN_ENV} \
         environment variable, or listen on 127.0.0.1"
    )]
    TokenRequired {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// The address could not be listened on (in use, not ours).
    #[error("cannot listen for the status page on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the system said.
        source: std::io::Error,
    },
    /// The Prometheus recorder could not be installed (another recorder
    /// was installed in this process first).
    #[error("cannot install the metrics recorder for /metrics: {0}")]
    Metrics(String),
    /// The server failed while running.
    #[error("the status server failed: {0}")]
    Serve(std::io::Error),
}

/// Installs the Prometheus recorder as the process's `metrics` recorder
/// the first time it is called, and returns its handle (the same one on
/// every call), which renders `/metrics`.
pub fn install_metrics_recorder() -> Result<PrometheusHandle, StatusError> {
    static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .install_recorder()
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(StatusError::Metrics)
}

/// The token to require: the configured one if set, else the
/// [`TOKEN_ENV`] environment variable's; an empty value is not set.
pub fn token_from(configured: Option<String>) -> Option<String> {
    let set = |t: &String| !t.trim().is_empty();
    configured
        .filter(set)
        .or_else(|| std::env::var(TOKEN_ENV).ok().filter(set))
}

/// Refuses a non-loopback `addr` when there is no token.
pub fn check_address(addr: SocketAddr, token: Option<&str>) -> Result<(), StatusError> {
    if addr.ip().is_loopback() || token.is_some() {
        Ok(())
    } else {
        Err(StatusError::TokenRequired { addr })
    }
}

/// What the status server reads: the switch's status, the call records
/// and the metrics; and the token it requires, if any.
#[derive(Clone)]
pub struct StatusState {
    switch: SwitchStatus,
    store: Arc<dyn CallStore>,
    metrics: PrometheusHandle,
    token: Option<Arc<str>>,
}

impl std::fmt::Debug for StatusState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusState")
            .field("switch", &self.switch)
            .field("token", &self.token.as_ref().map(|_| "set"))
            .finish_non_exhaustive()
    }
}

impl StatusState {
    /// The state of a server without a token (loopback only).
    pub fn new(switch: SwitchStatus, store: Arc<dyn CallStore>, metrics: PrometheusHandle) -> Self {
        StatusState {
            switch,
            store,
            metrics,
            token: None,
        }
    }

    /// Requires `token` (as `Authorization: Bearer TOKEN`) on every request
    /// for data; `None` or an empty token requires none.
    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token.filter(|t| !t.is_empty()).map(Arc::from);
        self
    }
}

/// Checks `addr` against the token rule ([`check_address`]) and listens
/// on it.
pub async fn bind(addr: SocketAddr, state: &StatusState) -> Result<TcpListener, StatusError> {
    check_address(addr, state.token.as_deref())?;
    TcpListener::bind(addr)
        .await
        .map_err(|source| StatusError::Bind { addr, source })
}

/// Serves the status pages on `listener` until the task is dropped or the
/// listener fails. Refuses, before serving anything, a listener on a
/// non-loopback address when the state has no token.
pub async fn serve(listener: TcpListener, state: StatusState) -> Result<(), StatusError> {
    let addr = listener.local_addr().map_err(StatusError::Serve)?;
    check_address(addr, state.token.as_deref())?;
    // The recorder drains its histograms only when asked to.
    let metrics = state.metrics.clone();
    let upkeep = tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(5));
        loop {
            every.tick().await;
            metrics.run_upkeep();
        }
    });
    info!(%addr, token = state.token.is_some(), "status page served");
    let served = axum::serve(listener, router(state))
        .await
        .map_err(StatusError::Serve);
    upkeep.abort();
    served
}

/// The routes, for a caller that serves them itself.
pub fn router(state: StatusState) -> Router {
    let data = Router::new()
        .route("/status", get(status))
        .route("/calls", get(calls))
        .route("/calls/{id}", get(call))
        .route("/calls/{id}/recording", get(recording))
        .route("/metrics", get(metrics_text))
        .route_layer(middleware::from_fn_with_state(state.clone(), authorise));
    Router::new()
        .route("/", get(page))
        .merge(data)
        .with_state(state)
}

/// The same bytes, in time that does not depend on where they differ.
fn same_token(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

async fn authorise(
    State(state): State<StatusState>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = &state.token else {
        return next.run(request).await;
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(given) if same_token(given.as_bytes(), token.as_bytes()) => next.run(request).await,
        _ => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            Json(ErrorBody {
                error: "a bearer token is required: Authorization: Bearer TOKEN".into(),
            }),
        )
            .into_response(),
    }
}

/// The body of every error answer.
#[derive(Debug, Serialize)]
struct ErrorBody {
    error: String,
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        Json(ErrorBody {
            error: message.into(),
        }),
    )
        .into_response()
}

/// A store failure, as an answer: an unknown call is 404, anything else a
/// 500 (logged).
fn store_error(e: StoreError) -> Response {
    match e {
        StoreError::UnknownCall(_) => error(StatusCode::NOT_FOUND, e.to_string()),
        other => {
            error!(error = %other, "status page cannot read the call records");
            error(StatusCode::INTERNAL_SERVER_ERROR, other.to_string())
        }
    }
}

/// Runs a store query off the async workers (the store may block).
async fn from_store<T: Send + 'static>(
    state: &StatusState,
    query: impl FnOnce(&dyn CallStore) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, Response> {
    let store = state.store.clone();
    match tokio::task::spawn_blocking(move || query(store.as_ref())).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(store_error(e)),
        Err(e) => {
            error!(error = %e, "call record query failed");
            Err(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "call record query failed",
            ))
        }
    }
}

/// A trunk account on `/status`.
#[derive(Debug, Serialize)]
struct AccountView {
    name: String,
    /// `REGED`, `FAILED`, `REGISTERING` or `UNREGISTERED`.
    state: &'static str,
    /// Why the last attempt failed (`FAILED` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// The registrar's final status code, when one came (`FAILED` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<u16>,
    /// Seconds until the next attempt (`FAILED` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_in_s: Option<u64>,
    /// The registrar that accepted us (`REGED` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    registrar: Option<SocketAddr>,
    /// The lifetime the registrar granted, in seconds (`REGED` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_s: Option<u64>,
}

impl AccountView {
    fn new(name: String, state: RegistrationState) -> Self {
        let mut view = AccountView {
            name,
            state: "",
            reason: None,
            code: None,
            retry_in_s: None,
            registrar: None,
            expires_s: None,
        };
        match state {
            RegistrationState::Registering => view.state = "REGISTERING",
            RegistrationState::Registered { expires, registrar } => {
                view.state = "REGED";
                view.registrar = Some(registrar);
                view.expires_s = Some(expires.as_secs());
            }
            RegistrationState::Failed {
                code,
                reason,
                retry_in,
            } => {
                view.state = "FAILED";
                view.reason = Some(reason);
                view.code = code;
                view.retry_in_s = Some(retry_in.as_secs());
            }
            RegistrationState::Unregistered => view.state = "UNREGISTERED",
        }
        view
    }
}

/// The body of `/status`.
#[derive(Debug, Serialize)]
struct StatusView {
    accounts: Vec<AccountView>,
    active_calls: Vec<ActiveCall>,
}

async fn status(State(state): State<StatusState>) -> Json<StatusView> {
    Json(StatusView {
        accounts: state
            .switch
            .accounts()
            .into_iter()
            .map(|a| AccountView::new(a.name, a.state))
            .collect(),
        active_calls: state.switch.active_calls(),
    })
}

/// A call record as the status server shows it: the record, and where to
/// fetch its recording.
#[derive(Debug, Serialize)]
struct RecordView {
    #[serde(flatten)]
    record: CallRecord,
    recording_url: Option<String>,
}

/// `s` with everything but unreserved characters percent-encoded (RFC
/// 3986 §2.3), to put a call id into a URL path.
fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl From<CallRecord> for RecordView {
    fn from(record: CallRecord) -> Self {
        let recording_url = record
            .recording
            .as_ref()
            .map(|_| format!("/calls/{}/recording", path_segment(&record.call_id)));
        RecordView {
            record,
            recording_url,
        }
    }
}

/// The query of `/calls`.
#[derive(Debug, Deserialize)]
struct Page {
    limit: Option<usize>,
    before: Option<String>,
}

/// The body of `/calls`.
#[derive(Debug, Serialize)]
struct CallsView {
    calls: Vec<RecordView>,
    /// The call id to pass as `before` for the next page; `null` on the
    /// last page.
    next_before: Option<String>,
}

async fn calls(State(state): State<StatusState>, Query(page): Query<Page>) -> Response {
    let limit = page.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let before = page.before.filter(|b| !b.is_empty());
    let records = from_store(&state, move |store| match &before {
        Some(before) => store.recent_before(before, limit),
        None => store.recent(limit),
    })
    .await;
    match records {
        Ok(records) => {
            let next_before = (records.len() == limit)
                .then(|| records.last().map(|r| r.call_id.clone()))
                .flatten();
            Json(CallsView {
                calls: records.into_iter().map(RecordView::from).collect(),
                next_before,
            })
            .into_response()
        }
        Err(answer) => answer,
    }
}

async fn find(state: &StatusState, id: String) -> Result<CallRecord, Response> {
    let wanted = id.clone();
    from_store(state, move |store| store.get(&wanted))
        .await?
        .ok_or_else(|| {
            error(
                StatusCode::NOT_FOUND,
                format!("no call record has the call id {id:?}"),
            )
        })
}

async fn call(State(state): State<StatusState>, Path(id): Path<String>) -> Response {
    match find(&state, id).await {
        Ok(record) => Json(RecordView::from(record)).into_response(),
        Err(answer) => answer,
    }
}

async fn recording(State(state): State<StatusState>, Path(id): Path<String>) -> Response {
    let record = match find(&state, id).await {
        Ok(record) => record,
        Err(answer) => return answer,
    };
    let Some(path) = record.recording else {
        return error(StatusCode::NOT_FOUND, "the call was not recorded");
    };
    // The path is the switch's own, written into the record when the
    // recording started: named by the call id inside the recordings
    // directory, never taken from the request.
    match tokio::fs::read(&path).await {
        Ok(wav) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static("audio/wav")),
                (
                    header::CONTENT_DISPOSITION,
                    HeaderValue::from_static("inline"),
                ),
            ],
            wav,
        )
            .into_response(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => error(
            StatusCode::NOT_FOUND,
            "the call's recording file is no longer there",
        ),
        Err(e) => {
            error!(error = %e, path = %path.display(), "cannot read a recording");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the call's recording cannot be read",
            )
        }
    }
}

async fn metrics_text(State(state): State<StatusState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        state.metrics.render(),
    )
        .into_response()
}

async fn page() -> Html<&'static str> {
    Html(PAGE)
}

/// The status page: markup, style and script inline, so it works with no
/// network beyond this server. The script fetches `/status` and `/calls`
/// every two seconds; all text from the data is inserted as text, never
/// as markup.
const PAGE: &str = r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ai-line status</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; margin-bottom: 0.2em; }
h2 { font-size: 1.1em; margin-top: 1.5em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 0.25em 0.6em; border-bottom: 1px solid #eee; vertical-align: top; }
.REGED { color: #070; font-weight: bold; }
.FAILED { color: #b00; font-weight: bold; }
.muted { color: #777; }
.transcript { margin: 0.3em 0 0 0; padding-left: 1.2em; }
.transcript li { margin: 0.1em 0; }
#error { color: #b00; }
</style>
</head>
<body>
<h1>ai-line</h1>
<div class="muted">Refreshed <span id="updated">never</span> <span id="error"></span></div>
<h2>Registration</h2>
<table><thead><tr><th>Account</th><th>State</th><th>Detail</th></tr></thead>
<tbody id="accounts"><tr><td colspan="3" class="muted">Loading…</td></tr></tbody></table>
<h2>Live calls</h2>
<table><thead><tr><th>Since</th><th>Caller</th><th>DID</th><th>Line</th><th>Tenant</th><th>Agent</th><th>Call id</th></tr></thead>
<tbody id="live"><tr><td colspan="7" class="muted">Loading…</td></tr></tbody></table>
<h2>Latest calls</h2>
<table><thead><tr><th>Start</th><th>Caller</th><th>DID</th><th>Agent</th><th>Outcome</th><th>Transcript</th></tr></thead>
<tbody id="calls"><tr><td colspan="6" class="muted">Loading…</td></tr></tbody></table>
<script>
"use strict";
const token = new URLSearchParams(location.hash.slice(1)).get("token");
const headers = token ? { "Authorization": "Bearer " + token } : {};

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}
function row(cells) {
  const tr = el("tr");
  for (const c of cells) {
    const td = el("td");
    if (c instanceof Node) td.appendChild(c); else td.textContent = c == null ? "" : String(c);
    tr.appendChild(td);
  }
  return tr;
}
function fill(id, rows, empty, span) {
  const body = document.getElementById(id);
  body.replaceChildren();
  if (rows.length === 0) {
    const td = el("td", empty, "muted");
    td.colSpan = span;
    const tr = el("tr"); tr.appendChild(td); body.appendChild(tr);
  }
  for (const r of rows) body.appendChild(r);
}
function who(party) {
  if (!party) return "";
  const number = party.e164 || party.raw;
  return party.name ? party.name + " <" + number + ">" : number;
}
function seconds(d) { return d ? d.secs + d.nanos / 1e9 : null; }
function outcome(rec) {
  if (!rec.end) return "in progress";
  const o = rec.end.outcome;
  return o.kind + (o.reason ? ": " + o.reason : "") + " (" + rec.end.cause + ")";
}
function transcript(rec) {
  const box = el("div");
  const list = el("ol", null, "transcript");
  for (const t of rec.transcript) {
    const li = el("li");
    li.appendChild(el("b", t.speaker + ": "));
    li.appendChild(el("span", t.text, "line"));
    const first = seconds(t.timings.first_audio), eos = seconds(t.timings.end_of_speech);
    if (first !== null && eos !== null) {
      li.appendChild(el("span", " (" + Math.round((first - eos) * 1000) + " ms to reply)", "muted"));
    }
    list.appendChild(li);
  }
  if (rec.transcript.length) box.appendChild(list);
  if (rec.recording_url) {
    const a = el("a", "recording");
    a.href = rec.recording_url;
    if (token) {
      // A plain link carries no token: fetch it with the token instead.
      a.addEventListener("click", async ev => {
        ev.preventDefault();
        const r = await fetch(rec.recording_url, { headers });
        if (r.ok) window.open(URL.createObjectURL(await r.blob()));
      });
    }
    box.appendChild(a);
  }
  return box;
}
async function get(path) {
  const r = await fetch(path, { headers, cache: "no-store" });
  if (!r.ok) throw new Error(path + ": " + r.status + (r.status === 401 ? " (open this page as /#token=TOKEN)" : ""));
  return r.json();
}
async function refresh() {
  try {
    const [status, calls] = await Promise.all([get("/status"), get("/calls?limit=20")]);
    fill("accounts", status.accounts.map(a => {
      const state = el("span", a.state, a.state);
      const detail = a.state === "FAILED" ? (a.code ? a.code + " " : "") + (a.reason || "")
        : a.state === "REGED" ? "at " + a.registrar + ", " + a.expires_s + " s" : "";
      return row([a.name, state, detail]);
    }), "No trunk accounts", 3);
    fill("live", status.active_calls.map(c =>
      row([new Date(c.since).toLocaleTimeString(), who(c.caller), c.did, c.line, c.tenant, c.agent, c.call_id])
    ), "No calls now", 7);
    fill("calls", calls.calls.map(rec =>
      row([new Date(rec.start).toLocaleString(), who(rec.caller), rec.did, rec.agent, outcome(rec), transcript(rec)])
    ), "No calls yet", 6);
    document.getElementById("updated").textContent = new Date().toLocaleTimeString();
    document.getElementById("error").textContent = "";
  } catch (e) {
    document.getElementById("error").textContent = String(e.message || e);
  }
}
refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
"##;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_non_loopback_address_without_a_token_is_refused_naming_how_to_set_one() {
        let addr: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let err = check_address(addr, None).unwrap_err();
        assert!(matches!(err, StatusError::TokenRequired { .. }));
        let message = err.to_string();
        assert!(message.contains("0.0.0.0:8080"), "{message}");
        assert!(message.contains(TOKEN_ENV), "{message}");
        assert!(check_address("192.0.2.10:8080".parse().unwrap(), None).is_err());
        assert!(check_address("[2001:db8::1]:8080".parse().unwrap(), None).is_err());
    }

    #[test]
    fn loopback_needs_no_token_and_any_address_is_allowed_with_one() {
        assert!(check_address("127.0.0.1:8080".parse().unwrap(), None).is_ok());
        assert!(check_address("[::1]:8080".parse().unwrap(), None).is_ok());
        assert!(check_address("0.0.0.0:8080".parse().unwrap(), Some("s3cret")).is_ok());
    }

    #[test]
    fn the_configured_token_wins_over_the_environment_and_an_empty_one_is_none() {
        assert_eq!(
            token_from(Some("from-config".into())).as_deref(),
            Some("from-config")
        );
        assert_eq!(token_from(Some("  ".into())), None);
    }

    #[test]
    fn tokens_match_only_when_equal() {
        assert!(same_token(b"abc", b"abc"));
        assert!(!same_token(b"abd", b"abc"));
        assert!(!same_token(b"ab", b"abc"));
        assert!(!same_token(b"", b"abc"));
    }

    #[test]
    fn a_call_id_is_percent_encoded_in_its_recording_url() {
        assert_eq!(
            path_segment("a84b4c76e66710@pc33.example.com"),
            "a84b4c76e66710%40pc33.example.com"
        );
        assert_eq!(path_segment("x/../y z"), "x%2F..%2Fy%20z");
    }

    #[test]
    fn each_registration_state_reads_as_the_status_page_names_it() {
        let reged = AccountView::new(
            "trunk".into(),
            RegistrationState::Registered {
                expires: Duration::from_secs(300),
                registrar: "127.0.0.1:5060".parse().unwrap(),
            },
        );
        let json = serde_json::to_value(&reged).unwrap();
        assert_eq!(json["state"], "REGED");
        assert_eq!(json["expires_s"], 300);
        assert!(json.get("reason").is_none());
        let failed = AccountView::new(
            "trunk".into(),
            RegistrationState::Failed {
                code: Some(403),
                reason: "Forbidden".into(),
                retry_in: Duration::from_secs(30),
            },
        );
        let json = serde_json::to_value(&failed).unwrap();
        assert_eq!(json["state"], "FAILED");
        assert_eq!(json["reason"], "Forbidden");
        assert_eq!(json["code"], 403);
    }
}
