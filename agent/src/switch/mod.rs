//! The switch: one SIP endpoint and one media engine serving every line.
//!
//! A *line* is where calls come from: a trunk account we register with a
//! provider, or a trusted peer (an FXO gateway, an IP-authenticated
//! trunk). The [`Switch`] registers the accounts, and for each INVITE
//! decides the line and its tenant ([`lines`]), puts the caller and the
//! DID in E.164 with the tenant's country, runs the tenant's policy (a
//! refusal is answered with its status and reason and recorded, before any
//! media opens), routes the call to a profile and its agent, opens the
//! call record, opens the media session and answers with its SDP. While
//! the call is up the media follows re-INVITEs, DTMF is reported once
//! whichever way it came, and the agent, run under
//! [`supervise`](crate::supervise::supervise), sees one
//! [`CallHandle`](crate::call::CallHandle) that speaks of neither SIP nor
//! RTP. An agent that fails (an error, a panic, a hang, its backend
//! unreachable) sets off the profile's fallback chain: its apology
//! prompt, then its human number, then voicemail, as far as the profile
//! has them; when none of them takes the call it ends recorded as
//! `agent_failed`, with what failed along the way. An agent's transfer to
//! another agent or to voicemail runs that agent on the same call; one to
//! a person (a number, a URI, the profile's operator, which the menu's
//! key `0` reaches) is handed on as the profile's `transfer` setting says,
//! once the tenant's outbound policy allows the number: a blind transfer
//! (REFER, RFC 3515 and RFC 5589), or a bridge ([`transfer`]: we call the
//! person through the outbound routes, ringback meanwhile, the two calls'
//! media joined). A person who
//! cannot be reached (busy, no answer, the REFER refused or its NOTIFY
//! reporting a failure) leaves the call to voicemail where the profile
//! offers it. Every step taken is a handoff in the call record, every
//! failure an error entry. When the call ends, from either side,
//! the media session is closed, the dialog is gone and the record is
//! closed with the outcome and the hang-up cause.
//!
//! Calls go out the same way whatever asks for them: through the
//! tenant's outbound policy and routes, trunk after trunk until one
//! carries the call ([`Switch::place_call`], module [`outbound`]).
//! [`Switch::originate`] runs a profile's agent on the answered call, and
//! [`Switch::run_campaigns`] calls the numbers of the campaigns kept in
//! the store ([`campaign`]).
//!
//! ```no_run
//! # use agent::switch::{OutboundRequest, Switch};
//! # async fn call(switch: &Switch) {
//! let request = OutboundRequest {
//!     caller_id: Some("+390212345678".into()),
//!     ..OutboundRequest::new("acme", "+390298765432")
//! };
//! let done = switch.originate(request, "reminder").await;
//! println!("{:?}, trunks tried: {}", done.outcome, done.attempts.len());
//! # }
//! ```
//!
//! ```no_run
//! use std::collections::HashMap;
//! use std::sync::Arc;
//! use agent::agents::Echo;
//! use agent::record::SqliteStore;
//! use agent::switch::{Agents, SipConfig, Switch, SwitchConfig};
//! use agent::SharedAgent;
//!
//! # async fn run(tenants: Vec<agent::routing::TenantConfig>) -> Result<(), Box<dyn std::error::Error>> {
//! let config = SwitchConfig {
//!     sip: SipConfig::listen("0.0.0.0:5060".parse()?),
//!     rtp: Default::default(),
//!     accounts: vec![],
//!     trusted_peers: vec![],
//!     tenants, // whose profiles name the agent "echo"
//!     store: None,
//! };
//! let store = Arc::new(SqliteStore::open_path("calls.sqlite".as_ref(), "default")?);
//! let mut agents: Agents = HashMap::new();
//! agents.insert("echo".into(), Arc::new(Echo) as SharedAgent);
//! let switch = Switch::start(config, store, agents).await?;
//! // ... until the application stops:
//! switch.shutdown().await;
//! # Ok(()) }
//! ```

pub mod campaign;
mod config;
mod intake;
pub mod lines;
mod media;
pub mod originate;
pub mod outbound;
mod status;
pub mod transfer;

