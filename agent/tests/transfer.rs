//! Transfer by bridging with real peers on loopback: SIPp calls in, the
//! agent hands the call to a person, and a second SIPp plays the person
//! (answering, echoing RTP). The caller hears ringback while the person's
//! phone rings, then the caller's audio reaches the person and comes back
//! through the joined media; whichever side hangs up, the other is sent
//! BYE; a person who does not answer leaves the call to voicemail. With
//! baresip as the person, each side hears the other's tone.

mod sipp;

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agent::call::{AgentOutcome, CallContext, TransferTarget};
use agent::record::{CallDirection, HandoffKind, HangupCause, Outcome};
use agent::routing::TenantConfig;
use agent::switch::{Agents, SwitchConfig, TrustedPeerConfig};
use agent::{agent_fn, SharedAgent};
use rtp_media::g711::Codec;
use sipp::*;

const CALLER: &str = "<sip:+390212345678@[local_ip]:[local_port]>";
const DID: &str = "+390299887766";

/// Tenant "acme" whose profile "front" is answered by the agent "test"
/// and hands calls to people by bridging; `profile` adds settings.
fn tenant_with(profile: &str) -> TenantConfig {
    toml::from_str(&format!(
        r#"
name = "acme"
default_country = "IT"
time_zone = "Europe/Rome"
default_profile = "front"

[limits]
outbound = {{ allowed_destination_prefixes = ["+39"] }}

[profiles.front]
agent = "test"
time_zone = "Europe/Rome"
transfer = "bridge"
{profile}
"#
    ))
    .expect("tenant config")
}

/// [`tenant_with`] whose human number is reached through an outbound
/// route for +39 on the trunk "person" (a trusted peer).
fn tenant_routed(profile: &str) -> TenantConfig {
    let mut tenant = tenant_with(&format!("human_number = \"+390211112222\"\n{profile}"));
    tenant.outbound_routes = toml::from_str(
        r#"
[[routes]]
name = "italy"
prefix = "+39"
trunks = ["person"]
"#,
    )
    .expect("routes");
    tenant
}

/// The person's phone as a trusted peer on 127.0.0.1:`port`, the trunk
/// of [`tenant_routed`]'s route.
fn person_trunk(config: &mut SwitchConfig, port: u16) {
    config.trusted_peers.push(TrustedPeerConfig {
        name: "person".into(),
        address: format!("127.0.0.1:{port}"),
        tenant: "acme".into(),
    });
}

/// An agent whose backend is unreachable.
fn failing() -> Agents {
    let agent = agent_fn(|_ctx, _call| async {
        Err::<AgentOutcome, _>(agent::AgentError::failed("the model is unreachable"))
    });
    let mut agents: Agents = HashMap::new();
    agents.insert("test".into(), Arc::new(agent) as SharedAgent);
    agents
}

/// An agent that hands every call to `uri` at once.
fn hands_to(uri: String) -> Agents {
    let agent = agent_fn(move |_ctx, _call| {
        let uri = uri.clone();
        async move {
            Ok(AgentOutcome::Transfer {
                target: TransferTarget::Uri(uri),
                reason: Some("the caller asked for a person".into()),
            })
        }
    });
    let mut agents: Agents = HashMap::new();
    agents.insert("test".into(), Arc::new(agent) as SharedAgent);
    agents
}

/// A voicemail agent that notes the call it took and hangs up.
fn voicemail(took: Arc<Mutex<Option<String>>>) -> SharedAgent {
    Arc::new(agent_fn(move |ctx: CallContext, _call| {
        let took = took.clone();
        async move {
            *took.lock().unwrap() = Some(ctx.call_id);
            Ok(AgentOutcome::hang_up("message taken"))
        }
    }))
}

