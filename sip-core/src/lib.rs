//! SIP for a phone line: everything a trunk or an FXO gateway needs from
//! SIP, with no media. Register with the provider, answer what arrives,
//! negotiate the media, and read the call's events:
//!
//! ```no_run
//! use sip_core::endpoint::{Endpoint, EndpointConfig};
//! use sip_core::registration::Account;
//! use sip_core::sdp::LocalMedia;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let (endpoint, mut incoming) =
//!     Endpoint::bind(EndpointConfig::listen("0.0.0.0:5060".parse()?)).await?;
//! // Register with the trunk; refreshed before expiry, unregistered on shutdown.
//! let _trunk = endpoint.register(Account::new("sip.provider.example", "1001", "secret")?);
//! while let Some(call) = incoming.next().await {
//!     println!("call from {:?} to {}", call.caller(), call.did());
//!     call.ring();
//!     let rtp = LocalMedia::new("203.0.113.5".parse()?, 16384)?;
//!     let (mut call, media) = call.accept_media(rtp)?; // 488 when no common codec
//!     println!("negotiated {media:?}");
//!     while let Some(event) = call.next_event().await {
//!         println!("{event:?}"); // Confirmed, Dtmf, SessionModified (hold), Hangup
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! Layers, from the bottom; each module uses only the ones below it (none
//! of them imports a module above it, directly or around a circle):
//!
//! - [`message`]: parse, build and validate SIP messages;
//!   [`sdp`]: offer/answer; [`access`]: allow-lists; [`resolve`]: RFC
//!   3263 server location and `host:port` settings.
//! - [`transport`] (UDP, TCP), then [`transaction`] (RFC 3261 17 timers).
//! - [`dialog`] (RFC 3261 12) and [`auth`] (digest).
//! - the user-agent core (crate-internal): the transaction layer handle,
//!   our addresses, response building, the dialog table, the INVITEs
//!   waiting for an answer and the call counter, behind a small
//!   interface.
//! - [`call`] (incoming and established calls, a usage of a dialog that
//!   the core routes to), [`registration`] and [`outbound`] (placing
//!   calls): users of the core, never of each other's state (`outbound`
//!   makes a [`call::Call`] when its INVITE is answered).
//! - [`endpoint`]: the public front. It opens the sockets, screens and
//!   routes what arrives, applies the access policy, and starts
//!   registrations and outbound calls.

#![warn(missing_docs)]

pub mod access;
pub mod auth;
pub mod call;
pub mod dialog;
pub mod endpoint;
pub mod message;
pub mod outbound;
mod queue;
pub mod registration;
pub mod resolve;
pub mod sdp;
pub mod transaction;
pub mod transport;
mod ua;
mod util;
