//! `rtp-load`: the media engine as the far end of N concurrent calls, each
//! receiving 50 packets/s of G.711 speech-like audio and echoing it back
//! through the full receive and send paths (jitter buffer, decode, VAD,
//! encode, paced send). Prints one line of JSON.
//!
//! ```text
//! rtp-load --calls 1000 --seconds 30 [--workers 2] [--echo bridge|app|raw] [--jb-min-ms 40]
//!          [--burst] [--vad on|off] [--idle M]
//! ```
//!
//! The engine runs in this process; the traffic generator is this same
//! binary started as a child process (`--generator`), so `cpu_pct` (from
//! `/proc/self/stat`, percent of one core) and `rss_mb` are the engine's
//! alone (`gen_cpu_pct` is the generator's). The parent opens N sessions and
//! passes their ports to the child on stdin. The child shares one socket
//! among up to 256 calls, sends each call 50 packets/s on an absolute 20 ms
//! schedule in `sendmmsg` batches, and reads the replies every millisecond
//! with `recvmmsg`, telling calls apart by the engine port a reply comes
//! from. Calls send in 1 ms slots spread over the 20 ms tick, as independent
//! phones do; `--burst` sends every call's packet at the same instant.
//! Echo runs inside the workers (`bridge`: [`MediaSession::join`] of a
//! session with itself) or through the application API (`app`: a task per
//! call reading frames and queueing them with `play_frame`), or not at all
//! (`raw`: plain sockets that send each datagram back, the floor that the
//! kernel and the generator set under any engine; see `raw_side`). `--vad off`
//! turns voice activity detection off, to show its share of the cost;
//! `--idle M` opens M more sessions that receive nothing (calls on hold),
//! which cost the engine only what it spends looking at their sockets.
//!
//! Each sent frame carries a tag (sequence number and check bytes in codes
//! that survive µ-law decode/encode), so the generator counts exactly which
//! frames came back: `loss_pct` is frames never echoed. `late_pct` is echoed
//! packets whose arrival lags the engine's own RTP clock by more than 40 ms
//! (two frames) relative to the call's earliest packet.
//!
//! Both figures exclude the first 3 s (`WARMUP_TICKS`): the jitter buffer
//! starts at its 60 ms initial delay and trims a frame per second down to
//! what loopback needs, and those trimmed frames are not overload.

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use nix::sys::socket::{
    recvmmsg, sendmmsg, setsockopt, sockopt, ControlMessage, MsgFlags, MultiHeaders, SockaddrIn,
};
use rtp_media::engine::{EngineConfig, MediaEngine, MediaEvent, MediaSession, SessionParams};
use rtp_media::g711::Codec;
use rtp_media::rtp::{RtpHeader, RtpPacket};
use std::io::{BufRead, BufReader, IoSlice, IoSliceMut, Write};
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Opts {
    calls: usize,
    seconds: u64,
    workers: usize,
    echo: String,
    jb_min_ms: u64,
    burst: bool,
    vad: bool,
    idle: usize,
    generator: bool,
}

fn parse_args() -> Result<Opts, String> {
    let mut o = Opts {
        calls: 100,
        seconds: 10,
        workers: 2,
        echo: "bridge".into(),
        jb_min_ms: 40,
        burst: false,
        vad: true,
        idle: 0,
        generator: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = || it.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--calls" => o.calls = val()?.parse().map_err(|e| format!("--calls: {e}"))?,
            "--seconds" => o.seconds = val()?.parse().map_err(|e| format!("--seconds: {e}"))?,
            "--workers" => o.workers = val()?.parse().map_err(|e| format!("--workers: {e}"))?,
            "--echo" => o.echo = val()?,
            "--jb-min-ms" => {
                o.jb_min_ms = val()?.parse().map_err(|e| format!("--jb-min-ms: {e}"))?
            }
            "--burst" => o.burst = true,
            "--idle" => o.idle = val()?.parse().map_err(|e| format!("--idle: {e}"))?,
            "--vad" => {
                o.vad = match val()?.as_str() {
                    "on" => true,
                    "off" => false,
                    v => return Err(format!("--vad is on or off, not {v}")),
                }
            }
            "--generator" => o.generator = true,
            _ => return Err(format!("unknown argument {a}")),
        }
    }
    if !["bridge", "app", "raw"].contains(&o.echo.as_str()) {
        return Err("--echo is bridge, app or raw".into());
    }
    Ok(o)
}

