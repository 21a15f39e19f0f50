//! `switch-load`: drives `switch-line` (a whole `Switch` whose line's agent
//! is `Echo` or the turn helper) and prints one line of JSON.
//!
//! ```text
//! switch-load cps  --rate R --seconds S [--drain SECS] [--port P]
//! switch-load echo --calls N --seconds S [--rate R] [--port P]
//! switch-load turn --calls N --turns T [--rate R] [--port P]
//! ```
//!
//! Every mode starts `switch-line` (next to this binary) on 127.0.0.1:P
//! with a scratch SQLite store, and reads its stats line every 0.5 s.
//!
//! - `cps`: SIPp's built-in uac scenario (`-sn uac`, zero-length calls) at
//!   R calls/s for S s; every call opens and closes its media session and
//!   writes its record. Reports SIPp's successful and failed calls, the
//!   rate it achieved, and what is left in the switch (calls, media
//!   sessions, dialogs) after `--drain` seconds (default 40, past the SIP
//!   timers J/L): anything but 0 there is a leak.
//! - `echo`: N calls set up through the switch at R calls/s by this
//!   process (a `sip-core` user agent, one RTP socket per call), then
//!   20 ms PCMU both ways for S s. Each frame carries a tag that survives
//!   G.711 decode and encode (as in `rtp-load`), so loss is exactly the
//!   frames never echoed back, excluding the first 3 s (the jitter buffer
//!   settling). Memory per call: the switch's RSS with all N up and
//!   streaming, less its RSS before the first call, over N.
//! - `turn`: N calls, each saying T times a sentence spoken by eSpeak NG
//!   (`espeak-ng` must be installed) between a second and two seconds of a
//!   quiet line (white noise at ±40). The switch's turn agent answers
//!   each at once; its turn latency (speech-stopped event → first reply
//!   packet sent, from each turn's timings) is reported at p50 / p99 / max,
//!   and this side counts the replies it heard and times each on its own
//!   clock, from sending the frame where the sentence ends to the reply's
//!   first loud packet back (`wire_p50_ms` / `wire_p99_ms`: the VAD's stop
//!   hangover and the jitter buffer's delay are in it).
//!
//! `SWITCH_LOAD_LOST=1` prints, for each echo call, the frames never echoed.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use rtp_media::g711::Codec;
use rtp_media::prompt::Prompt;
use rtp_media::rtp::RtpPacket;
use sip_core::endpoint::{Endpoint, EndpointConfig};
use sip_core::outbound::{DialOptions, Offer};
use sip_core::sdp::LocalMedia;
use tokio::net::UdpSocket;

struct Opts {
    mode: String,
    rate: u32,
    seconds: u64,
    calls: u32,
    turns: u32,
    drain: u64,
    port: u16,
}

fn usage() -> String {
    "usage: switch-load cps --rate R --seconds S [--drain SECS] [--port P]\n       \
     switch-load echo --calls N --seconds S [--rate R] [--port P]\n       \
     switch-load turn --calls N --turns T [--rate R] [--port P]"
        .to_string()
}

fn parse_args() -> Result<Opts, String> {
    let mut it = std::env::args().skip(1);
    let mode = it.next().ok_or_else(usage)?;
    if mode == "-h" || mode == "--help" {
        return Err(usage());
    }
    if !["cps", "echo", "turn"].contains(&mode.as_str()) {
        return Err(format!("unknown mode {mode}\n{}", usage()));
    }
    let mut o = Opts {
        mode,
        rate: 100,
        seconds: 10,
        calls: 100,
        turns: 3,
        drain: 40,
        port: 15060,
    };
    while let Some(a) = it.next() {
        let v = it
            .next()
            .ok_or_else(|| format!("{a} needs a value\n{}", usage()))?;
        let bad = |e: std::num::ParseIntError| format!("{a} {v}: {e}");
        match a.as_str() {
            "--rate" => o.rate = v.parse().map_err(bad)?,
            "--seconds" => o.seconds = v.parse().map_err(bad)?,
            "--calls" => o.calls = v.parse().map_err(bad)?,
            "--turns" => o.turns = v.parse().map_err(bad)?,
            "--drain" => o.drain = v.parse().map_err(bad)?,
            "--port" => o.port = v.parse().map_err(bad)?,
            other => return Err(format!("unknown argument {other}\n{}", usage())),
        }
    }
    if o.rate == 0 || o.calls == 0 {
        return Err("--rate and --calls must be at least 1".into());
    }
    Ok(o)
}

