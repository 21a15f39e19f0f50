//! Placing a call through the tenant's outbound routes: the one way the
//! switch calls out, whether for an originated call, a campaign or the
//! second leg of a bridged transfer.
//!
//! [`Switch::place_call`](super::Switch::place_call) normalises the
//! destination with the tenant's country, asks the tenant's outbound
//! policy (allowed destination prefixes, channel limit, daily minutes
//! cap), plans the route
//! ([`OutboundRoutes::select`](crate::outbound_routes::OutboundRoutes::select)),
//! then dials the route's trunks in order with the route's caller ID,
//! moving to the next trunk only when [`should_fail_over`] says the
//! failure was the trunk's (5xx, 408, no response at all), never on the
//! callee's answer (486 busy, 404, 603). It ends with the answered leg
//! (the dialog and its open media session) or with how the call ended.
//!
//! A trunk is a line of the switch by name: a trusted peer (the INVITE
//! goes to its address, `sip:<number>@<address>`) or a trunk account (to
//! `sip:<number>@<domain>` through its outbound proxy, or its registrar
//! when the domain is another host, answering digest challenges with its
//! credentials).
//!
//! Every placed call leaves one call record (direction outbound) under an
//! id the switch gives it ([`OutboundRequest::call_id`]), so that a
//! campaign can name the record before the first INVITE: its line is the
//! trunk that carried the call (or the last one tried), and each trunk
//! that failed over is an error entry naming the trunk, its SIP Call-ID
//! and the response.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use rtp_media::engine::MediaSession;
use sip_core::auth::Credentials;
use sip_core::call::Call;
use sip_core::outbound::{CallFailure, DialOptions};
use sip_core::resolve::HostPort;
use sip_core::sdp::LocalMedia;
use sip_core::transport::Transport;
use tracing::{info, warn};

use super::config::SwitchConfig;
use super::media::session_params;
use super::Shared;
use crate::config::ConfigError;
use crate::journal::RecordLog;
use crate::outbound_routes::{should_fail_over, TrunkOutcome};
use crate::policy::{OutboundGrant, OutboundVerdict, RefusalReason};
use crate::record::{
    CallDirection, CallEnd, CallRecord, CallUpdate, ErrorEntry, HangupCause, OpenCallRecord,
    Outcome, Party,
};

/// How long a placed call rings before it is given up (CANCEL) when the
/// request does not say.
pub const DEFAULT_RING_TIMEOUT: Duration = Duration::from_secs(30);

/// A call to place through a tenant's outbound routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundRequest {
    /// The tenant whose policy and routes apply.
    pub tenant: String,
    /// The number to call, in any form the tenant's country reads
    /// (`0212345678` in Italy, `+390212345678`).
    pub destination: String,
    /// The caller ID to present, in E.164; absent: the route's, else the
    /// trunk's own.
    pub caller_id: Option<String>,
    /// How long to let it ring before giving up (CANCEL).
    pub ring_timeout: Duration,
    /// The id of the call's record (and of the call in logs), unique in
    /// the store; [`OutboundRequest::new`] makes a random one.
    pub call_id: String,
    /// The profile that will talk, written into the record when it opens.
    pub profile: Option<String>,
    /// The agent that will talk, written into the record when it opens.
    pub agent: Option<String>,
}

impl OutboundRequest {
    /// A call from `tenant` to `destination` with a fresh record id, the
    /// default ring timeout and no caller ID of its own.
    pub fn new(tenant: impl Into<String>, destination: impl Into<String>) -> Self {
        OutboundRequest {
            tenant: tenant.into(),
            destination: destination.into(),
            caller_id: None,
            ring_timeout: DEFAULT_RING_TIMEOUT,
            call_id: new_call_id(),
            profile: None,
            agent: None,
        }
    }
}

