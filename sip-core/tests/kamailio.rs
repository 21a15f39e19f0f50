//! Interop with Kamailio as the provider: a registrar and proxy with digest
//! authentication over a local db_text database (MD5 and SHA-256, RFC
//! 8760). We register an account with it, take a call that SIPp places
//! through Kamailio to our registered contact, and place a call out through
//! Kamailio (407 challenge) to a SIPp phone behind it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::uas::{self, Behaviour, Uas};
use common::{addr, free_port, require, scenario, sipp_report, start_sipp_server, wait_until};
use sip_core::auth::Credentials;
use sip_core::call::CallEvent;
use sip_core::endpoint::{Endpoint, EndpointConfig};
use sip_core::outbound::DialOptions;
use sip_core::registration::{Account, RegistrationState};
use sip_core::sdp::{Codec, LocalMedia};
use sip_core::transaction::Timers;

/// A Kamailio process on 127.0.0.1, killed on drop.
struct Kamailio {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Kamailio {
    /// What Kamailio logged, for a failing test's message.
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("kamailio.log")).unwrap_or_default()
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts Kamailio with subscriber `alice`/`secret` (and `carol`,
/// `dave` with passwords `carol-pw`, `dave-pw`) in domain 127.0.0.1,
/// challenging with `algorithm`; INVITEs for `bob` go to `bob_port`.
fn start_kamailio(algorithm: &str, bob_port: u16) -> Kamailio {
    let bin = require("kamailio");
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("kamailio-test-{}-{port}", std::process::id()));
    let db = dir.join("db");
    std::fs::create_dir_all(&db).expect("temp dir");
    let schema = Path::new("/usr/share/kamailio/dbtext/kamailio");
    for table in ["version", "subscriber"] {
        std::fs::copy(schema.join(table), db.join(table)).expect("kamailio db_text schema");
    }
    let mut subscriber = std::fs::read_to_string(db.join("subscriber")).expect("subscriber");
    if !subscriber.ends_with('\n') {
        subscriber.push('\n');
    }
    // ha1 and ha1b may not be empty in db_text; calculate_ha1 ignores them.
    subscriber.push_str("1:alice:127.0.0.1:secret:unused:unused\n");
    // Two more tenants' lines on the same trunk.
    subscriber.push_str("2:carol:127.0.0.1:carol-pw:unused:unused\n");
    subscriber.push_str("3:dave:127.0.0.1:dave-pw:unused:unused\n");
    std::fs::write(db.join("subscriber"), subscriber).expect("write subscriber");
    let cfg = format!(
        r#"#!KAMAILIO
debug=2
log_stderror=yes
fork=no
children=1
auto_aliases=no
listen=udp:127.0.0.1:{port}
alias="127.0.0.1:{port}"
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "kex.so"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "sanity.so"
loadmodule "db_text.so"
loadmodule "auth.so"
loadmodule "auth_db.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
modparam("auth", "algorithm", "{algorithm}")
modparam("auth", "qop", "auth")
modparam("auth", "nonce_count", 1)
modparam("auth_db", "db_url", "text://{db}")
modparam("auth_db", "calculate_ha1", yes)
modparam("auth_db", "password_column", "password")
modparam("auth_db", "load_credentials", "")
modparam("usrloc", "db_mode", 0)
modparam("rr", "append_fromtag", 1)

request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (has_totag()) {{
        # In-dialog: follow the Route set, else the Request-URI.
        loose_route();
        t_relay();
        exit;
    }}
    if (is_method("CANCEL")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
    if (is_method("REGISTER")) {{
        if (!auth_check("$fd", "subscriber", "1")) {{ auth_challenge("$fd", "1"); exit; }}
        if (!save("location")) {{ sl_reply_error(); }}
        exit;
    }}
    if (is_method("INVITE")) {{
        record_route();
        if ($rU == "bob") {{
            # Calls out from our subscriber need its credentials (407).
            if (!pv_auth_check("$fd", "secret", "0", "1")) {{ proxy_challenge("$fd", "1"); exit; }}
            consume_credentials();
            $du = "sip:127.0.0.1:{bob_port}";
            t_relay();
            exit;
        }}
        if (!lookup("location")) {{ sl_send_reply("404", "Not Registered"); exit; }}
        t_relay();
        exit;
    }}
    if (is_method("OPTIONS")) {{ sl_send_reply("200", "OK"); exit; }}
    sl_send_reply("405", "Method Not Allowed");
}}
"#,
        db = db.display()
    );
    let cfg_path = dir.join("kamailio.cfg");
    std::fs::write(&cfg_path, cfg).expect("write cfg");
    let check = Command::new(&bin)
        .args(["-c", "-f"])
        .arg(&cfg_path)
        .output()
        .expect("kamailio -c");
    assert!(
        check.status.success(),
        "kamailio config check failed:\n{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let child = Command::new(&bin)
        .args(["-DD", "-E", "-f"])
        .arg(&cfg_path)
        .args(["-P", &dir.join("pid").to_string_lossy()])
        .args(["-Y", &dir.join("run").to_string_lossy()])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("kamailio.log")).expect("log file"))
        .spawn()
        .expect("kamailio starts");
    std::fs::create_dir_all(dir.join("run")).ok();
    std::thread::sleep(Duration::from_millis(700));
    Kamailio { child, port, dir }
}