fn main() -> ExitCode {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("rtp-load: {e}");
            return ExitCode::FAILURE;
        }
    };
    let r = if opts.generator {
        generator(&opts)
    } else {
        engine_side(&opts)
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rtp-load: {e}");
            ExitCode::FAILURE
        }
    }
}

/// User + system CPU time of this process, in clock ticks (100 Hz).
fn cpu_ticks() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0;
    };
    // Fields after the command name, which is in parentheses.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 (1-based), i.e. 11 and 12 here.
    let get = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    get(11) + get(12)
}

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn engine_side(o: &Opts) -> Result<(), String> {
    if o.echo == "raw" {
        return raw_side(o);
    }
    let engine = MediaEngine::new(EngineConfig {
        bind_ip: "127.0.0.1".parse().map_err(|e| format!("{e}"))?,
        port_range: 16384..=32767,
        workers: o.workers,
        rtp_timeout: None,
        jitter: rtp_media::jitter::JitterConfig {
            min_delay: Duration::from_millis(o.jb_min_ms),
            ..EngineConfig::default().jitter
        },
        vad: if o.vad {
            EngineConfig::default().vad
        } else {
            None
        },
        ..EngineConfig::default()
    })
    .map_err(|e| e.to_string())?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let mut sessions = Vec::with_capacity(o.calls);
    for _ in 0..o.calls {
        let s = engine
            .open_session(SessionParams::new(Codec::Pcmu))
            .map_err(|e| e.to_string())?;
        sessions.push(s);
    }
    let ports: Vec<u16> = sessions.iter().map(MediaSession::local_rtp_port).collect();
    // Calls that receive nothing (on hold, or a far end that has not sent
    // yet): they cost the engine only what it spends looking at their
    // sockets.
    let mut idle = Vec::with_capacity(o.idle);
    for _ in 0..o.idle {
        idle.push(
            engine
                .open_session(SessionParams::new(Codec::Pcmu))
                .map_err(|e| e.to_string())?,
        );
    }
    let mut bridges = Vec::new();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut echo_tasks = Vec::new();
    if o.echo == "bridge" {
        for s in &sessions {
            bridges.push(MediaSession::join(s, s).map_err(|e| e.to_string())?);
        }
    } else {
        for mut s in sessions.drain(..) {
            let mut stop = stop_rx.clone();
            echo_tasks.push(rt.spawn(async move {
                let Ok(mut frames) = s.take_frames() else {
                    return s;
                };
                loop {
                    tokio::select! {
                        f = frames.recv() => match f {
                            Some(f) => { let _ = s.play_frame(&f.samples); }
                            None => break,
                        },
                        _ = stop.changed() => break,
                    }
                }
                s
            }));
        }
    }

    let run = run_generator(o, &ports)?;

    let _ = stop_tx.send(true);
    for t in echo_tasks {
        if let Ok(s) = rt.block_on(t) {
            sessions.push(s);
        }
    }
    // Engine-side counters.
    let (mut rx_pkts, mut tx_pkts, mut late, mut concealed, mut overflow) = (0, 0, 0, 0, 0);
    for s in &sessions {
        let _ = s.request_stats();
    }
    std::thread::sleep(Duration::from_millis(300));
    for s in &mut sessions {
        let mut last = None;
        while let Some(ev) = s.try_next_event() {
            if let MediaEvent::Stats(st) = ev {
                last = Some(st);
            }
        }
        if let Some(st) = last {
            rx_pkts += st.packets_received;
            tx_pkts += st.packets_sent;
            late += st.late;
            concealed += st.concealed;
            overflow += st.frames_overflowed;
        }
    }
    // Call ticks that ran the whole path end in one sent packet; counting
    // those (not wall time × calls) keeps the figure honest when a starved
    // engine skips ticks.
    print_summary(o, &run, tx_pkts);
    eprintln!(
        "echo {}: engine received {rx_pkts}, sent {tx_pkts}, jitter-buffer late {late}, concealed {concealed}, frames overflowed {overflow}; generator {}",
        o.echo, run.result
    );
    drop(bridges);
    drop(idle);
    Ok(())
}

/// What the engine side learns from one generator run.
struct GeneratorRun {
    /// The generator's own JSON line.
    result: String,
    /// This process's CPU time while the generator sent, in 10 ms ticks.
    cpu: f64,
    /// The same as percent of one core.
    cpu_pct: f64,
    /// This process's resident memory at the end of the run, in MB.
    rss: f64,
}

