//! Keep-alives to the provider while registered: OPTIONS to SIPp as the
//! registrar (any response, even 405, proves the path), and CRLF pings
//! observed by a UDP relay standing between us and SIPp (as a NAT would),
//! which checks they leave from the socket the REGISTER left from.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{
    addr, free_port, require, scenario, sipp_register_ok, sipp_report, sipp_response,
    start_sipp_server, wait_until,
};
use sip_core::endpoint::{Endpoint, EndpointConfig};
use sip_core::registration::{Account, KeepAlive, RegistrationState};
use tokio::net::UdpSocket;

/// Answers `code reason` to the last request.
fn reply(code: u16, reason: &str, next: &str) -> String {
    sipp_response(code, reason, "", Some(next))
}

/// A registrar that grants 60 s and answers OPTIONS keep-alives with 405
/// Method Not Allowed (any response proves the path). Each OPTIONS has a
/// Call-ID of its own, so SIPp sees it as a call of its own: SIPp runs
/// until it has seen the registration (REGISTER, then the unregister with
/// Expires: 0) and `options` OPTIONS, each checked.
fn options_registrar() -> String {
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="registrar answering OPTIONS keep-alives">
  <recv request="REGISTER" optional="true" next="register" crlf="true"/>
  <recv request="OPTIONS">
    <action>
      <ereg regexp="^OPTIONS sip:127.0.0.1:[0-9]+ SIP/2.0" search_in="msg" check_it="true" assign_to="ruri"/>
      <ereg regexp="From: *&lt;sip:alice@127.0.0.1&gt;;tag=" search_in="msg" check_it="true" assign_to="from"/>
    </action>
  </recv>
  {options_reply}
  <label id="register"/>
  {register_ok}
  <recv request="REGISTER">
    <action>
      <ereg regexp="Expires: *0" search_in="msg" check_it="true" assign_to="unreg"/>
    </action>
  </recv>
  {register_reply}
  <label id="end"/>
  <Reference variables="ruri,from,unreg"/>
</scenario>
"#,
        options_reply = reply(405, "Method Not Allowed", "end"),
        register_ok = sipp_register_ok(Some(60)),
        register_reply = reply(200, "OK", "end"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_keepalives_reach_the_registrar_and_any_response_proves_the_path() {
    require("sipp");
    let registrar_port = free_port();
    let sf = scenario("options-registrar.xml", &options_registrar());
    // The registration and three OPTIONS.
    let sipp = start_sipp_server(&sf, registrar_port, 4, "30s").await;

    let (ep, _incoming) = Endpoint::bind(EndpointConfig::listen(addr(free_port())))
        .await
        .expect("bind");
    let mut account =
        Account::new(&format!("127.0.0.1:{registrar_port}"), "alice", "secret").expect("account");
    account.keepalive = Some(KeepAlive::options(Duration::from_millis(200)));
    let mut reg = ep.register(account);
    assert!(
        matches!(reg.settled().await, RegistrationState::Registered { .. }),
        "{:?}",
        reg.state()
    );
    wait_until("three answered OPTIONS", || {
        reg.keepalive_stats().answered >= 3
    })
    .await;
    let stats = reg.keepalive_stats();
    assert_eq!(stats.unanswered, 0, "{stats:?}");
    // The 405 answers kept us registered.
    assert!(matches!(reg.state(), RegistrationState::Registered { .. }));
    assert_eq!(reg.unregister().await, RegistrationState::Unregistered);
    let out = sipp.await.expect("sipp task");
    assert!(out.status.success(), "{}", sipp_report(&out));
}

/// What the relay saw from the client side: each datagram's source and
/// whether it was a bare CRLF keep-alive.
type Seen = Arc<Mutex<Vec<(SocketAddr, Vec<u8>)>>>;

/// A UDP relay on 127.0.0.1 in front of `upstream`: forwards SIP both ways
/// and records everything the client side sends (keep-alives stop here,
/// as they would at a NAT's public side).
async fn relay(upstream: SocketAddr) -> (SocketAddr, Seen) {
    let front = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind"));
    let back = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind"));
    back.connect(upstream).await.expect("connect");
    let seen: Seen = Arc::default();
    let client: Arc<Mutex<Option<SocketAddr>>> = Arc::default();
    let front_addr = front.local_addr().expect("addr");
    {
        let (front, back, seen, client) =
            (front.clone(), back.clone(), seen.clone(), client.clone());
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65_536];
            while let Ok((n, src)) = front.recv_from(&mut buf).await {
                let data = buf[..n].to_vec();
                let ping = data.iter().all(|b| *b == b'\r' || *b == b'\n');
                seen.lock().unwrap().push((src, data));
                if !ping {
                    *client.lock().unwrap() = Some(src);
                    let _ = back.send(&buf[..n]).await;
                }
            }
        });
    }
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        while let Ok(n) = back.recv(&mut buf).await {
            let to = *client.lock().unwrap();
            if let Some(to) = to {
                let _ = front.send_to(&buf[..n], to).await;
            }
        }
    });
    (front_addr, seen)
}