/// A record id for an outbound call: 128 random bits, as a SIP Call-ID
/// would carry (RFC 3261 8.1.1.4), and recognisable as ours.
pub fn new_call_id() -> String {
    use ring::rand::{SecureRandom, SystemRandom};
    let mut bytes = [0u8; 16];
    if SystemRandom::new().fill(&mut bytes).is_err() {
        // The system's generator failing is not a reason to lose a call;
        // the clock is unique enough for one process.
        let nanos = Timestamp::now().as_nanosecond();
        bytes = nanos.to_be_bytes();
    }
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("out-{hex}")
}

/// One trunk tried for a placed call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkTry {
    /// The trunk's name (a line of the switch).
    pub trunk: String,
    /// What was dialled on it.
    pub dial: String,
    /// The SIP Call-ID of the INVITE, when one was sent.
    pub sip_call_id: Option<String>,
    /// `None` when it answered; else how it failed.
    pub failure: Option<TrunkFailure>,
}

/// How one trunk failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkFailure {
    /// The final response, where one came.
    pub status: Option<u16>,
    /// The reason phrase or what went wrong.
    pub reason: String,
}

/// How a placed call ended without being answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotConnected {
    /// The tenant's outbound policy refused it; no INVITE was sent.
    #[error("outbound policy refuses the call ({reason}, {status})")]
    Refused {
        /// The SIP-style status of the refusal (403, 486).
        status: u16,
        /// Which rule.
        reason: RefusalReason,
    },
    /// No outbound route matches the destination (or the tenant is not
    /// known); no INVITE was sent.
    #[error("no outbound route for {0}")]
    NoRoute(String),
    /// The called party was busy (486, 600).
    #[error("busy")]
    Busy,
    /// Nobody answered: rang past the ring timeout (then CANCEL), or 480
    /// or 408 from the last trunk.
    #[error("no answer")]
    NoAnswer,
    /// The far end answered with this final status (404, 603, or a 5xx
    /// from the last trunk).
    #[error("rejected with {status} {reason}")]
    Rejected {
        /// The final status.
        status: u16,
        /// Its reason phrase.
        reason: String,
    },
    /// The call could not be placed or carried (no response, no route to
    /// the trunk, no media port, an unusable answer, the record store
    /// failing).
    #[error("failed: {cause}")]
    Failed {
        /// What went wrong, in words.
        cause: String,
    },
}

impl NotConnected {
    /// How the call's record ends for this.
    pub fn outcome(&self) -> Outcome {
        match self {
            NotConnected::Refused { reason, .. } => (*reason).into(),
            NotConnected::NoRoute(_) => Outcome::Failed {
                status: None,
                reason: self.to_string(),
            },
            NotConnected::Busy => Outcome::Busy,
            NotConnected::NoAnswer => Outcome::NoAnswer,
            NotConnected::Rejected { status, reason } => Outcome::Failed {
                status: Some(*status),
                reason: reason.clone(),
            },
            NotConnected::Failed { cause } => Outcome::Failed {
                status: None,
                reason: cause.clone(),
            },
        }
    }

    fn of_failure(f: &CallFailure) -> NotConnected {
        match f.code {
            Some(486 | 600) => NotConnected::Busy,
            Some(480 | 408 | 487) => NotConnected::NoAnswer,
            Some(status) => NotConnected::Rejected {
                status,
                reason: f.reason.clone(),
            },
            None => NotConnected::Failed {
                cause: f.reason.clone(),
            },
        }
    }
}

/// A placed call that did not connect: how it ended and every trunk
/// tried.
#[derive(Debug, thiserror::Error)]
#[error("{ending}")]
pub struct Unanswered {
    /// How it ended.
    pub ending: NotConnected,
    /// The trunks tried, in order (empty when nothing was dialled).
    pub attempts: Vec<TrunkTry>,
    /// The id of its record.
    pub call_id: String,
}

