//! Helpers for interop tests that start real peers on loopback.
#![allow(dead_code)]

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Command, Output};

/// The path of `bin` when it is installed; the test prints why it skips
/// otherwise (the test script installs every peer, so CI runs them all).
pub fn peer(bin: &str) -> Option<PathBuf> {
    for dir in ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"] {
        let p = PathBuf::from(dir).join(bin);
        if p.exists() {
            return Some(p);
        }
    }
    eprintln!("SKIP: {bin} is not installed (run ./scripts/test to install the test peers)");
    None
}

/// A free UDP port on 127.0.0.1 (also free for TCP in practice).
pub fn free_port() -> u16 {
    for _ in 0..50 {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = s.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port");
}

/// Runs SIPp to completion (bounded by `-timeout`), returning its output.
pub async fn run_sipp(args: Vec<String>) -> Output {
    let sipp = peer("sipp").expect("checked by caller");
    tokio::task::spawn_blocking(move || Command::new(sipp).args(&args).output().expect("sipp runs"))
        .await
        .unwrap()
}

/// Writes a SIPp scenario into a temp file and returns its path.
pub fn scenario(name: &str, xml: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sip-core-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, xml).unwrap();
    p
}

pub fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Prints SIPp's output when a test is about to fail, for diagnosis.
pub fn sipp_report(out: &Output) -> String {
    format!(
        "sipp exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