async fn register(ep: &Endpoint, k: &Kamailio) -> sip_core::registration::Registration {
    let mut account =
        Account::new(&format!("127.0.0.1:{}", k.port), "alice", "secret").expect("account");
    account.expires = Duration::from_secs(120);
    let mut reg = ep.register(account);
    match tokio::time::timeout(Duration::from_secs(10), reg.settled())
        .await
        .expect("registration settles")
    {
        RegistrationState::Registered { expires, .. } => {
            assert_eq!(expires, Duration::from_secs(120))
        }
        other => panic!("not registered with Kamailio: {other:?}\n{}", k.log()),
    }
    reg
}

async fn registers_and_takes_a_call_through_kamailio(algorithm: &str) {
    require("sipp");
    let k = start_kamailio(algorithm, free_port());
    let uas = Uas::start(Timers::default(), Behaviour::Answer).await;
    let reg = register(&uas.ep, &k).await;

    // SIPp calls alice at Kamailio; Kamailio finds our contact and relays.
    let kamailio = addr(k.port);
    uas::run_scenario(
        kamailio,
        "caller.xml",
        CALLER_UAC,
        &["-s", "alice", "-m", "1"],
    )
    .await;
    wait_until("the call's end", || {
        uas.seen.remote_bye.load(Ordering::SeqCst) == 1
    })
    .await;
    assert_eq!(*uas.seen.dids.lock().unwrap(), ["alice"]);
    assert_eq!(
        uas.seen.confirmed.load(Ordering::SeqCst),
        1,
        "the ACK came through Kamailio"
    );
    assert_eq!(reg.unregister().await, RegistrationState::Unregistered);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kamailio_md5_register_and_inbound_call() {
    registers_and_takes_a_call_through_kamailio("MD5").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kamailio_sha256_register_and_inbound_call() {
    registers_and_takes_a_call_through_kamailio("SHA-256").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_call_through_kamailio_answers_its_407() {
    require("sipp");
    let bob_port = free_port();
    let k = start_kamailio("MD5", bob_port);
    // Bob: SIPp's answering phone behind Kamailio; it sends BYE after 1 s.
    let bob_scenario = scenario("bob.xml", BOB_UAS);
    let bob = start_sipp_server(&bob_scenario, bob_port, 1, "20s").await;
    let (ep, _incoming) = Endpoint::bind(EndpointConfig::listen(addr(free_port())))
        .await
        .expect("bind");
    let mut opts = DialOptions::with_media(
        &format!("sip:bob@127.0.0.1:{}", k.port),
        LocalMedia::new("127.0.0.1".parse().unwrap(), 41000).unwrap(),
    )
    .expect("dial options");
    opts = opts.with_from("sip:alice@127.0.0.1").expect("a From URI");
    opts.credentials = Some(Credentials::new("alice", "secret"));
    opts.outbound_proxy = Some(format!("127.0.0.1:{}", k.port).parse().expect("proxy"));
    opts.ring_timeout = Duration::from_secs(10);
    let dialing = ep.dial(opts).expect("dial");
    let mut call = tokio::time::timeout(Duration::from_secs(10), dialing.answered())
        .await
        .expect("answered in time")
        .expect("bob answers through Kamailio");
    let media = call.media().expect("negotiated");
    assert_eq!(media.codec, Codec::Pcmu);
    assert_eq!(media.remote_rtp.map(|a| a.port()), Some(6000));
    // Bob hangs up; the BYE comes back along the route set.
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(ev) = call.next_event().await {
            if let CallEvent::Hangup(cause) = ev {
                return Some(cause);
            }
        }
        None
    })
    .await
    .expect("bob's BYE arrives");
    assert!(ended.is_some());
    let out = bob.await.expect("bob task");
    assert!(out.status.success(), "{}", sipp_report(&out));
}

const BOB_UAS: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="bob answers then hangs up">
  <recv request="INVITE" crlf="true" rrs="true">
    <action>
      <ereg regexp=".*" search_in="hdr" header="From:" check_it="true" assign_to="from_hdr"/>
    </action>
  </recv>
  <send><![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
[last_Record-Route:]
Contact: <sip:bob@[local_ip]:[local_port]>
Content-Length: 0
]]></send>
  <send retrans="500"><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