/// One stats line of `switch-line --stats-every`.
#[derive(Debug, Default, Clone)]
struct LineStats {
    calls: u64,
    media_sessions: u64,
    dialogs: u64,
    rss_bytes: u64,
    turns: u64,
    turn_p50_ms: f64,
    turn_p99_ms: f64,
    turn_max_ms: f64,
}

fn field(line: &str, name: &str) -> Option<f64> {
    let key = format!("\"{name}\":");
    let at = line.find(&key)? + key.len();
    let num: String = line[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    num.parse().ok()
}

/// `switch-line` as a child process and its stats.
struct SwitchLine {
    child: Child,
    stats: mpsc::Receiver<LineStats>,
    last: LineStats,
    peak_rss: u64,
}

impl SwitchLine {
    fn start(port: u16, agent: &str, store: &Path) -> Result<SwitchLine, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let bin = exe.with_file_name("switch-line");
        let mut child = Command::new(&bin)
            .args(["--listen", &format!("127.0.0.1:{port}"), "--agent", agent])
            .args(["--rtp-ports", "20000-40000", "--stats-every", "0.5"])
            .arg("--store")
            .arg(store)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let out = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let f = |n| field(&line, n).unwrap_or(0.0);
                let s = LineStats {
                    calls: f("calls") as u64,
                    media_sessions: f("media_sessions") as u64,
                    dialogs: f("dialogs") as u64,
                    rss_bytes: f("rss_bytes") as u64,
                    turns: f("turns") as u64,
                    turn_p50_ms: f("turn_p50_ms"),
                    turn_p99_ms: f("turn_p99_ms"),
                    turn_max_ms: f("turn_max_ms"),
                };
                if tx.send(s).is_err() {
                    break;
                }
            }
        });
        let mut line = SwitchLine {
            child,
            stats: rx,
            last: LineStats::default(),
            peak_rss: 0,
        };
        line.next()?;
        Ok(line)
    }

    fn next(&mut self) -> Result<LineStats, String> {
        let s = self
            .stats
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| "switch-line stopped reporting".to_string())?;
        self.peak_rss = self.peak_rss.max(s.rss_bytes);
        self.last = s.clone();
        Ok(s)
    }

    /// Takes every stats line already printed, without waiting.
    fn drain_ready(&mut self) {
        while let Ok(s) = self.stats.try_recv() {
            self.peak_rss = self.peak_rss.max(s.rss_bytes);
            self.last = s;
        }
    }

    /// Reads stats for `d`.
    fn watch(&mut self, d: Duration) -> Result<LineStats, String> {
        let end = Instant::now() + d;
        while Instant::now() < end {
            self.next()?;
        }
        Ok(self.last.clone())
    }

    /// Reads stats until `done` holds or `limit` has passed.
    fn until(
        &mut self,
        limit: Duration,
        done: impl Fn(&LineStats) -> bool,
    ) -> Result<LineStats, String> {
        let end = Instant::now() + limit;
        while !done(&self.last) && Instant::now() < end {
            self.next()?;
        }
        Ok(self.last.clone())
    }
}

