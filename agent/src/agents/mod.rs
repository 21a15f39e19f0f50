//! Agents that come with the switch.
//!
//! - [`Echo`]: the echo test (FreePBX's `*43`): the caller hears
//!   themselves.

mod echo;

pub use echo::Echo;