/// An answered outbound call: the dialog and its open media session,
/// ready to bridge to another leg or to hand to an agent.
///
/// The record is open and the tenant's channel and minutes are held
/// until [`end`](Self::end), which hangs up, closes the media, settles
/// the minutes and closes the record; a leg dropped without it leaves
/// the record to close itself as failed and charges the whole minutes
/// reservation.
#[derive(Debug)]
pub struct AnsweredLeg {
    /// The SIP dialog (hang up, re-INVITE, events).
    pub call: Call,
    /// The media session opened with what the answer negotiated.
    pub session: MediaSession,
    /// The record of the call, open.
    pub record: RecordLog,
    /// The tenant's permission for the call: a channel and the minutes
    /// reserved. [`OutboundGrant::max_duration`] is how long it may talk.
    pub grant: OutboundGrant,
    /// The route that matched.
    pub route: String,
    /// The trunk that carried it.
    pub trunk: String,
    /// The trunks tried, in order, the answered one last.
    pub attempts: Vec<TrunkTry>,
    /// The destination in E.164.
    pub destination: String,
    /// The caller ID presented, as the record has it.
    pub caller: Party,
    /// When it was answered.
    pub answered_at: Instant,
}

impl AnsweredLeg {
    /// Ends the call: BYE if it is still up, the media session closed,
    /// the talk time charged to the tenant's minutes, and the record
    /// closed as completed with `cause` (who ended it).
    pub async fn end(self, cause: HangupCause) {
        self.end_with(Outcome::Completed, cause).await;
    }

    /// [`end`](Self::end) with the outcome given.
    pub async fn end_with(self, outcome: Outcome, cause: HangupCause) {
        if self.call.is_active() {
            let _ = self.call.hangup().await;
        }
        self.session.close().await;
        self.grant.settle(self.answered_at.elapsed());
        crate::metrics::answered_call_ended(self.answered_at.elapsed());
        crate::metrics::call_ended(crate::metrics::outcome_label(&outcome));
        let end = CallEnd {
            at: Timestamp::now(),
            outcome,
            cause,
        };
        if let Err(e) = self.record.close(end).await {
            warn!(error = %e, "cannot close the outbound call's record");
        }
    }
}

/// How calls are sent on one trunk.
#[derive(Debug, Clone)]
enum TrunkDial {
    /// To a trusted peer's address.
    Peer(SocketAddr),
    /// Through a trunk account.
    Account {
        /// The host of the Request-URI.
        domain: String,
        proxy: Option<HostPort>,
        credentials: Credentials,
        transport: Transport,
    },
}

/// The lines that outbound routes may name as trunks, and how to send a
/// call on each.
#[derive(Debug, Default)]
pub(crate) struct Trunks {
    by_name: HashMap<String, TrunkDial>,
}

/// Where calls to a trusted peer go: `ip:port` as written, or a single
/// address on port 5060; `None` for a network.
fn peer_address(address: &str) -> Option<SocketAddr> {
    let address = address.trim();
    if let Ok(a) = address.parse::<SocketAddr>() {
        return Some(a);
    }
    let ip = address
        .strip_suffix("/32")
        .or_else(|| address.strip_suffix("/128"))
        .unwrap_or(address);
    ip.parse::<IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(ip, 5060))
}