impl Drop for SwitchLine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The last row of SIPp's statistics file, by column name.
fn sipp_stats(path: &Path) -> Result<std::collections::HashMap<String, String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let head: Vec<&str> = lines.next().ok_or("empty stats")?.split(';').collect();
    let last: Vec<&str> = lines
        .next_back()
        .ok_or("no stats row")?
        .split(';')
        .collect();
    Ok(head
        .iter()
        .zip(last.iter())
        .map(|(h, v)| (h.to_string(), v.to_string()))
        .collect())
}

/// `HH:MM:SS` or `HH:MM:SS:mmm` into seconds.
fn parse_elapsed(s: &str) -> f64 {
    let parts: Vec<f64> = s.split(':').filter_map(|p| p.trim().parse().ok()).collect();
    match parts.as_slice() {
        [h, m, sec] => h * 3600.0 + m * 60.0 + sec,
        [h, m, sec, ms] => h * 3600.0 + m * 60.0 + sec + ms / 1000.0,
        _ => 0.0,
    }
}

fn mb(b: u64) -> f64 {
    b as f64 / 1048576.0
}

fn cps(o: &Opts, dir: &Path) -> Result<String, String> {
    let stf = dir.join("uac.csv");
    let mut line = SwitchLine::start(o.port, "echo", &dir.join("calls.sqlite"))?;
    let calls = u64::from(o.rate) * o.seconds;
    let mut sipp = Command::new("sipp")
        .args(["-sn", "uac", &format!("127.0.0.1:{}", o.port)])
        .args(["-i", "127.0.0.1", "-p", &(o.port + 1).to_string()])
        .args(["-r", &o.rate.to_string(), "-m", &calls.to_string()])
        .args(["-l", &(o.rate * 40).to_string()])
        .args([
            "-timeout",
            &format!("{}s", o.seconds + 60),
            "-timeout_error",
        ])
        .args(["-nostdin", "-trace_stat", "-fd", "1", "-stf"])
        .arg(&stf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start sipp (install sip-tester): {e}"))?;
    let status = loop {
        if let Ok(Some(status)) = sipp.try_wait() {
            break status;
        }
        line.next()?;
    };
    let at_end = line.last.clone();
    let drained = line.until(Duration::from_secs(o.drain), |s| {
        s.calls == 0 && s.media_sessions == 0 && s.dialogs == 0
    })?;
    let s = sipp_stats(&stf)?;
    let num = |k: &str| -> f64 { s.get(k).and_then(|v| v.parse().ok()).unwrap_or(0.0) };
    let elapsed = parse_elapsed(s.get("ElapsedTime(C)").map(String::as_str).unwrap_or(""));
    let ok = num("SuccessfulCall(C)");
    Ok(format!(
        "{{\"mode\":\"cps\",\"rate\":{},\"seconds\":{},\"calls\":{calls},\"successful\":{ok},\"failed\":{},\"retransmissions\":{},\"achieved_cps\":{:.0},\"sipp_exit\":{},\"switch_calls_at_end\":{},\"switch_peak_rss_mb\":{:.1},\"switch_calls_after_drain\":{},\"switch_media_sessions_after_drain\":{},\"switch_dialogs_after_drain\":{}}}",
        o.rate,
        o.seconds,
        num("FailedCall(C)"),
        num("Retransmissions(C)"),
        if elapsed > 0.0 { ok / elapsed } else { 0.0 },
        status.code().unwrap_or(-1),
        at_end.calls,
        mb(line.peak_rss),
        drained.calls,
        drained.media_sessions,
        drained.dialogs,
    ))
}

/// Frames at the start of each echo call left out of the loss (3 s).
const WARMUP_FRAMES: u32 = 150;
/// Base of the tag digits: µ-law codes 1..=120 survive decode + encode.
const TAG_BASE: u32 = 120;

/// Frame `k` of call `call`, written into the first 6 payload bytes
/// (the same tag as `rtp-load`'s).
fn tag(k: u32, call: u32) -> [u8; 6] {
    let d = [
        k % TAG_BASE,
        (k / TAG_BASE) % TAG_BASE,
        (k / TAG_BASE / TAG_BASE) % TAG_BASE,
    ];
    let c1 = (d[0] + d[1] + d[2]) % TAG_BASE;
    let c2 = (d[0] * 7 + d[2] * 3 + call) % TAG_BASE;
    let b = |v: u32| (v + 1) as u8;
    [b(d[0]), b(d[1]), b(d[2]), b(c1), b(call % TAG_BASE), b(c2)]
}

fn read_tag(p: &[u8], call: u32) -> Option<u32> {
    if p.len() < 6 || p[..6].iter().any(|&b| b == 0 || u32::from(b) > TAG_BASE) {
        return None;
    }
    let d = [
        u32::from(p[0]) - 1,
        u32::from(p[1]) - 1,
        u32::from(p[2]) - 1,
    ];
    let k = d[0] + d[1] * TAG_BASE + d[2] * TAG_BASE * TAG_BASE;
    (tag(k, call) == p[..6]).then_some(k)
}

/// One second of speech-like µ-law: a 120 Hz voice with formants, shaped
/// into syllables (4 per second) with pauses (as `rtp-load`'s).
fn speech() -> Vec<u8> {
    let pcm: Vec<i16> = (0..8000)
        .map(|i| {
            let t = i as f32 / 8000.0;
            let syllable = (2.0 * std::f32::consts::PI * 4.0 * t).sin().max(0.0);
            let v = (2.0 * std::f32::consts::PI * 120.0 * t).sin() * 0.5
                + (2.0 * std::f32::consts::PI * 700.0 * t).sin() * 0.3
                + (2.0 * std::f32::consts::PI * 1200.0 * t).sin() * 0.2;
            (v * syllable * 9000.0) as i16
        })
        .collect();
    let mut out = vec![0u8; pcm.len()];
    Codec::Pcmu.encode(&pcm, &mut out);
    out
}

/// µ-law silence.
const SILENCE: u8 = 0xFF;

/// A 20 ms PCMU packet: RTP header (PT 0) and 160 samples.
fn packet(seq: u16, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(12 + payload.len());
    p.extend_from_slice(&[0x80, 0]);
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq).wrapping_mul(160)).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// What one call saw.
#[derive(Debug, Default)]
struct CallResult {
    answered: bool,
    sent: u32,
    counted: u32,
    echoed: u32,
    replies: u32,
    /// Per reply: from sending the frame where the sentence ends to the
    /// reply's first loud packet back, in seconds.
    wire_latencies: Vec<f64>,
}

