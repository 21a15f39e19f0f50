//! The user agent: one [`Endpoint`] owns the transports and transaction
//! layer, screens every received message, applies the access policy
//! (trusted peers, concurrent call limit, per-source rate limit), answers
//! what needs no application (OPTIONS, CANCEL, stray requests) and hands
//! new calls to the application as [`IncomingCall`]s.
//!
//! ```no_run
//! use sip_core::endpoint::{Endpoint, EndpointConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let (endpoint, mut incoming) = Endpoint::bind(EndpointConfig::default()).await?;
//! while let Some(call) = incoming.next().await {
//!     println!("call from {:?} to {}", call.caller().number, call.did());
//!     call.ring();
//!     // Answer with our SDP (see `sip_core::sdp::answer`) ...
//!     let mut call = call.accept("v=0\r\n...".into()).await?;
//!     while let Some(event) = call.next_event().await {
//!         println!("{event:?}");
//!     }
//! }
//! # drop(endpoint);
//! # Ok(()) }
//! ```

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use crate::util::LockExt;
use bytes::Bytes;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::access::{AllowList, RateLimiter};
use crate::call::{self, CallShared, IncomingCall, PendingInvite};
use crate::dialog::DialogId;
use crate::message::validate::{screen_datagram, Capabilities, Verdict};
use crate::message::{
    HeaderName, Host, Message, MessageBuilder, Method, ParseLimits, Request, Via,
};
use crate::resolve::Resolver;
use crate::transaction::{
    RequestDisposition, ServerKey, ServerTransaction, Timers, TransactionLayer,
};
use crate::transport::{Received, Sink, Transport, TransportConfig, TransportError, Transports};
use crate::util;

/// How the endpoint is set up.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// Listening sockets and message limits.
    pub transport: TransportConfig,
    /// The address we write into Via and Contact instead of the local one,
    /// for a host behind NAT with a public address (FreeSWITCH's
    /// `external_sip_ip`); `host` or `host:port`.
    pub external_sip_address: Option<String>,
    /// Host names (and addresses) that are ours: an INVITE whose
    /// Request-URI names another host gets 404. Our listening and external
    /// addresses are always ours; when this is empty and we listen on an
    /// unspecified address, any IP literal is accepted.
    pub domains: Vec<String>,
    /// Product token for User-Agent/Server and Warning headers.
    pub user_agent: String,
    /// RFC 3261 timers.
    pub timers: Timers,
    /// Peers allowed to send us INVITEs (the trunk's and gateways'
    /// addresses). Empty means anyone may call us.
    pub trusted_peers: AllowList,
    /// Most calls in progress at once; more get 486 Busy Here.
    pub max_calls: Option<usize>,
    /// Most requests per second from one source address; more get 503.
    pub max_requests_per_second: Option<u32>,
    /// Incoming calls waiting for the application; more get 503.
    pub incoming_queue: usize,
    /// The DNS resolver for registrars, outbound proxies and call
    /// destinations given as host names (RFC 3263); the system's
    /// (`/etc/resolv.conf`) when unset.
    pub resolver: Option<Resolver>,
    /// How long a server that has not answered at all may stay silent
    /// before the next address of the same name is tried (RFC 3263 4.3
    /// failover of REGISTER, INVITE and keep-alive OPTIONS). Unset waits
    /// for the transaction timeout (Timer B/F, 64*T1 = 32 s), which is
    /// what RFC 3261 alone gives; a few seconds is usual for trunks with a
    /// standby server (Kamailio's `fr_timer` plays this role).
    pub failover_timeout: Option<Duration>,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            transport: TransportConfig::default(),
            external_sip_address: None,
            domains: Vec::new(),
            user_agent: concat!("ai-line/", env!("CARGO_PKG_VERSION")).to_string(),
            timers: Timers::default(),
            trusted_peers: AllowList::default(),
            max_calls: None,
            max_requests_per_second: None,
            incoming_queue: 1024,
            resolver: None,
            failover_timeout: None,
        }
    }
}

