//! SIP for a phone line: everything a trunk or an FXO gateway needs from
//! SIP, with no media.
//!
//! Layers, each depending only on the ones above it in this list:
//! [`message`] (parse, build, validate), `transport`, `transaction`,
//! `dialog`, `auth`, `registration`, `call` and `sdp`.

#![warn(missing_docs)]

pub mod access;
pub mod auth;
pub mod call;
pub mod dialog;
pub mod endpoint;
pub mod message;
pub mod outbound;
pub mod queue;
pub mod registration;
pub mod resolve;
pub mod sdp;
pub mod transaction;
pub mod transport;
pub mod util;
