//! Our endpoint as the called party, with SIPp as the caller on loopback:
//! calls placed, answered, ended in both directions, cancelled, refused,
//! DTMF by INFO, hold by re-INVITE, 2xx retransmission until ACK, packet
//! loss, TCP.

mod common;

use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{addr, free_port, require, run_sipp, scenario, sipp_report};
use sip_core::call::{CallError, CallEvent, HangupCause};
use sip_core::endpoint::{Endpoint, EndpointConfig, IncomingCalls};
use sip_core::sdp::{Codec, Direction, LocalMedia, NegotiatedMedia};
use sip_core::transaction::Timers;

#[derive(Clone, Copy)]
enum Behaviour {
    Answer,
    AnswerThenHangup,
    /// Hang up as soon as `accept` returns, before the ACK.
    HangupAtOnce,
    RingThenWaitCancel,
    Reject(u16),
}

#[derive(Default)]
struct Seen {
    offered: AtomicUsize,
    confirmed: AtomicUsize,
    remote_bye: AtomicUsize,
    local_hangup: AtomicUsize,
    no_ack: AtomicUsize,
    cancelled: AtomicUsize,
    dtmf: std::sync::Mutex<String>,
    modified: std::sync::Mutex<Vec<String>>,
    /// The media negotiated at answer, then after each re-INVITE.
    media: std::sync::Mutex<Vec<NegotiatedMedia>>,
}

async fn start(timers: Timers) -> (Endpoint, IncomingCalls, u16) {
    let port = free_port();
    let cfg = EndpointConfig {
        timers,
        ..EndpointConfig::listen(addr(port))
    };
    let (ep, incoming) = Endpoint::bind(cfg).await.expect("bind");
    (ep, incoming, port)
}

