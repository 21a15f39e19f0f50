//! The user agent's front: one [`Endpoint`] opens the transports, screens
//! every received message, applies the access policy (trusted peers,
//! concurrent call limit, per-source rate limit), answers what needs no
//! application (OPTIONS, CANCEL, stray requests), routes what belongs to a
//! dialog to its call, and hands new calls to the application as
//! [`IncomingCall`]s. Registering ([`Endpoint::register`]) and placing
//! calls ([`Endpoint::dial`]) are done by the `registration` and
//! `outbound` modules; these methods only start them.
//!
//! ```no_run
//! use sip_core::endpoint::{Endpoint, EndpointConfig};
//! use sip_core::sdp::LocalMedia;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let (endpoint, mut incoming) = Endpoint::bind(EndpointConfig::default()).await?;
//! while let Some(call) = incoming.next().await {
//!     println!("call from {:?} to {}", call.caller().number, call.did());
//!     call.ring();
//!     // Answer with PCMU/PCMA on our RTP port (488 when no codec fits).
//!     let rtp = LocalMedia::new("192.0.2.10".parse()?, 40000)?;
//!     let (mut call, _media) = call.accept_media(rtp)?;
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
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use crate::util::LockExt;
use bytes::Bytes;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::access::{AllowList, RateLimiter};
use crate::call::{CallError, IncomingCall};
use crate::message::validate::{
    screen_datagram, Capabilities, StatelessReply, StatelessTags, Verdict,
};
use crate::message::{HeaderName, Host, Message, Method, Request, Response, Via};
use crate::outbound::{self, DialOptions, Dialing};
use crate::registration::{self, Account, Registration};
use crate::resolve::{HostPort, InvalidSetting, Resolver};
use crate::transaction::{
    RequestDisposition, ServerKey, ServerTransaction, Timers, TransactionLayer,
};
use crate::transport::{Received, Sink, Transport, TransportConfig, TransportError, Transports};
use crate::ua::{request_dialog_id, UaCore, UaSettings};
use crate::util;

/// How the endpoint is set up.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// Listening sockets and message limits.
    pub transport: TransportConfig,
    /// The address we write into Via and Contact instead of the local one,
    /// for a host behind NAT with a public address (FreeSWITCH's
    /// `external_sip_ip`). See [`EndpointConfig::with_external_sip_address`]
    /// to set it from text.
    pub external_sip_address: Option<HostPort>,
    /// Host names (and addresses) that are ours: an INVITE whose
    /// Request-URI names another host gets 404. Our listening and external
    /// addresses are always ours; when this is empty and we listen on an
    /// unspecified address, any IP literal is accepted. Only the host is
    /// compared; see [`EndpointConfig::with_domain`] to add one from text.
    pub domains: Vec<HostPort>,
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

    /// Sets the external address from `host` or `host:port` (IPv6 in
    /// brackets); the error names `external_sip_address`.
    pub fn with_external_sip_address(mut self, address: &str) -> Result<Self, InvalidSetting> {
        self.external_sip_address = Some(HostPort::parse_setting("external_sip_address", address)?);
        Ok(self)
    }

    /// Adds a host name or address of ours (`pbx.example.net`,
    /// `192.0.2.10`, `[2001:db8::1]`) to [`EndpointConfig::domains`]; the
    /// error names `domains`, and a port is refused (a domain names a
    /// host only).
    pub fn with_domain(mut self, domain: &str) -> Result<Self, InvalidSetting> {
        let host = HostPort::parse_setting("domains", domain)?;
        if host.port().is_some() {
            return Err(InvalidSetting {
                setting: "domains",
                value: domain.to_string(),
                reason: "a domain names a host, without a port".into(),
            });
        }
        self.domains.push(host);
        Ok(self)
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

/// The endpoint's own state: the policy it applies and the routing it
/// does, over the user-agent core that calls and registrations share.
struct Inner {
    config: EndpointConfig,
    core: Arc<UaCore>,
    incoming: mpsc::Sender<IncomingCall>,
    rate: Option<Mutex<RateLimiter>>,
    merged: Mutex<MergedRequests>,
    tags: StatelessTags,
    stats: EndpointStats,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint").finish_non_exhaustive()
    }
}

/// Hands received messages to the endpoint once it exists (the sockets
/// are opened before it is).
struct SinkAdapter(OnceLock<Weak<Inner>>);

impl Sink for SinkAdapter {
    fn received(&self, msg: Received) {
        if let Some(inner) = self.0.get().and_then(Weak::upgrade) {
            inner.on_received(msg);
        }
    }
}