/// A registrar that grants 60 s and then takes the unregister.
fn plain_registrar() -> String {
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="registrar">
  <recv request="REGISTER" crlf="true"/>{granted}
  <recv request="REGISTER">
    <action>
      <ereg regexp="Expires: *0" search_in="msg" check_it="true" assign_to="unreg"/>
    </action>
  </recv>{unregistered}
  <Reference variables="unreg"/>
</scenario>
"#,
        granted = sipp_register_ok(Some(60)),
        unregistered = sipp_register_ok(None),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crlf_keepalives_leave_from_the_registering_socket_while_registered() {
    require("sipp");
    let registrar_port = free_port();
    let sf = scenario("crlf-registrar.xml", &plain_registrar());
    let sipp = start_sipp_server(&sf, registrar_port, 1, "30s").await;
    let (relay_addr, seen) = relay(addr(registrar_port)).await;

    let (ep, _incoming) = Endpoint::bind(EndpointConfig::listen(addr(free_port())))
        .await
        .expect("bind");
    let mut account = Account::new(&relay_addr.to_string(), "alice", "secret").expect("account");
    account.keepalive = Some(KeepAlive::crlf(Duration::from_millis(200)));
    let mut reg = ep.register(account);
    match reg.settled().await {
        RegistrationState::Registered { registrar, .. } => assert_eq!(registrar, relay_addr),
        other => panic!("not registered: {other:?}"),
    }
    wait_until("three CRLF keep-alives at the relay", || {
        seen.lock()
            .unwrap()
            .iter()
            .filter(|(_, d)| d.as_slice() == b"\r\n\r\n")
            .count()
            >= 3
    })
    .await;
    assert!(reg.keepalive_stats().sent >= 3);
    assert_eq!(reg.unregister().await, RegistrationState::Unregistered);
    let out = sipp.await.expect("sipp task");
    assert!(out.status.success(), "{}", sipp_report(&out));

    let seen = seen.lock().unwrap().clone();
    let ours = ep.udp_addr().expect("udp socket");
    let register_sources: Vec<SocketAddr> = seen
        .iter()
        .filter(|(_, d)| d.starts_with(b"REGISTER "))
        .map(|(s, _)| *s)
        .collect();
    assert_eq!(register_sources, [ours, ours], "register, then unregister");
    let pings: Vec<&(SocketAddr, Vec<u8>)> = seen
        .iter()
        .filter(|(_, d)| !d.starts_with(b"REGISTER "))
        .collect();
    assert!(pings.len() >= 3);
    for (src, data) in pings {
        assert_eq!(
            data.as_slice(),
            b"\r\n\r\n",
            "only CRLF pings besides REGISTER"
        );
        assert_eq!(*src, ours, "the keep-alive leaves from the SIP socket");
    }
    // The keep-alives came between the registration and the unregister.
    let first_ping = seen.iter().position(|(_, d)| d == b"\r\n\r\n").unwrap();
    let last_register = seen
        .iter()
        .rposition(|(_, d)| d.starts_with(b"REGISTER "))
        .unwrap();
    assert!(first_ping > 0 && first_ping < last_register);
}

/// A registrar that grants 60 s and never answers OPTIONS (the path is
/// broken one way): it expects the registration to be sent again, then
/// the unregister.
fn deaf_to_options() -> String {
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="registrar ignoring OPTIONS">
  <recv request="REGISTER" optional="true" next="register" crlf="true"/>
  <recv request="OPTIONS" next="end"/>
  <label id="register"/>{granted}
  <recv request="REGISTER">
    <action>
      <ereg regexp="Expires: *60" search_in="msg" check_it="true" assign_to="again"/>
    </action>
  </recv>{granted}
  <recv request="REGISTER">
    <action>
      <ereg regexp="Expires: *0" search_in="msg" check_it="true" assign_to="unreg"/>
    </action>
  </recv>{unregistered}
  <label id="end"/>
  <Reference variables="again,unreg"/>
</scenario>
"#,
        granted = sipp_register_ok(Some(60)),
        unregistered = sipp_register_ok(None),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanswered_options_keepalive_makes_us_register_again() {
    require("sipp");
    let registrar_port = free_port();
    let sf = scenario("deaf-registrar.xml", &deaf_to_options());
    // The registration and one ignored OPTIONS.
    let sipp = start_sipp_server(&sf, registrar_port, 2, "30s").await;

    let cfg = EndpointConfig {
        // Give up on an OPTIONS after 1 s of silence, not Timer F's 32 s.
        failover_timeout: Some(Duration::from_secs(1)),
        ..EndpointConfig::listen(addr(free_port()))
    };
    let (ep, _incoming) = Endpoint::bind(cfg).await.expect("bind");
    let mut account =
        Account::new(&format!("127.0.0.1:{registrar_port}"), "alice", "secret").expect("account");
    account.keepalive = Some(KeepAlive::options(Duration::from_millis(300)));
    // Long enough that no refresh comes before the test ends.
    account.expires = Duration::from_secs(60);
    let mut reg = ep.register(account);
    assert!(matches!(
        reg.settled().await,
        RegistrationState::Registered { .. }
    ));
    // Registering again after the unanswered keep-alive, then registered.
    let again = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let RegistrationState::Registering = reg.changed().await {
                break;
            }
        }
        reg.settled().await
    })
    .await
    .expect("registered again after the keep-alive failed");
    assert!(
        matches!(again, RegistrationState::Registered { .. }),
        "{again:?}"
    );
    let stats = reg.keepalive_stats();
    assert!(stats.answered == 0 && stats.unanswered >= 1, "{stats:?}");
    assert_eq!(reg.unregister().await, RegistrationState::Unregistered);
    let out = sipp.await.expect("sipp task");
    assert!(out.status.success(), "{}", sipp_report(&out));
}
