//! The interop harness for tests where our endpoint takes calls from a
//! real peer: an endpoint on loopback with an answering application that
//! counts what it saw ([`Seen`]), SIPp run against it (directly or through
//! a proxy), and a wait on the counters. A new interop test is the
//! scenario and a few lines:
//!
//! ```ignore
//! let uas = Uas::start(Timers::default(), Behaviour::Answer).await;
//! uas.run_scenario("hold.xml", &xml, &["-m", "1"]).await;
//! wait_until("hangup", || uas.seen.remote_bye.load(Ordering::SeqCst) == 1).await;
//! ```

use std::net::SocketAddr;
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sip_core::call::{CallError, CallEvent, HangupCause};
use sip_core::endpoint::{Endpoint, EndpointConfig, IncomingCalls};
use sip_core::sdp::{Codec, LocalMedia, NegotiatedMedia};
use sip_core::transaction::Timers;

use super::{addr, free_port, run_sipp, scenario, sipp_report};

/// What the answering application does with each call.
#[derive(Debug, Clone, Copy)]
pub enum Behaviour {
    /// Rings, answers, and waits for the call to end.
    Answer,
    /// Answers and hangs up once the ACK came.
    AnswerThenHangup,
    /// Hangs up as soon as `accept` returns, before the ACK.
    HangupAtOnce,
    /// Rings and waits for the caller to cancel.
    RingThenWaitCancel,
    /// Refuses with this code.
    Reject(u16),
}

/// What the answering application saw, over all its calls.
#[derive(Debug, Default)]
pub struct Seen {
    /// Calls offered.
    pub offered: AtomicUsize,
    /// Calls confirmed by their ACK.
    pub confirmed: AtomicUsize,
    /// Calls the far end ended with BYE.
    pub remote_bye: AtomicUsize,
    /// Calls we hung up.
    pub local_hangup: AtomicUsize,
    /// Calls ended because our 200 OK was never acknowledged.
    pub no_ack: AtomicUsize,
    /// Calls the caller cancelled before the answer.
    pub cancelled: AtomicUsize,
    /// The dialled numbers, in order of arrival.
    pub dids: Mutex<Vec<String>>,
    /// DTMF digits received by INFO, in order.
    pub dtmf: Mutex<String>,
    /// The remote SDP of each session change (re-INVITE).
    pub modified: Mutex<Vec<String>>,
    /// The media negotiated at answer, then after each re-INVITE.
    pub media: Mutex<Vec<NegotiatedMedia>>,
}

/// Our endpoint on loopback, answering as its [`Behaviour`] says.
pub struct Uas {
    /// The endpoint.
    pub ep: Endpoint,
    /// Where it listens (UDP and TCP).
    pub addr: SocketAddr,
    /// What its application saw.
    pub seen: Arc<Seen>,
}

impl Uas {
    /// An endpoint on 127.0.0.1 (a free port) with `timers`, serving calls.
    pub async fn start(timers: Timers, behaviour: Behaviour) -> Uas {
        let (ep, incoming, addr) = endpoint(timers).await;
        let seen = serve(incoming, behaviour);
        Uas { ep, addr, seen }
    }

    /// An endpoint with `cfg`, serving calls.
    pub async fn start_with(cfg: EndpointConfig, behaviour: Behaviour) -> Uas {
        let addr = cfg.transport.udp[0];
        let (ep, incoming) = Endpoint::bind(cfg).await.expect("bind");
        let seen = serve(incoming, behaviour);
        Uas { ep, addr, seen }
    }

    /// [`run_scenario`] against the endpoint.
    pub async fn run_scenario(&self, name: &str, xml: &str, extra: &[&str]) -> Output {
        run_scenario(self.addr, name, xml, extra).await
    }

    /// Runs SIPp against the endpoint with `extra` arguments (a built-in
    /// scenario with `-sn`), on the endpoint's address family, bounded by
    /// a 60 s `-timeout_error`; the output is for the test to judge.
    pub async fn run_sipp(&self, extra: &[&str]) -> Output {
        run_sipp(sipp_args(self.addr, extra)).await
    }
}