impl Trunks {
    /// The trunks of `config`; the error names an outbound route's trunk
    /// that is no line, or a trusted peer that is a network and so has
    /// no address to send calls to.
    pub(crate) fn new(config: &SwitchConfig) -> Result<Self, ConfigError> {
        let mut by_name = HashMap::new();
        for (i, a) in config.accounts.iter().enumerate() {
            let account = a
                .account()
                .map_err(|e| e.within(&format!("accounts[{i}]")))?;
            let domain = account
                .domain
                .clone()
                .unwrap_or_else(|| account.registrar.to_string());
            // A domain other than the registrar's host is reached through
            // the registrar, as the REGISTER was.
            let proxy = account
                .outbound_proxy
                .clone()
                .or_else(|| account.domain.is_some().then(|| account.registrar.clone()));
            by_name.insert(
                a.name.clone(),
                TrunkDial::Account {
                    domain,
                    proxy,
                    credentials: Credentials::new(
                        account
                            .auth_username
                            .clone()
                            .unwrap_or_else(|| account.username.clone()),
                        account.password.clone(),
                    ),
                    transport: account.transport,
                },
            );
        }
        let mut networks = HashMap::new();
        for p in &config.trusted_peers {
            match peer_address(&p.address) {
                Some(addr) => {
                    by_name.insert(p.name.clone(), TrunkDial::Peer(addr));
                }
                None => {
                    networks.insert(p.name.as_str(), p.address.as_str());
                }
            }
        }
        for (t, tenant) in config.tenants.iter().enumerate() {
            for (r, route) in tenant.outbound_routes.routes.iter().enumerate() {
                for (k, choice) in route.trunks.iter().enumerate() {
                    let name = choice.name();
                    let at = format!("tenants[{t}].outbound_routes.routes[{r}].trunks[{k}]");
                    if let Some(network) = networks.get(name) {
                        return Err(ConfigError::new(
                            at,
                            format!(
                                "the trusted peer {name:?} is the network {network}: give it \
                                 one address (with its port: 192.0.2.10:5060) to send calls to"
                            ),
                        ));
                    }
                    if !by_name.contains_key(name) {
                        return Err(ConfigError::new(
                            at,
                            format!("no trunk account or trusted peer is named {name:?}"),
                        ));
                    }
                }
            }
        }
        Ok(Trunks { by_name })
    }

    /// The dial options for `dial` on `trunk` presenting `caller_id`.
    fn options(
        &self,
        trunk: &str,
        dial: &str,
        caller_id: Option<&str>,
        local: &LocalMedia,
        ring_timeout: Duration,
    ) -> Result<DialOptions, String> {
        let how = self
            .by_name
            .get(trunk)
            .ok_or_else(|| format!("no trunk is named {trunk:?}"))?;
        let (to, from_host) = match how {
            TrunkDial::Peer(addr) => (format!("sip:{dial}@{addr}"), addr.to_string()),
            TrunkDial::Account { domain, .. } => (format!("sip:{dial}@{domain}"), domain.clone()),
        };
        let mut opts = DialOptions::with_media(&to, local.clone()).map_err(|e| e.to_string())?;
        opts.ring_timeout = ring_timeout;
        if let TrunkDial::Account {
            proxy,
            credentials,
            transport,
            ..
        } = how
        {
            opts.outbound_proxy = proxy.clone();
            opts.credentials = Some(credentials.clone());
            opts.transport = *transport;
        }
        if let Some(id) = caller_id {
            let uri = format!("sip:{id}@{from_host}");
            opts = opts.with_from(&uri).map_err(|e| e.to_string())?;
            // Trusted peers and carriers take the identity from here
            // (RFC 3325 §9.1).
            opts.headers
                .push(("P-Asserted-Identity".into(), format!("<{uri}>")));
        }
        Ok(opts)
    }
}

/// Runs a blocking store operation off the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| format!("call record task failed: {e}"))
}