/// The person's phone: SIPp answering one INVITE on `port` after
/// ringing for `ring_ms` with `answer` (`200` with an SDP offer of PCMU
/// on SIPp's media port, which echoes what it receives, or a failure
/// status), then the steps `after`.
fn person(answer: u16, ring_ms: u32, after: &[&str]) -> String {
    let ringing = r#"  <recv request="INVITE">
    <action>
      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="from"/>
      <ereg regexp=".*" search_in="hdr" header="To:" assign_to="to"/>
      <ereg regexp="sip:[^>;]*" search_in="hdr" header="Contact:" assign_to="contact"/>
    </action>
  </recv>
  <send><![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:person@[local_ip]:[local_port]>
Content-Length: 0
]]></send>"#;
    let pause = format!(r#"  <pause milliseconds="{ring_ms}"/>"#);
    let final_response = if answer == 200 {
        r#"  <send retrans="500"><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:person@[local_ip]:[local_port]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=person 1 1 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
]]></send>
  <recv request="ACK"/>"#
            .to_string()
    } else {
        format!(
            r#"  <send><![CDATA[
SIP/2.0 {answer} Not Now
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
]]></send>
  <recv request="ACK"/>"#
        )
    };
    let mut steps = vec![ringing.to_string(), pause, final_response];
    steps.extend(after.iter().map(|s| s.to_string()));
    steps.push(r#"  <Reference variables="from,to,contact"/>"#.to_string());
    scenario_of("person", &steps)
}

/// The person's BYE after talking for a while, and the 200 it gets.
const PERSON_HANGS_UP: &str = r#"  <pause milliseconds="3000"/>
  <send retrans="500"><![CDATA[
BYE [$contact] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From:[$to];tag=[pid]SIPpTag01[call_number]
To:[$from]
[last_Call-ID:]
CSeq: 1 BYE
Max-Forwards: 70
Content-Length: 0
]]></send>
  <recv response="200"/>"#;

/// Runs SIPp as the person on `port`, its RTP echoed from `media_port`.
fn start_person(port: u16, media_port: u16, scenario: &Path) -> std::thread::JoinHandle<Output> {
    let sipp = require("sipp");
    let args: Vec<String> = vec![
        "-sf".into(),
        scenario.to_string_lossy().into_owned(),
        "-i".into(),
        "127.0.0.1".into(),
        "-p".into(),
        port.to_string(),
        "-mp".into(),
        media_port.to_string(),
        "-rtp_echo".into(),
        "-m".into(),
        "1".into(),
        "-timeout".into(),
        "60s".into(),
        "-timeout_error".into(),
        "-nostdin".into(),
    ];
    std::thread::spawn(move || Command::new(sipp).args(&args).output().expect("sipp runs"))
}

/// The caller's media, played by the test: once the switch's RTP
/// arrives, a 1 kHz tone is sent back to where it came from, 20 ms a
/// packet; every packet received is kept, decoded, in order.
struct CallerMedia {
    socket: UdpSocket,
    received: Arc<Mutex<Vec<Vec<i16>>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

const CALLER_TONE_HZ: f64 = 1000.0;

impl CallerMedia {
    fn start() -> CallerMedia {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let peer: Arc<Mutex<Option<SocketAddr>>> = Arc::new(Mutex::new(None));
        let recv = {
            let (sock, r, s, p) = (
                socket.try_clone().unwrap(),
                received.clone(),
                stop.clone(),
                peer.clone(),
            );
            std::thread::spawn(move || {
                let mut buf = [0u8; 1500];
                while !s.load(Ordering::Relaxed) {
                    let Ok((n, from)) = sock.recv_from(&mut buf) else {
                        continue;
                    };
                    if n <= 12 || buf[0] >> 6 != 2 || buf[1] & 0x7f != 0 {
                        continue;
                    }
                    p.lock().unwrap().get_or_insert(from);
                    let mut samples = vec![0i16; n - 12];
                    Codec::Pcmu.decode(&buf[12..n], &mut samples);
                    r.lock().unwrap().push(samples);
                }
            })
        };
        let send = {
            let (sock, s, p) = (socket.try_clone().unwrap(), stop.clone(), peer.clone());
            std::thread::spawn(move || {
                let start = Instant::now();
                let (mut seq, mut ts, mut n) = (1u16, 0u32, 0u64);
                while !s.load(Ordering::Relaxed) {
                    n += 1;
                    let next = start + Duration::from_millis(20 * n);
                    if let Some(wait) = next.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    let Some(to) = *p.lock().unwrap() else {
                        continue;
                    };
                    let mut packet = vec![0x80, 0];
                    packet.extend_from_slice(&seq.to_be_bytes());
                    packet.extend_from_slice(&ts.to_be_bytes());
                    packet.extend_from_slice(&0x1234_5678u32.to_be_bytes());
                    let samples: Vec<i16> = (0..160)
                        .map(|i| {
                            let t = f64::from(ts + i) / 8000.0;
                            (8000.0 * (2.0 * std::f64::consts::PI * CALLER_TONE_HZ * t).sin())
                                as i16
                        })
                        .collect();
                    let mut payload = [0u8; 160];
                    Codec::Pcmu.encode(&samples, &mut payload);
                    packet.extend_from_slice(&payload);
                    let _ = sock.send_to(&packet, to);
                    seq = seq.wrapping_add(1);
                    ts = ts.wrapping_add(160);
                }
            })
        };
        CallerMedia {
            socket,
            received,
            stop,
            threads: vec![recv, send],
        }
    }

