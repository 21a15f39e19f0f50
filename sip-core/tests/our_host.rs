//! Which Request-URI hosts are ours: an INVITE for our external address
//! (written as a bracketed IPv6 address without a port, as a trunk behind
//! a NAT64 or a v6-only provider sends it) is offered as a call, while one
//! for another host gets 404. A plain UDP socket on loopback plays the
//! caller.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{addr, free_port};
use sip_core::endpoint::{Endpoint, EndpointConfig};
use sip_core::message::Message;
use tokio::net::UdpSocket;

fn invite(ruri_host: &str, call_id: &str, peer: SocketAddr) -> Vec<u8> {
    format!(
        "INVITE sip:100@{ruri_host} SIP/2.0\r\n\
Via: SIP/2.0/UDP {peer};branch=z9hG4bK-{call_id}\r\n\
Max-Forwards: 70\r\n\
From: <sip:caller@{peer}>;tag=ft-{call_id}\r\n\
To: <sip:100@{ruri_host}>\r\n\
Call-ID: {call_id}\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:caller@{peer}>\r\n\
Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// The first final response to `call_id`.
async fn final_code(peer: &UdpSocket, call_id: &str) -> u16 {
    let wait = async {
        let mut buf = vec![0u8; 8192];
        loop {
            let (n, _) = peer.recv_from(&mut buf).await.expect("recv");
            if let Ok(Message::Response(r)) = Message::parse(&buf[..n]) {
                if r.code >= 200 && r.headers.call_id() == Some(call_id) {
                    return r.code;
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), wait)
        .await
        .unwrap_or_else(|_| panic!("no final response for {call_id}"))
}

#[tokio::test]
async fn an_invite_for_our_bracketed_ipv6_external_address_is_a_call_and_another_host_gets_404() {
    let port = free_port();
    let mut config = EndpointConfig::listen(addr(port))
        .with_external_sip_address("[2001:db8::10]")
        .expect("external address");
    // With a domain configured, an IP literal that is not ours is refused.
    config = config.with_domain("pbx.example.net").expect("a domain");
    let (_ep, mut incoming) = Endpoint::bind(config).await.expect("bind");
    let peer = UdpSocket::bind("127.0.0.1:0").await.expect("bind peer");
    let peer_addr = peer.local_addr().expect("peer address");

    peer.send_to(&invite("[2001:db8::10]", "ours", peer_addr), addr(port))
        .await
        .expect("send");
    let call = tokio::time::timeout(Duration::from_secs(5), incoming.next())
        .await
        .expect("the INVITE for our external address is offered")
        .expect("endpoint alive");
    assert_eq!(call.call_id(), "ours");
    call.reject(486);
    assert_eq!(final_code(&peer, "ours").await, 486);

    peer.send_to(&invite("[2001:db8::11]", "theirs", peer_addr), addr(port))
        .await
        .expect("send");
    assert_eq!(final_code(&peer, "theirs").await, 404);
}
