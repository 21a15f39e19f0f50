//! A real media engine on 127.0.0.1 and a plain UDP socket as the far end
//! of each call: the far end sends G.711 RTP (speech, tones, RFC 4733 keys)
//! and collects what the agent plays back.
#![allow(dead_code)]

use agent::call::{CallContext, CallHandle, CallOptions};
use agent::journal::RecordLog;
use agent::media::{BridgeEnd, MediaBridge};
use agent::record::{CallDirection, CallRecord, CallStore, OpenCallRecord, Party, SqliteStore};
use agent::supervise::{supervise, Supervision, Verdict};
use agent::SharedAgent;
use rtp_media::engine::{EngineConfig, MediaEngine, MediaSession, SessionParams};
use rtp_media::g711::Codec;
use rtp_media::prompt::Prompt;
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const TE_PT: u8 = 101;

pub fn engine(base: u16) -> MediaEngine {
    engine_with(base, |_| {})
}

pub fn engine_with(base: u16, f: impl FnOnce(&mut EngineConfig)) -> MediaEngine {
    let mut config = EngineConfig {
        bind_ip: "127.0.0.1".parse().unwrap(),
        port_range: base..=base + 19,
        workers: 2,
        rtcp_interval: Duration::from_secs(60),
        ..EngineConfig::default()
    };
    f(&mut config);
    MediaEngine::new(config).unwrap()
}

/// A session on `engine` towards a new far-end socket.
pub fn open(engine: &MediaEngine) -> (MediaSession, UdpSocket) {
    let far = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut params = SessionParams::new(Codec::Pcmu);
    params.remote_rtp = Some(far.local_addr().unwrap());
    params.telephone_event_pt = Some(TE_PT);
    (engine.open_session(params).unwrap(), far)
}

/// A scratch directory for one test's records and recordings.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("agent-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn store(dir: &std::path::Path) -> Arc<dyn CallStore> {
    Arc::new(SqliteStore::open_path(&dir.join("calls.sqlite"), "test").unwrap())
}

/// One call in progress: the far end's socket, the bridge and the
/// supervised agent.
pub struct TestCall {
    pub call_id: String,
    pub far: UdpSocket,
    pub local: SocketAddr,
    pub record: RecordLog,
    pub hangup: Option<oneshot::Sender<()>>,
    pub bridge: JoinHandle<BridgeEnd>,
    pub verdict: JoinHandle<Verdict>,
}

/// Opens a call on `engine` towards a new far-end socket and runs `agent`
/// on it under `limits`.
pub fn start_call(
    engine: &MediaEngine,
    store: &Arc<dyn CallStore>,
    call_id: &str,
    agent: SharedAgent,
    limits: Supervision,
    recordings: Option<PathBuf>,
) -> TestCall {
    let (session, far) = open(engine);
    let local = session.local_rtp_addr();
    let caller = Party::raw("+15550001111");
    let record = CallRecord::new(
        call_id,
        "test-line",
        CallDirection::Inbound,
        caller.clone(),
        jiff::Timestamp::now(),
    );
    let log = RecordLog::start(OpenCallRecord::open(Arc::clone(store), &record).unwrap()).unwrap();
    let ctx = CallContext::new(call_id, "test-line", CallDirection::Inbound, caller);
    let (handle, line) = CallHandle::new(
        call_id,
        CallOptions {
            audio_rate: agent.audio_rate(),
            recordings_dir: recordings,
            record: Some(log.clone()),
        },
    );
    let (hangup_tx, hangup_rx) = oneshot::channel::<()>();
    let bridge = tokio::spawn(async move {
        let mut bridge = MediaBridge::new(session).unwrap();
        let end = bridge
            .run(line, async move {
                let _ = hangup_rx.await;
            })
            .await;
        bridge.into_session().close().await;
        end
    });
    let verdict = tokio::spawn(async move { supervise(agent, ctx, handle, &limits).await });
    TestCall {
        call_id: call_id.to_owned(),
        far,
        local,
        record: log,
        hangup: Some(hangup_tx),
        bridge,
        verdict,
    }
}

impl TestCall {
    /// The far end hangs up.
    pub fn hang_up(&mut self) {
        if let Some(h) = self.hangup.take() {
            let _ = h.send(());
        }
    }
}

/// Packets the far end sends, built with one sequence and clock.
pub struct Stream {
    seq: u16,
    ts: u32,
    ssrc: u32,
    first: bool,
    pub packets: Vec<Vec<u8>>,
}

impl Stream {
    pub fn new(ssrc: u32) -> Self {
        Stream {
            seq: 1000,
            ts: 50_000,
            ssrc,
            first: true,
            packets: Vec::new(),
        }
    }

    fn header(&mut self, pt: u8, marker: bool, ts: u32) -> Vec<u8> {
        let mut p = vec![0x80, (u8::from(marker) << 7) | pt];
        p.extend_from_slice(&self.seq.to_be_bytes());
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&self.ssrc.to_be_bytes());
        self.seq = self.seq.wrapping_add(1);
        p
    }

    /// 20 ms packets of `audio` (cut to whole frames).
    pub fn audio(mut self, audio: &[i16]) -> Self {
        for chunk in audio.chunks_exact(160) {
            let first = std::mem::take(&mut self.first);
            let ts = self.ts;
            let mut p = self.header(0, first, ts);
            let mut payload = [0u8; 160];
            Codec::Pcmu.encode(chunk, &mut payload);
            p.extend_from_slice(&payload);
            self.packets.push(p);
            self.ts = self.ts.wrapping_add(160);
        }
        self
    }

    /// One key press as RFC 4733 events (RFC 4733 §2.5): one packet per
    /// 20 ms with the key-down timestamp and a growing duration, then the
    /// end packet three times.
    pub fn key(mut self, digit: char, frames: u16) -> Self {
        let event = match digit {
            '0'..='9' => digit as u8 - b'0',
            '*' => 10,
            '#' => 11,
            _ => panic!("key {digit}"),
        };
        let ts = self.ts;
        for i in 1..=frames {
            let mut p = self.header(TE_PT, i == 1, ts);
            p.extend_from_slice(&[event, 10]);
            p.extend_from_slice(&(160 * i).to_be_bytes());
            self.packets.push(p);
        }
        for _ in 0..3 {
            let mut p = self.header(TE_PT, false, ts);
            p.extend_from_slice(&[event, 0x80 | 10]);
            p.extend_from_slice(&(160 * frames).to_be_bytes());
            self.packets.push(p);
        }
        self.ts = self.ts.wrapping_add(160 * u32::from(frames + 3));
        self
    }
}

