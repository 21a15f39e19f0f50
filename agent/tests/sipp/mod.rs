//! Helpers for the switch's interop tests: a switch on loopback with one
//! tenant whose calls come from SIPp as a trusted peer, SIPp runs, and
//! scenarios written by the tests (the approach of sip-core's tests).
#![allow(dead_code)]

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use agent::record::{CallRecord, CallStore, SqliteStore};
use agent::routing::TenantConfig;
use agent::switch::{Agents, RtpConfig, SipConfig, Switch, SwitchConfig, TrustedPeerConfig};

/// The path of `bin`; fails the test when the peer is missing, so an
/// interop test never passes without having run.
pub fn require(bin: &str) -> PathBuf {
    ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"]
        .iter()
        .map(|dir| PathBuf::from(dir).join(bin))
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!("{bin} is not installed: run ./scripts/test, which installs the test peers")
        })
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

/// A scratch directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "agent-switch-{name}-{}-{}",
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

/// One tenant, "acme" in Italy, whose only profile is answered by the
/// agent "test"; `limits` is its `[limits]` table.
pub fn tenant(limits: &str) -> TenantConfig {
    toml::from_str(&format!(
        r#"
name = "acme"
default_country = "IT"
time_zone = "Europe/Rome"
default_profile = "front"

[limits]
{limits}

[profiles.front]
agent = "test"
time_zone = "Europe/Rome"
"#
    ))
    .expect("tenant config")
}

/// A switch on a free loopback port, taking calls from 127.0.0.1 as the
/// trusted peer "sipp" of tenant "acme", recording into `dir`.
pub async fn start_switch(
    dir: &Path,
    limits: &str,
    agents: Agents,
) -> (Switch, Arc<SqliteStore>, u16) {
    start_switch_for(dir, tenant(limits), agents).await
}

/// [`start_switch`] with the tenant given whole.
pub async fn start_switch_for(
    dir: &Path,
    tenant: TenantConfig,
    agents: Agents,
) -> (Switch, Arc<SqliteStore>, u16) {
    start_switch_with(dir, tenant, agents, |_| {}).await
}

/// [`start_switch_for`] with the config changed by `change` first.
pub async fn start_switch_with(
    dir: &Path,
    tenant: TenantConfig,
    agents: Agents,
    change: impl FnOnce(&mut SwitchConfig),
) -> (Switch, Arc<SqliteStore>, u16) {
    let port = free_port();
    let rtp_first = 30000 + (port % 100) * 200;
    let mut config = SwitchConfig {
        sip: SipConfig::listen(format!("127.0.0.1:{port}").parse().unwrap()),
        rtp: RtpConfig {
            bind: "127.0.0.1".parse().unwrap(),
            ports: (rtp_first, rtp_first + 199),
            ..RtpConfig::default()
        },
        accounts: vec![],
        trusted_peers: vec![TrustedPeerConfig {
            name: "sipp".into(),
            address: "127.0.0.1".into(),
            tenant: "acme".into(),
        }],
        tenants: vec![tenant],
        store: None,
    };
    change(&mut config);
    let store = Arc::new(SqliteStore::open_path(&dir.join("calls.sqlite"), "test").unwrap());
    let switch = Switch::start(config, store.clone(), agents)
        .await
        .expect("switch starts");
    (switch, store, port)
}

/// Writes a SIPp scenario into `dir` and returns its path.
pub fn scenario(dir: &Path, name: &str, xml: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, xml).unwrap();
    p
}

