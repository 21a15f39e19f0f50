//! Raw FFI to DAHDI, the Linux kernel interface to analog and digital
//! telephony cards, and a thin safe channel over it.
//!
//! - The crate root holds every constant, struct and ioctl request number
//!   of `dahdi/user.h`, named as the header names them
//!   (`DAHDI_SPECIFY`, `DAHDI_SET_BLOCKSIZE`, `dahdi_params`,
//!   `DAHDI_EVENT_RINGBEGIN`, ...). A test compiles a C program against
//!   the real header and checks every ioctl number, struct size, alignment
//!   and field offset against these definitions.
//! - `channel` opens a channel by number and carries 20 ms frames, line
//!   events and hook changes behind the `AnalogChannel` trait;
//!   `channel::sim` is a simulated line behind the same trait, playing a
//!   script of rings, caller ID, audio and line events on a virtual clock.
//!
//! DAHDI exists only on Linux; on other systems the crate is empty so the
//! rest of the workspace still builds.

#![warn(missing_docs)]

#[cfg(target_os = "linux")]
pub mod channel;
#[cfg(target_os = "linux")]
#[doc(hidden)]
pub mod layout;
#[cfg(target_os = "linux")]
#[allow(missing_docs)] // fields are named and described as in the header
mod user;

#[cfg(target_os = "linux")]
pub use user::*;