fn serve(mut incoming: IncomingCalls, behaviour: Behaviour) -> Arc<Seen> {
    let seen = Arc::new(Seen::default());
    let s = seen.clone();
    tokio::spawn(async move {
        while let Some(mut call) = incoming.next().await {
            s.offered.fetch_add(1, Ordering::SeqCst);
            assert!(call.offer().is_some_and(|o| o.contains("m=audio")));
            let s = s.clone();
            tokio::spawn(async move {
                match behaviour {
                    Behaviour::Reject(code) => return call.reject(code),
                    Behaviour::RingThenWaitCancel => {
                        call.ring();
                        tokio::time::timeout(Duration::from_secs(20), call.cancelled())
                            .await
                            .expect("caller cancels");
                        s.cancelled.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                    _ => {}
                }
                call.ring();
                let local = LocalMedia::new("127.0.0.1".parse().unwrap(), 40000).unwrap();
                let (mut call, media) = match call.accept_media(local) {
                    Ok(answered) => answered,
                    Err(CallError::Sdp(e)) => {
                        assert_eq!(e.status(), 488);
                        return;
                    }
                    Err(e) => panic!("accept: {e}"),
                };
                let media = media.expect("the INVITE carries an offer");
                assert_eq!(media.codec, Codec::Pcmu);
                s.media.lock().unwrap().push(media);
                if let Behaviour::HangupAtOnce = behaviour {
                    call.hangup().await.expect("hangup");
                }
                while let Some(ev) = call.next_event().await {
                    match ev {
                        CallEvent::Confirmed => {
                            s.confirmed.fetch_add(1, Ordering::SeqCst);
                            if let Behaviour::AnswerThenHangup = behaviour {
                                call.hangup().await.expect("hangup");
                            }
                        }
                        CallEvent::Dtmf { digit, .. } => s.dtmf.lock().unwrap().push(digit),
                        CallEvent::SessionModified {
                            remote_sdp, media, ..
                        } => {
                            s.modified.lock().unwrap().push(remote_sdp);
                            s.media.lock().unwrap().extend(media);
                        }
                        CallEvent::Hangup(cause) => {
                            let c = match cause {
                                HangupCause::RemoteBye => &s.remote_bye,
                                HangupCause::LocalHangup => &s.local_hangup,
                                HangupCause::NoAck => &s.no_ack,
                                other => panic!("unexpected hangup {other:?}"),
                            };
                            c.fetch_add(1, Ordering::SeqCst);
                        }
                        CallEvent::TransferProgress { .. } => {}
                    }
                }
            });
        }
    });
    seen
}

/// Runs SIPp's scenario `xml` (saved as `name`) against our endpoint on
/// `port` with `extra` arguments (calls, rate, transport), requires it to
/// succeed, and returns its output for tests that read SIPp's screen.
async fn run_scenario(port: u16, name: &str, xml: &str, extra: &[&str]) -> Output {
    let sf = scenario(name, xml);
    let mut args = vec!["-sf", sf.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = run_sipp(sipp_args(port, &args)).await;
    assert!(out.status.success(), "{}", sipp_report(&out));
    out
}

fn sipp_args(port: u16, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = vec![
        format!("127.0.0.1:{port}"),
        "-i".into(),
        "127.0.0.1".into(),
        "-p".into(),
        free_port().to_string(),
        "-timeout".into(),
        "60s".into(),
        "-timeout_error".into(),
        "-nostdin".into(),
    ];
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

async fn wait_until(what: &str, f: impl Fn() -> bool) {
    for _ in 0..200 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_sipp_calls_and_ends_them_on_remote_bye() {
    require("sipp");
    let (ep, incoming, port) = start(Timers::default()).await;
    let seen = serve(incoming, Behaviour::Answer);
    let out = run_sipp(sipp_args(
        port,
        &["-sn", "uac", "-m", "30", "-r", "30", "-l", "30"],
    ))
    .await;
    assert!(out.status.success(), "{}", sipp_report(&out));
    wait_until("all hangups", || {
        seen.remote_bye.load(Ordering::SeqCst) == 30
    })
    .await;
    assert_eq!(seen.offered.load(Ordering::SeqCst), 30);
    assert_eq!(seen.confirmed.load(Ordering::SeqCst), 30);
    assert_eq!(ep.active_calls(), 0);
    assert_eq!(ep.dialog_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_sipp_calls_over_tcp() {
    require("sipp");
    let (ep, incoming, port) = start(Timers::default()).await;
    let seen = serve(incoming, Behaviour::Answer);
    let out = run_sipp(sipp_args(
        port,
        &["-sn", "uac", "-t", "t1", "-m", "10", "-r", "10"],
    ))
    .await;
    assert!(out.status.success(), "{}", sipp_report(&out));
    wait_until("all hangups", || {
        seen.remote_bye.load(Ordering::SeqCst) == 10
    })
    .await;
    assert_eq!(ep.active_calls(), 0);
}

/// SIPp calling an endpoint bound to IPv6 loopback only, on `transport`
/// (`u1` UDP, `t1` TCP): every call is answered, confirmed by its ACK and
/// ended by SIPp's BYE.
async fn ipv6_calls(transport: &str) {
    require("sipp");
    let port = free_port();
    let us = std::net::SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port));
    let (ep, incoming) = Endpoint::bind(EndpointConfig::listen(us))
        .await
        .expect("bind [::1]");
    let seen = serve(incoming, Behaviour::Answer);
    let args: Vec<String> = [
        &format!("[::1]:{port}"),
        "-i",
        "::1",
        "-p",
        &free_port().to_string(),
        "-sn",
        "uac",
        "-t",
        transport,
        "-m",
        "5",
        "-r",
        "5",
        "-timeout",
        "60s",
        "-timeout_error",
        "-nostdin",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    let out = run_sipp(args).await;
    assert!(out.status.success(), "{}", sipp_report(&out));
    wait_until("all hangups", || {
        seen.remote_bye.load(Ordering::SeqCst) == 5
    })
    .await;
    assert_eq!(seen.confirmed.load(Ordering::SeqCst), 5);
    assert_eq!(ep.active_calls(), 0);
    assert_eq!(ep.dialog_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_sipp_calls_over_ipv6_udp() {
    ipv6_calls("u1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_sipp_calls_over_ipv6_tcp() {
    ipv6_calls("t1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_complete_when_sipp_drops_ten_percent_of_packets() {
    require("sipp");
    // Short timers so that retransmissions recover losses quickly.
    let timers = Timers {
        t1: Duration::from_millis(100),
        t2: Duration::from_millis(800),
        t4: Duration::from_secs(1),
    };
    let (ep, incoming, port) = start(timers).await;
    let seen = serve(incoming, Behaviour::Answer);
    let out = run_sipp(sipp_args(
        port,
        &[
            "-sn",
            "uac",
            "-m",
            "40",
            "-r",
            "20",
            "-lost",
            "10",
            "-T2",
            "800",
            "-recv_timeout",
            "20000",
        ],
    ))
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    // SIPp's own retransmissions may give up on an unlucky call; ours must
    // not lose any call SIPp completed.
    let failed = stdout
        .lines()
        .find(|l| l.contains("Failed call"))
        .map(|l| l.to_string())
        .unwrap_or_default();
    eprintln!("{failed}");
    wait_until("calls to settle", || {
        ep.active_calls() == 0 || seen.remote_bye.load(Ordering::SeqCst) >= 36
    })
    .await;
    assert!(
        seen.remote_bye.load(Ordering::SeqCst) >= 36,
        "only {} of 40 calls completed\n{}",
        seen.remote_bye.load(Ordering::SeqCst),
        sipp_report(&out)
    );
}

/// SIPp's ACK to a failure response of its INVITE (part of the INVITE
/// transaction: same Via branch, RFC 3261 17.1.1.3).
const SIPP_ACK_TO_A_FAILURE: &str = r#"  <send><![CDATA[
ACK sip:100@[remote_ip]:[remote_port] SIP/2.0
[last_Via:]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:100@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0
]]></send>"#;

/// SIPp's INVITE, retransmitted every 500 ms until answered. With
/// `media`, an SDP offer whose m= line and attributes are `media` (each
/// line ending in a newline); without, no body (a delayed offer).
fn sipp_invite(media: Option<&str>) -> String {
    let body = match media {
        Some(m) => format!(
            "Content-Type: application/sdp\n\
Content-Length: [len]\n\
\n\
v=0\n\
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]\n\
s=-\n\
c=IN IP[media_ip_type] [media_ip]\n\
t=0 0\n\
{m}"
        ),
        None => "Content-Length: 0\n".to_string(),
    };
    format!(
        r#"  <send retrans="500"><![CDATA[
INVITE sip:100@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:100@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
{body}]]></send>"#
    )
}

fn cancel_scenario() -> String {
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="cancel before answer">
{invite}
  <recv response="100" optional="true"/>
  <recv response="180"/>
  <send><![CDATA[
CANCEL sip:100@[remote_ip]:[remote_port] SIP/2.0
[last_Via:]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:100@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 CANCEL
Max-Forwards: 70
Content-Length: 0
]]></send>
  <recv response="200" crlf="true"/>
  <recv response="487"/>
{ack}
</scenario>
"#,
        invite = sipp_invite(Some(
            "m=audio [media_port] RTP/AVP 0\na=rtpmap:0 PCMU/8000\n"
        )),
        ack = SIPP_ACK_TO_A_FAILURE,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_cancels_before_answer_and_gets_487() {
    require("sipp");
    let (ep, incoming, port) = start(Timers::default()).await;
    let seen = serve(incoming, Behaviour::RingThenWaitCancel);
    run_scenario(
        port,
        "cancel.xml",
        &cancel_scenario(),
        &["-m", "5", "-r", "5"],
    )
    .await;
    wait_until("cancels seen", || {
        seen.cancelled.load(Ordering::SeqCst) == 5
    })
    .await;
    assert_eq!(ep.active_calls(), 0);
}

/// The caller ends the early dialog with BYE instead of CANCEL: RFC 3261
/// 15.1.2 wants 200 to the BYE and then 487 to the INVITE; SIPp checks
/// both and their order.
fn early_bye_scenario() -> String {
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="bye on the early dialog">
{invite}
  <recv response="100" optional="true"/>
  <recv response="180"/>
  <send><![CDATA[
BYE sip:100@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:100@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 BYE
Max-Forwards: 70
Content-Length: 0
]]></send>
  <recv response="200" crlf="true">
    <action>
      <ereg regexp="2 BYE" search_in="hdr" header="CSeq:" check_it="true" assign_to="bye_ok"/>
    </action>
  </recv>
  <recv response="487">
    <action>
      <ereg regexp="1 INVITE" search_in="hdr" header="CSeq:" check_it="true" assign_to="invite_487"/>
    </action>
  </recv>
{ack}
  <Reference variables="bye_ok,invite_487"/>
</scenario>
"#,
        invite = sipp_invite(Some(
            "m=audio [media_port] RTP/AVP 0\na=rtpmap:0 PCMU/8000\n"
        )),
        ack = SIPP_ACK_TO_A_FAILURE,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bye_on_the_early_dialog_gets_200_then_487_to_the_invite() {
    require("sipp");
    let (ep, incoming, port) = start(Timers::default()).await;
    let seen = serve(incoming, Behaviour::RingThenWaitCancel);
    run_scenario(
        port,
        "earlybye.xml",
        &early_bye_scenario(),
        &["-m", "10", "-r", "10"],
    )
    .await;
    wait_until("early dialogs ended", || {
        seen.cancelled.load(Ordering::SeqCst) == 10
    })
    .await;
    assert_eq!(ep.active_calls(), 0);
}

fn reject_scenario() -> String {
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="busy">
{invite}
  <recv response="100" optional="true"/>
  <recv response="486"/>
{ack}
  <!-- A retransmitted 486 would show up here if the ACK was not absorbed. -->
  <pause milliseconds="1500"/>
</scenario>
"#,
        invite = sipp_invite(Some("m=audio [media_port] RTP/AVP 0\n")),
        ack = SIPP_ACK_TO_A_FAILURE,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_call_gets_486_and_our_transaction_absorbs_the_ack() {
    require("sipp");
    let (ep, incoming, port) = start(Timers::default()).await;
    let _seen = serve(incoming, Behaviour::Reject(486));
    run_scenario(
        port,
        "busy.xml",
        &reject_scenario(),
        &["-m", "5", "-r", "5"],
    )
    .await;
    // An unexpected (retransmitted) 486 during the pause would fail the call.
    assert_eq!(ep.active_calls(), 0);
}

fn in_dialog_scenario(middle: &str, end: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="in dialog">
{invite}
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rrs="true"/>
  <send><![CDATA[
ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:100@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0
]]></send>
{middle}
{end}
</scenario>
"#,
        invite = sipp_invite(Some(
            "m=audio [media_port] RTP/AVP 0 101\na=rtpmap:101 telephone-event/8000\n"
        )),
    )
}

const BYE_FROM_SIPP: &str = r#"  <send retrans="500"><![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:100@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 10 BYE
Max-Forwards: 70
Content-Length: 0
]]></send>
  <recv response="200"/>"#;

fn info(cseq: u32, digit: &str) -> String {
    format!(
        r#"  <send retrans="500"><![CDATA[
INFO [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:100@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: {cseq} INFO
Max-Forwards: 70
Content-Type: application/dtmf-relay
Content-Length: [len]

Signal={digit}
Duration=160
]]></send>
  <recv response="200"/>"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dtmf_by_info_arrives_as_events() {
    require("sipp");
    let (_ep, incoming, port) = start(Timers::default()).await;
    let seen = serve(incoming, Behaviour::Answer);
    let middle = [info(2, "1"), info(3, "#"), info(4, "9")].join("\n");
    run_scenario(
        port,
        "info.xml",
        &in_dialog_scenario(&middle, BYE_FROM_SIPP),
        &["-m", "1"],
    )
    .await;
    wait_until("hangup", || seen.remote_bye.load(Ordering::SeqCst) == 1).await;
    assert_eq!(*seen.dtmf.lock().unwrap(), "1#9");
}

const HOLD_REINVITE: &str = r#"  <send retrans="500"><![CDATA[
INVITE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:100@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 INVITE
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 2353687638 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0 101
a=rtpmap:101 telephone-event/8000
a=sendonly
]]></send>
  <recv response="200"/>
  <send><![CDATA[
ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:100@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 ACK
Max-Forwards: 70
Content-Length: 0
]]></send>"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reinvite_for_hold_is_answered_and_reported() {
    require("sipp");
    let (_ep, incoming, port) = start(Timers::default()).await;
    let seen = serve(incoming, Behaviour::Answer);
    run_scenario(
        port,
        "hold.xml",
        &in_dialog_scenario(HOLD_REINVITE, BYE_FROM_SIPP),
        &["-m", "1"],
    )
    .await;
    wait_until("hangup", || seen.remote_bye.load(Ordering::SeqCst) == 1).await;
    let m = seen.modified.lock().unwrap();
    assert_eq!(m.len(), 1);
    assert!(m[0].contains("a=sendonly"));
    // Answered sendrecv, then the far end put us on hold: we only receive.
    let media = seen.media.lock().unwrap();
    let directions: Vec<Direction> = media.iter().map(|m| m.direction).collect();
    assert_eq!(directions, [Direction::SendRecv, Direction::RecvOnly]);
    assert_eq!(media[0].telephone_event_pt, Some(101));
}

const BYE_FROM_US: &str = r#"  <recv request="BYE"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
]]></send>"#;