[last_Record-Route:]
Contact: <sip:bob@[local_ip]:[local_port]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=bob 1 1 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 6000 RTP/AVP 0
a=rtpmap:0 PCMU/8000
]]></send>
  <recv request="ACK" crlf="true"/>
  <pause milliseconds="1000"/>
  <send retrans="500"><![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
[routes]
From: <sip:bob@[local_ip]:[local_port]>;tag=[pid]SIPpTag01[call_number]
To: [$from_hdr]
Call-ID: [call_id]
CSeq: 2 BYE
Max-Forwards: 70
Content-Length: 0
]]></send>
  <recv response="200"/>
</scenario>
"#;

/// A caller that follows the route set Kamailio records (SIPp's built-in
/// `uac` sends its ACK and BYE to the proxy's own address instead).
const CALLER_UAC: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="caller through a proxy">
  <send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:sipp@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0 8 101
a=rtpmap:101 telephone-event/8000
]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rrs="true"/>
  <send><![CDATA[
ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
[routes]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0
]]></send>
  <pause milliseconds="500"/>
  <send retrans="500"><![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
[routes]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 BYE
Max-Forwards: 70
Content-Length: 0
]]></send>
  <recv response="200"/>
</scenario>
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_of_several_tenants_register_side_by_side_each_with_its_own_state() {
    let k = start_kamailio("MD5", free_port());
    let (ep, _incoming) = Endpoint::bind(EndpointConfig::listen(addr(free_port())))
        .await
        .expect("bind");
    let account = |user: &str, password: &str| {
        let mut a =
            Account::new(&format!("127.0.0.1:{}", k.port), user, password).expect("account");
        a.expires = Duration::from_secs(120);
        a
    };
    // Three accounts on one endpoint at once; dave's password is wrong.
    let alice = ep.register(account("alice", "secret"));
    let carol = ep.register(account("carol", "carol-pw"));
    let dave = ep.register(account("dave", "not-dave-pw"));
    let registered = |s: &RegistrationState| matches!(s, RegistrationState::Registered { .. });
    wait_until("alice registered", || registered(&alice.state())).await;
    wait_until("carol registered", || registered(&carol.state())).await;
    wait_until("dave refused", || {
        matches!(dave.state(), RegistrationState::Failed { .. })
    })
    .await;
    let failed = dave.state();
    match failed {
        RegistrationState::Failed { code, .. } => {
            assert_eq!(code, Some(401), "{failed:?}\n{}", k.log())
        }
        _ => unreachable!(),
    }
    // One tenant leaving does not touch the others.
    assert_eq!(alice.unregister().await, RegistrationState::Unregistered);
    assert!(registered(&carol.state()), "{:?}", carol.state());
    assert!(!registered(&dave.state()), "{:?}", dave.state());
    assert_eq!(carol.unregister().await, RegistrationState::Unregistered);
}