    fn addr(&self) -> SocketAddr {
        self.socket.local_addr().unwrap()
    }

    fn finish(mut self) -> Vec<Vec<i16>> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            t.join().unwrap();
        }
        std::mem::take(&mut *self.received.lock().unwrap())
    }
}

/// The share of `samples`' power at `freq` Hz (Goertzel): near 1 for a
/// pure tone of that frequency.
fn share_at(samples: &[i16], freq: f64) -> f64 {
    let k = 2.0 * (2.0 * std::f64::consts::PI * freq / 8000.0).cos();
    let (mut s1, mut s2, mut total) = (0.0f64, 0.0f64, 0.0f64);
    for &x in samples {
        let x = f64::from(x);
        total += x * x;
        let s0 = x + k * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    if total < 1.0e5 * samples.len() as f64 {
        return 0.0; // too quiet to be a tone
    }
    (2.0 * (s1 * s1 + s2 * s2 - k * s1 * s2) / samples.len() as f64) / total
}

/// Frames of the caller's received audio that are a tone of `freq`.
fn frames_of(received: &[Vec<i16>], freq: f64) -> usize {
    received
        .iter()
        .filter(|f| f.len() == 160 && share_at(f, freq) > 0.6)
        .count()
}

/// The caller's answered call with its media at `rtp` (the test's own
/// socket) instead of SIPp's media port.
fn answered_call_to(rtp: SocketAddr) -> Vec<String> {
    let mut steps = answered_call(CALLER, DID);
    steps[0] = steps[0].replace("m=audio [media_port]", &format!("m=audio {}", rtp.port()));
    steps
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bridged_transfer_rings_back_then_carries_the_callers_audio_to_the_person_and_back() {
    require("sipp");
    let dir = TempDir::new("bridge");
    let (person_port, person_media) = (free_port(), free_port());
    let person_uri = format!("sip:+390211112222@127.0.0.1:{person_port}");
    let (switch, store, port) =
        start_switch_for(&dir.0, tenant_with(""), hands_to(person_uri.clone())).await;
    let person_sf = scenario(
        &dir.0,
        "person.xml",
        &person(200, 1500, &[r#"  <recv request="BYE"/>"#, OK_TO_LAST]),
    );
    let person_run = start_person(person_port, person_media, &person_sf);
    tokio::time::sleep(Duration::from_millis(300)).await;

    // The caller talks (a 1 kHz tone) for 5 s after the answer, then
    // hangs up.
    let media = CallerMedia::start();
    let mut steps = answered_call_to(media.addr());
    steps.extend([
        r#"  <pause milliseconds="5000"/>"#.to_string(),
        in_dialog("BYE", 2, CALLER, DID, None),
        r#"  <recv response="200"/>"#.to_string(),
    ]);
    let sf = scenario(&dir.0, "caller.xml", &scenario_of("caller", &steps));
    let out = run_sipp(port, &sf, &["-m", "1"]).await;
    assert!(out.status.success(), "caller: {}", sipp_report(&out));
    let person_out = tokio::task::spawn_blocking(move || person_run.join().unwrap())
        .await
        .unwrap();
    assert!(
        person_out.status.success(),
        "the person was sent BYE: {}",
        sipp_report(&person_out)
    );
    wait_until("the call's end", || switch.calls_in_progress() == 0).await;
    let received = media.finish();

    // Ringback (Italy: 425 Hz) while the person's phone rang, then the
    // caller's own tone back from the person's echo, through the bridge.
    let ringback = frames_of(&received, 425.0);
    let echoed = frames_of(&received, CALLER_TONE_HZ);
    assert!(ringback >= 20, "{ringback} frames of ringback");
    assert!(
        echoed >= 50,
        "{echoed} frames of the caller's tone came back"
    );
    let first_echo = received
        .iter()
        .position(|f| f.len() == 160 && share_at(f, CALLER_TONE_HZ) > 0.6);
    let first_ring = received
        .iter()
        .position(|f| f.len() == 160 && share_at(f, 425.0) > 0.6);
    assert!(first_ring < first_echo, "ringback comes before the answer");

    let r = &records(&store)[0];
    let end = r.end.as_ref().expect("closed");
    assert_eq!(
        (&end.outcome, end.cause),
        (&Outcome::Completed, HangupCause::Remote)
    );
    let handoff = r.handoffs.last().expect("the transfer is recorded");
    assert_eq!(
        (handoff.kind, handoff.target.as_str()),
        (HandoffKind::Transfer, person_uri.as_str())
    );
    assert_eq!(switch.endpoint().dialog_count(), 0);
    assert_eq!(switch.media_sessions(), 0);
    switch.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_person_hangs_up_the_bridged_caller_is_sent_bye() {
    require("sipp");
    let dir = TempDir::new("bridge-person-bye");
    let (person_port, person_media) = (free_port(), free_port());
    let person_uri = format!("sip:+390211112222@127.0.0.1:{person_port}");
    let (switch, store, port) =
        start_switch_for(&dir.0, tenant_with(""), hands_to(person_uri.clone())).await;
    let person_sf = scenario(&dir.0, "person.xml", &person(200, 500, &[PERSON_HANGS_UP]));
    let person_run = start_person(person_port, person_media, &person_sf);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut steps = answered_call(CALLER, DID);
    steps.extend([
        r#"  <recv request="BYE" timeout="20000"/>"#.to_string(),
        OK_TO_LAST.to_string(),
    ]);
    let sf = scenario(&dir.0, "caller.xml", &scenario_of("caller", &steps));
    let out = run_sipp(port, &sf, &["-m", "1"]).await;
    assert!(out.status.success(), "caller: {}", sipp_report(&out));
    let person_out = tokio::task::spawn_blocking(move || person_run.join().unwrap())
        .await
        .unwrap();
    assert!(person_out.status.success(), "{}", sipp_report(&person_out));
    wait_until("the call's end", || switch.calls_in_progress() == 0).await;

    let r = &records(&store)[0];
    let end = r.end.as_ref().expect("closed");
    assert_eq!(
        (&end.outcome, end.cause),
        (&Outcome::Completed, HangupCause::Remote)
    );
    assert_eq!(
        r.handoffs.last().map(|h| h.target.as_str()),
        Some(person_uri.as_str())
    );
    assert_eq!(switch.endpoint().dialog_count(), 0);
    assert_eq!(switch.media_sessions(), 0);
    switch.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_who_does_not_answer_the_bridged_transfer_leaves_the_call_to_voicemail() {
    require("sipp");
    let dir = TempDir::new("bridge-no-answer");
    let (person_port, person_media) = (free_port(), free_port());
    let person_uri = format!("sip:+390211112222@127.0.0.1:{person_port}");
    let took = Arc::new(Mutex::new(None));
    let mut agents = hands_to(person_uri.clone());
    agents.insert("voicemail".into(), voicemail(took.clone()));
    let (switch, store, port) =
        start_switch_for(&dir.0, tenant_with("voicemail = true"), agents).await;
    let person_sf = scenario(&dir.0, "person.xml", &person(480, 1000, &[]));
    let person_run = start_person(person_port, person_media, &person_sf);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut steps = answered_call(CALLER, DID);
    steps.extend([
        r#"  <recv request="BYE" timeout="20000"/>"#.to_string(),
        OK_TO_LAST.to_string(),
    ]);
    let sf = scenario(&dir.0, "caller.xml", &scenario_of("caller", &steps));
    let out = run_sipp(port, &sf, &["-m", "1"]).await;
    assert!(out.status.success(), "caller: {}", sipp_report(&out));
    let person_out = tokio::task::spawn_blocking(move || person_run.join().unwrap())
        .await
        .unwrap();
    assert!(person_out.status.success(), "{}", sipp_report(&person_out));
    wait_until("the call's end", || switch.calls_in_progress() == 0).await;

    let r = &records(&store)[0];
    assert_eq!(took.lock().unwrap().as_deref(), Some(r.call_id.as_str()));
    let end = r.end.as_ref().expect("closed");
    assert_eq!(
        (&end.outcome, end.cause),
        (&Outcome::Completed, HangupCause::Agent)
    );
    let steps: Vec<_> = r
        .handoffs
        .iter()
        .map(|h| (h.kind, h.target.as_str()))
        .collect();
    assert_eq!(steps, [(HandoffKind::Fallback, "voicemail")]);
    let why = r.handoffs[0].reason.as_deref().unwrap_or_default();
    assert!(why.contains("480"), "the handoff says why: {why}");
    assert_eq!(switch.endpoint().dialog_count(), 0);
    assert_eq!(switch.media_sessions(), 0);
    switch.shutdown().await;
}

/// baresip as the person: it answers by itself (`answermode=auto`),
/// says a steady tone (`ausine`, which makes its tone at 48 kHz in
/// stereo, resampled by baresip) and writes what it hears to WAV files
/// (`sndfile`); it plays what it hears to nowhere (`aubridge`).
struct Baresip {
    child: std::process::Child,
    dir: std::path::PathBuf,
}

const PERSON_TONE_HZ: f64 = 1800.0;

impl Baresip {
    fn start(dir: &Path, port: u16) -> Baresip {
        let home = dir.join("baresip");
        std::fs::create_dir_all(&home).unwrap();
        let rtp = free_port();
        std::fs::write(
            home.join("config"),
            format!(
                "poll_method epoll\n\
                 sip_listen 127.0.0.1:{port}\n\
                 audio_player aubridge,person\n\
                 audio_source ausine,{PERSON_TONE_HZ}\n\
                 ausrc_srate 48000\n\
                 ausrc_channels 2\n\
                 audio_alert aubridge,alert\n\
                 module_path /usr/lib/baresip/modules\n\
                 module g711.so\n\
                 module ausine.so\n\
                 module aubridge.so\n\
                 module sndfile.so\n\
                 module_app account.so\n\
                 snd_path {}\n\
                 rtp_ports {rtp}-{}\n",
                home.display(),
                rtp + 9
            ),
        )
        .unwrap();
        std::fs::write(
            home.join("accounts"),
            format!("<sip:person@127.0.0.1:{port}>;regint=0;answermode=auto\n"),
        )
        .unwrap();
        let child = Command::new(require("baresip"))
            .arg("-f")
            .arg(&home)
            .stdin(std::process::Stdio::null())
            .stdout(std::fs::File::create(home.join("log")).unwrap())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("baresip runs");
        Baresip { child, dir: home }
    }

    /// What the person heard: the samples of baresip's decoded-audio WAV.
    fn heard(&self) -> Vec<i16> {
        std::fs::read_dir(&self.dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().ends_with("-dec.wav"))
            .filter_map(|p| rtp_media::prompt::Prompt::load(&p).ok())
            .flat_map(|p| p.samples().to_vec())
            .collect()
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_bridged_to_baresip_carries_audio_both_ways_until_the_caller_hangs_up() {
    require("sipp");
    let dir = TempDir::new("bridge-baresip");
    let person_port = free_port();
    let person_uri = format!("sip:person@127.0.0.1:{person_port}");
    let baresip = Baresip::start(&dir.0, person_port);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (switch, store, port) =
        start_switch_for(&dir.0, tenant_with(""), hands_to(person_uri.clone())).await;

    let media = CallerMedia::start();
    let mut steps = answered_call_to(media.addr());
    steps.extend([
        r#"  <pause milliseconds="5000"/>"#.to_string(),
        in_dialog("BYE", 2, CALLER, DID, None),
        r#"  <recv response="200"/>"#.to_string(),
    ]);
    let sf = scenario(&dir.0, "caller.xml", &scenario_of("caller", &steps));
    let out = run_sipp(port, &sf, &["-m", "1"]).await;
    assert!(out.status.success(), "caller: {}", sipp_report(&out));
    wait_until("the call's end", || switch.calls_in_progress() == 0).await;
    let received = media.finish();

    // The person's voice reached the caller, and the caller's the person.
    let from_person = frames_of(&received, PERSON_TONE_HZ);
    assert!(
        from_person >= 50,
        "{from_person} frames of the person's tone"
    );
    // baresip writes its file as the call ends.
    wait_until("baresip's recording", || !baresip.heard().is_empty()).await;
    let heard = baresip.heard();
    let from_caller = heard
        .chunks_exact(160)
        .filter(|f| share_at(f, CALLER_TONE_HZ) > 0.6)
        .count();
    assert!(
        from_caller >= 50,
        "{from_caller} frames of the caller's tone"
    );

    let r = &records(&store)[0];
    let end = r.end.as_ref().expect("closed");
    assert_eq!(
        (&end.outcome, end.cause),
        (&Outcome::Completed, HangupCause::Remote)
    );
    assert_eq!(
        r.handoffs.last().map(|h| h.target.as_str()),
        Some(person_uri.as_str())
    );
    assert_eq!(
        switch.endpoint().dialog_count(),
        0,
        "baresip's call is over too"
    );
    assert_eq!(switch.media_sessions(), 0);
    switch.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_agents_caller_is_bridged_to_the_human_number_through_the_outbound_routes() {
    require("sipp");
    let dir = TempDir::new("bridge-fallback");
    let (person_port, person_media) = (free_port(), free_port());
    let (switch, store, port) = start_switch_with(&dir.0, tenant_routed(""), failing(), |c| {
        person_trunk(c, person_port)
    })
    .await;
    let person_sf = scenario(
        &dir.0,
        "person.xml",
        &person(200, 1000, &[r#"  <recv request="BYE"/>"#, OK_TO_LAST]),
    );
    let person_run = start_person(person_port, person_media, &person_sf);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let media = CallerMedia::start();
    let mut steps = answered_call_to(media.addr());
    steps.extend([
        r#"  <pause milliseconds="4000"/>"#.to_string(),
        in_dialog("BYE", 2, CALLER, DID, None),
        r#"  <recv response="200"/>"#.to_string(),
    ]);
    let sf = scenario(&dir.0, "caller.xml", &scenario_of("caller", &steps));
    let out = run_sipp(port, &sf, &["-m", "1"]).await;
    assert!(out.status.success(), "caller: {}", sipp_report(&out));
    let person_out = tokio::task::spawn_blocking(move || person_run.join().unwrap())
        .await
        .unwrap();
    assert!(person_out.status.success(), "{}", sipp_report(&person_out));
    wait_until("the call's end", || switch.calls_in_progress() == 0).await;
    let received = media.finish();
    let echoed = frames_of(&received, CALLER_TONE_HZ);
    assert!(
        echoed >= 50,
        "{echoed} frames of the caller's tone came back"
    );

    let all = records(&store);
    let inbound = all
        .iter()
        .find(|r| r.direction == CallDirection::Inbound)
        .expect("the caller's record");
    let end = inbound.end.as_ref().expect("closed");
    assert_eq!(
        (&end.outcome, end.cause),
        (&Outcome::Completed, HangupCause::Remote)
    );
    let steps: Vec<_> = inbound
        .handoffs
        .iter()
        .map(|h| (h.kind, h.target.as_str()))
        .collect();
    assert_eq!(steps, [(HandoffKind::Fallback, "+390211112222")]);
    assert_eq!(
        inbound.handoffs[0].reason.as_deref(),
        Some("agent failed: the model is unreachable")
    );
    // The person's call has its own record, on the route's trunk.
    let person = all
        .iter()
        .find(|r| r.direction == CallDirection::Outbound)
        .expect("the person's record");
    assert_eq!(person.line, "person");
    assert_eq!(person.did.as_deref(), Some("+390211112222"));
    assert_eq!(person.profile.as_deref(), Some("front"));
    let end = person.end.as_ref().expect("closed");
    assert_eq!(
        (&end.outcome, end.cause),
        (&Outcome::Completed, HangupCause::Agent)
    );
    assert_eq!(switch.endpoint().dialog_count(), 0);
    assert_eq!(switch.media_sessions(), 0);
    switch.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_agents_caller_goes_to_voicemail_when_the_routed_human_is_busy() {
    require("sipp");
    let dir = TempDir::new("bridge-fallback-busy");
    let (person_port, person_media) = (free_port(), free_port());
    let took = Arc::new(Mutex::new(None));
    let mut agents = failing();
    agents.insert("voicemail".into(), voicemail(took.clone()));
    let (switch, store, port) =
        start_switch_with(&dir.0, tenant_routed("voicemail = true"), agents, |c| {
            person_trunk(c, person_port)
        })
        .await;
    let person_sf = scenario(&dir.0, "person.xml", &person(486, 500, &[]));
    let person_run = start_person(person_port, person_media, &person_sf);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut steps = answered_call(CALLER, DID);
    steps.extend([
        r#"  <recv request="BYE" timeout="20000"/>"#.to_string(),
        OK_TO_LAST.to_string(),
    ]);
    let sf = scenario(&dir.0, "caller.xml", &scenario_of("caller", &steps));
    let out = run_sipp(port, &sf, &["-m", "1"]).await;
    assert!(out.status.success(), "caller: {}", sipp_report(&out));
    let person_out = tokio::task::spawn_blocking(move || person_run.join().unwrap())
        .await
        .unwrap();
    assert!(person_out.status.success(), "{}", sipp_report(&person_out));
    wait_until("the call's end", || switch.calls_in_progress() == 0).await;

    let all = records(&store);
    let inbound = all
        .iter()
        .find(|r| r.direction == CallDirection::Inbound)
        .expect("the caller's record");
    assert_eq!(
        took.lock().unwrap().as_deref(),
        Some(inbound.call_id.as_str())
    );
    let end = inbound.end.as_ref().expect("closed");
    assert_eq!(
        (&end.outcome, end.cause),
        (&Outcome::Completed, HangupCause::Agent)
    );
    let steps: Vec<_> = inbound
        .handoffs
        .iter()
        .map(|h| (h.kind, h.target.as_str()))
        .collect();
    assert_eq!(steps, [(HandoffKind::Fallback, "voicemail")]);
    let why = inbound.handoffs[0].reason.as_deref().unwrap_or_default();
    assert!(why.contains("busy"), "the handoff says why: {why}");
    let person = all
        .iter()
        .find(|r| r.direction == CallDirection::Outbound)
        .expect("the person's record");
    assert_eq!(
        person.end.as_ref().map(|e| &e.outcome),
        Some(&Outcome::Busy)
    );
    switch.shutdown().await;
}