impl EndpointConfig {
    /// A configuration listening on one address for UDP and TCP.
    pub fn listen(addr: SocketAddr) -> Self {
        EndpointConfig {
            transport: TransportConfig {
                udp: vec![addr],
                tcp: vec![addr],
                ..TransportConfig::default()
            },
            ..EndpointConfig::default()
        }
    }
}

/// Failures creating an endpoint.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// A socket could not be opened.
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// Counters an operator reads to see what the endpoint is refusing.
#[derive(Debug, Default)]
pub struct EndpointStats {
    /// Messages dropped without an answer (malformed responses, junk).
    pub discarded: AtomicU64,
    /// Requests refused by screening (400, 416, 420, ...).
    pub rejected: AtomicU64,
    /// INVITEs refused because the source is not trusted (403).
    pub untrusted: AtomicU64,
    /// Requests refused by the rate limit (503).
    pub rate_limited: AtomicU64,
    /// INVITEs refused by the call limit (486).
    pub over_capacity: AtomicU64,
    /// Calls offered to the application.
    pub calls_offered: AtomicU64,
    /// INVITEs refused with 482 as merged requests (RFC 3261 8.2.2.2).
    pub merged: AtomicU64,
}

/// The shared state behind an [`Endpoint`] and its calls.
pub(crate) struct Inner {
    pub(crate) config: EndpointConfig,
    pub(crate) caps: Capabilities,
    layer: OnceLock<Arc<TransactionLayer>>,
    pub(crate) dialogs: Mutex<HashMap<DialogId, Arc<CallShared>>>,
    pub(crate) pending: Mutex<HashMap<ServerKey, PendingInvite>>,
    pub(crate) active_calls: AtomicUsize,
    incoming: mpsc::Sender<IncomingCall>,
    rate: Option<Mutex<RateLimiter>>,
    merged: Mutex<MergedRequests>,
    pub(crate) stats: EndpointStats,
    pub(crate) resolver: Resolver,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint").finish_non_exhaustive()
    }
}

struct SinkAdapter(Weak<Inner>);

impl Sink for SinkAdapter {
    fn received(&self, msg: Received) {
        if let Some(inner) = self.0.upgrade() {
            inner.on_received(msg);
        }
    }
}

/// A SIP user agent bound to its sockets. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub(crate) inner: Arc<Inner>,
}

/// The stream of calls arriving at an endpoint.
#[derive(Debug)]
pub struct IncomingCalls {
    rx: mpsc::Receiver<IncomingCall>,
}

impl IncomingCalls {
    /// The next call, or `None` when the endpoint is gone.
    pub async fn next(&mut self) -> Option<IncomingCall> {
        self.rx.recv().await
    }
}

impl Endpoint {
    /// Opens the sockets and starts serving.
    pub async fn bind(config: EndpointConfig) -> Result<(Endpoint, IncomingCalls), EndpointError> {
        let (tx, rx) = mpsc::channel(config.incoming_queue.max(1));
        let rate = config
            .max_requests_per_second
            .map(|n| Mutex::new(RateLimiter::new(n)));
        let inner = Arc::new(Inner {
            caps: Capabilities::default(),
            layer: OnceLock::new(),
            dialogs: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
            active_calls: AtomicUsize::new(0),
            incoming: tx,
            rate,
            merged: Mutex::new(MergedRequests::new(config.timers.t1 * 64)),
            stats: EndpointStats::default(),
            resolver: config.resolver.clone().unwrap_or_else(Resolver::system),
            config,
        });
        let sink: Arc<dyn Sink> = Arc::new(SinkAdapter(Arc::downgrade(&inner)));
        let transports = Transports::bind(&inner.config.transport, sink).await?;
        let layer = TransactionLayer::new(transports, inner.config.timers);
        let _ = inner.layer.set(layer);
        info!(udp = ?inner.layer().transports().udp_addrs(), tcp = ?inner.layer().transports().tcp_addrs(), "SIP endpoint listening");
        Ok((Endpoint { inner }, IncomingCalls { rx }))
    }

    /// The first bound UDP address.
    pub fn udp_addr(&self) -> Option<SocketAddr> {
        self.inner.layer().transports().udp_addrs().first().copied()
    }

