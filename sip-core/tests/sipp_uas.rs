//! Our endpoint as the called party, with SIPp as the caller on loopback:
//! calls placed, answered, ended in both directions, cancelled, refused,
//! DTMF by INFO, hold by re-INVITE, blind transfer by REFER, 2xx
//! retransmission until ACK, packet loss, TCP.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::uas::{self, Behaviour, Uas};
use common::{free_port, require, sipp_report, wait_until};
use sip_core::call::{CallEvent, HangupCause};
use sip_core::endpoint::EndpointConfig;
use sip_core::outbound::CallTarget;
use sip_core::sdp::{Direction, LocalMedia};
use sip_core::transaction::Timers;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_sipp_calls_and_ends_them_on_remote_bye() {
    require("sipp");
    let uas = Uas::start(Timers::default(), Behaviour::Answer).await;
    let out = uas
        .run_sipp(&["-sn", "uac", "-m", "30", "-r", "30", "-l", "30"])
        .await;
    assert!(out.status.success(), "{}", sipp_report(&out));
    wait_until("all hangups", || {
        uas.seen.remote_bye.load(Ordering::SeqCst) == 30
    })
    .await;
    assert_eq!(uas.seen.offered.load(Ordering::SeqCst), 30);
    assert_eq!(uas.seen.confirmed.load(Ordering::SeqCst), 30);
    assert_eq!(uas.ep.active_calls(), 0);
    assert_eq!(uas.ep.dialog_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_sipp_calls_over_tcp() {
    require("sipp");
    let uas = Uas::start(Timers::default(), Behaviour::Answer).await;
    let out = uas
        .run_sipp(&["-sn", "uac", "-t", "t1", "-m", "10", "-r", "10"])
        .await;
    assert!(out.status.success(), "{}", sipp_report(&out));
    wait_until("all hangups", || {
        uas.seen.remote_bye.load(Ordering::SeqCst) == 10
    })
    .await;
    assert_eq!(uas.ep.active_calls(), 0);
}

/// SIPp calling an endpoint bound to IPv6 loopback only, on `transport`
/// (`u1` UDP, `t1` TCP): every call is answered, confirmed by its ACK and
/// ended by SIPp's BYE.
async fn ipv6_calls(transport: &str) {
    require("sipp");
    let us = std::net::SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, free_port()));
    let uas = Uas::start_with(EndpointConfig::listen(us), Behaviour::Answer).await;
    let out = uas
        .run_sipp(&["-sn", "uac", "-t", transport, "-m", "5", "-r", "5"])
        .await;
    assert!(out.status.success(), "{}", sipp_report(&out));
    wait_until("all hangups", || {
        uas.seen.remote_bye.load(Ordering::SeqCst) == 5
    })
    .await;
    assert_eq!(uas.seen.confirmed.load(Ordering::SeqCst), 5);
    assert_eq!(uas.ep.active_calls(), 0);
    assert_eq!(uas.ep.dialog_count(), 0);
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
    let uas = Uas::start(timers, Behaviour::Answer).await;
    let out = uas
        .run_sipp(&[
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
        ])
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
        uas.ep.active_calls() == 0 || uas.seen.remote_bye.load(Ordering::SeqCst) >= 36
    })
    .await;
    assert!(
        uas.seen.remote_bye.load(Ordering::SeqCst) >= 36,
        "only {} of 40 calls completed\n{}",
        uas.seen.remote_bye.load(Ordering::SeqCst),
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
    let uas = Uas::start(Timers::default(), Behaviour::RingThenWaitCancel).await;
    uas.run_scenario("cancel.xml", &cancel_scenario(), &["-m", "5", "-r", "5"])
        .await;
    wait_until("cancels seen", || {
        uas.seen.cancelled.load(Ordering::SeqCst) == 5
    })
    .await;
    assert_eq!(uas.ep.active_calls(), 0);
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
    let uas = Uas::start(Timers::default(), Behaviour::RingThenWaitCancel).await;
    uas.run_scenario(
        "earlybye.xml",
        &early_bye_scenario(),
        &["-m", "10", "-r", "10"],
    )
    .await;
    wait_until("early dialogs ended", || {
        uas.seen.cancelled.load(Ordering::SeqCst) == 10
    })
    .await;
    assert_eq!(uas.ep.active_calls(), 0);
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
    let uas = Uas::start(Timers::default(), Behaviour::Reject(486)).await;
    uas.run_scenario("busy.xml", &reject_scenario(), &["-m", "5", "-r", "5"])
        .await;
    // An unexpected (retransmitted) 486 during the pause would fail the call.
    assert_eq!(uas.ep.active_calls(), 0);
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
    let uas = Uas::start(Timers::default(), Behaviour::Answer).await;
    let middle = [info(2, "1"), info(3, "#"), info(4, "9")].join("\n");
    uas.run_scenario(
        "info.xml",
        &in_dialog_scenario(&middle, BYE_FROM_SIPP),
        &["-m", "1"],
    )
    .await;
    wait_until("hangup", || uas.seen.remote_bye.load(Ordering::SeqCst) == 1).await;
    assert_eq!(*uas.seen.dtmf.lock().unwrap(), "1#9");
}

