//! Requests the endpoint refuses without a transaction (screening
//! failures, the rate limit), sent twice from a plain UDP socket on
//! loopback as a retransmitting peer would: both copies are refused with
//! the same To tag (RFC 3261 8.2.7), and the response's top Via carries
//! `received` and the `rport` value the request asked for (RFC 3581 4),
//! as the responses of transactions do. A peer that matches responses by
//! To tag (pjsip does) or sits behind NAT depends on both.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{addr, free_port};
use sip_core::endpoint::{Endpoint, EndpointConfig};
use sip_core::message::{HeaderName, Message};
use tokio::net::UdpSocket;

/// An OPTIONS whose top Via names a host that is not its source and asks
/// for `rport`, with `extra` header lines.
fn options(call_id: &str, us: u16, extra: &str) -> Vec<u8> {
    format!(
        "OPTIONS sip:100@127.0.0.1:{us} SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.55:5099;branch=z9hG4bK-{call_id};rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:peer@192.0.2.55>;tag=ft-{call_id}\r\n\
To: <sip:100@127.0.0.1:{us}>\r\n\
Call-ID: {call_id}\r\n\
CSeq: 1 OPTIONS\r\n\
{extra}\
Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// The next response with `code` for `call_id`: its To tag and top Via.
async fn refusal(peer: &UdpSocket, call_id: &str, code: u16) -> (String, String) {
    let wait = async {
        let mut buf = vec![0u8; 8192];
        loop {
            let (n, _) = peer.recv_from(&mut buf).await.expect("recv");
            let Ok(Message::Response(r)) = Message::parse(&buf[..n]) else {
                continue;
            };
            if r.code != code || r.headers.call_id() != Some(call_id) {
                continue;
            }
            let tag = r
                .headers
                .to()
                .ok()
                .and_then(|t| t.tag().map(str::to_string))
                .expect("a To tag in the refusal");
            let via = r.headers.get(HeaderName::Via).expect("a Via").to_string();
            return (tag, via);
        }
    };
    tokio::time::timeout(Duration::from_secs(5), wait)
        .await
        .unwrap_or_else(|_| panic!("no {code} for {call_id}"))
}

async fn peer_socket() -> (UdpSocket, SocketAddr) {
    let peer = UdpSocket::bind("127.0.0.1:0").await.expect("bind peer");
    let at = peer.local_addr().expect("peer address");
    (peer, at)
}

#[tokio::test]
async fn a_refused_request_sent_twice_gets_the_same_to_tag_and_a_via_with_received_and_rport() {
    let port = free_port();
    let (_ep, _incoming) = Endpoint::bind(EndpointConfig::listen(addr(port)))
        .await
        .expect("bind");
    let (peer, peer_addr) = peer_socket().await;
    // An extension we do not support: 420 Bad Extension, stateless.
    let req = options("bad-ext", port, "Require: no-such-extension\r\n");
    peer.send_to(&req, addr(port)).await.expect("send");
    let (tag1, via1) = refusal(&peer, "bad-ext", 420).await;
    peer.send_to(&req, addr(port)).await.expect("send");
    let (tag2, via2) = refusal(&peer, "bad-ext", 420).await;
    assert_eq!(
        tag1, tag2,
        "a retransmission is refused with the same To tag"
    );
    let want = format!(
        "SIP/2.0/UDP 192.0.2.55:5099;branch=z9hG4bK-bad-ext;received=127.0.0.1;rport={}",
        peer_addr.port()
    );
    assert_eq!(via1, want);
    assert_eq!(via2, want);
}

#[tokio::test]
async fn a_rate_limited_request_sent_twice_gets_the_same_to_tag_and_a_via_with_received_and_rport()
{
    let port = free_port();
    let mut config = EndpointConfig::listen(addr(port));
    config.max_requests_per_second = Some(1);
    let (_ep, _incoming) = Endpoint::bind(config).await.expect("bind");
    let (peer, peer_addr) = peer_socket().await;
    // The first request of the second is let through; the next two are
    // over the limit and refused with 503 before any transaction exists.
    peer.send_to(&options("first", port, ""), addr(port))
        .await
        .expect("send");
    refusal(&peer, "first", 200).await;
    let req = options("limited", port, "");
    peer.send_to(&req, addr(port)).await.expect("send");
    let (tag1, via1) = refusal(&peer, "limited", 503).await;
    peer.send_to(&req, addr(port)).await.expect("send");
    let (tag2, via2) = refusal(&peer, "limited", 503).await;
    assert_eq!(
        tag1, tag2,
        "a retransmission is refused with the same To tag"
    );
    let want = format!(
        "SIP/2.0/UDP 192.0.2.55:5099;branch=z9hG4bK-limited;received=127.0.0.1;rport={}",
        peer_addr.port()
    );
    assert_eq!(via1, want);
    assert_eq!(via2, want);
}