/// What each caller does once answered: echo (tagged speech for
/// `seconds`) or turns (speech then silence, `turns` times).
#[derive(Clone, Copy)]
enum Script {
    Echo {
        seconds: u64,
    },
    /// `speech_end`: the frame of each turn where the sentence ends.
    Turns {
        turns: u32,
        speech_end: u32,
    },
}

/// One turn of the caller's as µ-law: a second of a quiet line, the
/// sentence, two seconds of a quiet line; whole 20 ms frames.
fn turn_audio() -> Result<(Vec<u8>, u32), String> {
    let path = std::env::temp_dir().join(format!("switch-load-{}-turn.wav", std::process::id()));
    let status = Command::new("espeak-ng")
        .arg("-w")
        .arg(&path)
        .arg("what time do you open tomorrow")
        .status()
        .map_err(|e| format!("cannot run espeak-ng (install espeak-ng): {e}"))?;
    if !status.success() {
        return Err(format!("espeak-ng failed: {status}"));
    }
    let prompt = Prompt::load(&path).map_err(|e| format!("{}: {e}", path.display()));
    let _ = std::fs::remove_file(&path);
    let prompt = prompt?;
    let words = prompt.samples();
    // The sentence ends at its last loud sample (eSpeak pads with silence).
    let spoken = words
        .iter()
        .rposition(|s| s.unsigned_abs() > 300)
        .map_or(0, |p| p + 1);
    let mut pcm = noise(8000, 1);
    pcm.extend_from_slice(words);
    let end_frame = ((8000 + spoken) / 160) as u32;
    pcm.extend(noise(16_000, 2));
    pcm.resize(pcm.len().div_ceil(160) * 160, 0);
    let mut out = vec![0u8; pcm.len()];
    Codec::Pcmu.encode(&pcm, &mut out);
    Ok((out, end_frame))
}

