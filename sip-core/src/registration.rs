//! Registering with the trunk (RFC 3261 section 10): REGISTER with digest
//! authentication, refresh before the expiry the registrar granted,
//! back-off on failure, failover across the registrar's addresses, and
//! unregistration on shutdown. Each account runs its own task and exposes
//! its state as a value and as a stream of changes.
//!
//! ```no_run
//! use sip_core::endpoint::{Endpoint, EndpointConfig};
//! use sip_core::registration::{Account, RegistrationState};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let (endpoint, _incoming) = Endpoint::bind(EndpointConfig::default()).await?;
//! let mut reg = endpoint.register(Account::new("sip.trunk.example.com", "1001", "secret")?);
//! loop {
//!     match reg.changed().await {
//!         RegistrationState::Registered { expires, .. } => println!("registered for {expires:?}"),
//!         RegistrationState::Failed { code, reason, .. } => println!("failed: {code:?} {reason}"),
//!         _ => {}
//!     }
//! }
//! # }
//! ```

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, info_span, warn, Instrument};

use crate::auth::{Challenge, Credentials, DigestSession};
use crate::message::{HeaderName, Message, MessageBuilder, Method};
use crate::resolve::{HostPort, InvalidSetting, Resolver, Target};
use crate::transaction::{next_event_within, ClientEvent, OutgoingRequest};
use crate::transport::Transport;
use crate::ua::UaCore;
use crate::util;

/// One trunk account.
#[derive(Debug, Clone)]
pub struct Account {
    /// The registrar: a host name (resolved with SRV, RFC 3263), an IP
    /// address, either with a port.
    pub registrar: HostPort,
    /// The user part of our address of record.
    pub username: String,
    /// The digest password.
    pub password: String,
    /// The digest user name when it differs from `username`.
    pub auth_username: Option<String>,
    /// The domain of our address of record; the registrar's host if unset.
    pub domain: Option<String>,
    /// An outbound proxy to send REGISTER (and calls) through, which
    /// providers often give apart from the registrar.
    pub outbound_proxy: Option<HostPort>,
    /// The registration lifetime we ask for (RFC 3261 §10.2.1.1). The
    /// Expires header carries whole seconds: a fraction is rounded up.
    pub expires: Duration,
    /// Transport to the registrar.
    pub transport: Transport,
    /// First retry delay after a failure; doubles up to `max_backoff`.
    pub min_backoff: Duration,
    /// Longest retry delay.
    pub max_backoff: Duration,
    /// Keep-alive towards the server we registered with (the resolved
    /// address that accepted the REGISTER, from the same socket), so that
    /// the NAT binding in front of us stays open and calls can reach us;
    /// `None` sends none. [`Account::new`] sets
    /// [`KeepAlive::default_for`]`(Transport::Udp)`; set it again when
    /// changing the transport.
    pub keepalive: Option<KeepAlive>,
}

/// What a keep-alive is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepAliveKind {
    /// A bare CRLF pair (`\r\n\r\n`): one datagram over UDP, the RFC 5626
    /// 4.4.1 double-CRLF ping on a TCP connection. Costs the server
    /// nothing, proves nothing: it only refreshes NAT bindings.
    Crlf,
    /// An out-of-dialog OPTIONS request. Any response, even 404 or 405,
    /// proves the path works both ways; no response within the
    /// transaction timeout (or the endpoint's failover timeout) makes us
    /// register again at once, failing over to the next server.
    Options,
}

/// Keep-alive settings of an [`Account`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepAlive {
    /// Time between keep-alives while registered.
    pub interval: Duration,
    /// CRLF or OPTIONS.
    pub kind: KeepAliveKind,
}

impl KeepAlive {
    /// CRLF keep-alives every `interval`.
    pub fn crlf(interval: Duration) -> KeepAlive {
        KeepAlive {
            interval,
            kind: KeepAliveKind::Crlf,
        }
    }

    /// OPTIONS keep-alives every `interval`.
    pub fn options(interval: Duration) -> KeepAlive {
        KeepAlive {
            interval,
            kind: KeepAliveKind::Options,
        }
    }