    /// The first bound TCP address.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.inner.layer().transports().tcp_addrs().first().copied()
    }

    /// Calls in progress (offered, ringing or answered).
    pub fn active_calls(&self) -> usize {
        self.inner.active_calls.load(Ordering::Relaxed)
    }

    /// Counters of refused and dropped traffic.
    pub fn stats(&self) -> &EndpointStats {
        &self.inner.stats
    }

    /// Live (server, client) transactions, for load tools and tests.
    pub fn transaction_counts(&self) -> (usize, usize) {
        self.inner.layer().counts()
    }

    /// Dialogs currently established.
    pub fn dialog_count(&self) -> usize {
        self.inner.dialogs.locked().len()
    }
}

/// Where responses to a request go (RFC 3261 18.2.2, RFC 3581): over a
/// stream, back on the connection; over UDP, to the source address and
/// port when the request asked for `rport`, else to the source address and
/// the Via's port.
fn response_destination(
    via: Option<&Via<'_>>,
    source: SocketAddr,
    transport: Transport,
) -> SocketAddr {
    if transport == Transport::Tcp {
        return source;
    }
    match via {
        Some(v) if v.rport().is_none() => SocketAddr::new(source.ip(), v.port.unwrap_or(5060)),
        _ => source,
    }
}

/// The top Via of a response: the request's, with `received` when the
/// source address differs from the sent-by host and `rport` filled in
/// when the request asked for it (RFC 3581).
pub(crate) fn top_via_for_response(raw: &str, source: SocketAddr) -> String {
    let Ok(via) = Via::parse(raw) else {
        return raw.to_string();
    };
    let mut out = String::with_capacity(raw.len() + 40);
    out.push_str("SIP/");
    out.push_str(via.version);
    out.push('/');
    match via.transport {
        crate::message::ViaTransport::Udp => out.push_str("UDP"),
        crate::message::ViaTransport::Tcp => out.push_str("TCP"),
        crate::message::ViaTransport::Tls => out.push_str("TLS"),
        crate::message::ViaTransport::Sctp => out.push_str("SCTP"),
        crate::message::ViaTransport::Other(t) => out.push_str(t),
    }
    out.push(' ');
    out.push_str(via.host_str);
    if let Some(p) = via.port {
        out.push(':');
        out.push_str(&p.to_string());
    }
    let wants_rport = via.rport().is_some();
    let host_matches = via.host.ip() == Some(source.ip());
    for (n, v) in via.params.iter() {
        if n.eq_ignore_ascii_case("rport") || n.eq_ignore_ascii_case("received") {
            continue;
        }
        out.push(';');
        out.push_str(n);
        if let Some(v) = v {
            out.push('=');
            out.push_str(v);
        }
    }
    if !host_matches || wants_rport {
        out.push_str(";received=");
        out.push_str(&source.ip().to_string());
    }
    if wants_rport {
        out.push_str(";rport=");
        out.push_str(&source.port().to_string());
    }
    out
}

impl Inner {
    pub(crate) fn layer(&self) -> &Arc<TransactionLayer> {
        // Set in `Endpoint::bind` before any message can arrive.
        self.layer.get().expect("transaction layer is set at bind")
    }

    /// Our sent-by / Contact host:port towards `dest` over `transport`.
    pub(crate) fn local_hostport(&self, dest: SocketAddr, transport: Transport) -> String {
        if let Some(ext) = &self.config.external_sip_address {
            return ext.clone();
        }
        let local = self
            .layer()
            .transports()
            .local_for(dest, transport)
            .unwrap_or_else(|| SocketAddr::new(IpAddr::from([127, 0, 0, 1]), 5060));
        let ip = if local.ip().is_unspecified() {
            route_local_ip(dest).unwrap_or(local.ip())
        } else {
            local.ip()
        };
        match ip {
            IpAddr::V4(a) => format!("{a}:{}", local.port()),
            IpAddr::V6(a) => format!("[{a}]:{}", local.port()),
        }
    }