/// Deterministic white noise at ±40 (a quiet line), `n` samples.
fn noise(n: usize, seed: u64) -> Vec<i16> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let u = (x >> 11) as f64 / (1u64 << 53) as f64;
            ((u * 2.0 - 1.0) * 40.0) as i16
        })
        .collect()
}

/// Sets up call `i` and plays `script` on it.
async fn one_call(
    endpoint: Endpoint,
    target: SocketAddr,
    i: u32,
    script: Script,
    audio: Arc<Vec<u8>>,
    up: Arc<AtomicU64>,
    start_streaming: tokio::sync::watch::Receiver<bool>,
) -> Result<CallResult, String> {
    let sock = UdpSocket::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("rtp socket: {e}"))?;
    let port = sock.local_addr().map_err(|e| e.to_string())?.port();
    let local = LocalMedia::new([127, 0, 0, 1].into(), port).map_err(|e| e.to_string())?;
    let opts = DialOptions::new(&format!("sip:bench@{target}"), Offer::Media(local))
        .map_err(|e| e.to_string())?;
    let dialing = endpoint.dial(opts).map_err(|e| format!("dial: {e}"))?;
    let call = dialing
        .answered()
        .await
        .map_err(|e| format!("call {i} not answered: {e:?}"))?;
    up.fetch_add(1, Ordering::Relaxed);
    let remote = call
        .media()
        .and_then(|m| m.remote_rtp)
        .ok_or_else(|| format!("call {i}: no remote RTP address in the answer"))?;
    let mut result = CallResult {
        answered: true,
        ..CallResult::default()
    };
    let mut go = start_streaming;
    let _ = go.wait_for(|g| *g).await;
    let frames = match script {
        Script::Echo { seconds } => (seconds * 50) as u32,
        Script::Turns { turns, .. } => turns * (audio.len() / 160) as u32,
    };
    let mut heard = vec![false; frames as usize];
    let mut last_loud: Option<Instant> = None;
    let turn_frames = (audio.len() / 160) as u32;
    let mut speech_ended: Option<Instant> = None;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let ssrc = 0x5EED_0000 | i;
    let mut buf = [0u8; 1500];
    let mut k = 0u32;
    // Send every frame, then listen 1 s more for the echoes in flight.
    let listen_until = loop {
        tokio::select! {
            _ = tick.tick(), if k < frames => {
                let mut payload = [SILENCE; 160];
                match script {
                    Script::Echo { .. } => {
                        let at = (k as usize * 160) % audio.len();
                        payload.copy_from_slice(&audio[at..at + 160]);
                        payload[..6].copy_from_slice(&tag(k, i));
                    }
                    Script::Turns { .. } => {
                        let at = (k as usize * 160) % audio.len();
                        payload.copy_from_slice(&audio[at..at + 160]);
                    }
                }
                let _ = sock.send_to(&packet(k as u16, ssrc, &payload), remote).await;
                if let Script::Turns { speech_end, .. } = script {
                    if k % turn_frames == speech_end {
                        speech_ended = Some(Instant::now());
                    }
                }
                k += 1;
                result.sent = k;
                if k == frames {
                    break Instant::now() + Duration::from_secs(1);
                }
            }
            r = sock.recv_from(&mut buf) => {
                let Ok((n, _)) = r else { continue };
                let Ok(p) = RtpPacket::parse(&buf[..n]) else { continue };
                match script {
                    Script::Echo { .. } => {
                        if let Some(t) = read_tag(p.payload(), i) {
                            if let Some(h) = heard.get_mut(t as usize) {
                                *h = true;
                            }
                        }
                    }
                    Script::Turns { .. } => {
                        // The reply is a loud tone; a quiet line or silence is not.
                        let loud = p.payload().iter().any(|&b| b & 0x7F < 0x30);
                        // A reply starts with a loud packet after 100 ms
                        // without one.
                        if loud {
                            let now = Instant::now();
                            if last_loud.is_none_or(|t| now - t > Duration::from_millis(100)) {
                                result.replies += 1;
                                if let Some(t) = speech_ended.take() {
                                    result.wire_latencies.push((now - t).as_secs_f64());
                                }
                            }
                            last_loud = Some(now);
                        }
                    }
                }
            }
        }
    };
    while let Ok(Ok((n, _))) =
        tokio::time::timeout_at(listen_until.into(), sock.recv_from(&mut buf)).await
    {
        if let Ok(p) = RtpPacket::parse(&buf[..n]) {
            if let (Script::Echo { .. }, Some(t)) = (script, read_tag(p.payload(), i)) {
                if let Some(h) = heard.get_mut(t as usize) {
                    *h = true;
                }
            }
        }
    }
    if let Script::Echo { .. } = script {
        let counted = &heard[(WARMUP_FRAMES as usize).min(heard.len())..];
        if std::env::var_os("SWITCH_LOAD_LOST").is_some() {
            let lost: Vec<usize> = (0..heard.len()).filter(|&k| !heard[k]).collect();
            eprintln!("call {i}: frames never echoed {lost:?}");
        }
        result.counted = counted.len() as u32;
        result.echoed = counted.iter().filter(|&&h| h).count() as u32;
    }
    let _ = call.hangup().await;
    Ok(result)
}

