//! The softswitch an application depends on: lines (SIP trunk accounts,
//! trusted peers, DAHDI channels) produce calls; policy refuses the ones
//! that must not reach media; routing picks a profile; the profile's
//! [`Agent`](crate) answers; every call leaves a call record.
//!
//! Modules, each depending only on the ones listed before it:
//!
//! - [`config`]: the error every setting is validated with, naming the
//!   setting that is wrong.
//! - [`record`]: call records and the store that keeps them (SQLite by
//!   default), recording file names, and the persistent side of outbound
//!   campaigns.
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

#![warn(missing_docs)]

pub mod config;
pub mod customer;
pub mod numbers;
pub mod outbound_routes;
pub mod policy;
pub mod record;
pub mod routing;