    /// Our Contact header value towards `dest`.
    pub(crate) fn contact(&self, user: &str, dest: SocketAddr, transport: Transport) -> String {
        let hp = self.local_hostport(dest, transport);
        let tp = match transport {
            Transport::Udp => "",
            Transport::Tcp => ";transport=tcp",
        };
        if user.is_empty() {
            format!("<sip:{hp}{tp}>")
        } else {
            format!("<sip:{user}@{hp}{tp}>")
        }
    }

    /// A response to `req` with our Server header and the top Via fixed
    /// for `source`.
    pub(crate) fn response(
        &self,
        req: &Request<'_>,
        source: SocketAddr,
        code: u16,
        to_tag: Option<&str>,
    ) -> MessageBuilder {
        let mut b = MessageBuilder::response(code, None);
        let mut first = true;
        for via in req.headers.list(HeaderName::Via) {
            if first {
                b.header(HeaderName::Via, top_via_for_response(via, source));
                first = false;
            } else {
                b.header(HeaderName::Via, via);
            }
        }
        if let Some(v) = req.headers.get(HeaderName::From) {
            b.header(HeaderName::From, v);
        }
        if let Some(to) = req.headers.get(HeaderName::To) {
            let has_tag = req.headers.to().map(|t| t.tag().is_some()).unwrap_or(true);
            match to_tag {
                Some(tag) if !has_tag && code > 100 => {
                    b.header(HeaderName::To, format_args!("{to};tag={tag}"));
                }
                _ => {
                    b.header(HeaderName::To, to);
                }
            }
        }
        if let Some(v) = req.headers.call_id() {
            b.header(HeaderName::CallId, v);
        }
        if let Some(v) = req.headers.get(HeaderName::CSeq) {
            b.header(HeaderName::CSeq, v);
        }
        b.header(HeaderName::Server, &self.config.user_agent);
        b
    }

    fn send_stateless(&self, dest: SocketAddr, transport: Transport, bytes: Vec<u8>) {
        self.layer()
            .send_stateless(dest, transport, Bytes::from(bytes));
    }

    fn on_received(self: &Arc<Self>, rx: Received) {
        let is_request = !rx.bytes.starts_with(b"SIP/");
        if is_request {
            if let Some(rate) = &self.rate {
                let ok = rate.locked().check(rx.source.ip(), Instant::now());
                if !ok {
                    self.stats.rate_limited.fetch_add(1, Ordering::Relaxed);
                    warn!(source = %rx.source, "request rate limit exceeded; answering 503");
                    if let Ok(Message::Request(req)) = Message::parse(&rx.bytes) {
                        if req.method != Method::Ack {
                            let mut b = self.response(&req, rx.source, 503, Some(&util::new_tag()));
                            b.header(HeaderName::RetryAfter, 5);
                            self.send_stateless(rx.source, rx.transport, b.finish());
                        }
                    }
                    return;
                }
            }
        }
        let limits: ParseLimits = self.config.transport.limits;
        let tag = util::new_tag();
        match screen_datagram(
            &rx.bytes,
            &limits,
            &self.caps,
            &self.config.user_agent,
            &tag,
        ) {
            Verdict::Reject {
                rejection,
                response,
            } => {
                self.stats.rejected.fetch_add(1, Ordering::Relaxed);
                debug!(source = %rx.source, code = rejection.code, reason = %rejection.text, "request refused");
                self.send_stateless(rx.source, rx.transport, response);
            }
            Verdict::Discard(why) => {
                self.stats.discarded.fetch_add(1, Ordering::Relaxed);
                debug!(source = %rx.source, %why, "message discarded");
            }
            Verdict::Accept(Message::Response(resp)) => {
                if !self.layer().on_response(&resp, &rx.bytes) {
                    call::on_stray_response(self, &resp, &rx);
                }
            }
            Verdict::Accept(Message::Request(req)) => self.on_request(&req, &rx),
        }
    }

