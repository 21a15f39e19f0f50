//! A caller that retransmits its INVITE, played by a plain UDP socket on
//! loopback so that the copies leave back to back (SIPp spaces its
//! retransmissions by its timers and cannot send two copies at once): one
//! call and one dialog come of it whenever the copies arrive, each copy
//! gets the answer of the one transaction, and the call ends on BYE. A
//! copy under another branch (a merged request, RFC 3261 8.2.2.2) gets 482.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{addr, free_port, wait_until};
use sip_core::call::{CallEvent, HangupCause};
use sip_core::endpoint::{Endpoint, EndpointConfig, IncomingCalls};
use sip_core::message::Message;
use tokio::net::UdpSocket;

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

fn invite(call_id: &str, branch: &str, peer: SocketAddr, us: u16) -> Vec<u8> {
    invite_cseq(call_id, branch, 1, peer, us)
}

fn invite_cseq(call_id: &str, branch: &str, cseq: u32, peer: SocketAddr, us: u16) -> Vec<u8> {
    format!(
        "INVITE sip:100@127.0.0.1:{us} SIP/2.0\r\n\
Via: SIP/2.0/UDP {peer};branch={branch}\r\n\
Max-Forwards: 70\r\n\
From: <sip:caller@{peer}>;tag=ft-{call_id}\r\n\
To: <sip:100@127.0.0.1:{us}>\r\n\
Call-ID: {call_id}\r\n\
CSeq: {cseq} INVITE\r\n\
Contact: <sip:caller@{peer}>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: {}\r\n\r\n{SDP}",
        SDP.len()
    )
    .into_bytes()
}