/// The application hangs up the moment it has answered: the BYE must not
/// overtake our 200 OK on the wire, nor come before the caller's ACK
/// (RFC 3261 15); SIPp fails a call whose BYE comes before the 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_up_at_once_sends_the_bye_after_the_200_and_its_ack() {
    require("sipp");
    let (_ep, incoming, port) = start(Timers::default()).await;
    let seen = serve(incoming, Behaviour::HangupAtOnce);
    run_scenario(
        port,
        "byeatonce.xml",
        &in_dialog_scenario("", BYE_FROM_US),
        &["-m", "20", "-r", "20"],
    )
    .await;
    wait_until("hangups", || seen.local_hangup.load(Ordering::SeqCst) == 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn we_hang_up_with_bye_routed_to_the_callers_contact() {
    require("sipp");
    let (_ep, incoming, port) = start(Timers::default()).await;
    let seen = serve(incoming, Behaviour::AnswerThenHangup);
    run_scenario(
        port,
        "ourbye.xml",
        &in_dialog_scenario("", BYE_FROM_US),
        &["-m", "3", "-r", "3"],
    )
    .await;
    wait_until("hangups", || seen.local_hangup.load(Ordering::SeqCst) == 3).await;
}

fn no_ack_scenario() -> String {
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="never acks">
{invite}
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200"/>
  <!-- No ACK: the 200 must be retransmitted (SIPp counts the copies as
       retransmissions of the one above), then the call torn down. -->
  <recv request="BYE"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
]]></send>
</scenario>
"#,
        invite = sipp_invite(Some("m=audio [media_port] RTP/AVP 0\n")),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacknowledged_200_is_retransmitted_then_the_call_is_ended() {
    require("sipp");
    let timers = Timers {
        t1: Duration::from_millis(50),
        t2: Duration::from_millis(400),
        t4: Duration::from_millis(500),
    };
    let (_ep, incoming, port) = start(timers).await;
    let seen = serve(incoming, Behaviour::Answer);
    let out = run_scenario(port, "noack.xml", &no_ack_scenario(), &["-m", "1"]).await;
    wait_until("no-ack hangup", || seen.no_ack.load(Ordering::SeqCst) == 1).await;
    // SIPp's screen: "200 <----------  1  <retransmissions> ...".
    let stdout = String::from_utf8_lossy(&out.stdout);
    let retrans: u32 = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("200 <-"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|n| n.parse().ok())
        .expect("SIPp reports the 200 line");
    // T1=50ms doubling to T2=400ms over 64*T1=3.2s: 50+100+200+400*7.
    assert!(retrans >= 6, "only {retrans} retransmissions of the 200");
}