    /// The default, as pjsip has it: CRLF every 15 s over UDP (NAT
    /// bindings for UDP often last only 30 s), every 90 s over TCP.
    pub fn default_for(transport: Transport) -> KeepAlive {
        match transport {
            Transport::Udp => KeepAlive::crlf(Duration::from_secs(15)),
            Transport::Tcp => KeepAlive::crlf(Duration::from_secs(90)),
        }
    }
}

/// Keep-alive counters of a [`Registration`], for operators (is the path
/// to the provider alive?) and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeepAliveStats {
    /// Keep-alives sent.
    pub sent: u64,
    /// OPTIONS keep-alives that got a response.
    pub answered: u64,
    /// OPTIONS keep-alives that got none (each led to a new registration).
    pub unanswered: u64,
}

#[derive(Debug, Default)]
struct KeepAliveCounters {
    sent: AtomicU64,
    answered: AtomicU64,
    unanswered: AtomicU64,
}

impl Account {
    /// An account with defaults: 300 s registrations over UDP, retries from
    /// 5 s doubling up to 5 minutes. `registrar` is `host[:port]` (a DNS
    /// name or an IP address, IPv6 in brackets); the error names the
    /// `registrar` setting when it is not one.
    pub fn new(
        registrar: &str,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Result<Self, InvalidSetting> {
        Ok(Account {
            registrar: HostPort::parse_setting("registrar", registrar)?,
            username: username.into(),
            password: password.into(),
            auth_username: None,
            domain: None,
            outbound_proxy: None,
            expires: Duration::from_secs(300),
            transport: Transport::Udp,
            min_backoff: Duration::from_secs(5),
            max_backoff: Duration::from_secs(300),
            keepalive: Some(KeepAlive::default_for(Transport::Udp)),
        })
    }

    /// Sets the outbound proxy from a `host[:port]` setting; the error
    /// names `outbound_proxy`.
    pub fn with_outbound_proxy(mut self, proxy: &str) -> Result<Self, InvalidSetting> {
        self.outbound_proxy = Some(HostPort::parse_setting("outbound_proxy", proxy)?);
        Ok(self)
    }

    fn aor(&self) -> String {
        match self.domain.as_deref() {
            Some(domain) => format!("sip:{}@{domain}", self.username),
            None => match self.registrar.ip() {
                Some(std::net::IpAddr::V6(ip)) => format!("sip:{}@[{ip}]", self.username),
                _ => format!("sip:{}@{}", self.username, self.registrar.host()),
            },
        }
    }

    fn request_uri(&self) -> String {
        match self.domain.as_deref() {
            Some(domain) => format!("sip:{domain}"),
            None => format!("sip:{}", self.registrar),
        }
    }
}

/// Where a registration stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationState {
    /// A REGISTER is in flight.
    Registering,
    /// Registered; `expires` is what the registrar granted.
    Registered {
        /// The lifetime the registrar granted (RFC 3261 §10.2.4).
        expires: Duration,
        /// The registrar address that accepted us.
        registrar: SocketAddr,
    },
    /// The last attempt failed; another follows after `retry_in`.
    Failed {
        /// The final status code, if a response came.
        code: Option<u16>,
        /// Why.
        reason: String,
        /// When the next attempt is made.
        retry_in: Duration,
    },
    /// Unregistered (after shutdown).
    Unregistered,
}

