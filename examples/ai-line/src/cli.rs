//! The command line: `ai-line` runs the line; `ai-line call` places a test
//! call to a line (ours or any other) and reports what it heard.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{PortRange, TrunkFlag};

/// `ai-line`: answer a phone line with an AI agent.
#[derive(Debug, Parser)]
#[command(name = "ai-line", version, about)]
pub struct Cli {
    /// The configuration file (TOML); without it the embedded defaults.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Settings that override the configuration when running the line.
    #[command(flatten)]
    pub run: RunFlags,
    /// What to do; without a command, run the line.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The flags of a running line; each overrides the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct RunFlags {
    /// Listen for SIP on ADDR:PORT (UDP and TCP) instead of `[sip] listen`.
    #[arg(long, value_name = "ADDR:PORT")]
    pub sip_listen: Option<SocketAddr>,
    /// Register a trunk account with a provider:
    /// `sip:USER:PASSWORD@HOST[:PORT]`. Its calls go to the first tenant.
    #[arg(long, value_name = "sip:USER:PASSWORD@HOST[:PORT]")]
    pub trunk: Option<TrunkFlag>,
    /// The RTP port range, FIRST-LAST, instead of `[rtp] ports`.
    #[arg(long, value_name = "A-B")]
    pub rtp_ports: Option<PortRange>,
    /// Answer every profile with this agent (echo, voicemail, ivr, ...).
    #[arg(long, value_name = "NAME")]
    pub agent: Option<String>,
    /// The call records' database file instead of `[store] database`.
    #[arg(long, value_name = "PATH")]
    pub cdr: Option<PathBuf>,
    /// The status page's address instead of `[http] listen`.
    #[arg(long, value_name = "ADDR:PORT")]
    pub http: Option<SocketAddr>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Place a test call to a line and report what the far end said.
    Call {
        /// The SIP URI to call (`sip:assistant@127.0.0.1:5060`).
        uri: String,
    },
}