fn in_dialog(
    method: &str,
    cseq: u32,
    call_id: &str,
    to_tag: &str,
    peer: SocketAddr,
    us: u16,
) -> Vec<u8> {
    format!(
        "{method} sip:100@127.0.0.1:{us} SIP/2.0\r\n\
Via: SIP/2.0/UDP {peer};branch=z9hG4bK-{method}-{call_id}\r\n\
Max-Forwards: 70\r\n\
From: <sip:caller@{peer}>;tag=ft-{call_id}\r\n\
To: <sip:100@127.0.0.1:{us}>;tag={to_tag}\r\n\
Call-ID: {call_id}\r\n\
CSeq: {cseq} {method}\r\n\
Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// The next response for `call_id` with `code` (others are skipped), as
/// its To tag; bounded so that a missing answer fails the test.
async fn response(peer: &UdpSocket, call_id: &str, code: u16) -> String {
    let wait = async {
        let mut buf = vec![0u8; 8192];
        loop {
            let (n, _) = peer.recv_from(&mut buf).await.expect("recv");
            let Ok(Message::Response(r)) = Message::parse(&buf[..n]) else {
                continue;
            };
            if r.code == code && r.headers.call_id() == Some(call_id) {
                return r
                    .headers
                    .to()
                    .ok()
                    .and_then(|t| t.tag().map(str::to_string))
                    .unwrap_or_default();
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .unwrap_or_else(|_| panic!("no {code} for {call_id}"))
}

async fn next_call_id(incoming: &mut IncomingCalls) -> sip_core::call::IncomingCall {
    tokio::time::timeout(Duration::from_secs(10), incoming.next())
        .await
        .expect("a call is offered")
        .expect("endpoint alive")
}

/// An endpoint on a free port of 127.0.0.1, and the caller's socket.
async fn endpoint_and_caller() -> (Endpoint, IncomingCalls, UdpSocket, u16) {
    let port = free_port();
    let (ep, incoming) = Endpoint::bind(EndpointConfig::listen(addr(port)))
        .await
        .expect("bind");
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    (ep, incoming, peer, port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_of_an_invite_sent_back_to_back_make_one_call_and_one_dialog() {
    let (ep, mut incoming, peer, port) = endpoint_and_caller().await;
    let me = peer.local_addr().unwrap();
    let to = addr(port);
    let a = invite("call-a", "z9hG4bK-a", me, port);

    // Two copies at once, then another call. One socket is read in
    // order: a second call for the copy would be offered before call B.
    peer.send_to(&a, to).await.unwrap();
    peer.send_to(&a, to).await.unwrap();
    peer.send_to(&invite("call-b", "z9hG4bK-b", me, port), to)
        .await
        .unwrap();
    let call_a = next_call_id(&mut incoming).await;
    assert_eq!(call_a.call_id(), "call-a");
    let call_b = next_call_id(&mut incoming).await;
    assert_eq!(call_b.call_id(), "call-b", "the copy made a second call");
    drop(call_b);

    let mut call = call_a.accept(SDP.to_string()).expect("accept");
    let tag = response(&peer, "call-a", 200).await;
    assert!(!tag.is_empty());
    assert_eq!(ep.dialog_count(), 1);

    // A copy after the 200 and before the ACK: the same 200 again.
    peer.send_to(&a, to).await.unwrap();
    assert_eq!(response(&peer, "call-a", 200).await, tag);
    peer.send_to(&in_dialog("ACK", 1, "call-a", &tag, me, port), to)
        .await
        .unwrap();
    assert_eq!(call.next_event().await, Some(CallEvent::Confirmed));

    // Two more copies after the ACK, then call C: still the same 200,
    // still no second call.
    peer.send_to(&a, to).await.unwrap();
    peer.send_to(&a, to).await.unwrap();
    peer.send_to(&invite("call-c", "z9hG4bK-c", me, port), to)
        .await
        .unwrap();
    assert_eq!(response(&peer, "call-a", 200).await, tag);
    assert_eq!(response(&peer, "call-a", 200).await, tag);
    let call_c = next_call_id(&mut incoming).await;
    assert_eq!(call_c.call_id(), "call-c", "a late copy made a second call");
    drop(call_c);
    assert_eq!(ep.dialog_count(), 1);

    // The BYE ends the one dialog.
    peer.send_to(&in_dialog("BYE", 2, "call-a", &tag, me, port), to)
        .await
        .unwrap();
    response(&peer, "call-a", 200).await;
    assert_eq!(
        call.next_event().await,
        Some(CallEvent::Hangup(HangupCause::RemoteBye))
    );
    assert_eq!(ep.active_calls(), 0);
    // The table entry goes right after the Hangup event.
    wait_until("the dialog leaving the table after BYE", || {
        ep.dialog_count() == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_under_another_branch_is_a_merged_request_and_gets_482() {
    let (ep, mut incoming, peer, port) = endpoint_and_caller().await;
    let me = peer.local_addr().unwrap();
    let to = addr(port);

    // The same INVITE twice, the second under a new branch (as a proxy
    // that forked it, or a balancer that re-sent it, would): one call,
    // and 482 to the copy.
    peer.send_to(&invite("call-m", "z9hG4bK-m1", me, port), to)
        .await
        .unwrap();
    peer.send_to(&invite("call-m", "z9hG4bK-m2", me, port), to)
        .await
        .unwrap();
    response(&peer, "call-m", 482).await;
    let call = next_call_id(&mut incoming).await;
    assert_eq!(call.call_id(), "call-m");
    let mut call = call.accept(SDP.to_string()).expect("accept");
    let tag = response(&peer, "call-m", 200).await;
    peer.send_to(&in_dialog("ACK", 1, "call-m", &tag, me, port), to)
        .await
        .unwrap();
    assert_eq!(call.next_event().await, Some(CallEvent::Confirmed));

    // After the answer, a third copy under yet another branch: 482 again,
    // and still one dialog.
    peer.send_to(&invite("call-m", "z9hG4bK-m3", me, port), to)
        .await
        .unwrap();
    response(&peer, "call-m", 482).await;
    assert_eq!(ep.dialog_count(), 1);
    assert_eq!(
        ep.stats().merged.load(std::sync::atomic::Ordering::Relaxed),
        2
    );

    // Same Call-ID and From tag with the next CSeq is a new request (a
    // retry after a challenge does this), not a copy: it is offered.
    peer.send_to(&invite_cseq("call-m", "z9hG4bK-m4", 2, me, port), to)
        .await
        .unwrap();
    let retry = next_call_id(&mut incoming).await;
    assert_eq!(retry.call_id(), "call-m");
    drop(retry);
    assert_eq!(
        ep.stats().merged.load(std::sync::atomic::Ordering::Relaxed),
        2
    );
}