fn g729_only() -> String {
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="no common codec">
{invite}
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="488">
    <action>
      <ereg regexp="Warning: 399 .*no common codec" search_in="msg" check_it="true" assign_to="w"/>
    </action>
  </recv>
  <send><![CDATA[
ACK sip:100@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:100@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0
]]></send>
  <Reference variables="w"/>
</scenario>
"#,
        invite = sipp_invite(Some(
            "m=audio [media_port] RTP/AVP 18\na=rtpmap:18 G729/8000\n"
        )),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offer_without_a_common_codec_is_refused_with_488() {
    require("sipp");
    let (_ep, incoming, port) = start(Timers::default()).await;
    let seen = serve(incoming, Behaviour::Answer);
    run_scenario(port, "g729.xml", &g729_only(), &["-m", "1"]).await;
    assert_eq!(seen.offered.load(Ordering::SeqCst), 1);
    assert_eq!(seen.confirmed.load(Ordering::SeqCst), 0);
}

/// A delayed-offer INVITE (no SDP): our 200 OK carries the offer and
/// SIPp's ACK answers it with G.729 only, which we never offered. We must
/// end the call with BYE, which SIPp waits for and answers.
fn late_answer_g729() -> String {
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="unusable answer in the ACK">
{invite}
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rtd="true">
    <action>
      <ereg regexp="m=audio [0-9]+ RTP/AVP 0" search_in="body" check_it="true" assign_to="offer"/>
    </action>
  </recv>
  <send><![CDATA[
ACK sip:100@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:100@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 18
a=rtpmap:18 G729/8000
]]></send>
  <recv request="BYE"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
]]></send>
  <Reference variables="offer"/>