    fn on_request(self: &Arc<Self>, req: &Request<'_>, rx: &Received) {
        let via = req.headers.top_via().ok();
        let reply_to = response_destination(via.as_ref(), rx.source, rx.transport);
        let Some(disposition) = self.layer().on_request(req, reply_to, rx.transport) else {
            return;
        };
        match disposition {
            RequestDisposition::Absorbed => {}
            RequestDisposition::Ack => call::on_ack(self, req),
            // The transaction's events matter to nobody here: an answered
            // INVITE learns of a missing ACK through `on_no_ack`. Dropped
            // at once, so that a finished transaction knows nobody waits
            // for its end and can linger as a table entry alone.
            RequestDisposition::New(tx, events) => {
                drop(events);
                let to_tag = req
                    .headers
                    .to()
                    .ok()
                    .and_then(|t| t.tag().map(str::to_string));
                match (req.method, to_tag) {
                    (Method::Cancel, _) => self.on_cancel(req, rx, &tx),
                    (_, Some(tag)) => call::on_in_dialog(self, req, rx, tx, &tag),
                    (Method::Invite, None) => self.on_invite(req, rx, tx),
                    (Method::Options, None) => {
                        let mut b = self.response(req, rx.source, 200, Some(&util::new_tag()));
                        b.header(HeaderName::Allow, self.caps.allow_header());
                        b.header(HeaderName::Accept, "application/sdp");
                        b.header(HeaderName::Supported, self.caps.supported.join(", "));
                        tx.respond(200, b.finish());
                    }
                    (_, None) => {
                        // BYE, INFO, NOTIFY... outside any dialog.
                        let b = self.response(req, rx.source, 481, Some(&util::new_tag()));
                        tx.respond(481, b.finish());
                    }
                }
            }
        }
    }

    fn on_cancel(self: &Arc<Self>, req: &Request<'_>, rx: &Received, tx: &ServerTransaction) {
        let key = ServerKey::invite_for_cancel(req);
        let pending = key.and_then(|k| self.pending.locked().remove(&k));
        match pending {
            Some(p) => {
                let b = self.response(req, rx.source, 200, Some(&p.local_tag));
                let ep = self.clone();
                tx.respond_then(200, b.finish(), Box::new(move || p.cancel(&ep)));
            }
            None => {
                // RFC 3261 9.2: the INVITE's transaction exists but its
                // final response was sent (the call was answered or
                // refused): 200 to the CANCEL, which changes nothing.
                // Without a transaction: 481.
                // Its To tag is the one of the INVITE's response (9.2).
                let answered = ServerKey::invite_for_cancel(req)
                    .and_then(|k| self.layer().server_transaction_tag(&k));
                let (code, tag) = match answered {
                    Some(tag) => (
                        200,
                        tag.or_else(|| self.dialog_tag_for(req))
                            .unwrap_or_else(util::new_tag),
                    ),
                    None => (481, util::new_tag()),
                };
                let b = self.response(req, rx.source, code, Some(&tag));
                tx.respond(code, b.finish());
            }
        }
    }

    /// Our tag in the dialog a request without a To tag belongs to (same
    /// Call-ID and remote tag): a scan of the dialog table, for the rare
    /// CANCEL that comes after our 2xx and before its ACK.
    fn dialog_tag_for(&self, req: &Request<'_>) -> Option<String> {
        let call_id = req.headers.call_id()?;
        let from = req.headers.from().ok()?;
        let remote_tag = from.tag()?;
        let dialogs = self.dialogs.locked();
        dialogs
            .iter()
            .filter(|(id, _)| id.call_id == call_id)
            .find(|(_, call)| call.remote_tag() == remote_tag)
            .map(|(id, _)| id.local_tag.clone())
    }

    /// True when `req` (an INVITE without a To tag that matched no
    /// transaction) has the From tag, Call-ID and CSeq of an INVITE seen in
    /// the last 64*T1, i.e. it is a second copy of one request arriving
    /// under another branch. Records it otherwise.
    fn is_merged(&self, req: &Request<'_>) -> bool {
        let (Some(call_id), Ok(from), Ok(cseq)) = (
            req.headers.call_id(),
            req.headers.from(),
            req.headers.cseq(),
        ) else {
            return false;
        };
        // Without a From tag (RFC 2543 peers) copies cannot be told apart.
        let Some(from_tag) = from.tag() else {
            return false;
        };
        self.merged
            .locked()
            .seen_before(call_id, from_tag, cseq.seq, Instant::now())
    }

