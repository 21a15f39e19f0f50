//! Two endpoints in one test process over loopback UDP, as sipgo's
//! `siptest` pairs a client and a server: the caller dials, the callee
//! answers, and both are driven only through the public API. Timers are
//! short so that timeouts run out in test time; every wait is bounded and
//! ends on an event, never on a fixed sleep.

use std::net::SocketAddr;
use std::time::Duration;

use sip_core::call::{Call, CallError, CallEvent, IncomingCall};
use sip_core::endpoint::{Endpoint, EndpointConfig, IncomingCalls};
use sip_core::outbound::{CallFailure, DialOptions, Dialing, Progress};
use sip_core::sdp::{LocalMedia, NegotiatedMedia};
use sip_core::transaction::Timers;
use sip_core::transport::TransportConfig;

use super::wait_until;

/// The longest any single step of a pair test may take: far above what
/// loopback needs, so only a real hang reaches it.
pub const STEP: Duration = Duration::from_secs(5);

/// RFC 3261 timers a hundred times shorter than the defaults: Timer B/F
/// (64*T1) is 320 ms, so a transaction nobody answers ends quickly.
pub fn short_timers() -> Timers {
    Timers {
        t1: Duration::from_millis(5),
        t2: Duration::from_millis(40),
        t4: Duration::from_millis(50),
    }
}

/// One endpoint listening on UDP 127.0.0.1 (a port of its own), with
/// [`short_timers`].
pub async fn endpoint() -> (Endpoint, IncomingCalls) {
    let cfg = EndpointConfig {
        transport: TransportConfig {
            udp: vec![SocketAddr::from(([127, 0, 0, 1], 0))],
            tcp: vec![],
            ..TransportConfig::default()
        },
        timers: short_timers(),
        ..EndpointConfig::default()
    };
    Endpoint::bind(cfg).await.expect("bind 127.0.0.1")
}

/// Media on 127.0.0.1 at `port` (nothing is sent; the port only goes into
/// the SDP).
pub fn media(port: u16) -> LocalMedia {
    LocalMedia::new([127, 0, 0, 1].into(), port).expect("127.0.0.1 is a media address")
}

/// The RTP port the caller's SDP names.
pub const CALLER_RTP: u16 = 20000;
/// The RTP port the callee's SDP names.
pub const CALLEE_RTP: u16 = 30000;

/// A caller and a callee endpoint.
pub struct Pair {
    /// Places the calls.
    pub caller: Endpoint,
    /// Takes them.
    pub callee: Endpoint,
    /// Calls arriving at the callee.
    pub incoming: IncomingCalls,
}

impl Pair {
    /// Two endpoints on loopback.
    pub async fn new() -> Pair {
        let (caller, _) = endpoint().await;
        let (callee, incoming) = endpoint().await;
        Pair {
            caller,
            callee,
            incoming,
        }
    }

    /// `sip:user@` the callee's address.
    pub fn callee_uri(&self, user: &str) -> String {
        let at = self.callee.udp_addr().expect("callee UDP address");
        format!("sip:{user}@{at}")
    }

    /// Options to call `user` at the callee offering [`CALLER_RTP`].
    pub fn options(&self, user: &str) -> DialOptions {
        DialOptions::with_media(&self.callee_uri(user), media(CALLER_RTP)).expect("dial options")
    }

    /// Dials with `opts`.
    pub fn dial(&self, opts: DialOptions) -> Dialing {
        self.caller.dial(opts).expect("dial")
    }

    /// The next call at the callee.
    pub async fn next_incoming(&mut self) -> IncomingCall {
        tokio::time::timeout(STEP, self.incoming.next())
            .await
            .expect("a call arrives at the callee")
            .expect("the callee endpoint is up")
    }

    /// A call up between the two: the caller dials `user`, the callee
    /// rings and answers through SDP negotiation, the caller has the 200
    /// and the callee its ACK (`Confirmed`). Returns (caller's call,
    /// callee's call).
    pub async fn establish(&mut self, user: &str) -> (Call, Call) {
        let dialing = self.dial(self.options(user));
        let incoming = self.next_incoming().await;
        incoming.ring();
        let (mut callee, media) = answer(incoming).expect("the callee answers");
        assert!(media.is_some(), "the INVITE carried an offer");
        let caller = answered(dialing).await.expect("the caller sees the answer");
        assert_eq!(next_event(&mut callee).await, CallEvent::Confirmed);
        (caller, callee)
    }

    /// Waits until neither endpoint has a dialog or a call left: whatever
    /// ended the call, nothing of it stays behind.
    pub async fn settled(&self) {
        wait_until("no dialogs and no calls on either side", || {
            self.caller.dialog_count() == 0
                && self.callee.dialog_count() == 0
                && self.caller.active_calls() == 0
                && self.callee.active_calls() == 0
        })
        .await;
    }
}

/// Answers `call` with [`CALLEE_RTP`] media.
pub fn answer(call: IncomingCall) -> Result<(Call, Option<NegotiatedMedia>), CallError> {
    call.accept_media(media(CALLEE_RTP))
}

/// Waits (bounded) until `dialing` is answered or fails.
pub async fn answered(dialing: Dialing) -> Result<Call, CallFailure> {
    tokio::time::timeout(STEP, dialing.answered())
        .await
        .expect("the call is answered or fails in time")
}

/// The next progress report of a call being placed.
pub async fn next_progress(dialing: &mut Dialing) -> Progress {
    tokio::time::timeout(STEP, dialing.next())
        .await
        .expect("progress in time")
        .expect("a progress report")
}

/// The next event of `call`.
pub async fn next_event(call: &mut Call) -> CallEvent {
    tokio::time::timeout(STEP, call.next_event())
        .await
        .expect("an event in time")
        .expect("the call has an event left")
}