/// Starts the generator as a child process against `ports`, measures this
/// process's CPU time while it sends, and returns its summary.
fn run_generator(o: &Opts, ports: &[u16]) -> Result<GeneratorRun, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut args = vec![
        "--generator".to_owned(),
        "--seconds".into(),
        o.seconds.to_string(),
    ];
    if o.burst {
        args.push("--burst".into());
    }
    let mut child = Command::new(exe)
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting generator: {e}"))?;
    {
        let mut stdin = child.stdin.take().ok_or("no stdin")?;
        let list: String = ports.iter().map(|p| format!("{p}\n")).collect();
        stdin
            .write_all(list.as_bytes())
            .map_err(|e| e.to_string())?;
    }
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    // "start" when the generator begins sending, "stop" when it stops.
    let mut cpu0 = cpu_ticks();
    let mut t0 = Instant::now();
    for line in lines.by_ref() {
        let line = line.map_err(|e| e.to_string())?;
        if line == "start" {
            cpu0 = cpu_ticks();
            t0 = Instant::now();
        } else if line == "stop" {
            break;
        }
    }
    let cpu = cpu_ticks().saturating_sub(cpu0) as f64; // 10 ms ticks
    let wall = t0.elapsed().as_secs_f64().max(1e-3);
    let cpu_pct = cpu / 100.0 / wall * 100.0;
    let rss = rss_mb();
    let mut result = String::new();
    for line in lines {
        let line = line.map_err(|e| e.to_string())?;
        if line.starts_with('{') {
            result = line;
        }
    }
    let _ = child.wait();
    Ok(GeneratorRun {
        result,
        cpu,
        cpu_pct,
        rss,
    })
}

/// Prints the summary line; `call_ticks` is how many packets the echo side
/// sent (each one a call tick that ran the whole path).
fn print_summary(o: &Opts, run: &GeneratorRun, call_ticks: u64) {
    let field = |name: &str| -> f64 {
        run.result
            .split(&format!("\"{name}\":"))
            .nth(1)
            .and_then(|r| r.split([',', '}']).next())
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(f64::NAN)
    };
    let span = o.seconds as f64;
    let call_ticks = (call_ticks as f64).max(1.0);
    let load1 = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(f64::NAN);
    println!(
        "{{\"calls\":{},\"seconds\":{},\"pps_in\":{:.0},\"pps_out\":{:.0},\"loss_pct\":{:.4},\"late_pct\":{:.4},\"cpu_pct\":{:.1},\"rss_mb\":{:.1},\"rss_kb_per_call\":{:.1},\"cpu_us_per_call_tick\":{:.2},\"gen_cpu_pct\":{:.1},\"gen_overruns\":{},\"load1\":{:.2}}}",
        o.calls,
        o.seconds,
        field("sent_total") / span,
        field("returned_live") / span,
        field("loss_pct"),
        field("late_pct"),
        run.cpu_pct,
        run.rss,
        run.rss * 1024.0 / o.calls.max(1) as f64,
        run.cpu / 100.0 * 1e6 / call_ticks,
        field("gen_cpu_pct"),
        field("gen_overruns"),
        load1
    );
}

/// `--echo raw`: the floor under any engine that gives each call its own
/// socket pair. No media engine runs; `--workers` threads own an RTP/RTCP
/// socket pair per call, bound as the engine binds them, and every 20 ms
/// each thread asks epoll (through `mio`, edge-triggered) which sockets have
/// data, reads each with `recvmmsg` (the generator's batch reader) and sends every datagram straight back
/// with `send_to`: the engine's system calls, without jitter buffer, codec,
/// VAD or pacing. What this costs at N calls (with the generator) is what
/// the kernel and the traffic cost alone; the engine can only add to it.
fn raw_side(o: &Opts) -> Result<(), String> {
    let mut pairs: Vec<(UdpSocket, UdpSocket)> = Vec::with_capacity(o.calls);
    let mut port: u16 = 16384;
    while pairs.len() < o.calls && port < 32766 {
        if let (Ok(rtp), Ok(rtcp)) = (
            UdpSocket::bind(("127.0.0.1", port)),
            UdpSocket::bind(("127.0.0.1", port + 1)),
        ) {
            rtp.set_nonblocking(true).map_err(|e| e.to_string())?;
            pairs.push((rtp, rtcp));
        }
        port += 2;
    }
    if pairs.len() < o.calls {
        return Err(format!("only {} free port pairs", pairs.len()));
    }
    let ports: Vec<u16> = pairs
        .iter()
        .map(|(rtp, _)| rtp.local_addr().map_or(0, |a| a.port()))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let workers = o.workers.max(1);
    let mut shares: Vec<Vec<(UdpSocket, UdpSocket)>> = (0..workers).map(|_| Vec::new()).collect();
    for (i, pair) in pairs.into_iter().enumerate() {
        shares[i % workers].push(pair);
    }
    let threads: Vec<_> = shares
        .into_iter()
        .map(|share| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || raw_echo_worker(&share, &stop))
        })
        .collect();
    let run = run_generator(o, &ports)?;
    stop.store(true, Ordering::Relaxed);
    let mut echoed = 0;
    for t in threads {
        echoed += t.join().map_err(|_| "raw echo worker panicked")??;
    }
    print_summary(o, &run, echoed);
    eprintln!("echo raw: sent back {echoed}; generator {}", run.result);
    Ok(())
}