async fn media_calls(o: &Opts, dir: &Path) -> Result<String, String> {
    let agent = if o.mode == "turn" { "turn" } else { "echo" };
    let mut line = SwitchLine::start(o.port, agent, &dir.join("calls.sqlite"))?;
    let baseline = line.watch(Duration::from_secs(2))?.rss_bytes;
    let mut cfg = EndpointConfig::listen(SocketAddr::from(([127, 0, 0, 1], o.port + 1)));
    cfg.user_agent = "switch-load".into();
    let (endpoint, _incoming) = Endpoint::bind(cfg)
        .await
        .map_err(|e| format!("caller endpoint: {e}"))?;
    let target = SocketAddr::from(([127, 0, 0, 1], o.port));
    let (script, audio) = if o.mode == "turn" {
        let (audio, speech_end) = turn_audio()?;
        let turns = o.turns;
        (Script::Turns { turns, speech_end }, audio)
    } else {
        (Script::Echo { seconds: o.seconds }, speech())
    };
    let audio = Arc::new(audio);
    let up = Arc::new(AtomicU64::new(0));
    let (go_tx, go_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    let gap = Duration::from_secs_f64(1.0 / f64::from(o.rate));
    let setup_started = Instant::now();
    for i in 0..o.calls {
        tasks.push(tokio::spawn(one_call(
            endpoint.clone(),
            target,
            i,
            script,
            audio.clone(),
            up.clone(),
            go_rx.clone(),
        )));
        tokio::time::sleep_until((setup_started + gap * (i + 1)).into()).await;
    }
    // Wait for every call to be answered (or to fail), then stream.
    let limit = Instant::now() + Duration::from_secs(30);
    while up.load(Ordering::Relaxed) < u64::from(o.calls)
        && tasks.iter().any(|t| !t.is_finished())
        && Instant::now() < limit
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let calls_up = up.load(Ordering::Relaxed);
    line.drain_ready();
    let rss_all_up = line.last.rss_bytes;
    let _ = go_tx.send(true);
    // The switch's memory while every call streams: its peak from here on.
    line.peak_rss = 0;
    let mut results = Vec::new();
    let mut failures = Vec::new();
    for t in tasks {
        loop {
            if t.is_finished() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            line.drain_ready();
        }
        match t.await {
            Ok(Ok(r)) => results.push(r),
            Ok(Err(e)) => failures.push(e),
            Err(e) => failures.push(format!("call task: {e}")),
        }
    }
    let rss_streaming = line.peak_rss;
    let ended = line.until(Duration::from_secs(10), |s| {
        s.calls == 0 && s.media_sessions == 0
    })?;
    if let Some(e) = failures.first() {
        eprintln!("switch-load: {} calls failed, first: {e}", failures.len());
    }
    let n = f64::from(o.calls);
    let per_call = |rss: u64| rss.saturating_sub(baseline) as f64 / n / 1024.0;
    let answered = results.iter().filter(|r| r.answered).count();
    let common = format!(
        "\"calls\":{},\"answered\":{answered},\"failed\":{},\"calls_up_at_once\":{calls_up},\"baseline_rss_mb\":{:.1},\"rss_mb_all_up\":{:.1},\"rss_mb_streaming\":{:.1},\"kib_per_call_all_up\":{:.1},\"kib_per_call_streaming\":{:.1},\"switch_calls_after\":{},\"switch_media_sessions_after\":{}",
        o.calls,
        failures.len(),
        mb(baseline),
        mb(rss_all_up),
        mb(rss_streaming),
        per_call(rss_all_up),
        per_call(rss_streaming),
        ended.calls,
        ended.media_sessions,
    );
    if o.mode == "turn" {
        let expected = u64::from(o.turns) * answered as u64;
        let replies: u32 = results.iter().map(|r| r.replies).sum();
        let mut wire: Vec<f64> = results
            .iter()
            .flat_map(|r| r.wire_latencies.iter().copied())
            .collect();
        wire.sort_by(f64::total_cmp);
        let q = |p: f64| -> f64 {
            if wire.is_empty() {
                return 0.0;
            }
            let i = ((wire.len() as f64 * p).ceil() as usize).clamp(1, wire.len()) - 1;
            wire[i] * 1000.0
        };
        let s = &ended;
        Ok(format!(
            "{{\"mode\":\"turn\",{common},\"turns_expected\":{expected},\"turns_measured\":{},\"replies_heard\":{replies},\"turn_p50_ms\":{:.2},\"turn_p99_ms\":{:.2},\"turn_max_ms\":{:.2},\"wire_p50_ms\":{:.1},\"wire_p99_ms\":{:.1}}}",
            s.turns,
            s.turn_p50_ms,
            s.turn_p99_ms,
            s.turn_max_ms,
            q(0.5),
            q(0.99)
        ))
    } else {
        let counted: u64 = results.iter().map(|r| u64::from(r.counted)).sum();
        let echoed: u64 = results.iter().map(|r| u64::from(r.echoed)).sum();
        let sent: u64 = results.iter().map(|r| u64::from(r.sent)).sum();
        let loss = if counted > 0 {
            (counted - echoed) as f64 * 100.0 / counted as f64
        } else {
            100.0
        };
        Ok(format!(
            "{{\"mode\":\"echo\",\"seconds\":{},{common},\"frames_sent\":{sent},\"frames_counted\":{counted},\"frames_echoed\":{echoed},\"loss_pct\":{loss:.3}}}",
            o.seconds
        ))
    }
}

fn main() -> ExitCode {
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let dir: PathBuf = std::env::temp_dir().join(format!("switch-load-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("switch-load: {}: {e}", dir.display());
        return ExitCode::from(1);
    }
    let result = if o.mode == "cps" {
        cps(&o, &dir)
    } else {
        match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
        {
            Ok(rt) => rt.block_on(media_calls(&o, &dir)),
            Err(e) => Err(format!("runtime: {e}")),
        }
    };
    let _ = std::fs::remove_dir_all(&dir);
    match result {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("switch-load: {e}");
            ExitCode::from(1)
        }
    }
}