/// A running registration. Dropping it stops refreshing without
/// unregistering; call [`Registration::unregister`] on shutdown.
#[derive(Debug)]
pub struct Registration {
    state: watch::Receiver<RegistrationState>,
    keepalives: Arc<KeepAliveCounters>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Registration {
    /// The current state.
    pub fn state(&self) -> RegistrationState {
        self.state.borrow().clone()
    }

    /// Waits for the next change and returns the new state.
    pub async fn changed(&mut self) -> RegistrationState {
        if self.state.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
        self.state.borrow_and_update().clone()
    }

    /// How many keep-alives were sent and answered.
    pub fn keepalive_stats(&self) -> KeepAliveStats {
        KeepAliveStats {
            sent: self.keepalives.sent.load(Ordering::Relaxed),
            answered: self.keepalives.answered.load(Ordering::Relaxed),
            unanswered: self.keepalives.unanswered.load(Ordering::Relaxed),
        }
    }

    /// A receiver of state changes, for watching from another task.
    pub fn watch(&self) -> watch::Receiver<RegistrationState> {
        self.state.clone()
    }

    /// Waits until registered or failed, returning that state.
    pub async fn settled(&mut self) -> RegistrationState {
        loop {
            let s = self.state.borrow_and_update().clone();
            if matches!(
                s,
                RegistrationState::Registered { .. } | RegistrationState::Failed { .. }
            ) {
                return s;
            }
            if self.state.changed().await.is_err() {
                return self.state();
            }
        }
    }

    /// Removes our binding (REGISTER with `Expires: 0`) and stops.
    pub async fn unregister(mut self) -> RegistrationState {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.state()
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Starts registering `account` with `resolver` for its host names and
/// keeps it registered, in a task of its own.
pub(crate) fn start(core: &Arc<UaCore>, account: Account, resolver: Resolver) -> Registration {
    let (state_tx, state_rx) = watch::channel(RegistrationState::Registering);
    let (stop_tx, stop_rx) = oneshot::channel();
    let span = info_span!("registration", aor = %account.aor());
    let keepalives = Arc::new(KeepAliveCounters::default());
    let client = Registrar {
        keepalives: keepalives.clone(),
        core: core.clone(),
        digest: DigestSession::new(Credentials {
            username: account
                .auth_username
                .clone()
                .unwrap_or_else(|| account.username.clone()),
            password: account.password.clone(),
        }),
        call_id: util::new_call_id(None),
        from_tag: util::new_tag(),
        cseq: 0,
        account,
        resolver,
        state: state_tx,
        last_challenge: None,
        current: None,
    };
    let task = tokio::spawn(client.run(stop_rx).instrument(span));
    Registration {
        state: state_rx,
        keepalives,
        stop: Some(stop_tx),
        task: Some(task),
    }
}

struct Registrar {
    core: Arc<UaCore>,
    account: Account,
    digest: DigestSession,
    call_id: String,
    from_tag: String,
    cseq: u32,
    resolver: Resolver,
    state: watch::Sender<RegistrationState>,
    /// The registrar's last challenge, answered again (next nonce count)
    /// on refreshes so they need no extra round trip, as pjsip does.
    last_challenge: Option<(HeaderName, Challenge)>,
    keepalives: Arc<KeepAliveCounters>,
    /// The target that answered our last REGISTER: refreshes and the
    /// unregister go there first, and the others only when it stops
    /// answering (RFC 3263 4.3, as pjsip and baresip do), so that a
    /// standby that took over keeps the binding.
    current: Option<(SocketAddr, Transport)>,
}

/// Why the wait between registrations ended.
enum Wake {
    /// Time to register again (refresh, retry, or a failed keep-alive).
    Register,
    /// The application asked us to unregister.
    Stop,
}

enum Outcome {
    Registered {
        expires: u32,
        registrar: SocketAddr,
        transport: Transport,
    },
    Failed {
        code: Option<u16>,
        reason: String,
        min_expires: Option<u32>,
    },
}

impl Registrar {
    async fn run(mut self, mut stop: oneshot::Receiver<()>) {
        let mut backoff = self.account.min_backoff;
        let mut expires = whole_seconds(self.account.expires);
        loop {
            let _ = self.state.send(RegistrationState::Registering);
            let wake = match self.register(expires).await {
                Outcome::Registered {
                    expires: granted,
                    registrar,
                    transport,
                } => {
                    info!(granted, %registrar, "registered");
                    backoff = self.account.min_backoff;
                    let _ = self.state.send(RegistrationState::Registered {
                        expires: Duration::from_secs(u64::from(granted)),
                        registrar,
                    });
                    self.stay_registered(refresh_after(granted), registrar, transport, &mut stop)
                        .await
                }
                Outcome::Failed {
                    code: Some(423),
                    min_expires: Some(min),
                    ..
                } if min > expires => {
                    // 423 Interval Too Brief: ask again with what it wants.
                    expires = min;
                    continue;
                }
                Outcome::Failed { code, reason, .. } => {
                    warn!(?code, %reason, retry_in = ?backoff, "registration failed");
                    let _ = self.state.send(RegistrationState::Failed {
                        code,
                        reason,
                        retry_in: backoff,
                    });
                    let w = backoff;
                    backoff = (backoff * 2).min(self.account.max_backoff);
                    tokio::select! {
                        _ = tokio::time::sleep(w) => Wake::Register,
                        _ = &mut stop => Wake::Stop,
                    }
                }
            };
            if let Wake::Stop = wake {
                if let Outcome::Registered { .. } = self.register(0).await {
                    info!("unregistered");
                }
                let _ = self.state.send(RegistrationState::Unregistered);
                return;
            }
        }
    }

    /// Waits `refresh` while registered at `registrar`, sending the
    /// account's keep-alives to it from our SIP socket (the one the
    /// REGISTER left from, so the same NAT binding) meanwhile.
    async fn stay_registered(
        &mut self,
        refresh: Duration,
        registrar: SocketAddr,
        transport: Transport,
        stop: &mut oneshot::Receiver<()>,
    ) -> Wake {
        let deadline = tokio::time::Instant::now() + refresh;
        loop {
            let next = self
                .account
                .keepalive
                .map(|k| tokio::time::Instant::now() + k.interval)
                .filter(|t| *t < deadline);
            tokio::select! {
                _ = tokio::time::sleep_until(next.unwrap_or(deadline)) => {}
                _ = &mut *stop => return Wake::Stop,
            }
            let Some(kind) = next.and(self.account.keepalive.map(|k| k.kind)) else {
                return Wake::Register;
            };
            let alive = tokio::select! {
                alive = self.keepalive(kind, registrar, transport) => alive,
                _ = &mut *stop => return Wake::Stop,
            };
            if !alive {
                warn!(%registrar, "keep-alive unanswered; registering again");
                return Wake::Register;
            }
        }
    }

    /// Sends one keep-alive. False when an OPTIONS got no response.
    async fn keepalive(
        &mut self,
        kind: KeepAliveKind,
        dest: SocketAddr,
        transport: Transport,
    ) -> bool {
        self.keepalives.sent.fetch_add(1, Ordering::Relaxed);
        match kind {
            KeepAliveKind::Crlf => {
                debug!(%dest, "CRLF keep-alive");
                self.core
                    .layer()
                    .send_stateless(dest, transport, Bytes::from_static(b"\r\n\r\n"));
                true
            }
            KeepAliveKind::Options => {
                let (bytes, branch) = self.build_options(dest, transport);
                let mut events = self.core.layer().send_request(OutgoingRequest {
                    bytes: Bytes::from(bytes),
                    branch,
                    method: Method::Options,
                    dest,
                    transport,
                });
                let silence = self.core.failover_timeout();
                loop {
                    match next_event_within(&mut events, silence).await {
                        Some(ClientEvent::Provisional(_)) => continue,
                        Some(ClientEvent::Final(raw)) => {
                            // Any response proves the path, 404 and 405 too.
                            let code = Message::parse(&raw)
                                .ok()
                                .and_then(|m| m.as_response().map(|r| r.code));
                            debug!(%dest, ?code, "OPTIONS keep-alive answered");
                            self.keepalives.answered.fetch_add(1, Ordering::Relaxed);
                            return true;
                        }
                        Some(ClientEvent::TransportError(_) | ClientEvent::Timeout) | None => {
                            self.keepalives.unanswered.fetch_add(1, Ordering::Relaxed);
                            return false;
                        }
                    }
                }
            }
        }
    }

    /// An out-of-dialog OPTIONS to the registrar (its own Call-ID and tag).
    fn build_options(&mut self, dest: SocketAddr, transport: Transport) -> (Vec<u8>, String) {
        let ruri = self.account.request_uri();
        let (mut b, branch) =
            self.request_head(Method::Options, dest, transport, &util::new_tag(), &ruri);
        b.header(HeaderName::CallId, util::new_call_id(None));
        b.header(HeaderName::CSeq, "1 OPTIONS");
        if let Some(route) = self.proxy_route() {
            b.header(HeaderName::Route, route);
        }
        b.header(HeaderName::UserAgent, self.core.user_agent());
        (b.finish(), branch)
    }

    /// The start of a request to the registrar: request line (the
    /// account's Request-URI), Via with a new branch and `rport`,
    /// Max-Forwards, From (our AOR with `from_tag`) and To (`to`). Returns
    /// the builder and the branch.
    fn request_head(
        &self,
        method: Method<'_>,
        dest: SocketAddr,
        transport: Transport,
        from_tag: &str,
        to: &str,
    ) -> (MessageBuilder, String) {
        let branch = util::new_branch();
        let via_host = self.core.local_hostport(dest, transport);
        let mut b = MessageBuilder::request(method, &self.account.request_uri());
        b.header(
            HeaderName::Via,
            format_args!("SIP/2.0/{transport} {via_host};branch={branch};rport"),
        );
        b.header(HeaderName::MaxForwards, 70);
        b.header(
            HeaderName::From,
            format_args!("<{}>;tag={from_tag}", self.account.aor()),
        );
        b.header(HeaderName::To, format_args!("<{to}>"));
        (b, branch)
    }

    /// The preloaded Route to the outbound proxy (RFC 3261 8.1.2), if any.
    fn proxy_route(&self) -> Option<String> {
        let proxy = self.account.outbound_proxy.as_ref()?;
        Some(format!("<sip:{proxy};lr>"))
    }

    async fn targets(&self) -> Result<Vec<Target>, String> {
        let via = self
            .account
            .outbound_proxy
            .as_ref()
            .unwrap_or(&self.account.registrar);
        self.resolver
            .resolve(&via.destination(self.account.transport))
            .await
            .map_err(|e| e.to_string())
    }

    /// One registration attempt (with authentication), trying each target
    /// in turn (RFC 3263 4.3) while they do not answer or answer 503.
    async fn register(&mut self, expires: u32) -> Outcome {
        let targets = match self.targets().await {
            Ok(t) if !t.is_empty() => t,
            Ok(_) => {
                return Outcome::Failed {
                    code: None,
                    reason: "registrar has no address".into(),
                    min_expires: None,
                }
            }
            Err(e) => {
                return Outcome::Failed {
                    code: None,
                    reason: e,
                    min_expires: None,
                }
            }
        };
        let mut last = Outcome::Failed {
            code: None,
            reason: "no registrar answered".into(),
            min_expires: None,
        };
        for target in sticky_order(targets, self.current) {
            match self
                .register_at(target.addr, target.transport, expires)
                .await
            {
                Ok(outcome) => {
                    self.current = Some((target.addr, target.transport));
                    return outcome;
                }
                Err(failed) => {
                    if let Outcome::Failed { reason, .. } = &failed {
                        warn!(target = %target.addr, %reason, "registrar unavailable; trying the next one");
                    }
                    if self.current == Some((target.addr, target.transport)) {
                        self.current = None;
                    }
                    last = failed;
                }
            }
        }
        last
    }

    fn build(
        &mut self,
        dest: SocketAddr,
        transport: Transport,
        expires: u32,
        auth: Option<&(HeaderName, String)>,
    ) -> (Vec<u8>, String) {
        self.cseq += 1;
        let aor = self.account.aor();
        let (mut b, branch) =
            self.request_head(Method::Register, dest, transport, &self.from_tag, &aor);
        b.header(HeaderName::CallId, &self.call_id);
        b.header(HeaderName::CSeq, format_args!("{} REGISTER", self.cseq));
        b.header(
            HeaderName::Contact,
            self.core.contact(&self.account.username, dest, transport),
        );
        if let Some(route) = self.proxy_route() {
            b.header(HeaderName::Route, route);
        }
        b.header(HeaderName::Expires, expires);
        b.header(HeaderName::Allow, self.core.caps().allow_header());
        b.header(HeaderName::UserAgent, self.core.user_agent());
        if let Some((name, value)) = auth {
            b.header(*name, value);
        }
        (b.finish(), branch)
    }

    /// Registers at one address. `Err` when it did not answer, could not
    /// be reached or answered 503 (RFC 3263 4.3): the caller then fails
    /// over to the next target.
    async fn register_at(
        &mut self,
        dest: SocketAddr,
        transport: Transport,
        expires: u32,
    ) -> Result<Outcome, Outcome> {
        let unavailable = |code: Option<u16>, reason: String| Outcome::Failed {
            code,
            reason,
            min_expires: None,
        };
        let silence = self.core.failover_timeout();
        let ruri = self.account.request_uri();
        let mut auth: Option<(HeaderName, String)> = match &self.last_challenge {
            Some((header, c)) => self
                .digest
                .answer(c, "REGISTER", &ruri, None)
                .ok()
                .map(|v| (*header, v)),
            None => None,
        };
        // The status of the last challenge: answering it got another one.
        let mut challenged = None;
        for _attempt in 0..4 {
            let (bytes, branch) = self.build(dest, transport, expires, auth.as_ref());
            let mut events = self.core.layer().send_request(OutgoingRequest {
                bytes: Bytes::from(bytes),
                branch,
                method: Method::Register,
                dest,
                transport,
            });
            let mut heard = false;
            let raw = loop {
                let wait = if heard { None } else { silence };
                match next_event_within(&mut events, wait).await {
                    Some(ClientEvent::Provisional(_)) => heard = true,
                    Some(ClientEvent::Final(raw)) => break raw,
                    Some(ClientEvent::Timeout) | None => {
                        return Err(unavailable(None, format!("no answer from {dest}")))
                    }
                    Some(ClientEvent::TransportError(e)) => {
                        debug!(error = %e, "REGISTER not sent");
                        return Err(unavailable(None, format!("{dest} unreachable: {e}")));
                    }
                }
            };
            let Ok(Message::Response(r)) = Message::parse(&raw) else {
                return Ok(Outcome::Failed {
                    code: None,
                    reason: "unreadable response".into(),
                    min_expires: None,
                });
            };
            match (r.code, crate::auth::challenge_headers(r.code)) {
                (200..=299, _) => {
                    let granted = granted_expiry(&r, &self.our_contact_user(), expires);
                    return Ok(Outcome::Registered {
                        expires: granted,
                        registrar: dest,
                        transport,
                    });
                }
                (code, Some((challenge_header, answer_header))) => {
                    challenged = Some(code);
                    let challenges: Vec<&str> = r.headers.get_all(challenge_header).collect();
                    self.last_challenge =
                        Challenge::best(challenges.iter().copied()).map(|c| (answer_header, c));
                    match self.digest.respond(&challenges, "REGISTER", &ruri, None) {
                        Some(value) => auth = Some((answer_header, value)),
                        None => {
                            return Ok(Outcome::Failed {
                                code: Some(code),
                                reason: "credentials rejected".into(),
                                min_expires: None,
                            })
                        }
                    }
                }
                (503, None) => {
                    return Err(unavailable(
                        Some(503),
                        format!("{dest} answered 503 {}", r.reason),
                    ))
                }
                (code, None) => {
                    let min_expires = r
                        .headers
                        .get(HeaderName::MinExpires)
                        .and_then(|v| v.trim().parse().ok());
                    return Ok(Outcome::Failed {
                        code: Some(code),
                        reason: r.reason.to_string(),
                        min_expires,
                    });
                }
            }
        }
        // Every answer drew a fresh challenge (registrars that send a new
        // nonce each time, as Kamailio does, never say stale=false): the
        // credentials are not accepted.
        Ok(Outcome::Failed {
            code: challenged,
            reason: "credentials rejected: each answer was challenged again".into(),
            min_expires: None,
        })
    }

    fn our_contact_user(&self) -> String {
        self.account.username.clone()
    }
}

/// The lifetime the registrar granted (RFC 3261 10.2.4): the `expires`
/// parameter of our Contact in the 200 OK, else its Expires header, else
/// what we asked for.
fn granted_expiry(resp: &crate::message::Response<'_>, user: &str, asked: u32) -> u32 {
    let from_contact = resp
        .headers
        .contacts()
        .filter_map(Result::ok)
        .find_map(|c| {
            let ours = c.uri.user == Some(user);
            ours.then(|| c.params.get("expires").and_then(|e| e.parse::<u32>().ok()))
                .flatten()
        });
    from_contact
        .or_else(|| resp.headers.expires().ok().flatten())
        .unwrap_or(asked)
}

/// The targets in the order to try them: `current` (the one that
/// answered last) first when the name still resolves to it, then the
/// others in RFC 3263 order.
fn sticky_order(mut targets: Vec<Target>, current: Option<(SocketAddr, Transport)>) -> Vec<Target> {
    if let Some((addr, transport)) = current {
        if let Some(i) = targets
            .iter()
            .position(|t| t.addr == addr && t.transport == transport)
        {
            let t = targets.remove(i);
            targets.insert(0, t);
        }
    }
    targets
}

/// When to refresh a registration granted for `granted` seconds: a bit
/// before it expires (RFC 3261 suggests not waiting for the last moment).
/// A lifetime as the whole seconds of an Expires header: rounded up, and
/// at most what the header can carry (RFC 3261 §20.19: 2³² − 1).
fn whole_seconds(lifetime: Duration) -> u32 {
    let secs = lifetime
        .as_secs()
        .saturating_add(u64::from(lifetime.subsec_nanos() > 0));
    u32::try_from(secs).unwrap_or(u32::MAX)
}

fn refresh_after(granted: u32) -> Duration {
    let g = u64::from(granted.max(1));
    let secs = if g > 120 {
        g - g / 10 - 5
    } else {
        (g * 3 / 4).max(1)
    };
    Duration::from_secs(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn granted_expiry_prefers_our_contact_then_header() {
        let raw = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\nFrom: <sip:1001@t>;tag=1\r\nTo: <sip:1001@t>;tag=2\r\nCall-ID: c\r\nCSeq: 2 REGISTER\r\nContact: <sip:other@10.0.0.9>;expires=999, <sip:1001@10.0.0.1:5060>;expires=120\r\nExpires: 60\r\nContent-Length: 0\r\n\r\n";
        let m = Message::parse(raw).unwrap();
        assert_eq!(granted_expiry(m.as_response().unwrap(), "1001", 300), 120);
        let raw = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\nFrom: <sip:1001@t>;tag=1\r\nTo: <sip:1001@t>;tag=2\r\nCall-ID: c\r\nCSeq: 2 REGISTER\r\nExpires: 60\r\nContent-Length: 0\r\n\r\n";
        let m = Message::parse(raw).unwrap();
        assert_eq!(granted_expiry(m.as_response().unwrap(), "1001", 300), 60);
    }

    #[test]
    fn the_registrar_setting_is_parsed_once_and_named_when_unusable() {
        let e = Account::new("sip.example.com:abc", "1001", "x").unwrap_err();
        assert_eq!(e.setting, "registrar");
        assert!(e
            .to_string()
            .starts_with("registrar = \"sip.example.com:abc\""));
        let a = Account::new("[2001:db8::5]:5080", "1001", "x").unwrap();
        assert_eq!(a.aor(), "sip:1001@[2001:db8::5]");
        assert_eq!(a.request_uri(), "sip:[2001:db8::5]:5080");
        let a = Account::new("sip:Trunk.Example.com", "1001", "x").unwrap();
        assert_eq!(a.aor(), "sip:1001@trunk.example.com");
        assert_eq!(a.request_uri(), "sip:trunk.example.com");
    }

    #[test]
    fn requested_lifetime_is_sent_in_whole_seconds_rounded_up() {
        assert_eq!(whole_seconds(Duration::from_secs(300)), 300);
        assert_eq!(whole_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(whole_seconds(Duration::ZERO), 0);
        assert_eq!(whole_seconds(Duration::MAX), u32::MAX);
    }

    #[test]
    fn refresh_happens_before_expiry() {
        assert_eq!(refresh_after(3600), Duration::from_secs(3235));
        assert_eq!(refresh_after(60), Duration::from_secs(45));
        assert!(refresh_after(0) >= Duration::from_secs(1));
    }

    #[test]
    fn the_target_that_answered_is_tried_first_then_the_others_in_order() {
        let t = |port: u16| Target {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            transport: Transport::Udp,
        };
        let ports = |v: Vec<Target>| v.iter().map(|t| t.addr.port()).collect::<Vec<_>>();
        let all = || vec![t(1), t(2), t(3)];
        assert_eq!(ports(sticky_order(all(), None)), [1, 2, 3]);
        let cur = Some((t(2).addr, Transport::Udp));
        assert_eq!(ports(sticky_order(all(), cur)), [2, 1, 3]);
        // Gone from DNS, or another transport: plain RFC 3263 order.
        assert_eq!(ports(sticky_order(vec![t(1), t(3)], cur)), [1, 3]);
        let tcp = Some((t(3).addr, Transport::Tcp));
        assert_eq!(ports(sticky_order(all(), tcp)), [1, 2, 3]);
    }
}