/// One thread of `--echo raw`; returns how many datagrams it sent back.
fn raw_echo_worker(share: &[(UdpSocket, UdpSocket)], stop: &AtomicBool) -> Result<u64, String> {
    let mut poll = Poll::new().map_err(|e| e.to_string())?;
    for (i, (rtp, _)) in share.iter().enumerate() {
        poll.registry()
            .register(
                &mut SourceFd(&rtp.as_raw_fd()),
                Token(i),
                Interest::READABLE,
            )
            .map_err(|e| e.to_string())?;
    }
    let mut events = Events::with_capacity(1024);
    let mut headers = MultiHeaders::<SockaddrIn>::preallocate(GEN_BATCH, None);
    let mut bufs = Box::new([[0u8; 256]; GEN_BATCH]);
    let mut meta = [(0usize, 0u16); GEN_BATCH];
    let mut echoed = 0u64;
    let start = Instant::now();
    let mut tick = 0u32;
    while !stop.load(Ordering::Relaxed) {
        loop {
            poll.poll(&mut events, Some(Duration::ZERO))
                .map_err(|e| e.to_string())?;
            for ev in &events {
                let Some((rtp, _)) = share.get(ev.token().0) else {
                    continue;
                };
                loop {
                    let got = recv_batch(rtp, &mut headers, &mut bufs, &mut meta);
                    for (buf, &(len, port)) in bufs.iter().zip(&meta).take(got) {
                        let to = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
                        if rtp.send_to(&buf[..len], to).is_ok() {
                            echoed += 1;
                        }
                    }
                    if got < GEN_BATCH {
                        break;
                    }
                }
            }
            if events.iter().count() < events.capacity() {
                break;
            }
        }
        tick += 1;
        let next = start + Duration::from_millis(20 * u64::from(tick));
        if let Some(d) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
    }
    Ok(echoed)
}

/// Frames at the start excluded from loss and lateness (3 s).
const WARMUP_TICKS: usize = 150;

/// Base of the tag digits: µ-law codes 1..=120 survive decode + encode.
const TAG_BASE: u32 = 120;

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
/// into syllables (4 per second) with pauses.
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

/// Datagrams per `sendmmsg`/`recvmmsg` call in the generator.
const GEN_BATCH: usize = 64;
/// Calls sharing one generator socket (its receive buffer holds their
/// replies between two reads, 1 ms apart).
const CALLS_PER_GEN_SOCKET: usize = 256;
/// The 20 ms tick is cut into this many 1 ms slots; each call sends in one
/// of them, so send times spread as those of independent phones do.
const SLOTS: usize = 20;
/// An RTP packet of 20 ms G.711: 12 header bytes and 160 samples.
const PACKET_LEN: usize = 172;
/// Receive buffer asked for each generator socket.
const GEN_RCVBUF: usize = 8 << 20;

/// What the generator knows of one call.
struct GenCall {
    to: SockaddrIn,
    seen: Vec<bool>,
    first_ts: Option<(u32, Instant)>,
    min_offset: f64,
}

/// An RTP socket of the generator with its RTCP partner on the next port
/// (the engine sends RTCP to the latched RTP port + 1).
struct GenSocket {
    rtp: UdpSocket,
    rtcp: UdpSocket,
}

