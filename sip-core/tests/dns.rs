//! RFC 3263 server location against a real DNS server: `dnsmasq` on
//! 127.0.0.1 serving SRV and A records for test domains, SIPp as the
//! registrar and as the far end of a call. Shows SRV ordering (priority,
//! then weight), the A record fallback with the default port, failover of
//! REGISTER and INVITE to the next SRV target when the first does not
//! answer, and an outbound proxy given as a host name.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{free_port, one_call, require, scenario, sipp_register_ok, sipp_report, start_sipp};
use sip_core::endpoint::{Endpoint, EndpointConfig};
use sip_core::outbound::DialOptions;
use sip_core::registration::{Account, RegistrationState};
use sip_core::resolve::{ResolveError, Resolver, SipDestination, Target};
use sip_core::sdp::LocalMedia;
use sip_core::transport::Transport;

/// A dnsmasq process answering for `*.test` on 127.0.0.1, killed on drop.
struct Dnsmasq {
    child: Child,
    addr: SocketAddr,
    dir: std::path::PathBuf,
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An SRV record: `_sip._udp.<domain>` → `target:port`.
struct Srv<'a> {
    domain: &'a str,
    target: &'a str,
    port: u16,
    priority: u16,
    weight: u16,
}

/// Starts dnsmasq with `srv` records and `hosts` (name, IPv4) A records,
/// authoritative for `.test` (other names there get NXDOMAIN), and waits
/// until it answers.
async fn start_dnsmasq(srv: &[Srv<'_>], hosts: &[(&str, &str)]) -> Dnsmasq {
    let bin = require("dnsmasq");
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("dnsmasq-test-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let user = String::from_utf8(Command::new("id").arg("-un").output().expect("id").stdout)
        .expect("user name");
    let mut args = vec![
        "--no-daemon".to_string(),
        format!("--port={port}"),
        "--listen-address=127.0.0.1".into(),
        "--bind-interfaces".into(),
        "--no-resolv".into(),
        "--no-hosts".into(),
        "--conf-file=/dev/null".into(),
        "--local=/test/".into(),
        format!("--pid-file={}", dir.join("pid").display()),
        // Stay the user we are instead of dropping to `nobody`.
        format!("--user={}", user.trim()),
    ];
    for s in srv {
        args.push(format!(
            "--srv-host=_sip._udp.{},{},{},{},{}",
            s.domain, s.target, s.port, s.priority, s.weight
        ));
    }
    for (name, ip) in hosts {
        args.push(format!("--host-record={name},{ip}"));
    }
    let child = Command::new(bin)
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("dnsmasq starts");
    let dns = Dnsmasq {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        dir,
    };
    // Ready once a name it serves resolves.
    let resolver = Resolver::with_name_server(dns.addr);
    let probe = SipDestination {
        port: Some(1),
        ..SipDestination::host(hosts[0].0)
    };
    for _ in 0..100 {
        if resolver.resolve(&probe).await.is_ok() {
            return dns;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("dnsmasq did not answer on {}", dns.addr);
}

fn udp(host: &str) -> SipDestination {
    SipDestination {
        transport: Some(Transport::Udp),
        ..SipDestination::host(host)
    }
}

fn sock(ip: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip.parse().unwrap(), port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn srv_targets_come_by_priority_then_weight_each_resolved_to_its_a_record() {
    let dns = start_dnsmasq(
        &[
            Srv {
                domain: "trunk.test",
                target: "heavy.trunk.test",
                port: 5070,
                priority: 10,
                weight: 90,
            },
            Srv {
                domain: "trunk.test",
                target: "light.trunk.test",
                port: 5071,
                priority: 10,
                weight: 10,
            },
            Srv {
                domain: "trunk.test",
                target: "backup.trunk.test",
                port: 5072,
                priority: 20,
                weight: 0,
            },
        ],
        &[
            ("heavy.trunk.test", "127.0.0.2"),
            ("light.trunk.test", "127.0.0.3"),
            ("backup.trunk.test", "127.0.0.4"),
        ],
    )
    .await;
    let resolver = Resolver::with_name_server(dns.addr);
    let heavy = sock("127.0.0.2", 5070);
    let light = sock("127.0.0.3", 5071);
    let backup = sock("127.0.0.4", 5072);
    let mut heavy_first = 0;
    let rounds = 200;
    for _ in 0..rounds {
        let targets = resolver
            .resolve(&udp("trunk.test"))
            .await
            .expect("resolves");
        let addrs: Vec<SocketAddr> = targets.iter().map(|t| t.addr).collect();
        assert!(targets.iter().all(|t| t.transport == Transport::Udp));
        // Both priority-10 targets before the priority-20 one, always.
        assert_eq!(addrs.len(), 3, "{addrs:?}");
        assert_eq!(addrs[2], backup, "{addrs:?}");
        assert!(
            addrs[..2].contains(&heavy) && addrs[..2].contains(&light),
            "{addrs:?}"
        );
        if addrs[0] == heavy {
            heavy_first += 1;
        }
    }
    // Weight 90 of 100: first about nine times in ten (RFC 2782).
    assert!(
        (150..=195).contains(&heavy_first),
        "heavy target first {heavy_first} times of {rounds}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_without_srv_is_its_a_record_on_port_5060_or_the_given_port() {
    let dns = start_dnsmasq(&[], &[("plain.test", "127.0.0.5")]).await;
    let resolver = Resolver::with_name_server(dns.addr);
    let t = resolver
        .resolve(&udp("plain.test"))
        .await
        .expect("resolves");
    assert_eq!(
        t,
        [Target {
            addr: sock("127.0.0.5", 5060),
            transport: Transport::Udp
        }]
    );
    let with_port = SipDestination {
        port: Some(5099),
        ..udp("plain.test")
    };
    let t = resolver.resolve(&with_port).await.expect("resolves");
    assert_eq!(t[0].addr, sock("127.0.0.5", 5099));
    match resolver.resolve(&udp("missing.test")).await {
        Err(ResolveError::NoRecords(name)) => assert_eq!(name, "missing.test"),
        other => panic!("expected no records, got {other:?}"),
    }
}

/// A socket on a target address that reads what is sent to it and never
/// answers, like a registrar that is down; counts the SIP requests.
fn silent_server(addr: SocketAddr) -> Arc<AtomicUsize> {
    let s = UdpSocket::bind(addr).expect("bind the silent server");
    let seen = Arc::new(AtomicUsize::new(0));
    let n = seen.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(len) = s.recv(&mut buf) {
            if buf[..len].starts_with(b"REGISTER ") || buf[..len].starts_with(b"INVITE ") {
                n.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    seen
}

/// SIPp's one-call arguments bound to `ip` instead of 127.0.0.1.
fn sipp_on(ip: &str, scenario: &std::path::Path, port: u16) -> Vec<String> {
    let mut args = one_call(scenario, port, "30s");
    let i = args.iter().position(|a| a == "-i").expect("-i") + 1;
    args[i] = ip.to_string();
    args.extend(["-timeout_error".to_string(), "-mi".into(), ip.into()]);
    args
}

/// A registrar that accepts the REGISTER (checking the Request-URI and
/// any `extra` header pattern), then the unregister.
fn registrar_scenario(ruri: &str, extra_check: &str) -> String {
    let check = |label: &str| {
        let ok = sipp_register_ok(Some(60));
        format!(
            r#"
  <recv request="REGISTER" crlf="true">
    <action>
      <ereg regexp="^REGISTER {ruri} SIP/2.0" search_in="msg" check_it="true" assign_to="r_{label}"/>
      {extra_check}
    </action>
  </recv>{ok}"#
        )
    };
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="registrar">
{}
{}
  <Reference variables="r_a,r_b{refs}"/>
</scenario>
"#,
        check("a"),
        check("b"),
        refs = if extra_check.is_empty() { "" } else { ",route" },
    )
}

/// A registrar that grants 2 s (so we refresh after 1 s) and accepts
/// the REGISTER, one refresh and the unregister, all three on the same
/// Call-ID.
fn refreshing_registrar_scenario() -> String {
    let step = |label: &str| {
        let ok = sipp_register_ok(Some(2));
        format!(
            r#"
  <recv request="REGISTER" crlf="true">
    <action>
      <ereg regexp=".*" search_in="hdr" header="Call-ID:" assign_to="c_{label}"/>
    </action>
  </recv>{ok}"#
        )
    };
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="registrar with refresh">
{}
{}
{}
  <Reference variables="c_a,c_b,c_c"/>
</scenario>
"#,
        step("a"),
        step("b"),
        step("c"),
    )
}

async fn endpoint(dns: &Dnsmasq) -> Endpoint {
    let cfg = EndpointConfig {
        resolver: Some(Resolver::with_name_server(dns.addr)),
        // A server that says nothing for 1 s is given up for the next.
        failover_timeout: Some(Duration::from_secs(1)),
        ..EndpointConfig::listen(SocketAddr::from(([127, 0, 0, 1], free_port())))
    };
    Endpoint::bind(cfg).await.expect("bind").0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_with_the_second_srv_target_when_the_first_does_not_answer() {
    require("sipp");
    let (dead_port, live_port) = (free_port(), free_port());
    let dns = start_dnsmasq(
        &[
            Srv {
                domain: "trunk.test",
                target: "primary.trunk.test",
                port: dead_port,
                priority: 10,
                weight: 0,
            },
            Srv {
                domain: "trunk.test",
                target: "standby.trunk.test",
                port: live_port,
                priority: 20,
                weight: 0,
            },
        ],
        &[
            ("primary.trunk.test", "127.0.0.2"),
            ("standby.trunk.test", "127.0.0.3"),
        ],
    )
    .await;
    let dead = silent_server(sock("127.0.0.2", dead_port));
    let sf = scenario(
        "dns-registrar.xml",
        &registrar_scenario("sip:trunk.test", ""),
    );
    let sipp = start_sipp(sipp_on("127.0.0.3", &sf, live_port)).await;

    let ep = endpoint(&dns).await;
    let mut account = Account::new("trunk.test", "alice", "secret").expect("account");
    account.keepalive = None;
    let mut reg = ep.register(account);
    match reg.settled().await {
        RegistrationState::Registered { registrar, .. } => {
            assert_eq!(
                registrar,
                sock("127.0.0.3", live_port),
                "the standby took it"
            )
        }
        other => panic!("not registered: {other:?}"),
    }
    assert!(
        dead.load(Ordering::SeqCst) >= 1,
        "the priority-10 target was tried first"
    );
    assert_eq!(reg.unregister().await, RegistrationState::Unregistered);
    let out = sipp.await.expect("sipp task");
    assert!(out.status.success(), "{}", sipp_report(&out));
}

/// The far end of a call placed through the proxy: checks the preloaded
/// Route, answers, takes our BYE.
const PROXIED_UAS: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="proxy answers the call">
  <recv request="INVITE" crlf="true">
    <action>
      <ereg regexp="^INVITE sip:\\+15550100@trunk.test SIP/2.0" search_in="msg" check_it="true" assign_to="ruri"/>
      <ereg regexp="Route: &lt;sip:edge.test;lr&gt;" search_in="msg" check_it="true" assign_to="route"/>
    </action>
  </recv>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=- 1 1 IN IP4 [local_ip]
s=-
c=IN IP4 [local_ip]
t=0 0
m=audio 6000 RTP/AVP 0
a=rtpmap:0 PCMU/8000
]]></send>
  <recv request="ACK"/>
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
  <Reference variables="ruri,route"/>
</scenario>
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_and_calls_through_an_outbound_proxy_given_as_a_host_name() {
    require("sipp");
    let (dead_port, live_port) = (free_port(), free_port());
    // The registrar's domain has no records at all: everything goes to the
    // proxy, whose first SRV target is down.
    let dns = start_dnsmasq(
        &[
            Srv {
                domain: "edge.test",
                target: "a.edge.test",
                port: dead_port,
                priority: 1,
                weight: 0,
            },
            Srv {
                domain: "edge.test",
                target: "b.edge.test",
                port: live_port,
                priority: 2,
                weight: 0,
            },
        ],
        &[("a.edge.test", "127.0.0.6"), ("b.edge.test", "127.0.0.7")],
    )
    .await;
    let dead = silent_server(sock("127.0.0.6", dead_port));
    let ep = endpoint(&dns).await;

    let route = r#"<ereg regexp="Route: &lt;sip:edge.test;lr&gt;" search_in="msg" check_it="true" assign_to="route"/>"#;
    let sf = scenario(
        "dns-proxy-registrar.xml",
        &registrar_scenario("sip:trunk.test", route),
    );
    let sipp = start_sipp(sipp_on("127.0.0.7", &sf, live_port)).await;
    let mut account = Account::new("trunk.test", "alice", "secret").expect("account");
    account.outbound_proxy = Some("edge.test".parse().expect("proxy"));
    account.keepalive = None;
    let mut reg = ep.register(account);
    match reg.settled().await {
        RegistrationState::Registered { registrar, .. } => {
            assert_eq!(registrar, sock("127.0.0.7", live_port))
        }
        other => panic!("not registered: {other:?}"),
    }
    assert_eq!(reg.unregister().await, RegistrationState::Unregistered);
    let out = sipp.await.expect("sipp task");
    assert!(out.status.success(), "{}", sipp_report(&out));
    let tried_dead = dead.load(Ordering::SeqCst);
    assert!(
        tried_dead >= 1,
        "REGISTER went to the priority-1 target first"
    );

    // A call through the same proxy: the INVITE fails over the same way.
    let sf = scenario("dns-proxy-uas.xml", PROXIED_UAS);
    let sipp = start_sipp(sipp_on("127.0.0.7", &sf, live_port)).await;
    let mut opts = DialOptions::with_media(
        "sip:+15550100@trunk.test",
        LocalMedia::new("127.0.0.1".parse().unwrap(), 42000).unwrap(),
    )
    .expect("dial options");
    opts.outbound_proxy = Some("edge.test".parse().expect("proxy"));
    let call = tokio::time::timeout(
        Duration::from_secs(20),
        ep.dial(opts).expect("dial").answered(),
    )
    .await
    .expect("answered in time")
    .expect("the standby proxy's far end answers");
    assert!(
        dead.load(Ordering::SeqCst) > tried_dead,
        "the INVITE went to the priority-1 target first"
    );
    call.hangup().await.expect("hang up");
    let out = sipp.await.expect("sipp task");
    assert!(out.status.success(), "{}", sipp_report(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refreshes_stay_with_the_srv_target_that_answered() {
    require("sipp");
    let (dead_port, live_port) = (free_port(), free_port());
    let dns = start_dnsmasq(
        &[
            Srv {
                domain: "sticky.test",
                target: "primary.sticky.test",
                port: dead_port,
                priority: 10,
                weight: 0,
            },
            Srv {
                domain: "sticky.test",
                target: "standby.sticky.test",
                port: live_port,
                priority: 20,
                weight: 0,
            },
        ],
        &[
            ("primary.sticky.test", "127.0.0.7"),
            ("standby.sticky.test", "127.0.0.8"),
        ],
    )
    .await;
    let dead = silent_server(sock("127.0.0.7", dead_port));
    let sf = scenario("dns-sticky.xml", &refreshing_registrar_scenario());
    let sipp = start_sipp(sipp_on("127.0.0.8", &sf, live_port)).await;

    let ep = endpoint(&dns).await;
    let mut account = Account::new("sticky.test", "alice", "secret").expect("account");
    account.keepalive = None;
    let mut reg = ep.register(account);
    let standby = sock("127.0.0.8", live_port);
    match reg.settled().await {
        RegistrationState::Registered { registrar, .. } => assert_eq!(registrar, standby),
        other => panic!("not registered: {other:?}"),
    }
    let tried_first = dead.load(Ordering::SeqCst);
    assert!(tried_first >= 1, "the priority-10 target was tried first");
    // The refresh (1 s later): straight to the standby, not to the
    // primary first (which would cost the failover timeout each time).
    loop {
        match reg.changed().await {
            RegistrationState::Registering => break,
            RegistrationState::Registered { .. } => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
    match reg.settled().await {
        RegistrationState::Registered { registrar, .. } => assert_eq!(registrar, standby),
        other => panic!("refresh failed: {other:?}"),
    }
    assert_eq!(reg.unregister().await, RegistrationState::Unregistered);
    let out = sipp.await.expect("sipp task");
    assert!(out.status.success(), "{}", sipp_report(&out));
    assert_eq!(
        dead.load(Ordering::SeqCst),
        tried_first,
        "the refresh or the unregister went to the silent primary"
    );
}
