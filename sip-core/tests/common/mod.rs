//! Helpers for the integration tests: finding and running the real peers
//! (SIPp, Kamailio) on loopback, the one polling helper, and the
//! in-process pair of endpoints ([`pair`]).
#![allow(dead_code)]

pub mod pair;
pub mod uas;

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

/// How long [`wait_until`] waits before failing the test.
pub const WAIT_LIMIT: Duration = Duration::from_secs(10);

/// Waits until `done` holds, checking it every 20 ms, and fails the test
/// naming `what` when it still does not after [`WAIT_LIMIT`]. For state
/// that changes without an event to wait on (counters, table sizes, what
/// a peer or relay saw).
pub async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT_LIMIT;
    while !done() {
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {WAIT_LIMIT:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The path of `bin` when it is installed.
pub fn peer(bin: &str) -> Option<PathBuf> {
    ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"]
        .iter()
        .map(|dir| PathBuf::from(dir).join(bin))
        .find(|p| p.exists())
}

/// The path of `bin`; fails the test when the peer is missing, so an
/// interop test never passes without having run. `./scripts/test`
/// installs every peer.
pub fn require(bin: &str) -> PathBuf {
    match peer(bin) {
        Some(p) => p,
        None => panic!("{bin} is not installed: run ./scripts/test, which installs the test peers"),
    }
}

/// A free UDP port on 127.0.0.1 (also free for TCP in practice).
pub fn free_port() -> u16 {
    for _ in 0..50 {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = s.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port");
}

/// Runs SIPp to completion (bounded by `-timeout`), returning its output.
pub async fn run_sipp(args: Vec<String>) -> Output {
    let sipp = require("sipp");
    tokio::task::spawn_blocking(move || Command::new(sipp).args(&args).output().expect("sipp runs"))
        .await
        .unwrap()
}

/// Arguments for one SIPp run of `scenario` on 127.0.0.1:`local_port`:
/// one call, bounded by `timeout`, no keyboard. Callers append the remote
/// target, `-timeout_error` and whatever else the test needs.
pub fn one_call(scenario: &std::path::Path, local_port: u16, timeout: &str) -> Vec<String> {
    sipp_calls(scenario, local_port, 1, timeout)
}

/// [`one_call`] for `calls` calls.
pub fn sipp_calls(
    scenario: &std::path::Path,
    local_port: u16,
    calls: u32,
    timeout: &str,
) -> Vec<String> {
    [
        "-sf",
        &scenario.to_string_lossy(),
        "-i",
        "127.0.0.1",
        "-p",
        &local_port.to_string(),
        "-m",
        &calls.to_string(),
        "-timeout",
        timeout,
        "-nostdin",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect()
}

/// Starts SIPp in the background as the test's server (a registrar, a
/// far-end phone): `scenario` on 127.0.0.1:`local_port` for `calls` calls,
/// failing when `timeout` passes (`-timeout_error`). Gives it 300 ms to
/// open its socket before the test's endpoint talks to it.
pub async fn start_sipp_server(
    scenario: &std::path::Path,
    local_port: u16,
    calls: u32,
    timeout: &str,
) -> tokio::task::JoinHandle<Output> {
    let mut args = sipp_calls(scenario, local_port, calls, timeout);
    args.push("-timeout_error".into());
    start_sipp(args).await
}

/// Starts SIPp with `args` in the background, giving it 300 ms to open its
/// socket before the test talks to it; the handle yields its output.
pub async fn start_sipp(args: Vec<String>) -> tokio::task::JoinHandle<Output> {
    let sipp = tokio::spawn(run_sipp(args));
    tokio::time::sleep(Duration::from_millis(300)).await;
    sipp
}

/// Writes a SIPp scenario into a temp file and returns its path.
pub fn scenario(name: &str, xml: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sip-core-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, xml).unwrap();
    p
}

pub fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Prints SIPp's output when a test is about to fail, for diagnosis.
pub fn sipp_report(out: &Output) -> String {
    format!(
        "sipp exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A SIPp `<send>` of a response to the last request received: `code
/// reason`, the request's Via, From, Call-ID and CSeq, SIPp's To tag, then
/// `extra` header lines (each ending in a newline) and no body. `next`
/// jumps to a label after sending.
pub fn sipp_response(code: u16, reason: &str, extra: &str, next: Option<&str>) -> String {
    let next = next.map(|l| format!(r#" next="{l}""#)).unwrap_or_default();
    format!(
        r#"
  <send{next}><![CDATA[
SIP/2.0 {code} {reason}
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
{extra}Content-Length: 0
]]></send>"#
    )
}

/// A registrar's 200 OK to the last REGISTER, granting `expires` seconds on
/// the Contact it sent; without `expires` (the unregister) no Contact.
pub fn sipp_register_ok(expires: Option<u32>) -> String {
    let contact = expires
        .map(|e| format!("[last_Contact:];expires={e}\n"))
        .unwrap_or_default();
    sipp_response(200, "OK", &contact, None)
}
