//! `ai-line`: the AI phone line an operator runs, as a thin program over
//! the [`agent`] crate. The binary (`src/main.rs`) only parses the command
//! line and calls into these modules, so the tests drive the same code.
//!
//! - [`cli`]: the command line (`ai-line [--config FILE] [flags]`,
//!   `ai-line call URI ...`).

pub mod cli;
