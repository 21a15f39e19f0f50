//! The `ai-line` binary on its embedded defaults, with the run flags
//! moving it to free loopback ports: SIPp, calling from this machine (a
//! trusted peer in the defaults), is answered by the agent `--agent`
//! names and the call's record lands in the `--cdr` database; SIGTERM
//! during a call ends it with BYE and completes its record.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use agent::record::{CallRecord, CallStore, HangupCause, Outcome, SqliteStore};

/// The path of `bin`; fails the test when the peer is missing, so an
/// interop test never passes without having run.
fn require(bin: &str) -> PathBuf {
    ["/usr/bin", "/usr/sbin", "/usr/local/bin"]
        .iter()
        .map(|dir| PathBuf::from(dir).join(bin))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("{bin} is not installed: run ./scripts/test"))
}

/// A free port on 127.0.0.1 for UDP and TCP.
fn free_port() -> u16 {
    for _ in 0..50 {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = s.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port");
}

/// A scratch directory, the line's working directory.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "ai-line-run-{name}-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `ai-line` running in `dir` on the defaults with `flags`; its start-up
/// text once it has printed how to call it.
struct Line {
    child: Child,
    banner: String,
}

impl Line {
    fn start(dir: &Path, flags: &[String]) -> Line {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ai-line"))
            .args(flags)
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("ai-line starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            // Read to the end, so the line never writes to a closed pipe.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut banner = String::new();
        loop {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => {
                    let done = line.starts_with("Stop it with");
                    banner.push_str(&line);
                    banner.push('\n');
                    if done {
                        break;
                    }
                }
                Err(e) => {
                    let _ = child.kill();
                    panic!("no start-up text ({e}); so far:\n{banner}");
                }
            }
        }
        Line { child, banner }
    }

    /// SIGTERM, as systemd stops the service; the exit status.
    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(killed.success());
        for _ in 0..400 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!("ai-line did not stop on SIGTERM");
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The flags that keep the defaults off 5060 and the shared RTP range.
fn flags(sip_port: u16, dir: &Path, agent: &str) -> Vec<String> {
    let rtp = 40000 + (sip_port % 100) * 100;
    vec![
        "--sip-listen".into(),
        format!("127.0.0.1:{sip_port}"),
        // The status page on a port of its own, not the default 8080.
        "--http".into(),
        format!("127.0.0.1:{}", free_port()),
        "--rtp-ports".into(),
        format!("{rtp}-{}", rtp + 99),
        "--agent".into(),
        agent.into(),
        "--cdr".into(),
        dir.join("calls.db").to_string_lossy().into_owned(),
    ]
}

const CALLER: &str = "<sip:+15550001111@[local_ip]:[local_port]>";

/// The INVITE to `sip:{user}@` the line, with a PCMU offer; the answer
/// and our ACK.
fn answered_call(user: &str) -> String {
    format!(
        r#"  <send retrans="500"><![CDATA[
INVITE sip:{user}@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: {CALLER};tag=[pid]SIPpTag00[call_number]
To: <sip:{user}@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200"/>
{}"#,
        in_dialog(user, "ACK", 1, None)
    )
}

fn in_dialog(user: &str, method: &str, cseq: u32, body: Option<(&str, &str)>) -> String {
    let body = match body {
        Some((ct, b)) => format!("Content-Type: {ct}\nContent-Length: [len]\n\n{b}"),
        None => "Content-Length: 0\n".to_string(),
    };
    format!(
        r#"  <send><![CDATA[
{method} sip:{user}@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: {CALLER};tag=[pid]SIPpTag00[call_number]
To: <sip:{user}@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: {cseq} {method}
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
{body}]]></send>"#
    )
}

/// SIPp's 200 OK to the BYE it received.
const OK_TO_BYE: &str = r#"  <recv request="BYE" timeout="20000"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
]]></send>"#;

/// Runs one SIPp call of `steps` against the line on `port`.
fn run_sipp(dir: &Path, port: u16, name: &str, steps: &str) -> Output {
    let sf = dir.join(format!("{name}.xml"));
    std::fs::write(
        &sf,
        format!(
            "<?xml version=\"1.0\" encoding=\"ISO-8859-1\" ?>\n<scenario name=\"{name}\">\n{steps}\n</scenario>\n"
        ),
    )
    .unwrap();
    Command::new(require("sipp"))
        .arg(format!("127.0.0.1:{port}"))
        .args(["-sf", &sf.to_string_lossy(), "-i", "127.0.0.1", "-p"])
        .arg(free_port().to_string())
        .args(["-m", "1", "-timeout", "60s", "-timeout_error", "-nostdin"])
        .output()
        .expect("sipp runs")
}