    /// True when the Request-URI names us.
    fn is_our_host(&self, req: &Request<'_>, rx: &Received) -> bool {
        let Ok(uri) = req.uri() else { return false };
        let Some(host) = uri.host else {
            // tel: URIs carry no host: they are for whoever received them.
            return true;
        };
        let host_str = uri.host_str;
        if self
            .config
            .domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(host_str.trim_matches(['[', ']'])))
        {
            return true;
        }
        if let Some(ext) = &self.config.external_sip_address {
            let ext_host = ext.rsplit_once(':').map_or(ext.as_str(), |(h, _)| h);
            if ext_host
                .trim_matches(['[', ']'])
                .eq_ignore_ascii_case(host_str.trim_matches(['[', ']']))
            {
                return true;
            }
        }
        match host {
            Host::Name(_) => false,
            Host::V4(_) | Host::V6(_) => {
                let ip = host.ip();
                rx.local.ip().is_unspecified() && self.config.domains.is_empty()
                    || ip == Some(rx.local.ip())
                    || self.layer().transports().udp_addrs().iter().any(|a| {
                        Some(a.ip()) == ip
                            || a.ip().is_unspecified() && self.config.domains.is_empty()
                    })
            }
        }
    }

    fn on_invite(self: &Arc<Self>, req: &Request<'_>, rx: &Received, tx: ServerTransaction) {
        let refuse = |code: u16, extra: Option<(HeaderName, String)>| {
            let mut b = self.response(req, rx.source, code, Some(&util::new_tag()));
            if let Some((n, v)) = extra {
                b.header(n, v);
            }
            tx.respond(code, b.finish());
        };
        let trusted = &self.config.trusted_peers;
        if !trusted.is_empty() && !trusted.allows(rx.source.ip()) {
            self.stats.untrusted.fetch_add(1, Ordering::Relaxed);
            warn!(source = %rx.source, "INVITE from an untrusted address refused");
            return refuse(403, None);
        }
        if !self.is_our_host(req, rx) {
            return refuse(404, None);
        }
        if self.is_merged(req) {
            // RFC 3261 8.2.2.2: another copy of an INVITE we are already
            // handling (forked by a proxy, or re-sent by a load balancer
            // under a new branch). Answering it would make a second dialog
            // for one call.
            self.stats.merged.fetch_add(1, Ordering::Relaxed);
            debug!("INVITE merged with one being handled: 482");
            return refuse(482, None);
        }
        if let Some(max) = self.config.max_calls {
            if self.active_calls.load(Ordering::Relaxed) >= max {
                self.stats.over_capacity.fetch_add(1, Ordering::Relaxed);
                return refuse(486, None);
            }
        }
        // 100 Trying at once: stops the caller's INVITE retransmissions.
        let trying = self.response(req, rx.source, 100, None);
        tx.respond(100, trying.finish());

        match call::IncomingCall::new(self, req, rx, tx.clone()) {
            Ok(call) => {
                self.active_calls.fetch_add(1, Ordering::Relaxed);
                self.stats.calls_offered.fetch_add(1, Ordering::Relaxed);
                if let Err(e) = self.incoming.try_send(call) {
                    let code = match e {
                        mpsc::error::TrySendError::Full(_) => 503,
                        mpsc::error::TrySendError::Closed(_) => 480,
                    };
                    // Dropping the call answers it (see IncomingCall's Drop);
                    // make the code explicit first.
                    let call = e.into_inner();
                    call.reject(code);
                }
            }
            Err(e) => {
                debug!(error = %e, "INVITE cannot form a dialog");
                let mut b = self.response(req, rx.source, 400, Some(&util::new_tag()));
                b.header(
                    HeaderName::Warning,
                    format_args!("399 {} \"{e}\"", self.config.user_agent),
                );
                tx.respond(400, b.finish());
            }
        }
    }
}