</scenario>
"#,
        invite = sipp_invite(None),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_answer_in_the_ack_ends_the_call_with_bye() {
    require("sipp");
    let (_ep, mut incoming, port) = start(Timers::default()).await;
    let app = tokio::spawn(async move {
        let call = incoming.next().await.expect("a call");
        assert!(call.offer().is_none(), "the INVITE has no SDP");
        let local = LocalMedia::new("127.0.0.1".parse().unwrap(), 40000).unwrap();
        let (mut call, media) = call.accept_media(local).expect("answered");
        assert!(media.is_none(), "media is known only from the ACK's answer");
        let mut events = Vec::new();
        while let Some(ev) = call.next_event().await {
            let last = matches!(ev, CallEvent::Hangup(_));
            events.push(ev);
            if last {
                break;
            }
        }
        events
    });
    run_scenario(
        port,
        "late-answer-g729.xml",
        &late_answer_g729(),
        &["-m", "1"],
    )
    .await;
    let events = tokio::time::timeout(Duration::from_secs(10), app)
        .await
        .expect("the call ends")
        .expect("application task");
    match events.as_slice() {
        [CallEvent::Hangup(HangupCause::UnusableAnswer(why))] => {
            assert!(why.contains("18"), "reason names the answer: {why}")
        }
        other => panic!("expected only a hangup for the unusable answer, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacknowledged_200_over_tcp_ends_the_call_with_bye_after_timer_l() {
    require("sipp");
    // Nothing is retransmitted over TCP, but Timer L still runs out.
    let timers = Timers {
        t1: Duration::from_millis(50),
        t2: Duration::from_millis(400),
        t4: Duration::from_millis(500),
    };
    let (ep, incoming, port) = start(timers).await;
    let seen = serve(incoming, Behaviour::Answer);
    run_scenario(
        port,
        "noack-tcp.xml",
        &no_ack_scenario(),
        &["-t", "t1", "-m", "1"],
    )
    .await;
    wait_until("no-ack hangup", || seen.no_ack.load(Ordering::SeqCst) == 1).await;
    wait_until("dialog removed", || ep.dialog_count() == 0).await;
}

/// An ACK that reuses the INVITE's branch (as RFC 2543 peers do) but names
/// no dialog of ours: our INVITE transaction must not take it for the ACK
/// of its 2xx, or the call would be neither confirmed nor ever ended.
const ACK_FOR_ANOTHER_DIALOG: &str = r#"  <send><![CDATA[
ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch-5]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:100@[remote_ip]:[remote_port]>;tag=not-ours
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0
]]></send>"#;

