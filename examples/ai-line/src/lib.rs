//! `ai-line`: the AI phone line an operator runs, as a thin program over
//! the [`agent`] crate. The binary (`src/main.rs`) only parses the command
//! line and calls into these modules, so the tests drive the same code.
//!
//! - [`cli`]: the command line (`ai-line [--config FILE] [flags]`,
//!   `ai-line call URI ...`).
//! - [`agents`]: the agents the line offers by name, and the
//!   out-of-hours greeting.
//! - [`config`]: the configuration file, its embedded defaults and the
//!   flags over them; a wrong file is refused with its file, line and
//!   setting.
//! - [`run`]: the line started, announced, and stopped on Ctrl-C or
//!   SIGTERM.
//! - [`softphone`]: the test call behind `ai-line call`.
//! - [`status`]: the status server (`/status`, `/calls`, `/metrics` and
//!   the status page).

pub mod agents;
pub mod cli;
pub mod config;
pub mod run;
pub mod softphone;
pub mod status;