/// Places `request`: see the [module documentation](self).
pub(super) async fn place(
    shared: &Arc<Shared>,
    request: OutboundRequest,
) -> Result<AnsweredLeg, Unanswered> {
    let start = Timestamp::now();
    let call_id = request.call_id.clone();
    let unanswered = |ending: NotConnected, attempts: Vec<TrunkTry>| Unanswered {
        ending,
        attempts,
        call_id: call_id.clone(),
    };
    let Some(tenant) = shared.router.tenant(&request.tenant) else {
        return Err(unanswered(
            NotConnected::NoRoute(format!(
                "{} (no tenant {:?})",
                request.destination, request.tenant
            )),
            vec![],
        ));
    };
    let destination = tenant.normaliser().normalise(&request.destination);
    let caller_id = request.caller_id.clone();
    let mut record = CallRecord::new(
        call_id.clone(),
        String::new(),
        CallDirection::Outbound,
        Party::raw(caller_id.clone().unwrap_or_default()),
        start,
    );
    record.tenant = Some(request.tenant.clone());
    record.did = Some(destination.key().to_string());
    record.profile = request.profile.clone();
    record.agent = request.agent.clone();

    let grant = match tenant.policy().check_outbound(&destination, start) {
        OutboundVerdict::Admit(grant) => grant,
        OutboundVerdict::Refuse { status, reason } => {
            crate::metrics::policy_refusal(reason.code());
            let ending = NotConnected::Refused { status, reason };
            store_ended(shared, record, &ending, HangupCause::Switch).await;
            return Err(unanswered(ending, vec![]));
        }
    };
    let e164 = destination.key().to_string();
    let Some(plan) = tenant.outbound_routes().select(&e164) else {
        grant.settle(Duration::ZERO);
        let ending = NotConnected::NoRoute(e164);
        store_ended(shared, record, &ending, HangupCause::Switch).await;
        return Err(unanswered(ending, vec![]));
    };
    let caller_id = caller_id.or_else(|| plan.caller_id.clone());
    if let Some(id) = &caller_id {
        record.caller = Party::from(&tenant.normaliser().normalise(id));
    }
    info!(call_id = %call_id, route = %plan.route, destination = %e164, "placing an outbound call");

    // One port pair for every trunk tried: its address is in each offer.
    let reserved = shared.engine.reserve_ports().and_then(|r| {
        let addr = r.advertised_rtp_addr(None)?;
        Ok((r, addr))
    });
    let (reservation, local) = match reserved.map_err(|e| e.to_string()).and_then(|(r, addr)| {
        LocalMedia::new(addr.ip(), addr.port())
            .map(|l| (r, l))
            .map_err(|e| e.to_string())
    }) {
        Ok(r) => r,
        Err(e) => {
            grant.settle(Duration::ZERO);
            let ending = NotConnected::Failed {
                cause: format!("no media ports: {e}"),
            };
            store_ended(shared, record, &ending, HangupCause::Error).await;
            return Err(unanswered(ending, vec![]));
        }
    };

    let mut attempts: Vec<TrunkTry> = Vec::new();
    let mut ending = NotConnected::Failed {
        cause: "no trunk was tried".into(),
    };
    for attempt in &plan.attempts {
        record.line = attempt.trunk.clone();
        let mut tried = TrunkTry {
            trunk: attempt.trunk.clone(),
            dial: attempt.dial.clone(),
            sip_call_id: None,
            failure: None,
        };
        let dialled = shared
            .trunks
            .options(
                &attempt.trunk,
                &attempt.dial,
                caller_id.as_deref(),
                &local,
                request.ring_timeout,
            )
            .and_then(|opts| shared.endpoint.dial(opts).map_err(|e| e.to_string()));
        let result = match dialled {
            Ok(dialing) => {
                tried.sip_call_id = Some(dialing.call_id().to_string());
                info!(trunk = %attempt.trunk, dial = %attempt.dial, sip_call_id = dialing.call_id(), "INVITE sent");
                dialing.answered().await
            }
            Err(why) => Err(CallFailure {
                kind: sip_core::outbound::FailureKind::Other,
                code: None,
                reason: why,
            }),
        };
        match result {
            Ok(call) => {
                attempts.push(tried);
                let tried = attempts.clone();
                let carried = Carried {
                    route: plan.route,
                    trunk: attempt.trunk.clone(),
                    attempts,
                    destination: e164,
                };
                return answered(shared, record, call, reservation, grant, carried)
                    .await
                    .map_err(|ending| unanswered(ending, tried));
            }
            Err(failure) => {
                let outcome = match failure.code {
                    Some(code) => TrunkOutcome::Status(code),
                    None => TrunkOutcome::NoAnswer,
                };
                warn!(trunk = %attempt.trunk, code = ?failure.code, reason = %failure.reason, "trunk attempt failed");
                tried.failure = Some(TrunkFailure {
                    status: failure.code,
                    reason: failure.reason.clone(),
                });
                ending = NotConnected::of_failure(&failure);
                let fail_over = should_fail_over(outcome);
                if fail_over {
                    record.errors.push(ErrorEntry {
                        at: Timestamp::now(),
                        component: "trunk".into(),
                        message: format!(
                            "trunk {} (SIP Call-ID {}) failed: {}{}",
                            attempt.trunk,
                            tried.sip_call_id.as_deref().unwrap_or("none"),
                            failure.code.map(|c| format!("{c} ")).unwrap_or_default(),
                            failure.reason
                        ),
                    });
                }
                attempts.push(tried);
                if !fail_over {
                    break;
                }
            }
        }
    }
    drop(reservation);
    grant.settle(Duration::ZERO);
    let cause = match &ending {
        // We gave up ringing (487 to our CANCEL).
        NotConnected::NoAnswer
            if attempts
                .last()
                .and_then(|a| a.failure.as_ref())
                .and_then(|f| f.status)
                == Some(487) =>
        {
            HangupCause::Switch
        }
        NotConnected::Failed { .. } => HangupCause::Error,
        _ => HangupCause::Remote,
    };
    store_ended(shared, record, &ending, cause).await;
    Err(unanswered(ending, attempts))
}