fn without_ack_scenario(middle: &str, end: &str) -> String {
    // The helper's ACK is replaced by `middle`; message indexes stay as
    // in `in_dialog_scenario` (INVITE 0, ACK/middle 4, then 5...).
    let full = in_dialog_scenario("", end);
    let ack_start = full
        .find("  <send><![CDATA[\nACK")
        .expect("helper has an ACK");
    let ack_end = ack_start + full[ack_start..].find("]]></send>").unwrap() + "]]></send>".len();
    format!("{}<nop/>\n{middle}{}", &full[..ack_start], &full[ack_end..])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ack_with_the_invite_branch_for_another_dialog_does_not_stop_timer_l() {
    require("sipp");
    let timers = Timers {
        t1: Duration::from_millis(50),
        t2: Duration::from_millis(400),
        t4: Duration::from_millis(500),
    };
    let (ep, incoming, port) = start(timers).await;
    let seen = serve(incoming, Behaviour::Answer);
    run_scenario(
        port,
        "ack-other-dialog.xml",
        &without_ack_scenario(ACK_FOR_ANOTHER_DIALOG, BYE_FROM_US),
        &["-m", "1"],
    )
    .await;
    wait_until("no-ack hangup", || seen.no_ack.load(Ordering::SeqCst) == 1).await;
    assert_eq!(seen.confirmed.load(Ordering::SeqCst), 0);
    wait_until("dialog removed", || ep.dialog_count() == 0).await;
}

/// CANCEL after the 200 and its ACK, with the INVITE's branch (RFC 3261
/// 9.1): 200 to the CANCEL (9.2), and the call goes on until the BYE.
const CANCEL_AFTER_ANSWER: &str = r#"  <send><![CDATA[
CANCEL sip:100@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch-5]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:100@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 CANCEL
Max-Forwards: 70
Content-Length: 0
]]></send>
  <recv response="200">
    <action>
      <ereg regexp="1 CANCEL" search_in="hdr" header="CSeq:" check_it="true" assign_to="cancel_ok"/>
    </action>
  </recv>
  <Reference variables="cancel_ok"/>"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_after_the_200_gets_200_and_leaves_the_call_up() {
    require("sipp");
    let (ep, incoming, port) = start(Timers::default()).await;
    let seen = serve(incoming, Behaviour::Answer);
    run_scenario(
        port,
        "cancel-after-200.xml",
        &in_dialog_scenario(CANCEL_AFTER_ANSWER, BYE_FROM_SIPP),
        &["-m", "3", "-r", "3"],
    )
    .await;
    wait_until("hangups", || seen.remote_bye.load(Ordering::SeqCst) == 3).await;
    assert_eq!(seen.confirmed.load(Ordering::SeqCst), 3);
    assert_eq!(seen.cancelled.load(Ordering::SeqCst), 0);
    assert_eq!(ep.active_calls(), 0);
}

