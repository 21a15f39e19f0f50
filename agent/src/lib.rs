//! The softswitch an application depends on: lines (SIP trunk accounts,
//! trusted peers, DAHDI channels) produce calls; policy refuses the ones
//! that must not reach media; routing picks a profile; the profile's
//! [`Agent`] answers; every call leaves a call record.
//!
//! A working line: a trunk account, one tenant whose calls the built-in
//! [`Echo`](agents::Echo) agent answers, call records in SQLite.
//!
//! ```no_run
//! use std::{collections::HashMap, sync::Arc};
//! use agent::{agents::Echo, record::SqliteStore, switch::{Agents, Switch, SwitchConfig}};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config: SwitchConfig = toml::from_str(r#"
//!     [sip]
//!     listen = ["0.0.0.0:5060"]
//!     external_address = "203.0.113.5"    # this host's public address
//!     [rtp]
//!     advertised_address = "203.0.113.5" # written into SDP
//!     [[accounts]]
//!     name = "main"
//!     tenant = "shop"
//!     registrar = "sip.provider.example"
//!     username = "1001"
//!     password = "secret"
//!     [[tenants]]
//!     name = "shop"
//!     default_country = "IT"
//!     time_zone = "Europe/Rome"
//!     default_profile = "front"
//!     [tenants.profiles.front]
//!     agent = "echo"
//!     time_zone = "Europe/Rome"
//! "#)?;
//! let store = Arc::new(SqliteStore::open_path("calls.sqlite".as_ref(), "default")?);
//! let agents: Agents = HashMap::from([("echo".to_string(), Arc::new(Echo) as agent::SharedAgent)]);
//! let switch = Switch::start(config, store, agents).await?; // registers, answers
//! tokio::signal::ctrl_c().await?;
//! switch.shutdown().await; // unregisters
//! # Ok(()) }
//! ```
//!
//! Modules, each depending only on the ones listed before it:
//!
//! - [`config`]: the error every setting is validated with, naming the
//!   setting that is wrong.
//! - [`record`]: call records and the store that keeps them (SQLite by
//!   default), recording file names, and the persistent side of outbound
//!   campaigns.
//! - [`analog`] (Linux): FXO ports on DAHDI channels answering calls with
//!   the same policy, routing, agents and records: rings, caller ID, the
//!   line's frames served to the agent, hang-up by the line's signals or
//!   busy tone, and an echo gate so a prompt's echo is no barge-in.
//! - [`metrics`]: the names of the counters, gauges and histograms the
//!   switch and the agents report through the `metrics` facade.
//! - [`numbers`]: caller and called numbers from URI user parts to E.164,
//!   with the line's country, before anything compares them.
//! - [`policy`]: which calls may happen (anonymous, block list, country,
//!   per-caller rate, channel limit; outbound destinations and daily
//!   minutes), decided before any media opens.
//! - [`outbound_routes`]: destination patterns to ordered trunks with the
//!   number to dial on each, and when to fail over to the next.
//! - [`customer`]: the caller's number looked up in the tenant's customer
//!   list (CSV or SQLite), for routing and for the agent.
//! - [`routing`]: tenants, DIDs, profiles with opening hours and holidays
//!   in their own time zone, and the router from (tenant, DID, caller) to
//!   the agent or greeting that takes the call.
//! - [`journal`]: a call's record written in order from async code.
//! - [`call`]: one call as an agent sees it: context, events, the
//!   [`CallHandle`](call::CallHandle) and how the agent's part ends.
//! - [`speech`]: the speech-to-text, responder and text-to-speech traits.
//! - [`agent`](mod@agent): the [`Agent`] trait, the one extension point for AI.
//! - [`media`]: the media side of a call, joining an `rtp-media` session
//!   to the agent's handle (barge-in, playback tracking, recording).
//! - [`supervise`]: runs an agent so that an error, panic or hang ends in a
//!   fallback decision, written to the record.
//! - [`turn`]: the speech-to-text → respond → text-to-speech loop with
//!   barge-in.
//! - [`engines`]: offline speech engines (PocketSphinx, eSpeak NG), each
//!   behind a cargo feature.
//! - [`agents`]: the built-in agents.
//! - [`switch`]: the SIP endpoint and media engine serving every line:
//!   which line and tenant a call came in on, policy before media, the
//!   record, the answer, the media following the signalling, and the one
//!   call handle the agent sees; calls out through the outbound routes
//!   with trunk failover, originated calls run by a profile's agent, and
//!   campaigns.
//! - [`analog`] (Linux): FXO ports on DAHDI channels answering calls with
//!   the same policy, routing, agents and records: rings, caller ID, the
//!   line's frames served to the agent, hang-up by the line's signals or
//!   busy tone, and an echo gate so a prompt's echo is no barge-in.

#![warn(missing_docs)]

pub mod agent;
pub mod agents;
#[cfg(target_os = "linux")]
pub mod analog;
pub mod call;
pub mod config;
pub mod customer;
pub mod engines;
pub mod journal;
pub mod media;
pub mod metrics;
pub mod numbers;
pub mod outbound_routes;
pub mod policy;
pub mod record;
pub mod routing;
pub mod speech;
pub mod supervise;
pub mod switch;
pub mod turn;

pub use agent::{agent_fn, Agent, AgentError, DynAgent, SharedAgent};