/// A SIP user agent bound to its sockets. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Endpoint {
    inner: Arc<Inner>,
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
        let sink = Arc::new(SinkAdapter(OnceLock::new()));
        let transports = Transports::bind(&config.transport, sink.clone()).await?;
        let layer = TransactionLayer::new(transports, config.timers);
        let settings = UaSettings {
            external_address: config.external_sip_address.clone(),
            user_agent: config.user_agent.clone(),
            failover_timeout: config.failover_timeout,
        };
        let resolver = config.resolver.clone().unwrap_or_else(Resolver::system);
        let core = Arc::new(UaCore::new(
            layer,
            settings,
            Capabilities::default(),
            resolver,
        ));
        let rate = config
            .max_requests_per_second
            .map(|n| Mutex::new(RateLimiter::new(n)));
        let inner = Arc::new(Inner {
            core,
            incoming: tx,
            rate,
            merged: Mutex::new(MergedRequests::new(config.timers.t1 * 64)),
            tags: StatelessTags::new(),
            stats: EndpointStats::default(),
            config,
        });
        let _ = sink.0.set(Arc::downgrade(&inner));
        let transports = inner.core.layer().transports();
        info!(udp = ?transports.udp_addrs(), tcp = ?transports.tcp_addrs(), "SIP endpoint listening");
        Ok((Endpoint { inner }, IncomingCalls { rx }))
    }

    /// The first bound UDP address.
    pub fn udp_addr(&self) -> Option<SocketAddr> {
        self.inner
            .core
            .layer()
            .transports()
            .udp_addrs()
            .first()
            .copied()
    }

    /// The first bound TCP address.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.inner
            .core
            .layer()
            .transports()
            .tcp_addrs()
            .first()
            .copied()
    }

    /// Calls in progress (offered, ringing or answered).
    pub fn active_calls(&self) -> usize {
        self.inner.core.active_calls()
    }

    /// Counters of refused and dropped traffic.
    pub fn stats(&self) -> &EndpointStats {
        &self.inner.stats
    }

    /// Live (server, client) transactions, for load tools and tests.
    pub fn transaction_counts(&self) -> (usize, usize) {
        self.inner.core.layer().counts()
    }

    /// Dialogs currently established.
    pub fn dialog_count(&self) -> usize {
        self.inner.core.dialog_count()
    }

    /// Starts registering `account` and keeps it registered (see
    /// [`registration`]). Host names are looked up
    /// with the endpoint's resolver ([`EndpointConfig::resolver`]).
    pub fn register(&self, account: Account) -> Registration {
        let resolver = self.inner.core.resolver().clone();
        registration::start(&self.inner.core, account, resolver)
    }

    /// Like [`Endpoint::register`] with a given DNS resolver (for a
    /// private name server).
    pub fn register_with(&self, account: Account, resolver: Resolver) -> Registration {
        registration::start(&self.inner.core, account, resolver)
    }

    /// Places a call (see [`outbound`]). Returns at once;
    /// progress arrives on the [`Dialing`]. The destination (the outbound
    /// proxy, else the host of `to`) is looked up as RFC 3263 says; an
    /// address that does not answer, cannot be reached or answers 503
    /// makes the call try the next one, each in a new transaction (RFC
    /// 3263 4.3).
    pub fn dial(&self, opts: DialOptions) -> Result<Dialing, CallError> {
        outbound::dial(&self.inner.core, opts)
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

/// True when a Request-URI host (`host_str`, IPv6 in brackets) is one of
/// our configured names: a domain of ours or the external address.
fn is_our_name(domains: &[HostPort], external: Option<&HostPort>, host_str: &str) -> bool {
    domains.iter().any(|d| d.names(host_str)) || external.is_some_and(|e| e.names(host_str))
}

impl Inner {
    fn send_stateless(&self, dest: SocketAddr, transport: Transport, bytes: Vec<u8>) {
        self.core
            .layer()
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
                            let h = &req.headers;
                            let tag = self.tags.tag_for(
                                h.call_id().unwrap_or(""),
                                h.get(HeaderName::From).unwrap_or(""),
                                h.list(HeaderName::Via).next().unwrap_or(""),
                            );
                            let mut b = self.core.response(&req, rx.source, 503, Some(&tag));
                            b.header(HeaderName::RetryAfter, 5);
                            self.send_stateless(rx.source, rx.transport, b.finish());
                        }
                    }
                    return;
                }
            }
        }
        let reply = StatelessReply {
            agent: &self.config.user_agent,
            source: rx.source,
            tags: &self.tags,
        };
        match screen_datagram(
            &rx.bytes,
            &self.config.transport.limits,
            self.core.caps(),
            &reply,
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
                if !self.core.layer().on_response(&resp, &rx.bytes) {
                    self.on_stray_response(&resp, &rx);
                }
            }
            Verdict::Accept(Message::Request(req)) => self.on_request(&req, &rx),
        }
    }

    fn on_request(self: &Arc<Self>, req: &Request<'_>, rx: &Received) {
        let via = req.headers.top_via().ok();
        let reply_to = response_destination(via.as_ref(), rx.source, rx.transport);
        let Some(disposition) = self.core.layer().on_request(req, reply_to, rx.transport) else {
            return;
        };
        match disposition {
            RequestDisposition::Absorbed => {}
            RequestDisposition::Ack => {
                // An ACK for a 2xx of ours: its dialog's usage confirms it.
                if let Some(usage) = self.core.dialog_of_request(req) {
                    usage.on_ack(req.body);
                }
            }
            // The transaction's events matter to nobody here: an answered
            // INVITE learns of a missing ACK through `on_no_ack`. Dropped
            // at once, so that a finished transaction knows nobody waits
            // for its end and can linger as a table entry alone.
            RequestDisposition::New(tx, events) => {
                drop(events);
                let in_dialog = req.headers.to().is_ok_and(|t| t.tag().is_some());
                match (req.method, in_dialog) {
                    (Method::Cancel, _) => self.on_cancel(req, rx, &tx),
                    (_, true) => self.on_in_dialog(req, rx, tx),
                    (Method::Invite, false) => self.on_invite(req, rx, tx),
                    (Method::Options, false) => {
                        let caps = self.core.caps();
                        let mut b = self
                            .core
                            .response(req, rx.source, 200, Some(&util::new_tag()));
                        b.header(HeaderName::Allow, caps.allow_header());
                        b.header(HeaderName::Accept, "application/sdp");
                        b.header(HeaderName::Supported, caps.supported.join(", "));
                        tx.respond(200, b.finish());
                    }
                    (_, false) => {
                        // BYE, INFO, NOTIFY... outside any dialog.
                        let b = self
                            .core
                            .response(req, rx.source, 481, Some(&util::new_tag()));
                        tx.respond(481, b.finish());
                    }
                }
            }
        }
    }

    /// A request with a To tag: to its dialog's usage, or 481.
    fn on_in_dialog(&self, req: &Request<'_>, rx: &Received, tx: ServerTransaction) {
        let id = request_dialog_id(req);
        if let Some(usage) = id.as_ref().and_then(|id| self.core.dialog(id)) {
            usage.on_request(req, rx, tx);
            return;
        }
        // A BYE on the early dialog of an INVITE we have not answered
        // (RFC 3261 15.1.2): 200 to the BYE, then 487 to the INVITE, in
        // that order on the wire.
        let early = match (req.method, id) {
            (Method::Bye, Some(id)) => self.core.take_pending_in_dialog(&id),
            _ => None,
        };
        match early {
            Some(p) => {
                let b = self.core.response(req, rx.source, 200, None);
                let core = self.core.clone();
                tx.respond_then(200, b.finish(), Box::new(move || p.cancel(&core)));
            }
            None => {
                let b = self.core.response(req, rx.source, 481, None);
                tx.respond(481, b.finish());
            }
        }
    }

    /// A response no transaction wanted: a 2xx to one of our INVITEs
    /// retransmitted after its transaction ended gets its ACK again (RFC
    /// 3261 13.2.2.4); anything else is a stray, logged and dropped.
    fn on_stray_response(&self, resp: &Response<'_>, rx: &Received) {
        let is_invite_2xx = (200..300).contains(&resp.code)
            && resp
                .headers
                .cseq()
                .is_ok_and(|c| c.method == Method::Invite);
        if is_invite_2xx {
            if let Some(usage) = self.core.dialog_of_response(resp) {
                usage.on_2xx_retransmission();
                return;
            }
        }
        debug!(code = resp.code, source = %rx.source, "response matches no transaction");
    }

    fn on_cancel(&self, req: &Request<'_>, rx: &Received, tx: &ServerTransaction) {
        let key = ServerKey::invite_for_cancel(req);
        let pending = key.as_ref().and_then(|k| self.core.take_pending(k));
        match pending {
            Some(p) => {
                let b = self.core.response(req, rx.source, 200, Some(p.local_tag()));
                let core = self.core.clone();
                tx.respond_then(200, b.finish(), Box::new(move || p.cancel(&core)));
            }
            None => {
                // RFC 3261 9.2: the INVITE's transaction exists but its
                // final response was sent (the call was answered or
                // refused): 200 to the CANCEL, which changes nothing.
                // Without a transaction: 481.
                // Its To tag is the one of the INVITE's response (9.2).
                let answered = key.and_then(|k| self.core.layer().server_transaction_tag(&k));
                let (code, tag) = match answered {
                    Some(tag) => (
                        200,
                        tag.or_else(|| self.dialog_tag_for(req))
                            .unwrap_or_else(util::new_tag),
                    ),
                    None => (481, util::new_tag()),
                };
                let b = self.core.response(req, rx.source, code, Some(&tag));
                tx.respond(code, b.finish());
            }
        }
    }

    /// Our tag in the dialog a request without a To tag belongs to (same
    /// Call-ID and remote tag), for the rare CANCEL that comes after our
    /// 2xx and before its ACK.
    fn dialog_tag_for(&self, req: &Request<'_>) -> Option<String> {
        let call_id = req.headers.call_id()?;
        let from = req.headers.from().ok()?;
        self.core.local_tag_for(call_id, from.tag()?)
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
        if is_our_name(
            &self.config.domains,
            self.core.external_address(),
            uri.host_str,
        ) {
            return true;
        }
        match host {
            Host::Name(_) => false,
            Host::V4(_) | Host::V6(_) => {
                let ip = host.ip();
                rx.local.ip().is_unspecified() && self.config.domains.is_empty()
                    || ip == Some(rx.local.ip())
                    || self.core.layer().transports().udp_addrs().iter().any(|a| {
                        Some(a.ip()) == ip
                            || a.ip().is_unspecified() && self.config.domains.is_empty()
                    })
            }
        }
    }

    fn on_invite(&self, req: &Request<'_>, rx: &Received, tx: ServerTransaction) {
        let refuse = |code: u16| {
            let b = self
                .core
                .response(req, rx.source, code, Some(&util::new_tag()));
            tx.respond(code, b.finish());
        };
        let trusted = &self.config.trusted_peers;
        if !trusted.is_empty() && !trusted.allows(rx.source.ip()) {
            self.stats.untrusted.fetch_add(1, Ordering::Relaxed);
            warn!(source = %rx.source, "INVITE from an untrusted address refused");
            return refuse(403);
        }
        if !self.is_our_host(req, rx) {
            return refuse(404);
        }
        if self.is_merged(req) {
            // RFC 3261 8.2.2.2: another copy of an INVITE we are already
            // handling (forked by a proxy, or re-sent by a load balancer
            // under a new branch). Answering it would make a second dialog
            // for one call.
            self.stats.merged.fetch_add(1, Ordering::Relaxed);
            debug!("INVITE merged with one being handled: 482");
            return refuse(482);
        }
        if let Some(max) = self.config.max_calls {
            if self.core.active_calls() >= max {
                self.stats.over_capacity.fetch_add(1, Ordering::Relaxed);
                return refuse(486);
            }
        }
        // 100 Trying at once: stops the caller's INVITE retransmissions.
        let trying = self.core.response(req, rx.source, 100, None);
        tx.respond(100, trying.finish());

        match IncomingCall::new(&self.core, req, rx, tx.clone()) {
            Ok(call) => {
                self.core.call_started();
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
                let mut b = self
                    .core
                    .response(req, rx.source, 400, Some(&util::new_tag()));
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
    fn our_names_include_a_bracketed_ipv6_external_address_without_a_port() {
        let ext: HostPort = "[2001:db8::1]".parse().unwrap();
        assert!(is_our_name(&[], Some(&ext), "[2001:db8::1]"));
        assert!(!is_our_name(&[], Some(&ext), "[2001:db8::2]"));
        let ext: HostPort = "[2001:db8::1]:5080".parse().unwrap();
        assert!(is_our_name(&[], Some(&ext), "[2001:db8::1]"));
        let ext: HostPort = "sip.example.com:5060".parse().unwrap();
        assert!(is_our_name(&[], Some(&ext), "SIP.example.com"));
        let config = EndpointConfig::default()
            .with_domain("PBX.example.net")
            .and_then(|c| c.with_domain("[2001:db8::5]"))
            .expect("domains");
        let domains = &config.domains;
        assert!(is_our_name(domains, None, "pbx.example.net"));
        assert!(!is_our_name(domains, None, "other.example.net"));
        assert!(is_our_name(domains, None, "[2001:db8:0::5]"));
    }

    #[test]
    fn a_domain_that_is_no_host_or_has_a_port_is_refused_naming_domains() {
        for bad in ["pbx.example.net:5060", "not a host", ""] {
            let e = EndpointConfig::default().with_domain(bad).unwrap_err();
            assert_eq!(e.setting, "domains", "{bad:?}");
        }
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