/// Sends `packets` to `to`, one every 20 ms, from a thread; returns when
/// `started` (if any) is told the index of each packet just sent.
pub fn send_paced(
    far: &UdpSocket,
    to: SocketAddr,
    packets: Vec<Vec<u8>>,
) -> std::thread::JoinHandle<()> {
    let sock = far.try_clone().unwrap();
    std::thread::spawn(move || {
        let start = Instant::now();
        for (i, p) in packets.iter().enumerate() {
            let _ = sock.send_to(p, to);
            let next = start + Duration::from_millis(20 * (i as u64 + 1));
            if let Some(wait) = next.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
    })
}

/// One RTP packet received by the far end.
#[derive(Debug, Clone)]
pub struct Received {
    pub pt: u8,
    pub marker: bool,
    pub seq: u16,
    pub ts: u32,
    pub samples: Vec<i16>,
    /// Packets the far end had sent when this one arrived.
    pub far_sent: usize,
}

/// Collects what the agent sends to the far end, from a thread, until
/// `stop` is set; `far_sent` counts the far end's own packets so far.
pub struct Collector {
    pub received: Arc<Mutex<Vec<Received>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Collector {
    pub fn start(far: &UdpSocket, far_sent: Arc<std::sync::atomic::AtomicUsize>) -> Self {
        let sock = far.try_clone().unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (r, s) = (Arc::clone(&received), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !s.load(std::sync::atomic::Ordering::Relaxed) {
                let Ok((n, _)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                if n < 12 || buf[0] >> 6 != 2 {
                    continue;
                }
                let pt = buf[1] & 0x7f;
                let seq = u16::from_be_bytes([buf[2], buf[3]]);
                let ts = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
                let head = 12 + 4 * usize::from(buf[0] & 0x0f);
                let mut samples = vec![0i16; n.saturating_sub(head)];
                if pt == 0 {
                    Codec::Pcmu.decode(&buf[head..n], &mut samples);
                }
                r.lock().unwrap().push(Received {
                    pt,
                    marker: buf[1] & 0x80 != 0,
                    seq,
                    ts,
                    samples,
                    far_sent: far_sent.load(std::sync::atomic::Ordering::Relaxed),
                });
            }
        });
        Collector {
            received,
            stop,
            thread: Some(thread),
        }
    }

    pub fn finish(mut self) -> Vec<Received> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        std::mem::take(&mut *self.received.lock().unwrap())
    }
}

/// Like [`send_paced`], counting sent packets in `sent`.
pub fn send_paced_counting(
    far: &UdpSocket,
    to: SocketAddr,
    packets: Vec<Vec<u8>>,
    sent: Arc<std::sync::atomic::AtomicUsize>,
) -> std::thread::JoinHandle<()> {
    let sock = far.try_clone().unwrap();
    std::thread::spawn(move || {
        let start = Instant::now();
        for (i, p) in packets.iter().enumerate() {
            let _ = sock.send_to(p, to);
            sent.store(i + 1, std::sync::atomic::Ordering::Relaxed);
            let next = start + Duration::from_millis(20 * (i as u64 + 1));
            if let Some(wait) = next.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
    })
}

/// `text` spoken by eSpeak NG, at 8 kHz.
pub fn speech(text: &str, name: &str) -> Vec<i16> {
    let path = std::env::temp_dir().join(format!("agent-test-{}-{name}.wav", std::process::id()));
    let status = std::process::Command::new("espeak-ng")
        .arg("-w")
        .arg(&path)
        .arg(text)
        .status()
        .expect("espeak-ng is installed");
    assert!(status.success(), "espeak-ng failed: {status}");
    let prompt = Prompt::load(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    prompt.samples().to_vec()
}

/// A sine of `freq` Hz, `samples` long at `rate`.
pub fn tone(samples: usize, freq: f64, rate: u32, amp: f64) -> Vec<i16> {
    (0..samples)
        .map(|i| {
            (amp * (2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(rate)).sin()) as i16
        })
        .collect()
}

/// Deterministic low-level white noise (a quiet line), ±`amp`.
pub fn noise(n: usize, amp: f64, seed: u64) -> Vec<i16> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let u = (x >> 11) as f64 / (1u64 << 53) as f64;
            ((u * 2.0 - 1.0) * amp) as i16
        })
        .collect()
}

/// Power of `freq` in `samples` relative to their total power (Goertzel):
/// near 1 for a pure tone of that frequency.
pub fn tone_share(samples: &[i16], freq: f64, rate: u32) -> f64 {
    let n = samples.len() as f64;
    let k = 2.0 * (2.0 * std::f64::consts::PI * freq / f64::from(rate)).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    let mut total = 0.0;
    for &x in samples {
        let x = f64::from(x);
        total += x * x;
        let s0 = x + k * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - k * s1 * s2;
    if total == 0.0 {
        return 0.0;
    }
    (2.0 * power / n) / total
}
