//! `sip-load`: drives `sip-uas` with SIPp on loopback and reports what it
//! sustained, as one line of JSON.
//!
//! ```text
//! sip-load cps     [--rate 5000] [--seconds 60] [--port 5070]
//! sip-load dialogs [--dialogs 20000] [--rate 2000] [--port 5070]
//! ```
//!
//! `cps` places calls (INVITE → 200 → ACK → BYE → 200, UDP, SIPp's `uac`
//! scenario) at `--rate` per second for `--seconds`, and reports SIPp's
//! count of successful and failed calls, its retransmissions, the rate it
//! reached, and the peak memory of `sip-uas`.
//!
//! `dialogs` holds `--dialogs` calls up at once (SIPp's `uac` with a long
//! pause before BYE), waits until every INVITE transaction has ended (timer
//! L, 32 s), and reports resident memory of `sip-uas` per dialog above its
//! idle baseline, measured in the same run.
//!
//! Both start `sip-uas` from the directory this program lives in, so build
//! them together: `cargo build --release -p benches --bins`.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

struct Opts {
    mode: String,
    rate: u32,
    seconds: u32,
    dialogs: u32,
    port: u16,
}

fn parse_args() -> Result<Opts, String> {
    let mut it = std::env::args().skip(1);
    let mode = it.next().ok_or("usage: sip-load cps|dialogs [options]")?;
    let mut o = Opts {
        rate: if mode == "dialogs" { 2000 } else { 5000 },
        mode,
        seconds: 60,
        dialogs: 20_000,
        port: 5070,
    };
    while let Some(a) = it.next() {
        let v = it.next().ok_or(format!("{a} needs a value"))?;
        let n: u32 = v.parse().map_err(|e| format!("{a} {v}: {e}"))?;
        match a.as_str() {
            "--rate" => o.rate = n,
            "--seconds" => o.seconds = n,
            "--dialogs" => o.dialogs = n,
            "--port" => o.port = u16::try_from(n).map_err(|e| format!("--port: {e}"))?,
            _ => return Err(format!("unknown option {a}")),
        }
    }
    if o.mode != "cps" && o.mode != "dialogs" {
        return Err(format!("unknown mode {}; use cps or dialogs", o.mode));
    }
    Ok(o)
}

/// One stats line of `sip-uas --stats-every`.
#[derive(Debug, Default, Clone, Copy)]
struct UasStats {
    answered: u64,
    dialogs: u64,
    /// Server plus client transactions alive (lingering ones included).
    transactions: u64,
    rss_bytes: u64,
}

fn field(line: &str, name: &str) -> Option<u64> {
    let key = format!("\"{name}\":");
    let at = line.find(&key)? + key.len();
    let digits: String = line[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

struct Uas {
    child: Child,
    stats: mpsc::Receiver<UasStats>,
    last: UasStats,
    peak_rss: u64,
}

impl Uas {
    fn start(port: u16) -> Result<Uas, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let uas = exe.with_file_name("sip-uas");
        let mut child = Command::new(&uas)
            .args([
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--stats-every",
                "0.5",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", uas.display()))?;
        let out = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let s = UasStats {
                    answered: field(&line, "answered").unwrap_or(0),
                    dialogs: field(&line, "dialogs").unwrap_or(0),
                    transactions: field(&line, "server_transactions").unwrap_or(0)
                        + field(&line, "client_transactions").unwrap_or(0),
                    rss_bytes: field(&line, "rss_bytes").unwrap_or(0),
                };
                if tx.send(s).is_err() {
                    break;
                }
            }
        });
        let mut uas = Uas {
            child,
            stats: rx,
            last: UasStats::default(),
            peak_rss: 0,
        };
        // The first line says it is up.
        uas.next(Duration::from_secs(10))?;
        Ok(uas)
    }

    fn next(&mut self, timeout: Duration) -> Result<UasStats, String> {
        let s = self
            .stats
            .recv_timeout(timeout)
            .map_err(|_| "sip-uas stopped reporting".to_string())?;
        self.last = s;
        self.peak_rss = self.peak_rss.max(s.rss_bytes);
        Ok(s)
    }

    /// Reads stats for `d`, keeping the peak.
    fn watch(&mut self, d: Duration) -> Result<UasStats, String> {
        let end = Instant::now() + d;
        while Instant::now() < end {
            self.next(Duration::from_secs(5))?;
        }
        Ok(self.last)
    }
}

