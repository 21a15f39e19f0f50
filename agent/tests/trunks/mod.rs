//! Helpers for the outbound tests: a tenant with an outbound route over
//! trunks that are SIPp instances on loopback ports, and the trunks'
//! scenarios (reject, answer, ring until cancelled).
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

use agent::routing::TenantConfig;
use agent::switch::TrustedPeerConfig;

use super::sipp::*;

/// Tenant "acme" in Italy, allowed to call +39, whose route for +39
/// tries `trunks` in order presenting +390200000000.
pub fn tenant_with_route(trunks: &[&str]) -> TenantConfig {
    let trunks: Vec<String> = trunks.iter().map(|t| format!("{t:?}")).collect();
    toml::from_str(&format!(
        r#"
name = "acme"
default_country = "IT"
time_zone = "Europe/Rome"
default_profile = "front"

[limits]
outbound = {{ allowed_destination_prefixes = ["+39"], minutes_per_day = 60 }}

[[outbound_routes.routes]]
name = "italy"
prefix = "+39"
trunks = [{}]
caller_id = "+390200000000"

[profiles.front]
agent = "test"
time_zone = "Europe/Rome"
"#,
        trunks.join(", ")
    ))
    .expect("tenant config")
}

/// A trusted peer on 127.0.0.1:`port` that outbound routes name `name`.
pub fn trunk(name: &str, port: u16) -> TrustedPeerConfig {
    TrustedPeerConfig {
        name: name.into(),
        address: format!("127.0.0.1:{port}"),
        tenant: "acme".into(),
    }
}

/// SIPp as a trunk on 127.0.0.1:`port` taking one call with `scenario`.
pub fn start_trunk(port: u16, scenario: &Path, extra: &[&str]) -> tokio::task::JoinHandle<Output> {
    start_trunk_for(port, scenario, 1, extra)
}

/// SIPp as a trunk on 127.0.0.1:`port` taking `calls` calls, one after
/// the other, with `scenario`; it ends after the last.
pub fn start_trunk_for(
    port: u16,
    scenario: &Path,
    calls: u32,
    extra: &[&str],
) -> tokio::task::JoinHandle<Output> {
    let sipp = require("sipp");
    let mut args: Vec<String> = vec![
        "-sf".into(),
        scenario.to_string_lossy().into_owned(),
        "-i".into(),
        "127.0.0.1".into(),
        "-p".into(),
        port.to_string(),
        "-m".into(),
        calls.to_string(),
        "-timeout".into(),
        "60s".into(),
        "-timeout_error".into(),
        "-nostdin".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    tokio::task::spawn_blocking(move || Command::new(sipp).args(&args).output().expect("sipp runs"))
}

/// Waits until SIPp listens on 127.0.0.1:`port` (UDP), so the INVITE is
/// not sent before it can be received.
pub async fn until_listening(port: u16) {
    wait_until("SIPp to listen", || {
        std::net::UdpSocket::bind(("127.0.0.1", port)).is_err()
    })
    .await;
}

/// The trunk's response to the INVITE, with `code` and `reason` (a
/// failure: SIPp then waits for its ACK).
pub fn rejects(code: u16, reason: &str) -> String {
    scenario_of(
        "trunk rejects",
        &[
            r#"  <recv request="INVITE"/>"#.to_string(),
            format!(
                r#"  <send><![CDATA[
SIP/2.0 {code} {reason}
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
]]></send>"#
            ),
            r#"  <recv request="ACK"/>"#.to_string(),
        ],
    )
}

/// The 180 and the 200 OK with SIPp's media (PCMU) to the last INVITE.
pub const RING_AND_ANSWER: &str = r#"  <send><![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
]]></send>
  <send retrans="500"><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:trunk@[local_ip]:[local_port]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=trunk 1 1 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
]]></send>
  <recv request="ACK"/>"#;

/// Answers, then waits for our BYE.
pub fn answers_until_bye() -> String {
    scenario_of(
        "trunk answers",
        &[
            r#"  <recv request="INVITE"/>"#.to_string(),
            RING_AND_ANSWER.to_string(),
            r#"  <recv request="BYE"/>"#.to_string(),
            OK_TO_LAST.to_string(),
        ],
    )
}

pub fn energy(samples: &[i16]) -> f64 {
    samples
        .iter()
        .map(|&s| f64::from(s) * f64::from(s))
        .sum::<f64>()
        / samples.len() as f64
}

/// Rings (180) until our CANCEL, answers it 200 and the INVITE 487, and
/// takes the ACK: the scenario fails if no CANCEL comes.
pub fn rings_until_cancelled() -> String {
    rings(r#"  <recv request="CANCEL"/>"#)
}

fn rings(cancel: &str) -> String {
    scenario_of(
        "trunk rings",
        &[
            r#"  <recv request="INVITE"/>"#.to_string(),
            r#"  <send><![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
]]></send>"#
                .to_string(),
            cancel.to_string(),
            OK_TO_LAST.to_string(),
            r#"  <send><![CDATA[
SIP/2.0 487 Request Terminated
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
CSeq: 1 INVITE
Content-Length: 0
]]></send>"#
                .to_string(),
            r#"  <recv request="ACK"/>"#.to_string(),
        ],
    )
}

/// 1 s of a loud 440 Hz tone at 8 kHz, `seconds` times.
pub fn tone(seconds: usize) -> Vec<i16> {
    (0..8000 * seconds)
        .map(|i| {
            let t = i as f64 / 8000.0;
            (8000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16
        })
        .collect()
}