pub use campaign::{CampaignOptions, CampaignRunner};
pub use config::{
    RtpConfig, SipConfig, SwitchConfig, TransportSetting, TrunkAccountConfig, TrustedPeerConfig,
};
pub use media::{session_params, CallEnding};
pub use originate::Originated;
pub use outbound::{
    new_call_id, AnsweredLeg, NotConnected, OutboundRequest, TrunkFailure, TrunkTry, Unanswered,
    DEFAULT_RING_TIMEOUT,
};
pub use status::{AccountStatus, ActiveCall, SwitchStatus};

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use rtp_media::engine::{EngineConfig, MediaEngine, MediaError};
use sip_core::endpoint::{Endpoint, EndpointConfig, EndpointError};
use sip_core::registration::{Registration, RegistrationState};
use sip_core::transport::TransportConfig;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{info, Instrument};

use crate::config::{ConfigError, Validate};
use crate::record::CallStore;
use crate::routing::{Router, RouterError};
use crate::SharedAgent;
use lines::Lines;

/// The agent that takes calls routed to a greeting
/// ([`RouteAction::Greeting`](crate::routing::RouteAction::Greeting));
/// it finds the greeting in the profile its context names.
pub const GREETING_AGENT: &str = "greeting";

/// The agent that takes a call whose profile offers voicemail when its
/// agent fails or transfers to voicemail.
pub const VOICEMAIL_AGENT: &str = "voicemail";

/// The agents by the names profiles give them.
pub type Agents = HashMap<String, SharedAgent>;