/// Runs SIPp as the caller: `scenario` against the switch on `port`,
/// `extra` arguments after, failing when its timeout passes.
pub async fn run_sipp(port: u16, scenario: &Path, extra: &[&str]) -> Output {
    let sipp = require("sipp");
    let mut args: Vec<String> = vec![
        format!("127.0.0.1:{port}"),
        "-sf".into(),
        scenario.to_string_lossy().into_owned(),
        "-i".into(),
        "127.0.0.1".into(),
        "-p".into(),
        free_port().to_string(),
        "-timeout".into(),
        "60s".into(),
        "-timeout_error".into(),
        "-nostdin".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    tokio::task::spawn_blocking(move || Command::new(sipp).args(&args).output().expect("sipp runs"))
        .await
        .unwrap()
}

/// Runs SIPp as a server (a registrar) on 127.0.0.1:`port` for one run
/// of `scenario`, failing when its timeout passes.
pub async fn run_sipp_server(port: u16, scenario: &Path) -> Output {
    let sipp = require("sipp");
    let args: Vec<String> = vec![
        "-sf".into(),
        scenario.to_string_lossy().into_owned(),
        "-i".into(),
        "127.0.0.1".into(),
        "-p".into(),
        port.to_string(),
        "-m".into(),
        "1".into(),
        "-timeout".into(),
        "60s".into(),
        "-timeout_error".into(),
        "-nostdin".into(),
    ];
    tokio::task::spawn_blocking(move || Command::new(sipp).args(&args).output().expect("sipp runs"))
        .await
        .unwrap()
}

/// SIPp's output, for a failing assertion.
pub fn sipp_report(out: &Output) -> String {
    format!(
        "sipp exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Polls `f` every 50 ms for up to 20 s.
pub async fn wait_until(what: &str, f: impl Fn() -> bool) {
    for _ in 0..400 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Every record in the store, newest first.
pub fn records(store: &SqliteStore) -> Vec<CallRecord> {
    store.recent(10_000).unwrap()
}

/// The caller's INVITE with an offer of PCMU and telephone-event, sent
/// from `from` (a name-addr without tag) to the DID `did`.
pub fn invite(from: &str, did: &str) -> String {
    format!(
        r#"  <send retrans="500"><![CDATA[
INVITE sip:{did}@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: {from};tag=[pid]SIPpTag00[call_number]
To: <sip:{did}@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
]]></send>"#
    )
}

/// The steps of a call the switch answers: the INVITE from `from` to
/// `did` (see [`invite`]), its provisional responses (optional), the 200
/// OK and our ACK. A scenario goes on from there.
pub fn answered_call(from: &str, did: &str) -> Vec<String> {
    vec![
        invite(from, did),
        r#"  <recv response="100" optional="true"/>"#.to_string(),
        r#"  <recv response="180" optional="true"/>"#.to_string(),
        r#"  <recv response="200"/>"#.to_string(),
        in_dialog("ACK", 1, from, did, None),
    ]
}

/// The ACK of our 200 OK, and an in-dialog request after it use these
/// headers.
pub fn in_dialog(
    method: &str,
    cseq: u32,
    from: &str,
    did: &str,
    body: Option<(&str, &str)>,
) -> String {
    let body = match body {
        Some((ct, b)) => format!("Content-Type: {ct}\nContent-Length: [len]\n\n{b}"),
        None => "Content-Length: 0\n".to_string(),
    };
    format!(
        r#"  <send><![CDATA[
{method} sip:{did}@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: {from};tag=[pid]SIPpTag00[call_number]
To: <sip:{did}@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: {cseq} {method}
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
{body}]]></send>"#
    )
}

/// SIPp's ACK to a failure response (same transaction as the INVITE).
pub fn ack_failure(from: &str, did: &str) -> String {
    format!(
        r#"  <send><![CDATA[
ACK sip:{did}@[remote_ip]:[remote_port] SIP/2.0
[last_Via:]
From: {from};tag=[pid]SIPpTag00[call_number]
To: <sip:{did}@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0
]]></send>"#
    )
}

/// SIPp's 200 OK to the request it just received.
pub const OK_TO_LAST: &str = r#"  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
]]></send>"#;

/// A whole scenario from its steps.
pub fn scenario_of(name: &str, steps: &[String]) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\" ?>\n<scenario name=\"{name}\">\n{}\n</scenario>\n",
        steps.join("\n")
    )
}