/// SIPp takes our REFER (checking its Refer-To), accepts it with 202,
/// reports the target's 200 by a final NOTIFY (RFC 3515 2.4.5) and hangs up.
const REFER_ACCEPTED_AND_REPORTED: &str = r#"  <recv request="REFER">
    <action>
      <ereg regexp="sip:carol@127\.0\.0\.1:5090" search_in="hdr" header="Refer-To:" check_it="true" assign_to="refer_to"/>
      <ereg regexp=".*" search_in="hdr" header="From:" check_it="true" assign_to="us"/>
    </action>
  </recv>
  <send><![CDATA[
SIP/2.0 202 Accepted
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Contact: sip:sipp@[local_ip]:[local_port]
Content-Length: 0
]]></send>
  <send retrans="500"><![CDATA[
NOTIFY [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: [$us]
Call-ID: [call_id]
CSeq: 2 NOTIFY
Max-Forwards: 70
Event: refer
Subscription-State: terminated;reason=noresource
Content-Type: message/sipfrag;version=2.0
Content-Length: [len]

SIP/2.0 200 OK
]]></send>
  <recv response="200"/>
  <Reference variables="refer_to"/>"#;

/// The application transfers an answered call (RFC 3515): the REFER
/// carries the target it was given as Refer-To, the far end's 202 makes
/// `transfer` succeed, and its NOTIFY arrives as the target's progress.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blind_transfer_sends_refer_to_the_target_and_reports_its_progress() {
    require("sipp");
    let (ep, mut incoming, at) = uas::endpoint(Timers::default()).await;
    let target =
        CallTarget::parse_setting("transfer_to", "sip:carol@127.0.0.1:5090").expect("a SIP URI");
    let app = tokio::spawn(async move {
        let call = incoming.next().await.expect("a call");
        let local = LocalMedia::new("127.0.0.1".parse().unwrap(), 40000).unwrap();
        let (mut call, _) = call.accept_media(local).expect("answered");
        assert_eq!(call.next_event().await, Some(CallEvent::Confirmed));
        call.transfer(&target)
            .await
            .expect("the far end accepts the REFER");
        assert_eq!(
            call.next_event().await,
            Some(CallEvent::TransferProgress {
                code: 200,
                last: true
            })
        );
        assert_eq!(
            call.next_event().await,
            Some(CallEvent::Hangup(HangupCause::RemoteBye))
        );
    });
    uas::run_scenario(
        at,
        "refer.xml",
        &in_dialog_scenario(REFER_ACCEPTED_AND_REPORTED, BYE_FROM_SIPP),
        &["-m", "1"],
    )
    .await;
    tokio::time::timeout(Duration::from_secs(10), app)
        .await
        .expect("the application saw the call through")
        .expect("the application's checks hold");
    drop(ep);
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
    let uas = Uas::start(Timers::default(), Behaviour::Answer).await;
    uas.run_scenario(
        "hold.xml",
        &in_dialog_scenario(HOLD_REINVITE, BYE_FROM_SIPP),
        &["-m", "1"],
    )
    .await;
    wait_until("hangup", || uas.seen.remote_bye.load(Ordering::SeqCst) == 1).await;
    let m = uas.seen.modified.lock().unwrap();
    assert_eq!(m.len(), 1);
    assert!(m[0].contains("a=sendonly"));
    // Answered sendrecv, then the far end put us on hold: we only receive.
    let media = uas.seen.media.lock().unwrap();
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
    let uas = Uas::start(Timers::default(), Behaviour::HangupAtOnce).await;
    uas.run_scenario(
        "byeatonce.xml",
        &in_dialog_scenario("", BYE_FROM_US),
        &["-m", "20", "-r", "20"],
    )
    .await;
    wait_until("hangups", || {
        uas.seen.local_hangup.load(Ordering::SeqCst) == 20
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn we_hang_up_with_bye_routed_to_the_callers_contact() {
    require("sipp");
    let uas = Uas::start(Timers::default(), Behaviour::AnswerThenHangup).await;
    uas.run_scenario(
        "ourbye.xml",
        &in_dialog_scenario("", BYE_FROM_US),
        &["-m", "3", "-r", "3"],
    )
    .await;
    wait_until("hangups", || {
        uas.seen.local_hangup.load(Ordering::SeqCst) == 3
    })
    .await;
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
    let uas = Uas::start(timers, Behaviour::Answer).await;
    let out = uas
        .run_scenario("noack.xml", &no_ack_scenario(), &["-m", "1"])
        .await;
    wait_until("no-ack hangup", || {
        uas.seen.no_ack.load(Ordering::SeqCst) == 1
    })
    .await;
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
    let uas = Uas::start(Timers::default(), Behaviour::Answer).await;
    uas.run_scenario("g729.xml", &g729_only(), &["-m", "1"])
        .await;
    assert_eq!(uas.seen.offered.load(Ordering::SeqCst), 1);
    assert_eq!(uas.seen.confirmed.load(Ordering::SeqCst), 0);
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
    let (_ep, mut incoming, us) = uas::endpoint(Timers::default()).await;
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
    uas::run_scenario(
        us,
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
    let uas = Uas::start(timers, Behaviour::Answer).await;
    uas.run_scenario(
        "noack-tcp.xml",
        &no_ack_scenario(),
        &["-t", "t1", "-m", "1"],
    )
    .await;
    wait_until("no-ack hangup", || {
        uas.seen.no_ack.load(Ordering::SeqCst) == 1
    })
    .await;
    wait_until("dialog removed", || uas.ep.dialog_count() == 0).await;
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
    let uas = Uas::start(timers, Behaviour::Answer).await;
    uas.run_scenario(
        "ack-other-dialog.xml",
        &without_ack_scenario(ACK_FOR_ANOTHER_DIALOG, BYE_FROM_US),
        &["-m", "1"],
    )
    .await;
    wait_until("no-ack hangup", || {
        uas.seen.no_ack.load(Ordering::SeqCst) == 1
    })
    .await;
    assert_eq!(uas.seen.confirmed.load(Ordering::SeqCst), 0);
    wait_until("dialog removed", || uas.ep.dialog_count() == 0).await;
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
    let uas = Uas::start(Timers::default(), Behaviour::Answer).await;
    uas.run_scenario(
        "cancel-after-200.xml",
        &in_dialog_scenario(CANCEL_AFTER_ANSWER, BYE_FROM_SIPP),
        &["-m", "3", "-r", "3"],
    )
    .await;
    wait_until("hangups", || {
        uas.seen.remote_bye.load(Ordering::SeqCst) == 3
    })
    .await;
    assert_eq!(uas.seen.confirmed.load(Ordering::SeqCst), 3);
    assert_eq!(uas.seen.cancelled.load(Ordering::SeqCst), 0);
    assert_eq!(uas.ep.active_calls(), 0);
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
    let uas = Uas::start(Timers::default(), Behaviour::Answer).await;
    let out = uas
        .run_scenario(
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
    wait_until("hangups", || {
        uas.seen.remote_bye.load(Ordering::SeqCst) == 3
    })
    .await;
    assert_eq!(uas.seen.no_ack.load(Ordering::SeqCst), 0);
    assert_eq!(uas.ep.active_calls(), 0);
    wait_until("dialogs removed", || uas.ep.dialog_count() == 0).await;
}
