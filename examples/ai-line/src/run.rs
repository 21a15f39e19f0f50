//! Running the line: the configuration resolved, the store opened, the
//! agents built, the switch and its status page started; what it listens
//! on, how each trunk
//! account's registration went and how to call it printed; then until
//! Ctrl-C or SIGTERM, when the switch ends the live calls with BYE,
//! completes their records and unregisters.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use agent::record::{SqliteStore, StoreError};
use agent::switch::{Switch, SwitchError};
use sip_core::registration::RegistrationState;

use crate::agents::AgentsError;
use crate::cli::Cli;
use crate::config::{self, ConfigFileError, LineConfig};
use crate::status::{self, StatusError, StatusState};

/// How long the start waits for each trunk account's first registration
/// outcome before printing it as still in progress.
pub const FIRST_REGISTRATION_WAIT: Duration = Duration::from_secs(5);

/// Why the line did not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The configuration cannot be used.
    #[error(transparent)]
    Config(#[from] ConfigFileError),
    /// An agent could not be made (its settings, the assistant's speech
    /// model).
    #[error("agents: {0}")]
    Agents(#[from] AgentsError),
    /// The recordings directory cannot be created.
    #[error("cannot create the recordings directory {dir}: {source}")]
    Recordings {
        /// The directory.
        dir: String,
        /// Why.
        source: std::io::Error,
    },
    /// The call records' database cannot be opened.
    #[error("call records: {0}")]
    Store(#[from] StoreError),
    /// The switch could not start (sockets, media).
    #[error(transparent)]
    Switch(#[from] SwitchError),
    /// The status page cannot be served (no token off loopback, the
    /// address in use).
    #[error(transparent)]
    Status(#[from] StatusError),
    /// The signal handlers could not be installed.
    #[error("cannot wait for Ctrl-C or SIGTERM: {0}")]
    Signal(std::io::Error),
}

impl RunError {
    /// The process exit status: 2 for a configuration to correct, 1 for
    /// anything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            RunError::Config(_)
            | RunError::Agents(AgentsError::Config(_))
            | RunError::Status(StatusError::TokenRequired { .. }) => 2,
            _ => 1,
        }
    }
}

/// A running line.
#[derive(Debug)]
pub struct Line {
    switch: Switch,
    config: LineConfig,
    /// Where the status page is served, and its server.
    status_addr: SocketAddr,
    status_server: tokio::task::JoinHandle<Result<(), StatusError>>,
    status_token: bool,
}

/// Opens the store, builds the agents and starts the switch on `config`
/// (already resolved and checked).
pub async fn start(config: LineConfig) -> Result<Line, RunError> {
    let recordings = &config.store.recordings;
    std::fs::create_dir_all(recordings).map_err(|source| RunError::Recordings {
        dir: recordings.display().to_string(),
        source,
    })?;
    let agents = crate::agents::agents(&config)?;
    // Once, at start: closes the records a killed process left open.
    let store = Arc::new(SqliteStore::open(&config.store)?);
    // Before the switch, so that /metrics has what it reports from the
    // start (the registrations).
    let metrics = status::install_metrics_recorder()?;
    let token = status::token_from(config.http.token.clone());
    // The token rule is checked before anything starts.
    status::check_address(config.http.listen, token.as_deref())?;
    let switch = Switch::start(config.switch_config(), store.clone(), agents).await?;
    let status_token = token.is_some();
    let state = StatusState::new(switch.status(), store, metrics).with_token(token);
    let listener = status::bind(config.http.listen, &state).await?;
    let status_addr = listener.local_addr().unwrap_or(config.http.listen);
    let status_server = tokio::spawn(status::serve(listener, state));
    Ok(Line {
        switch,
        config,
        status_addr,
        status_server,
        status_token,
    })
}

impl Line {
    /// The switch (addresses, registrations, calls in progress).
    pub fn switch(&self) -> &Switch {
        &self.switch
    }

    /// Where the status page is served.
    pub fn status_addr(&self) -> SocketAddr {
        self.status_addr
    }

    /// Each trunk account's registration once it has a first outcome
    /// (registered or failed), or as it stands after `limit`.
    pub async fn first_registrations(&self, limit: Duration) -> Vec<(String, RegistrationState)> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut out = Vec::new();
        for account in &self.config.accounts {
            let Some(mut watch) = self.switch.watch_registration(&account.name) else {
                continue;
            };
            let _ = tokio::time::timeout_at(
                deadline,
                watch.wait_for(|s| !matches!(s, RegistrationState::Registering)),
            )
            .await;
            let state = watch.borrow().clone();
            out.push((account.name.clone(), state));
        }
        out
    }

    /// The start-up text: what the line listens on, each account's
    /// registration, where records go and how to call it.
    pub fn banner(&self, registrations: &[(String, RegistrationState)]) -> String {
        let c = &self.config;
        let mut out = String::new();
        let mut line = |s: String| {
            out.push_str(&s);
            out.push('\n');
        };
        line("ai-line is running.".into());
        let udp = self.switch.sip_addr();
        let tcp = self.switch.endpoint().tcp_addr();
        line(format!(
            "  SIP:        UDP {}, TCP {}",
            udp.map_or("-".into(), |a| a.to_string()),
            tcp.map_or("-".into(), |a| a.to_string()),
        ));
        line(format!(
            "  RTP:        ports {}-{}{}",
            c.rtp.ports.0,
            c.rtp.ports.1,
            c.rtp
                .advertised_address
                .map_or(String::new(), |a| format!(", announced as {a}"))
        ));
        for (name, state) in registrations {
            let account = c.accounts.iter().find(|a| &a.name == name);
            let who = account.map_or(String::new(), |a| {
                format!(" ({}@{})", a.username, a.registrar)
            });
            line(format!(
                "  account {name}{who}: {}",
                registration_text(state)
            ));
        }
        for peer in &c.trusted_peers {
            line(format!(
                "  trusted peer {}: calls from {} (tenant {})",
                peer.name, peer.address, peer.tenant
            ));
        }
        line(format!(
            "  records:    {}, recordings in {}/",
            c.store.database.display(),
            c.store.recordings.display()
        ));
        let token = if self.status_token {
            "#token=TOKEN (a token is required)"
        } else {
            ""
        };
        line(format!(
            "  status:     http://{}/{token}, metrics at /metrics",
            self.status_addr
        ));
        if let Some(uri) = self.call_uri() {
            line("Call it:".into());
            line(format!(
                "  ai-line call {uri} --say \"what are your opening hours\""
            ));
            line(format!("  or from any softphone on this machine: {uri}"));
        }
        for (name, _) in registrations {
            if let Some(a) = c.accounts.iter().find(|a| &a.name == name) {
                line(format!(
                    "  or dial the number the provider routes to account {} ({})",
                    a.name, a.username
                ));
            }
        }
        line("Stop it with Ctrl-C (live calls are ended with BYE and recorded).".into());
        out
    }

    /// The URI a caller on this machine dials: the default profile's agent
    /// at the first SIP address (loopback when it listens on all).
    pub fn call_uri(&self) -> Option<String> {
        let addr = self.switch.sip_addr()?;
        let host = if addr.ip().is_unspecified() {
            match addr.ip() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
            }
        } else {
            addr.ip()
        };
        let user = self
            .config
            .tenants
            .first()
            .and_then(|t| {
                let profile = t.default_profile.as_ref()?;
                t.profiles.get(profile).map(|p| p.agent.clone())
            })
            .unwrap_or_else(|| "ai".into());
        Some(format!("sip:{user}@{}", SocketAddr::new(host, addr.port())))
    }

    /// Ends the live calls with BYE, completes their records and
    /// unregisters the trunk accounts.
    pub async fn shutdown(self) {
        self.switch.shutdown().await;
        self.status_server.abort();
    }
}