impl Drop for Uas {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sipp(args: &[String]) -> Result<Child, String> {
    Command::new("sipp")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start sipp (install sip-tester): {e}"))
}

/// The last row of SIPp's statistics file, by column name.
fn sipp_stats(path: &PathBuf) -> Result<std::collections::HashMap<String, String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let head_line = lines.next().ok_or("empty stats")?;
    let head: Vec<&str> = head_line.split(';').collect();
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

fn num(stats: &std::collections::HashMap<String, String>, k: &str) -> f64 {
    stats.get(k).and_then(|v| v.parse().ok()).unwrap_or(0.0)
}

fn run(o: &Opts) -> Result<String, String> {
    let dir = std::env::temp_dir().join(format!("sip-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let stf = dir.join("uac.csv");
    let mut uas = Uas::start(o.port)?;
    let baseline = uas.watch(Duration::from_secs(2))?.rss_bytes;
    let target = format!("127.0.0.1:{}", o.port);
    let common = |calls: u32, extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "-sn",
            "uac",
            &target,
            "-i",
            "127.0.0.1",
            "-p",
            &(o.port + 1).to_string(),
            "-r",
            &o.rate.to_string(),
            "-m",
            &calls.to_string(),
            "-nostdin",
            "-trace_stat",
            "-fd",
            "1",
            "-stf",
            &stf.to_string_lossy(),
            "-timeout_error",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    if o.mode == "cps" {
        let calls = o.rate * o.seconds;
        let limit = (o.rate * 40).to_string();
        let timeout = format!("{}s", o.seconds + 60);
        let mut child = sipp(&common(calls, &["-l", &limit, "-timeout", &timeout]))?;
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            uas.next(Duration::from_secs(5))?;
        }
        let status = child.wait().map_err(|e| e.to_string())?;
        let at_end = uas.last;
        let peak_during = uas.peak_rss;
        // Completed transactions linger for Timer J/L (64*T1 = 32 s); past
        // that, everything the run created must be gone and memory must
        // stop growing: watch for 40 s more.
        let drained = uas.watch(Duration::from_secs(40))?;
        let s = sipp_stats(&stf)?;
        let elapsed = parse_elapsed(s.get("ElapsedTime(C)").map(String::as_str).unwrap_or(""));
        let ok = num(&s, "SuccessfulCall(C)");
        Ok(format!(
            "{{\"mode\":\"cps\",\"rate\":{},\"seconds\":{},\"calls\":{},\"successful\":{},\"failed\":{},\"retransmissions\":{},\"achieved_cps\":{:.0},\"sipp_exit\":{},\"uas_peak_rss_mb\":{:.1},\"uas_transactions_at_end\":{},\"uas_rss_mb_at_end\":{:.1},\"uas_transactions_after_40s\":{},\"uas_dialogs_after_40s\":{},\"uas_rss_mb_after_40s\":{:.1},\"uas_peak_rss_mb_incl_drain\":{:.1}}}",
            o.rate,
            o.seconds,
            calls,
            ok,
            num(&s, "FailedCall(C)"),
            num(&s, "Retransmissions(C)"),
            if elapsed > 0.0 { ok / elapsed } else { 0.0 },
            status.code().unwrap_or(-1),
            peak_during as f64 / 1048576.0,
            at_end.transactions,
            at_end.rss_bytes as f64 / 1048576.0,
            drained.transactions,
            drained.dialogs,
            drained.rss_bytes as f64 / 1048576.0,
            uas.peak_rss as f64 / 1048576.0
        ))
    } else {
        // Hold every call far longer than the measurement takes.
        let hold_ms = ((o.dialogs / o.rate.max(1)) + 120) * 1000;
        let mut child = sipp(&common(
            o.dialogs,
            &["-d", &hold_ms.to_string(), "-l", &o.dialogs.to_string()],
        ))?;
        let ramp_end =
            Instant::now() + Duration::from_secs(u64::from(o.dialogs / o.rate.max(1)) + 30);
        while uas.last.dialogs < u64::from(o.dialogs) {
            if Instant::now() > ramp_end {
                let _ = child.kill();
                return Err(format!(
                    "only {} of {} dialogs came up",
                    uas.last.dialogs, o.dialogs
                ));
            }
            uas.next(Duration::from_secs(5))?;
        }
        let at_full = uas.last.rss_bytes;
        // Let the INVITE transactions end (timer L, 64*T1 = 32 s).
        let settled = uas.watch(Duration::from_secs(34))?;
        let _ = child.kill();
        let _ = child.wait();
        let per = |rss: u64| (rss.saturating_sub(baseline)) as f64 / f64::from(o.dialogs);
        Ok(format!(
            "{{\"mode\":\"dialogs\",\"dialogs\":{},\"up\":{},\"answered\":{},\"baseline_rss_mb\":{:.1},\"rss_mb_all_up\":{:.1},\"rss_mb_settled\":{:.1},\"bytes_per_dialog_all_up\":{:.0},\"bytes_per_dialog_settled\":{:.0},\"bytes_per_dialog_peak\":{:.0}}}",
            o.dialogs,
            settled.dialogs,
            settled.answered,
            baseline as f64 / 1048576.0,
            at_full as f64 / 1048576.0,
            settled.rss_bytes as f64 / 1048576.0,
            per(at_full),
            per(settled.rss_bytes),
            per(uas.peak_rss)
        ))
    }
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

fn main() -> ExitCode {
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(&o) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sip-load: {e}");
            ExitCode::from(1)
        }
    }
}