fn sipp_report(out: &Output) -> String {
    format!(
        "sipp exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The records in the line's database, read as another instance so that
/// reading closes none of the line's open records.
fn records(db: &Path) -> Vec<CallRecord> {
    let store = SqliteStore::open_path(db, "test-reader").expect("the line's database");
    store.recent(100).unwrap()
}

#[test]
fn the_line_on_its_defaults_answers_a_local_sipp_call_with_the_agent_given_and_records_it() {
    require("sipp");
    let dir = scratch("answer");
    let port = free_port();
    let line = Line::start(&dir, &flags(port, &dir, "echo"));
    let uri = format!("sip:echo@127.0.0.1:{port}");
    assert!(
        line.banner.contains(&format!("ai-line call {uri} --say")),
        "says how to call it: {}",
        line.banner
    );
    assert!(
        line.banner.contains(&format!("UDP 127.0.0.1:{port}")),
        "{}",
        line.banner
    );
    // The status page is served where the start-up text says.
    let status = line
        .banner
        .lines()
        .find_map(|l| l.trim().strip_prefix("status:     http://"))
        .and_then(|l| l.split('/').next())
        .unwrap_or_else(|| panic!("no status address: {}", line.banner))
        .to_string();
    let mut http = std::net::TcpStream::connect(&status).unwrap();
    http.write_all(b"GET /status HTTP/1.1\r\nHost: ai-line\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    http.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"active_calls\":[]"), "{answer}");

    // The echo agent hangs up when the caller presses #.
    let steps = format!(
        "{}\n  <pause milliseconds=\"1000\"/>\n{}\n  <recv response=\"200\"/>\n{OK_TO_BYE}",
        answered_call("echo"),
        in_dialog(
            "echo",
            "INFO",
            2,
            Some(("application/dtmf-relay", "Signal=#\nDuration=160\n"))
        ),
    );
    let out = run_sipp(&dir, port, "echo", &steps);
    assert!(out.status.success(), "{}", sipp_report(&out));
    assert!(line.terminate().success());

    let records = records(&dir.join("calls.db"));
    assert_eq!(records.len(), 1, "{records:?}");
    let r = &records[0];
    assert_eq!(r.agent.as_deref(), Some("echo"));
    assert_eq!(r.line, "this-machine");
    assert!(r.answer.is_some());
    let end = r.end.as_ref().expect("closed");
    assert_eq!(
        (&end.outcome, end.cause),
        (&Outcome::Completed, HangupCause::Agent)
    );
    assert!(
        dir.join("recordings").is_dir(),
        "recordings go to ./recordings"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sigterm_ends_a_live_call_with_bye_and_completes_its_record() {
    require("sipp");
    let dir = scratch("sigterm");
    let port = free_port();
    let line = Line::start(&dir, &flags(port, &dir, "echo"));
    let db = dir.join("calls.db");

    let sipp_dir = dir.clone();
    let caller = std::thread::spawn(move || {
        run_sipp(
            &sipp_dir,
            port,
            "sigterm",
            &format!("{}\n{OK_TO_BYE}", answered_call("echo")),
        )
    });
    let mut answered = false;
    for _ in 0..400 {
        if records(&db).iter().any(|r| r.answer.is_some()) {
            answered = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(answered, "the call was answered");

    assert!(line.terminate().success(), "a clean stop");
    let out = caller.join().unwrap();
    assert!(
        out.status.success(),
        "the caller got BYE: {}",
        sipp_report(&out)
    );
    let r = &records(&db)[0];
    let end = r.end.as_ref().expect("the record is completed");
    assert_eq!(
        (&end.outcome, end.cause),
        (&Outcome::Completed, HangupCause::Shutdown)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// SIPp as a provider's registrar: the REGISTER accepted for 300 s, then
/// the unregistration (expires 0) accepted.
const REGISTRAR: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="registrar">
  <recv request="REGISTER"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
[last_Contact:];expires=300
Content-Length: 0
]]></send>
  <recv request="REGISTER" timeout="30000">
    <action>
      <ereg regexp="([Ee]xpires: *0\r|expires=0)" search_in="msg" check_it="true" assign_to="unregister"/>
    </action>
  </recv>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
]]></send>
  <Reference variables="unregister"/>
</scenario>
"#;

#[test]
fn a_trunk_flag_registers_says_so_at_start_and_unregisters_on_sigterm() {
    require("sipp");
    let dir = scratch("trunk");
    let registrar_port = free_port();
    let sf = dir.join("registrar.xml");
    std::fs::write(&sf, REGISTRAR).unwrap();
    let registrar = Command::new(require("sipp"))
        .args(["-sf", &sf.to_string_lossy(), "-i", "127.0.0.1", "-p"])
        .arg(registrar_port.to_string())
        .args(["-m", "1", "-timeout", "60s", "-timeout_error", "-nostdin"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sipp runs");
    std::thread::sleep(Duration::from_millis(300));

    let port = free_port();
    let mut args = flags(port, &dir, "echo");
    args.push("--trunk".into());
    args.push(format!("sip:1001:secret@127.0.0.1:{registrar_port}"));
    let line = Line::start(&dir, &args);
    assert!(
        line.banner.contains(&format!(
            "account trunk (1001@127.0.0.1:{registrar_port}): REGISTERED"
        )),
        "the start-up text gives the registration: {}",
        line.banner
    );
    assert!(line.terminate().success());
    let out = registrar.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the registrar saw the unregistration: {}",
        sipp_report(&out)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A WAV file of `ms` milliseconds of a 440 Hz tone, 8 kHz 16-bit mono.
fn tone_wav(path: &Path, ms: u32) {
    let samples: Vec<i16> = (0..8 * ms)
        .map(|i| ((i as f64 * 2.0 * std::f64::consts::PI * 440.0 / 8000.0).sin() * 8000.0) as i16)
        .collect();
    let data_len = samples.len() as u32 * 2;
    let mut wav = Vec::new();
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&8000u32.to_le_bytes());
    wav.extend_from_slice(&16000u32.to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        wav.extend_from_slice(&s.to_le_bytes());
    }
    std::fs::write(path, wav).unwrap();
}

/// A line whose only profile is always closed (opening hours with no
/// range), greeting callers with `greeting` and hanging up.
fn closed_line_config(greeting: &str) -> String {
    format!(
        r#"
[[trusted_peers]]
name = "this-machine"
address = "127.0.0.0/8"
tenant = "shop"

[[tenants]]
name = "shop"
default_country = "US"
time_zone = "UTC"
default_profile = "front"

[tenants.limits]
refuse_anonymous = false

[tenants.profiles.front]
agent = "echo"
time_zone = "UTC"
hours = {{}}
out_of_hours = {{ action = "greeting", greeting = "{greeting}" }}
"#
    )
}

/// Calls the closed line configured with `greeting` and checks the
/// greeting agent answered and hung up.
fn greeted_and_hung_up(name: &str, greeting: &str, prepare: impl FnOnce(&Path)) {
    require("sipp");
    let dir = scratch(name);
    prepare(&dir);
    std::fs::write(dir.join("line.toml"), closed_line_config(greeting)).unwrap();
    let port = free_port();
    let mut args = flags(port, &dir, "echo");
    args.extend(["--config".into(), "line.toml".into()]);
    let line = Line::start(&dir, &args);

    let steps = format!("{}\n{OK_TO_BYE}", answered_call("shop"));
    let out = run_sipp(&dir, port, "greeting", &steps);
    assert!(out.status.success(), "{}", sipp_report(&out));
    assert!(line.terminate().success());

    let r = &records(&dir.join("calls.db"))[0];
    assert_eq!(r.agent.as_deref(), Some("greeting"), "{r:?}");
    assert!(r.errors.is_empty(), "{r:?}");
    let end = r.end.as_ref().expect("closed");
    assert_eq!(
        (&end.outcome, end.cause),
        (&Outcome::Completed, HangupCause::Agent),
        "{r:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_closed_profiles_greeting_file_is_played_and_the_call_hung_up_and_recorded() {
    greeted_and_hung_up("greeting-file", "closed.wav", |dir| {
        tone_wav(&dir.join("closed.wav"), 600)
    });
}

#[test]
fn a_closed_profiles_text_greeting_is_spoken_and_the_call_hung_up_and_recorded() {
    require("espeak-ng");
    greeted_and_hung_up("greeting-text", "We are closed.", |_| {});
}

#[test]
fn the_line_on_its_defaults_answers_a_call_to_sip_assistant_with_the_assistants_greeting() {
    require("sipp");
    require("espeak-ng");
    let dir = scratch("assistant");
    let port = free_port();
    // The defaults, moved off 5060; no --agent: the assistant answers.
    let mut args = flags(port, &dir, "unused");
    let at = args.iter().position(|a| a == "--agent").unwrap();
    args.drain(at..at + 2);
    let line = Line::start(&dir, &args);
    let uri = format!("sip:assistant@127.0.0.1:{port}");
    assert!(
        line.banner.contains(&format!("ai-line call {uri} --say")),
        "{}",
        line.banner
    );

    // The caller listens to the whole greeting (about 3 s), then hangs up.
    let steps = format!(
        "{}\n  <pause milliseconds=\"7000\"/>\n{}\n  <recv response=\"200\"/>",
        answered_call("assistant"),
        in_dialog("assistant", "BYE", 2, None),
    );
    let out = run_sipp(&dir, port, "assistant", &steps);
    assert!(out.status.success(), "{}", sipp_report(&out));
    assert!(line.terminate().success());

    let r = &records(&dir.join("calls.db"))[0];
    assert_eq!(r.agent.as_deref(), Some("assistant"), "{r:?}");
    assert!(
        r.transcript
            .iter()
            .any(|l| l.text.contains("Hello, this is the A I line")),
        "the assistant said the defaults' greeting: {r:?}"
    );
    let end = r.end.as_ref().expect("closed");
    assert_eq!(
        (&end.outcome, end.cause),
        (&Outcome::Completed, HangupCause::Remote),
        "{r:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