/// BYE straight after the 200, no ACK: 200 to the BYE, and then our 200 to
/// the INVITE must not come again. It would be resent 0.5 and 1.5 s after
/// the first copy (T1 = 500 ms), within the pause; SIPp counts the copies
/// as retransmissions of the 200 it received.
fn bye_before_ack() -> String {
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="bye before ack">
{invite}
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rrs="true"/>
  <send retrans="500"><![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:100@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 BYE
Max-Forwards: 70
Content-Length: 0
]]></send>
  <recv response="200">
    <action>
      <ereg regexp="2 BYE" search_in="hdr" header="CSeq:" check_it="true" assign_to="bye_ok"/>
    </action>
  </recv>
  <pause milliseconds="2000"/>
  <Reference variables="bye_ok"/>
</scenario>
"#,
        invite = sipp_invite(Some("m=audio [media_port] RTP/AVP 0\n")),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bye_before_the_ack_stops_the_200_retransmissions() {
    require("sipp");
    let (ep, incoming, port) = start(Timers::default()).await;
    let seen = serve(incoming, Behaviour::Answer);
    let out = run_scenario(
        port,
        "bye-before-ack.xml",
        &bye_before_ack(),
        &["-m", "3", "-r", "3"],
    )
    .await;
    // SIPp's screen: "200 <----------  3  <retransmissions> ..." for the
    // 200 to the INVITE (the first 200 line).
    let stdout = String::from_utf8_lossy(&out.stdout);
    let retrans: u32 = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("200 <-"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|n| n.parse().ok())
        .expect("SIPp reports the 200 line");
    assert_eq!(retrans, 0, "{}", sipp_report(&out));
    wait_until("hangups", || seen.remote_bye.load(Ordering::SeqCst) == 3).await;
    assert_eq!(seen.no_ack.load(Ordering::SeqCst), 0);
    assert_eq!(ep.active_calls(), 0);
    wait_until("dialogs removed", || ep.dialog_count() == 0).await;
}