/// An endpoint on 127.0.0.1 (a free port, UDP and TCP) with `timers`, for
/// a test that answers its calls itself; and its address.
pub async fn endpoint(timers: Timers) -> (Endpoint, IncomingCalls, SocketAddr) {
    let at = addr(free_port());
    let cfg = EndpointConfig {
        timers,
        ..EndpointConfig::listen(at)
    };
    let (ep, incoming) = Endpoint::bind(cfg).await.expect("bind");
    (ep, incoming, at)
}

/// Runs SIPp's scenario `xml` (saved as `name`) against `target` (our
/// endpoint, or a proxy in front of it) with `extra` arguments (calls,
/// rate, transport, service), requires it to succeed, and returns its
/// output for tests that read SIPp's screen.
pub async fn run_scenario(target: SocketAddr, name: &str, xml: &str, extra: &[&str]) -> Output {
    let sf = scenario(name, xml);
    let mut args = vec!["-sf", sf.to_str().expect("temp path is UTF-8")];
    args.extend_from_slice(extra);
    let out = run_sipp(sipp_args(target, &args)).await;
    assert!(out.status.success(), "{}", sipp_report(&out));
    out
}

/// SIPp's arguments to call `target` from a free port on the same
/// address, then `extra`.
pub fn sipp_args(target: SocketAddr, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = vec![
        target.to_string(),
        "-i".into(),
        target.ip().to_string(),
        "-p".into(),
        free_port().to_string(),
        "-timeout".into(),
        "60s".into(),
        "-timeout_error".into(),
        "-nostdin".into(),
    ];
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

/// The answering application: every call is handled as `behaviour` says
/// and counted in the returned [`Seen`]. Answered calls negotiate PCMU with
/// media on 127.0.0.1:40000.
pub fn serve(mut incoming: IncomingCalls, behaviour: Behaviour) -> Arc<Seen> {
    let seen = Arc::new(Seen::default());
    let s = seen.clone();
    tokio::spawn(async move {
        while let Some(mut call) = incoming.next().await {
            s.offered.fetch_add(1, Ordering::SeqCst);
            s.dids.lock().unwrap().push(call.did().to_string());
            assert!(call.offer().is_some_and(|o| o.contains("m=audio")));
            let s = s.clone();
            tokio::spawn(async move {
                match behaviour {
                    Behaviour::Reject(code) => return call.reject(code),
                    Behaviour::RingThenWaitCancel => {
                        call.ring();
                        tokio::time::timeout(Duration::from_secs(20), call.cancelled())
                            .await
                            .expect("caller cancels");
                        s.cancelled.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                    _ => {}
                }
                call.ring();
                let local = LocalMedia::new("127.0.0.1".parse().unwrap(), 40000).unwrap();
                let (mut call, media) = match call.accept_media(local) {
                    Ok(answered) => answered,
                    Err(CallError::Sdp(e)) => {
                        assert_eq!(e.status(), 488);
                        return;
                    }
                    Err(e) => panic!("accept: {e}"),
                };
                let media = media.expect("the INVITE carries an offer");
                assert_eq!(media.codec, Codec::Pcmu);
                s.media.lock().unwrap().push(media);
                if let Behaviour::HangupAtOnce = behaviour {
                    call.hangup().await.expect("hangup");
                }
                while let Some(ev) = call.next_event().await {
                    match ev {
                        CallEvent::Confirmed => {
                            s.confirmed.fetch_add(1, Ordering::SeqCst);
                            if let Behaviour::AnswerThenHangup = behaviour {
                                call.hangup().await.expect("hangup");
                            }
                        }
                        CallEvent::Dtmf { digit, .. } => s.dtmf.lock().unwrap().push(digit),
                        CallEvent::SessionModified {
                            remote_sdp, media, ..
                        } => {
                            s.modified.lock().unwrap().push(remote_sdp);
                            s.media.lock().unwrap().extend(media);
                        }
                        CallEvent::Hangup(cause) => {
                            let c = match cause {
                                HangupCause::RemoteBye => &s.remote_bye,
                                HangupCause::LocalHangup => &s.local_hangup,
                                HangupCause::NoAck => &s.no_ack,
                                other => panic!("unexpected hangup {other:?}"),
                            };
                            c.fetch_add(1, Ordering::SeqCst);
                        }
                        CallEvent::TransferProgress { .. } => {}
                    }
                }
            });
        }
    });
    seen
}
