//! The command line: `ai-line` runs the line; `ai-line call` places a test
//! call to a line (ours or any other) and reports what it heard.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// `ai-line`: answer a phone line with an AI agent.
#[derive(Debug, Parser)]
#[command(name = "ai-line", version, about)]
pub struct Cli {
    /// The configuration file (TOML); without it the embedded defaults.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// What to do; without a command, run the line.
    #[command(subcommand)]
    pub command: Option<Command>,
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