/// The record of a call that ended before it was answered, stored closed.
pub(super) async fn store_ended(
    shared: &Arc<Shared>,
    mut record: CallRecord,
    ending: &NotConnected,
    cause: HangupCause,
) {
    let outcome = ending.outcome();
    crate::metrics::call_ended(crate::metrics::outcome_label(&outcome));
    record.end = Some(CallEnd {
        at: Timestamp::now(),
        outcome,
        cause,
    });
    let store = shared.store.clone();
    match blocking(move || store.open(&record)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => warn!(error = %e, "cannot store the outbound call's record"),
        Err(e) => warn!(error = %e, "cannot store the outbound call's record"),
    }
}

/// Which route and trunk carried an answered call, after which tries,
/// to where.
struct Carried {
    route: String,
    trunk: String,
    attempts: Vec<TrunkTry>,
    destination: String,
}

/// The trunk answered: open the media on what was negotiated and the
/// record; on failure hang up and say why.
async fn answered(
    shared: &Arc<Shared>,
    record: CallRecord,
    call: Call,
    reservation: rtp_media::engine::PortReservation,
    grant: OutboundGrant,
    carried: Carried,
) -> Result<AnsweredLeg, NotConnected> {
    let Carried {
        route,
        trunk,
        attempts,
        destination,
    } = carried;
    let fail = |cause: String| NotConnected::Failed { cause };
    let opened = match call.media() {
        None => Err(fail("the answer has no usable media".into())),
        Some(media) => shared
            .engine
            .open_session_on(reservation, session_params(&media))
            .map_err(|e| fail(format!("media: {e}"))),
    };
    let session = match opened {
        Ok(s) => s,
        Err(ending) => {
            warn!(%ending, "answered, but the media cannot open; hanging up");
            let _ = call.hangup().await;
            grant.settle(Duration::ZERO);
            store_ended(shared, record, &ending, HangupCause::Error).await;
            return Err(ending);
        }
    };
    let store = shared.store.clone();
    let rec = record.clone();
    let log = match blocking(move || OpenCallRecord::open(store, &rec))
        .await
        .and_then(|r| r.map_err(|e| e.to_string()))
        .and_then(|open| RecordLog::start(open).map_err(|e| e.to_string()))
    {
        Ok(log) => log,
        Err(e) => {
            warn!(error = %e, "cannot open the outbound call's record; hanging up");
            let _ = call.hangup().await;
            session.close().await;
            grant.settle(Duration::ZERO);
            return Err(fail(format!("call record: {e}")));
        }
    };
    log.update(CallUpdate::Answered(Timestamp::now()));
    crate::metrics::call_answered();
    info!(%trunk, %route, "outbound call answered");
    Ok(AnsweredLeg {
        call,
        session,
        record: log,
        grant,
        route,
        trunk,
        attempts,
        destination,
        caller: record.caller,
        answered_at: Instant::now(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Validate;
    use crate::switch::{SipConfig, TrunkAccountConfig, TrustedPeerConfig};

    fn config(peer_address: &str, trunks: &str) -> SwitchConfig {
        let tenant = toml::from_str(&format!(
            r#"
            name = "acme"
            default_country = "IT"
            time_zone = "Europe/Rome"
            default_profile = "front"
            [[outbound_routes.routes]]
            name = "italy"
            prefix = "+39"
            trunks = [{trunks}]
            [profiles.front]
            agent = "echo"
            time_zone = "Europe/Rome"
            "#
        ))
        .unwrap();
        SwitchConfig {
            sip: SipConfig::listen("127.0.0.1:5060".parse().unwrap()),
            rtp: Default::default(),
            accounts: vec![TrunkAccountConfig::new(
                "provider",
                "acme",
                "sip.provider.example",
                "1001",
                "pw",
            )],
            trusted_peers: vec![TrustedPeerConfig {
                name: "gateway".into(),
                address: peer_address.into(),
                tenant: "acme".into(),
            }],
            tenants: vec![tenant],
            store: None,
        }
    }

    #[test]
    fn a_trusted_peer_is_dialled_at_its_address_and_port_or_5060() {
        assert_eq!(
            peer_address("192.0.2.10:5080"),
            "192.0.2.10:5080".parse().ok()
        );
        assert_eq!(peer_address("192.0.2.10"), "192.0.2.10:5060".parse().ok());
        assert_eq!(
            peer_address("192.0.2.10/32"),
            "192.0.2.10:5060".parse().ok()
        );
        assert_eq!(
            peer_address("[2001:db8::1]:5070"),
            "[2001:db8::1]:5070".parse().ok()
        );
        assert_eq!(peer_address("192.0.2.0/28"), None);
        // Calls from it are still recognised by its address.
        let peer = TrustedPeerConfig {
            name: "gateway".into(),
            address: "192.0.2.10:5080".into(),
            tenant: "acme".into(),
        };
        let network = peer.network().unwrap();
        assert!(network.contains("192.0.2.10".parse().unwrap()));
        assert!(!network.contains("192.0.2.11".parse().unwrap()));
    }

    #[test]
    fn route_trunks_must_name_a_dialable_line() {
        assert_eq!(
            config("192.0.2.10:5080", r#""gateway", "provider""#).validate(),
            Ok(())
        );
        let e = config("192.0.2.10", r#""gateway", "nowhere""#)
            .validate()
            .unwrap_err();
        assert_eq!(e.setting, "tenants[0].outbound_routes.routes[0].trunks[1]");
        assert!(e.to_string().contains("nowhere"), "{e}");
        let e = config("192.0.2.0/28", r#""gateway""#)
            .validate()
            .unwrap_err();
        assert_eq!(e.setting, "tenants[0].outbound_routes.routes[0].trunks[0]");
        assert!(e.to_string().contains("network"), "{e}");
    }

    #[test]
    fn a_call_is_sent_to_a_peer_directly_and_through_an_account_with_its_credentials() {
        let trunks = Trunks::new(&config("192.0.2.10:5080", r#""gateway""#)).unwrap();
        let local = LocalMedia::new("127.0.0.1".parse().unwrap(), 40000).unwrap();
        let ring = Duration::from_secs(20);
        let peer = trunks
            .options("gateway", "0212345678", Some("+390200000000"), &local, ring)
            .unwrap();
        assert_eq!(peer.to.to_string(), "sip:0212345678@192.0.2.10:5080");
        assert_eq!(
            peer.from.map(|f| f.to_string()).as_deref(),
            Some("sip:+390200000000@192.0.2.10:5080")
        );
        assert!(peer.credentials.is_none());
        assert_eq!(peer.ring_timeout, ring);
        let account = trunks
            .options("provider", "0212345678", None, &local, ring)
            .unwrap();
        assert_eq!(
            account.to.to_string(),
            "sip:0212345678@sip.provider.example"
        );
        assert_eq!(
            account.credentials.map(|c| c.username).as_deref(),
            Some("1001")
        );
        assert!(account.from.is_none());
        assert!(trunks
            .options("elsewhere", "1", None, &local, ring)
            .is_err());
    }
}