fn bind_gen_socket() -> Result<GenSocket, String> {
    for _ in 0..1000 {
        let rtp = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let port = rtp.local_addr().map_err(|e| e.to_string())?.port();
        if port % 2 != 0 || port == u16::MAX {
            continue;
        }
        let Ok(rtcp) = UdpSocket::bind(("127.0.0.1", port + 1)) else {
            continue;
        };
        rtcp.set_nonblocking(true).map_err(|e| e.to_string())?;
        // Root may exceed net.core.rmem_max; anyone else gets up to it.
        if setsockopt(&rtp, sockopt::RcvBufForce, &GEN_RCVBUF).is_err() {
            let _ = setsockopt(&rtp, sockopt::RcvBuf, &GEN_RCVBUF);
        }
        return Ok(GenSocket { rtp, rtcp });
    }
    Err("no free even/odd port pair for the generator".into())
}

/// Sends `count` packets of `bufs` to `addrs` in one `sendmmsg`; returns how
/// many the kernel took.
fn send_batch(
    sock: &UdpSocket,
    headers: &mut MultiHeaders<SockaddrIn>,
    bufs: &[[u8; PACKET_LEN]; GEN_BATCH],
    addrs: &[Option<SockaddrIn>; GEN_BATCH],
    count: usize,
) -> usize {
    let slices = bufs.each_ref().map(|b| [IoSlice::new(b)]);
    let cmsgs: [ControlMessage<'_>; 0] = [];
    match sendmmsg(
        sock.as_raw_fd(),
        headers,
        slices.iter().take(count),
        &addrs[..count],
        cmsgs,
        MsgFlags::empty(),
    ) {
        Ok(sent) => sent.count(),
        Err(_) => 0,
    }
}

/// Reads up to `GEN_BATCH` datagrams without waiting; fills `meta` with
/// (length, source port) and returns how many.
fn recv_batch(
    sock: &UdpSocket,
    headers: &mut MultiHeaders<SockaddrIn>,
    bufs: &mut [[u8; 256]; GEN_BATCH],
    meta: &mut [(usize, u16); GEN_BATCH],
) -> usize {
    let mut slices = bufs.each_mut().map(|b| [IoSliceMut::new(b)]);
    let Ok(received) = recvmmsg(
        sock.as_raw_fd(),
        headers,
        slices.iter_mut(),
        MsgFlags::MSG_DONTWAIT,
        None,
    ) else {
        return 0;
    };
    let mut n = 0;
    for (msg, m) in received.zip(meta.iter_mut()) {
        *m = (msg.bytes.min(256), msg.address.map_or(0, |a| a.port()));
        n += 1;
    }
    n
}

fn generator(o: &Opts) -> Result<(), String> {
    let ports: Vec<u16> = std::io::stdin()
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    let ticks = (o.seconds * 50) as usize;
    let n = ports.len();
    let socks: Vec<GenSocket> = (0..n.div_ceil(CALLS_PER_GEN_SOCKET).max(1))
        .map(|_| bind_gen_socket())
        .collect::<Result<_, _>>()?;
    let mut calls = Vec::with_capacity(n);
    // Engine RTP port -> call index, to tell replies apart on a shared socket.
    let mut call_of_port = vec![u32::MAX; usize::from(u16::MAX) + 1];
    for (i, &p) in ports.iter().enumerate() {
        call_of_port[usize::from(p)] = i as u32;
        calls.push(GenCall {
            to: SockaddrIn::from(SocketAddrV4::new(Ipv4Addr::LOCALHOST, p)),
            seen: vec![false; ticks],
            first_ts: None,
            min_offset: f64::MAX,
        });
    }
    // plan[slot][socket]: the calls that send in that 1 ms slot from that socket.
    let mut plan = vec![vec![Vec::new(); socks.len()]; SLOTS];
    for i in 0..n {
        let slot = if o.burst { 0 } else { i * SLOTS / n };
        plan[slot][i % socks.len()].push(i);
    }
    let audio = speech();
    let (mut sent, mut returned, mut echoed, mut late, mut overruns) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    let (mut returned_steady, mut returned_live, mut sent_total) = (0u64, 0u64, 0u64);
    let (mut stray, mut rtcp) = (0u64, 0u64);
    let mut send_headers = MultiHeaders::<SockaddrIn>::preallocate(GEN_BATCH, None);
    let mut recv_headers = MultiHeaders::<SockaddrIn>::preallocate(GEN_BATCH, None);
    let mut out = Box::new([[0u8; PACKET_LEN]; GEN_BATCH]);
    let mut addrs = [None; GEN_BATCH];
    let mut rbufs = Box::new([[0u8; 256]; GEN_BATCH]);
    let mut meta = [(0usize, 0u16); GEN_BATCH];
    let mut rtcp_buf = [0u8; 1500];
    let mut payload = [0u8; 160];
    println!("start");
    let _ = std::io::stdout().flush();
    let start = Instant::now();
    let cpu0 = cpu_ticks();
    let drain_ticks = 50; // keep reading 1 s after the last send
    for k in 0..ticks + drain_ticks {
        for (slot, senders) in plan.iter().enumerate() {
            if k < ticks {
                let at = (k % 50) * 160;
                payload.copy_from_slice(&audio[at..at + 160]);
                for (sock, group) in socks.iter().zip(senders) {
                    for chunk in group.chunks(GEN_BATCH) {
                        for (j, &i) in chunk.iter().enumerate() {
                            payload[..6].copy_from_slice(&tag(k as u32, i as u32));
                            let h = RtpHeader::new(
                                0,
                                k as u16,
                                (k as u32).wrapping_mul(160),
                                i as u32 + 1,
                            );
                            let _ = h.write_packet(&payload, 0, &mut out[j]);
                            addrs[j] = Some(calls[i].to);
                        }
                        let taken =
                            send_batch(&sock.rtp, &mut send_headers, &out, &addrs, chunk.len())
                                as u64;
                        sent_total += taken;
                        if k >= WARMUP_TICKS {
                            sent += taken;
                        }
                    }
                }
            }
            for sock in &socks {
                loop {
                    let got = recv_batch(&sock.rtp, &mut recv_headers, &mut rbufs, &mut meta);
                    let now = Instant::now();
                    for (buf, &(len, port)) in rbufs.iter().zip(&meta).take(got) {
                        let call = call_of_port[usize::from(port)] as usize;
                        let (Some(c), Ok(p)) = (calls.get_mut(call), RtpPacket::parse(&buf[..len]))
                        else {
                            stray += 1;
                            continue;
                        };
                        if p.payload_type() != 0 {
                            stray += 1;
                            continue;
                        }
                        returned += 1;
                        if k < ticks {
                            returned_live += 1;
                        }
                        let (ts0, t0) = *c.first_ts.get_or_insert((p.timestamp(), now));
                        let media = f64::from(p.timestamp().wrapping_sub(ts0)) / 8000.0;
                        let offset = now.duration_since(t0).as_secs_f64() - media;
                        if offset < c.min_offset {
                            c.min_offset = offset;
                        }
                        if k >= WARMUP_TICKS {
                            returned_steady += 1;
                            if offset - c.min_offset > 0.040 {
                                late += 1;
                            }
                        }
                        if let Some(tagged) = read_tag(p.payload(), call as u32) {
                            if let Some(seen) = c.seen.get_mut(tagged as usize) {
                                if !*seen {
                                    *seen = true;
                                    if tagged as usize >= WARMUP_TICKS {
                                        echoed += 1;
                                    }
                                }
                            }
                        }
                    }
                    if got < GEN_BATCH {
                        break;
                    }
                }
                while sock.rtcp.recv_from(&mut rtcp_buf).is_ok() {
                    rtcp += 1;
                }
            }
            let deadline = start + Duration::from_millis((20 * k + slot + 1) as u64);
            match deadline.checked_duration_since(Instant::now()) {
                Some(d) => std::thread::sleep(d),
                None => overruns += 1,
            }
        }
    }
    let gen_cpu_pct = cpu_ticks().saturating_sub(cpu0) as f64 / start.elapsed().as_secs_f64();
    println!("stop");
    if std::env::var_os("RTP_LOAD_DEBUG").is_some() {
        let mut shown = 0;
        for (i, c) in calls.iter().enumerate() {
            let missing: Vec<usize> = (WARMUP_TICKS..ticks).filter(|&k| !c.seen[k]).collect();
            if !missing.is_empty() && shown < 8 {
                shown += 1;
                eprintln!("call {i}: missing {missing:?}");
            }
        }
    }
    let pct = |a: u64, b: u64| {
        if b == 0 {
            0.0
        } else {
            a as f64 * 100.0 / b as f64
        }
    };
    println!(
        "{{\"sent_total\":{sent_total},\"returned_live\":{returned_live},\"sent\":{sent},\"returned\":{returned},\"echoed\":{echoed},\"loss_pct\":{:.4},\"late_pct\":{:.4},\"gen_overruns\":{overruns},\"gen_sockets\":{},\"stray\":{stray},\"rtcp\":{rtcp},\"gen_cpu_pct\":{gen_cpu_pct:.1}}}",
        pct(sent.saturating_sub(echoed), sent),
        pct(late, returned_steady),
        socks.len()
    );
    Ok(())
}
