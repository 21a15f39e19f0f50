//! `sip-uas`: a small real SIP user agent and the load target for the
//! calls-per-second and concurrent-dialog benchmarks.
//!
//! ```text
//! sip-uas --listen ADDR:PORT [--trunk sip:USER:PASSWORD@HOST[:PORT]] [--stats-every SECS]
//! ```
//!
//! It listens on UDP and TCP, registers with the trunk when one is given
//! (and keeps the registration fresh), answers every INVITE addressed to it
//! (any user at its own address; other hosts get 404) with 200 OK and an
//! SDP answer — sending no media — and ends calls on BYE. Everything else is
//! answered as the endpoint answers it: OPTIONS 200, unknown methods 501,
//! malformed requests 400 and so on.
//!
//! With `--stats-every`, it prints one line of JSON to stdout every period:
//! calls answered and ended, dialogs up, and the process's resident memory,
//! which is what `benches/load/sip-load` reads.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sip_core::call::{CallError, CallEvent};
use sip_core::endpoint::{Endpoint, EndpointConfig};
use sip_core::message::{percent_decode, Uri};
use sip_core::registration::{Account, RegistrationState};
use sip_core::sdp::LocalMedia;

#[derive(Debug)]
struct Args {
    listen: SocketAddr,
    trunk: Option<Account>,
    stats_every: Option<Duration>,
}

fn usage() -> String {
    "usage: sip-uas --listen ADDR:PORT [--trunk sip:USER:PASSWORD@HOST[:PORT]] [--stats-every SECS]"
        .to_string()
}

/// Reads `sip:USER:PASSWORD@HOST[:PORT]` into a trunk account.
fn parse_trunk(s: &str) -> Result<Account, String> {
    let uri = Uri::parse(s).map_err(|e| format!("--trunk {s}: {e}"))?;
    let user = uri
        .user
        .ok_or_else(|| format!("--trunk {s}: no user name"))?;
    let password = uri.password.unwrap_or("");
    let decode = |v: &str| String::from_utf8_lossy(&percent_decode(v)).into_owned();
    let registrar = match uri.port {
        Some(p) => format!("{}:{p}", uri.host_str),
        None => uri.host_str.to_string(),
    };
    Account::new(&registrar, decode(user), decode(password))
        .map_err(|e| format!("--trunk {s}: {e}"))
}

fn parse_args() -> Result<Args, String> {
    let mut listen = None;
    let mut trunk = None;
    let mut stats_every = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| format!("{a} needs a value\n{}", usage()))
        };
        match a.as_str() {
            "--listen" => {
                let v = value()?;
                listen = Some(v.parse().map_err(|e| format!("--listen {v}: {e}"))?);
            }
            "--trunk" => trunk = Some(parse_trunk(&value()?)?),
            "--stats-every" => {
                let v = value()?;
                let secs: f64 = v.parse().map_err(|e| format!("--stats-every {v}: {e}"))?;
                stats_every = Some(Duration::from_secs_f64(secs));
            }
            "-h" | "--help" => return Err(usage()),
            other => return Err(format!("unknown argument {other}\n{}", usage())),
        }
    }
    Ok(Args {
        listen: listen.ok_or_else(usage)?,
        trunk,
        stats_every,
    })
}

#[derive(Default)]
struct Counters {
    answered: AtomicU64,
    ended: AtomicU64,
    refused: AtomicU64,
}

/// Resident set size of this process in bytes (Linux).
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SIP_UAS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let mut cfg = EndpointConfig::listen(args.listen);
    cfg.user_agent = "sip-uas".into();
    // A load target takes everything one caller sends.
    cfg.incoming_queue = 65536;
    let (endpoint, mut incoming) = match Endpoint::bind(cfg).await {
        Ok(x) => x,
        Err(e) => {
            eprintln!("cannot listen on {}: {e}", args.listen);
            return ExitCode::from(1);
        }
    };
    eprintln!("sip-uas listening on {} (UDP and TCP)", args.listen);

    let registration = args.trunk.map(|account| {
        let reg = endpoint.register(account);
        let mut watch = reg.watch();
        tokio::spawn(async move {
            loop {
                let state = watch.borrow_and_update().clone();
                match &state {
                    RegistrationState::Registered { expires, .. } => {
                        eprintln!("registered with the trunk for {expires:?}")
                    }
                    RegistrationState::Failed { code, reason, .. } => {
                        eprintln!("registration failed: {code:?} {reason}")
                    }
                    _ => {}
                }
                if watch.changed().await.is_err() {
                    break;
                }
            }
        });
        reg
    });

    let counters = Arc::new(Counters::default());
    if let Some(every) = args.stats_every {
        let c = counters.clone();
        let ep = endpoint.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let answered = c.answered.load(Ordering::Relaxed);
                let ended = c.ended.load(Ordering::Relaxed);
                let (server_tx, client_tx) = ep.transaction_counts();
                println!(
                    "{{\"answered\":{answered},\"ended\":{ended},\"refused\":{},\"dialogs\":{},\"dialog_table\":{},\"server_transactions\":{server_tx},\"client_transactions\":{client_tx},\"rss_bytes\":{}}}",
                    c.refused.load(Ordering::Relaxed),
                    answered.saturating_sub(ended),
                    ep.dialog_count(),
                    rss_bytes()
                );
            }
        });
    }

    // Ports for the SDP answers: the range a media engine would hand out.
    // No media is sent, so no socket is opened for them.
    let rtp_ip: IpAddr = if args.listen.ip().is_unspecified() {
        IpAddr::from([127, 0, 0, 1])
    } else {
        args.listen.ip()
    };
    let media = match LocalMedia::new(rtp_ip, 16384) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("no media address: {e}");
            return ExitCode::from(1);
        }
    };
    let next_port = Arc::new(AtomicU16::new(16384));

    let serve = async {
        while let Some(call) = incoming.next().await {
            let port = next_port.fetch_add(2, Ordering::Relaxed);
            if port >= 32766 {
                next_port.store(16384, Ordering::Relaxed);
            }
            let counters = counters.clone();
            let mut local = media.clone();
            local.port = port;
            tokio::spawn(async move {
                let mut call = match call.accept_media(local) {
                    Ok((call, _media)) => call,
                    Err(CallError::Sdp(_)) | Err(CallError::Cancelled) => {
                        counters.refused.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    Err(_) => return,
                };
                counters.answered.fetch_add(1, Ordering::Relaxed);
                while let Some(ev) = call.next_event().await {
                    if let CallEvent::Hangup(_) = ev {
                        break;
                    }
                }
                counters.ended.fetch_add(1, Ordering::Relaxed);
            });
        }
    };
    tokio::select! {
        _ = serve => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    if let Some(reg) = registration {
        let _ = tokio::time::timeout(Duration::from_secs(5), reg.unregister()).await;
    }
    ExitCode::SUCCESS
}