fn registration_text(state: &RegistrationState) -> String {
    match state {
        RegistrationState::Registering => "registering (no answer from the registrar yet)".into(),
        RegistrationState::Registered { expires, registrar } => {
            format!("REGISTERED with {registrar} for {} s", expires.as_secs())
        }
        RegistrationState::Failed {
            code,
            reason,
            retry_in,
        } => format!(
            "FAILED{}: {reason}; retrying in {} s",
            code.map_or(String::new(), |c| format!(" ({c})")),
            retry_in.as_secs()
        ),
        RegistrationState::Unregistered => "unregistered".into(),
    }
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM.
async fn stop_signal() -> Result<(), RunError> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).map_err(RunError::Signal)?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.map_err(RunError::Signal),
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.map_err(RunError::Signal)
    }
}

/// `ai-line [--config FILE] [flags]`: runs the line until Ctrl-C or
/// SIGTERM.
pub async fn run(cli: &Cli) -> Result<(), RunError> {
    let config = config::resolve(cli.config.as_deref(), &cli.run)?;
    let line = start(config).await?;
    let registrations = line.first_registrations(FIRST_REGISTRATION_WAIT).await;
    say(&line.banner(&registrations));
    let stopped = stop_signal().await;
    say("Stopping: ending live calls, unregistering (Ctrl-C again to stop at once)...\n");
    tokio::select! {
        () = line.shutdown() => say("Stopped.\n"),
        _ = stop_signal() => say("Stopped without waiting; open call records are closed as interrupted at the next start.\n"),
    }
    stopped
}

/// Writes to standard output; a closed output (the terminal gone) does
/// not stop the line.
fn say(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}