/// Why the switch could not start.
#[derive(Debug, thiserror::Error)]
pub enum SwitchError {
    /// A setting is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A tenant's customer list could not be opened.
    #[error(transparent)]
    Router(#[from] RouterError),
    /// The SIP sockets could not be opened.
    #[error("SIP: {0}")]
    Sip(#[from] EndpointError),
    /// The media engine could not start.
    #[error("media: {0}")]
    Media(#[from] MediaError),
}

/// What every call task shares.
pub(crate) struct Shared {
    pub(crate) endpoint: Endpoint,
    pub(crate) engine: MediaEngine,
    pub(crate) router: Router,
    pub(crate) lines: Lines,
    pub(crate) trunks: outbound::Trunks,
    pub(crate) store: Arc<dyn CallStore>,
    pub(crate) agents: Agents,
    pub(crate) recordings: Option<PathBuf>,
    pub(crate) call_tasks: AtomicUsize,
    /// Turns true when the switch shuts down: every answered call is
    /// ended from our side (BYE) and recorded as ended by the shutdown.
    pub(crate) closing: watch::Sender<bool>,
    /// The calls in progress, for [`Switch::status`].
    pub(crate) active: status::ActiveCalls,
}

impl Shared {
    /// Ends an answered call from our side when the switch shuts down:
    /// `commands` (the call's signalling) is told to hang up, so BYE is
    /// sent and everything waiting for the call to be over (the agent's
    /// media bridge, a transfer) sees it end. Stop the watch once the call
    /// is over; it says whether the shutdown ended the call.
    pub(crate) fn end_on_shutdown(
        &self,
        commands: mpsc::UnboundedSender<media::SipCommand>,
    ) -> ShutdownWatch {
        let mut closing = self.closing.subscribe();
        let fired = Arc::new(AtomicBool::new(false));
        let flag = fired.clone();
        let task = tokio::spawn(
            async move {
                if closing.wait_for(|c| *c).await.is_ok() {
                    info!("the switch shuts down: ending the call");
                    flag.store(true, Ordering::Release);
                    let _ = commands.send(media::SipCommand::HangUp);
                }
            }
            .in_current_span(),
        );
        ShutdownWatch { task, fired }
    }
}

/// A call's watch on the switch's shutdown: see
/// [`Shared::end_on_shutdown`].
pub(crate) struct ShutdownWatch {
    task: JoinHandle<()>,
    fired: Arc<AtomicBool>,
}

impl ShutdownWatch {
    /// Stops watching; whether the shutdown ended the call.
    pub(crate) fn stop(self) -> bool {
        self.task.abort();
        self.fired.load(Ordering::Acquire)
    }
}

impl Drop for ShutdownWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Counts a call task for as long as it runs.
struct CallTask(Arc<Shared>);

impl Drop for CallTask {
    fn drop(&mut self) {
        self.0.call_tasks.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A trunk account's registration, watched for its state.
struct AccountLine {
    name: String,
    registration: Registration,
    watcher: JoinHandle<()>,
}

/// The softswitch: see the [module documentation](self).
pub struct Switch {
    shared: Arc<Shared>,
    intake: JoinHandle<()>,
    accounts: Vec<AccountLine>,
}

impl std::fmt::Debug for Switch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Switch")
            .field("sip", &self.shared.endpoint.udp_addr())
            .field("accounts", &self.accounts.len())
            .finish_non_exhaustive()
    }
}

/// The address written into SDP: the configured one, else the RTP bind
/// address when specific, else the first specific SIP listener.
fn advertised_address(config: &SwitchConfig) -> Result<IpAddr, ConfigError> {
    if let Some(a) = config.rtp.advertised_address {
        return Ok(a);
    }
    if !config.rtp.bind.is_unspecified() {
        return Ok(config.rtp.bind);
    }
    config
        .sip
        .listen
        .iter()
        .map(SocketAddr::ip)
        .find(|ip| !ip.is_unspecified())
        .ok_or_else(|| {
            ConfigError::new(
                "rtp.advertised_address",
                "is needed when neither rtp.bind nor sip.listen is a specific address",
            )
        })
}

impl Switch {
    /// Checks `config`, opens the SIP sockets and the media engine,
    /// registers the trunk accounts and starts taking calls; each call is
    /// recorded in `store` and served by the agent its profile names in
    /// `agents`. Run it on a multi-threaded Tokio runtime: agents are
    /// supervised from their own tasks, and one that never yields must
    /// not stall the others.
    pub async fn start(
        config: SwitchConfig,
        store: Arc<dyn CallStore>,
        agents: Agents,
    ) -> Result<Switch, SwitchError> {
        config.validate()?;
        let advertised = advertised_address(&config)?;
        let router = Router::open(&config.tenants_config())?;
        let lines = Lines::new(&config)?;
        let trunks = outbound::Trunks::new(&config)?;
        let mut sip = EndpointConfig {
            transport: TransportConfig {
                udp: config.sip.listen.clone(),
                tcp: config.sip.listen.clone(),
                ..TransportConfig::default()
            },
            max_calls: config.sip.max_calls,
            ..EndpointConfig::default()
        };
        if let Some(ext) = &config.sip.external_address {
            sip = sip
                .with_external_sip_address(ext)
                .map_err(|e| ConfigError::new("sip.external_address", e))?;
        }
        let engine = MediaEngine::new(EngineConfig {
            bind_ip: config.rtp.bind,
            advertised_ip: Some(advertised),
            port_range: config.rtp.ports.0..=config.rtp.ports.1,
            workers: config.rtp.workers,
            rtp_timeout: config.rtp.timeout(),
            ..EngineConfig::default()
        })?;
        let (endpoint, mut incoming) = Endpoint::bind(sip).await?;
        let mut accounts = Vec::new();
        for (i, a) in config.accounts.iter().enumerate() {
            let account = a
                .account()
                .map_err(|e| e.within(&format!("accounts[{i}]")))?;
            let registration = endpoint.register(account);
            let watcher = tokio::spawn(watch_registration(a.name.clone(), registration.watch()));
            accounts.push(AccountLine {
                name: a.name.clone(),
                registration,
                watcher,
            });
        }
        let shared = Arc::new(Shared {
            endpoint,
            engine,
            router,
            lines,
            trunks,
            store,
            agents,
            recordings: config.store.as_ref().map(|s| s.recordings.clone()),
            call_tasks: AtomicUsize::new(0),
            closing: watch::channel(false).0,
            active: status::ActiveCalls::default(),
        });
        let s = shared.clone();
        let intake = tokio::spawn(
            async move {
                while let Some(call) = incoming.next().await {
                    s.call_tasks.fetch_add(1, Ordering::AcqRel);
                    let task = CallTask(s.clone());
                    tokio::spawn(async move {
                        intake::serve(task.0.clone(), call).await;
                        drop(task);
                    });
                }
            }
            .instrument(tracing::info_span!("switch")),
        );
        info!(sip = ?shared.endpoint.udp_addr(), %advertised, "switch started");
        Ok(Switch {
            shared,
            intake,
            accounts,
        })
    }

    /// The SIP endpoint (its addresses, dialog and transaction counts).
    pub fn endpoint(&self) -> &Endpoint {
        &self.shared.endpoint
    }

    /// The UDP address SIP listens on.
    pub fn sip_addr(&self) -> Option<SocketAddr> {
        self.shared.endpoint.udp_addr()
    }

    /// Calls being served now, from INVITE to closed record.
    pub fn calls_in_progress(&self) -> usize {
        self.shared.call_tasks.load(Ordering::Acquire)
    }

    /// A cheap, cloneable view for a status page: the accounts'
    /// registration states and the calls in progress with their context.
    pub fn status(&self) -> SwitchStatus {
        SwitchStatus {
            accounts: self
                .accounts
                .iter()
                .map(|a| (a.name.clone(), a.registration.watch()))
                .collect(),
            calls: self.shared.active.clone(),
        }
    }

    /// Media sessions open now, over all media workers.
    pub fn media_sessions(&self) -> usize {
        self.shared.engine.worker_loads().iter().sum()
    }

    /// The router, to read tenants (channels in use, for a status page).
    pub fn router(&self) -> &Router {
        &self.shared.router
    }

    /// Where the trunk account `name` stands; `None` for no such account.
    pub fn registration(&self, name: &str) -> Option<RegistrationState> {
        self.accounts
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.registration.state())
    }

    /// A watch on the registration of the trunk account `name`.
    pub fn watch_registration(&self, name: &str) -> Option<watch::Receiver<RegistrationState>> {
        self.accounts
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.registration.watch())
    }

    /// Places a call through the tenant's outbound routes, with failover
    /// between the route's trunks (see [`OutboundRequest`] and the
    /// [`outbound` module](outbound)): the answered leg, with its media
    /// session open, or how the call ended. Either way the call is in
    /// the store under [`OutboundRequest::call_id`].
    pub async fn place_call(&self, request: OutboundRequest) -> Result<AnsweredLeg, Unanswered> {
        outbound::place(&self.shared, request).await
    }

    /// Calls `request.destination` through the tenant's outbound routes
    /// and, when somebody answers, runs the agent of the tenant's
    /// `profile` on the call until it ends (see the [`originate`
    /// module](originate)). The caller ID is `request.caller_id`, else the
    /// route's. Returns how it went, as the call's record (direction
    /// outbound, under `request.call_id`) says.
    pub async fn originate(&self, request: OutboundRequest, profile: &str) -> Originated {
        originate::originate(&self.shared, request, profile).await
    }

    /// Starts calling the active campaigns kept in `store` (see the
    /// [`campaign` module](campaign)): usually the same SQLite store as
    /// the call records. Runs until the returned runner is stopped or
    /// dropped.
    pub fn run_campaigns(
        &self,
        store: Arc<dyn crate::record::CampaignStore>,
        options: CampaignOptions,
    ) -> CampaignRunner {
        campaign::run(self.shared.clone(), store, options)
    }

    /// Stops taking calls, ends the calls in progress from our side (BYE;
    /// their records are closed with the cause
    /// [`Shutdown`](crate::record::HangupCause::Shutdown)), waits up to
    /// [`SHUTDOWN_GRACE`] for them to finish, then unregisters the trunk
    /// accounts. A call still ending after the grace is left to finish in
    /// the background. Dropping the switch stops taking calls and ends the
    /// calls in progress too, without waiting, and does not unregister.
    pub async fn shutdown(mut self) {
        self.intake.abort();
        let _ = (&mut self.intake).await;
        self.shared.closing.send_replace(true);
        let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
        while self.calls_in_progress() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let left = self.calls_in_progress();
        if left > 0 {
            tracing::warn!(calls = left, "calls still ending after the shutdown grace");
        }
        for a in std::mem::take(&mut self.accounts) {
            a.watcher.abort();
            a.registration.unregister().await;
            crate::metrics::registration(&a.name, false);
        }
    }
}

/// How long [`Switch::shutdown`] waits for the calls it ended to close
/// their records (a BYE answered, the media closed) before unregistering.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

impl Drop for Switch {
    fn drop(&mut self) {
        self.intake.abort();
        self.shared.closing.send_replace(true);
        for a in &self.accounts {
            a.watcher.abort();
            crate::metrics::registration(&a.name, false);
        }
    }
}

async fn watch_registration(name: String, mut state: watch::Receiver<RegistrationState>) {
    loop {
        let registered = matches!(
            *state.borrow_and_update(),
            RegistrationState::Registered { .. }
        );
        crate::metrics::registration(&name, registered);
        if state.changed().await.is_err() {
            crate::metrics::registration(&name, false);
            return;
        }
    }
}