/// The INVITEs of the last 64*T1 by From tag, Call-ID and CSeq, for
/// merged-request detection (RFC 3261 8.2.2.2). Entries are 64-bit keyed
/// hashes (seeded per endpoint, so a peer cannot aim collisions) with
/// their arrival time, expired in arrival order: a few dozen bytes per call
/// for 32 s, and no scan of the dialog table per INVITE.
struct MergedRequests {
    hasher: RandomState,
    window: Duration,
    seen: HashMap<u64, Instant>,
    order: VecDeque<(Instant, u64)>,
}

impl MergedRequests {
    fn new(window: Duration) -> Self {
        MergedRequests {
            hasher: RandomState::new(),
            window,
            seen: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// True when this triple was seen within the window; records it.
    fn seen_before(&mut self, call_id: &str, from_tag: &str, cseq: u32, now: Instant) -> bool {
        while let Some(&(at, key)) = self.order.front() {
            if now.saturating_duration_since(at) < self.window {
                break;
            }
            self.order.pop_front();
            if self.seen.get(&key) == Some(&at) {
                self.seen.remove(&key);
            }
        }
        let key = self.hasher.hash_one((call_id, from_tag, cseq));
        if self.seen.contains_key(&key) {
            return true;
        }
        self.seen.insert(key, now);
        self.order.push_back((now, key));
        false
    }
}

/// The local IP the kernel would use to reach `dest` (no packet is sent).
pub(crate) fn route_local_ip(dest: SocketAddr) -> Option<IpAddr> {
    let bind: SocketAddr = if dest.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let s = std::net::UdpSocket::bind(bind).ok()?;
    s.connect(dest).ok()?;
    s.local_addr().ok().map(|a| a.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_requests_match_call_id_from_tag_and_cseq_within_the_window() {
        let mut m = MergedRequests::new(Duration::from_secs(32));
        let t0 = Instant::now();
        assert!(!m.seen_before("c1", "f1", 1, t0));
        assert!(m.seen_before("c1", "f1", 1, t0 + Duration::from_secs(1)));
        // A retry after a challenge has the next CSeq: a new request.
        assert!(!m.seen_before("c1", "f1", 2, t0 + Duration::from_secs(1)));
        assert!(!m.seen_before("c1", "f2", 1, t0 + Duration::from_secs(1)));
        assert!(!m.seen_before("c2", "f1", 1, t0 + Duration::from_secs(1)));
        // Past the window the first copy is forgotten.
        assert!(!m.seen_before("c1", "f1", 1, t0 + Duration::from_secs(33)));
        assert!(m.seen_before("c1", "f1", 1, t0 + Duration::from_secs(34)));
        assert!(m.seen.len() <= 3, "expired entries are dropped");
    }

    #[test]
    fn rport_and_received_are_filled_in() {
        let src: SocketAddr = "198.51.100.7:40123".parse().unwrap();
        let v = top_via_for_response("SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKx;rport", src);
        assert_eq!(
            v,
            "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKx;received=198.51.100.7;rport=40123"
        );
        let v = top_via_for_response("SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKx", src);
        assert_eq!(v, "SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKx");
        let v = top_via_for_response("SIP/2.0/TCP host.example;branch=z9hG4bKx", src);
        assert_eq!(
            v,
            "SIP/2.0/TCP host.example;branch=z9hG4bKx;received=198.51.100.7"
        );
    }

    #[test]
    fn responses_go_where_rfc3581_says() {
        let src: SocketAddr = "198.51.100.7:40123".parse().unwrap();
        let with = Via::parse("SIP/2.0/UDP 10.0.0.5:5070;branch=z9hG4bKx;rport").unwrap();
        let without = Via::parse("SIP/2.0/UDP 10.0.0.5:5070;branch=z9hG4bKx").unwrap();
        let no_port = Via::parse("SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKx").unwrap();
        assert_eq!(response_destination(Some(&with), src, Transport::Udp), src);
        assert_eq!(
            response_destination(Some(&without), src, Transport::Udp),
            "198.51.100.7:5070".parse().unwrap()
        );
        assert_eq!(
            response_destination(Some(&no_port), src, Transport::Udp),
            "198.51.100.7:5060".parse().unwrap()
        );
        assert_eq!(
            response_destination(Some(&without), src, Transport::Tcp),
            src
        );
    }
}
