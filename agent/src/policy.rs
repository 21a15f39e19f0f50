//! Which calls may happen at all, decided before any media port is opened
//! or any agent is started.
//!
//! Inbound, in this order: anonymous callers (when refused), callers on the
//! block list, callers outside the allowed country prefixes, calls over the
//! tenant's channel limit, callers over their per-minute or per-hour rate.
//! Outbound (originated calls, transfers, fallbacks to a human): only to
//! allowed destination prefixes, within the tenant's channel limit, and
//! within a per-day budget of minutes counted in the tenant's time zone:
//! the usual guard against toll fraud, where a leaked account dials premium
//! numbers all night.
//!
//! A refusal is a SIP final response ([`RefusalReason::status`]) plus a
//! reason with a stable short code ([`RefusalReason::code`]) that metrics
//! and call records use as a label. The status choices:
//!
//! - anonymous: **433 Anonymity Disallowed** (RFC 5079 §3), made for exactly
//!   this: it tells the caller's phone that the call failed because its
//!   identity was withheld, so it can say "call again without hiding your
//!   number", which 403 cannot.
//! - blocked caller, country not allowed, destination not allowed, minutes
//!   used up: **403 Forbidden** (RFC 3261 §21.4.4): the request is
//!   understood and will not be served, and repeating it will not help.
//! - channel limit: **486 Busy Here** (RFC 3261 §21.4.24): this destination
//!   is busy; a provider plays busy tone and may try the caller's
//!   alternatives, and does not mark the trunk as failed.
//! - per-caller rate: **486 Busy Here** too. Kamailio's `pike` drops
//!   flooding sources silently and its `ratelimit` module answers 503 for
//!   *server* load; but a 503 from a trunk destination makes the provider
//!   fail over to our other addresses (RFC 3263 §4.3, RFC 3261 §21.5.4),
//!   which do not share this window and would admit the call anyway, and
//!   can get the whole trunk marked down for every caller. One caller
//!   redialling is an answer about that caller, so it gets the answer a
//!   busy line gives.
//!
//! Time is always a parameter (`now: Timestamp`), so the windows and the
//! day boundary are tested without sleeping.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::Deserialize;

use crate::config::{ConfigError, Validate};
use crate::numbers::{e164_prefix_setting, is_e164_prefix, Normalised, NotANumberKind};

/// Why a call was refused. [`code`](Self::code) is stable: it is a metrics
/// label and a call-record value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefusalReason {
    /// The caller withheld its identity and the tenant refuses that.
    Anonymous,
    /// The caller is on the block list.
    Blocked,
    /// The caller's number is not in an allowed country prefix (or is not
    /// a recognisable number while an allow-list is set).
    CountryNotAllowed,
    /// The caller placed too many calls in the last minute or hour.
    RateLimited,
    /// The tenant already has as many calls as its channel limit.
    ChannelLimit,
    /// The outbound destination is not in an allowed prefix.
    DestinationNotAllowed,
    /// The tenant's outbound minutes for today are used up.
    MinutesCapReached,
}

impl RefusalReason {
    /// The short code for metrics labels and call records.
    pub fn code(self) -> &'static str {
        match self {
            RefusalReason::Anonymous => "anonymous",
            RefusalReason::Blocked => "blocked",
            RefusalReason::CountryNotAllowed => "country",
            RefusalReason::RateLimited => "rate",
            RefusalReason::ChannelLimit => "channels",
            RefusalReason::DestinationNotAllowed => "destination",
            RefusalReason::MinutesCapReached => "minutes",
        }
    }

    /// The SIP final response that carries this refusal (see the module
    /// documentation for why each).
    pub fn status(self) -> u16 {
        match self {
            RefusalReason::Anonymous => 433,
            RefusalReason::Blocked
            | RefusalReason::CountryNotAllowed
            | RefusalReason::DestinationNotAllowed
            | RefusalReason::MinutesCapReached => 403,
            RefusalReason::RateLimited | RefusalReason::ChannelLimit => 486,
        }
    }
}

impl From<RefusalReason> for crate::record::Outcome {
    /// How a refused call ends in its call record: the status sent and
    /// the reason's stable code.
    fn from(reason: RefusalReason) -> Self {
        crate::record::Outcome::Refused {
            status: reason.status(),
            reason: reason.code().to_string(),
        }
    }
}

impl fmt::Display for RefusalReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The limits of one tenant, as written in its config.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Refuse callers that withhold their identity (433). Default: true.
    #[serde(default = "yes")]
    pub refuse_anonymous: bool,
    /// E.164 prefixes callers must be in (`["+39", "+41"]`); empty: any.
    #[serde(default)]
    pub allowed_caller_prefixes: Vec<String>,
    /// With an allow-list set, whether callers identified by a name rather
    /// than a number (SIP users of a trusted PBX: `alice`) pass it.
    /// Digits that are not a valid number never do. Default: true.
    #[serde(default = "yes")]
    pub allow_named_callers: bool,
    /// Callers refused outright, in E.164 (`"+390212345678"`).
    #[serde(default)]
    pub blocked_callers: Vec<String>,
    /// Per-caller call rate; absent: unlimited.
    #[serde(default)]
    pub rate: Option<RateConfig>,
    /// Most simultaneous calls (inbound and outbound) for the tenant;
    /// absent: unlimited.
    #[serde(default)]
    pub channels: Option<u32>,
    /// Outbound calls.
    #[serde(default)]
    pub outbound: OutboundPolicyConfig,
}

fn yes() -> bool {
    true
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            refuse_anonymous: true,
            allowed_caller_prefixes: Vec::new(),
            allow_named_callers: true,
            blocked_callers: Vec::new(),
            rate: None,
            channels: None,
            outbound: OutboundPolicyConfig::default(),
        }
    }
}

/// How many calls one caller may place: both limits apply, each over a
/// sliding window ending now. Only admitted calls count, so a caller that
/// keeps redialling while refused is admitted again once its earlier
/// calls leave the window. Callers are told apart by their E.164 number;
/// callers without one by their user part, so anonymous callers (when
/// admitted) share one window between them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateConfig {
    /// Calls admitted in any 60 seconds.
    pub per_minute: u32,
    /// Calls admitted in any 3600 seconds.
    pub per_hour: u32,
    /// How many callers are remembered; past it the one seen least
    /// recently is forgotten, so a flood of distinct numbers cannot grow
    /// memory. Default 10 000.
    #[serde(default = "default_tracked_callers")]
    pub max_tracked_callers: usize,
}

fn default_tracked_callers() -> usize {
    10_000
}

/// Outbound calls: where to, and how many minutes a day.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundPolicyConfig {
    /// E.164 prefixes a destination must be in. Empty (the default): no
    /// outbound calls at all, so that forgetting this setting cannot open
    /// premium and international ranges.
    #[serde(default)]
    pub allowed_destination_prefixes: Vec<String>,
    /// Minutes of outbound talk time per day, in the tenant's time zone;
    /// absent: unlimited.
    #[serde(default)]
    pub minutes_per_day: Option<u32>,
    /// Minutes reserved from the day's budget when a call starts (and again
    /// with [`OutboundGrant::extend`]); unused reservation is given back
    /// when the call is settled. Default 10.
    #[serde(default = "default_reserve_minutes")]
    pub reserve_minutes: u32,
}

fn default_reserve_minutes() -> u32 {
    10
}

impl Default for OutboundPolicyConfig {
    fn default() -> Self {
        OutboundPolicyConfig {
            allowed_destination_prefixes: Vec::new(),
            minutes_per_day: None,
            reserve_minutes: default_reserve_minutes(),
        }
    }
}

impl Validate for PolicyConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        self.compile_lists().map(|_| ())
    }
}

impl PolicyConfig {
    /// Checks every value and returns the cleaned prefix lists and block
    /// list.
    fn compile_lists(&self) -> Result<Lists, ConfigError> {
        let allowed = prefixes(&self.allowed_caller_prefixes, "allowed_caller_prefixes")?;
        let mut blocked = HashSet::new();
        for (i, entry) in self.blocked_callers.iter().enumerate() {
            let e164: String = entry.chars().filter(|c| !" -.()".contains(*c)).collect();
            if !is_e164_prefix(&e164) {
                return Err(ConfigError::new(
                    format!("blocked_callers[{i}]"),
                    format!(
                        "{entry:?} is not an E.164 number: write \"+\", country code and number"
                    ),
                ));
            }
            blocked.insert(e164);
        }
        if let Some(rate) = &self.rate {
            rate.validate().map_err(|e| e.within("rate"))?;
        }
        if self.channels == Some(0) {
            return Err(ConfigError::new(
                "channels",
                "0 channels would refuse every call; leave it out for no limit",
            ));
        }
        let destinations = self
            .outbound
            .validate_prefixes()
            .map_err(|e| e.within("outbound"))?;
        Ok(Lists {
            allowed,
            blocked,
            destinations,
        })
    }
}

/// The lists of a [`PolicyConfig`], checked and without separators.
struct Lists {
    allowed: Vec<String>,
    blocked: HashSet<String>,
    destinations: Vec<String>,
}

fn prefixes(list: &[String], setting: &str) -> Result<Vec<String>, ConfigError> {
    list.iter()
        .enumerate()
        .map(|(i, p)| {
            e164_prefix_setting(p).map_err(|e| ConfigError::new(format!("{setting}[{i}]"), e))
        })
        .collect()
}

impl Validate for RateConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.per_minute == 0 {
            return Err(ConfigError::new(
                "per_minute",
                "0 calls a minute would refuse every caller; leave `rate` out for no limit",
            ));
        }
        if self.per_hour == 0 {
            return Err(ConfigError::new(
                "per_hour",
                "0 calls an hour would refuse every caller; leave `rate` out for no limit",
            ));
        }
        if self.per_hour < self.per_minute {
            return Err(ConfigError::new(
                "per_hour",
                format!(
                    "{} an hour is less than the {} a minute allowed",
                    self.per_hour, self.per_minute
                ),
            ));
        }
        if self.max_tracked_callers == 0 {
            return Err(ConfigError::new(
                "max_tracked_callers",
                "must remember at least one caller",
            ));
        }
        Ok(())
    }
}

impl OutboundPolicyConfig {
    fn validate_prefixes(&self) -> Result<Vec<String>, ConfigError> {
        let list = prefixes(
            &self.allowed_destination_prefixes,
            "allowed_destination_prefixes",
        )?;
        if self.minutes_per_day == Some(0) {
            return Err(ConfigError::new(
                "minutes_per_day",
                "0 minutes would refuse every outbound call; empty allowed_destination_prefixes does that explicitly",
            ));
        }
        if self.reserve_minutes == 0 {
            return Err(ConfigError::new(
                "reserve_minutes",
                "a call must reserve at least one minute",
            ));
        }
        Ok(list)
    }
}

impl Validate for OutboundPolicyConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        self.validate_prefixes().map(|_| ())
    }
}

/// What the inbound check decided.
#[derive(Debug)]
pub enum InboundVerdict {
    /// The call may go on; it holds one of the tenant's channels until the
    /// guard is dropped (keep it for the life of the call).
    Admit(ChannelGuard),
    /// Answer with `status` and record `reason`.
    Refuse {
        /// The SIP final response code.
        status: u16,
        /// Why, with a stable code.
        reason: RefusalReason,
    },
}

/// What the outbound check decided.
#[derive(Debug)]
pub enum OutboundVerdict {
    /// The call may be placed, within [`OutboundGrant::max_duration`].
    Admit(OutboundGrant),
    /// Do not place it; report `status` and record `reason`.
    Refuse {
        /// The SIP-style status (what a REFER or an API caller is told).
        status: u16,
        /// Why, with a stable code.
        reason: RefusalReason,
    },
}

fn refuse_in(reason: RefusalReason, caller: &Normalised) -> InboundVerdict {
    tracing::info!(
        caller = caller.key(),
        reason = reason.code(),
        status = reason.status(),
        "inbound call refused"
    );
    InboundVerdict::Refuse {
        status: reason.status(),
        reason,
    }
}

fn refuse_out(reason: RefusalReason, destination: &Normalised) -> OutboundVerdict {
    tracing::info!(
        destination = destination.key(),
        reason = reason.code(),
        status = reason.status(),
        "outbound call refused"
    );
    OutboundVerdict::Refuse {
        status: reason.status(),
        reason,
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The state behind these locks is counters that every path leaves
    // consistent, so a panic elsewhere does not make them unusable.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One tenant's policy: built once from its [`PolicyConfig`], then shared
/// by every call of the tenant (all methods take `&self`).
#[derive(Debug)]
pub struct Policy {
    refuse_anonymous: bool,
    allowed_caller_prefixes: Vec<String>,
    allow_named_callers: bool,
    blocked: HashSet<String>,
    rates: Option<Mutex<CallerRates>>,
    channels: ChannelCounter,
    destinations: Vec<String>,
    minutes: Option<Arc<Mutex<MinutesLedger>>>,
    reserve: Duration,
    time_zone: TimeZone,
}

impl Policy {
    /// The policy for a tenant whose day (for the minutes cap) is counted
    /// in `time_zone`.
    pub fn new(config: &PolicyConfig, time_zone: TimeZone) -> Result<Self, ConfigError> {
        let Lists {
            allowed,
            blocked,
            destinations,
        } = config.compile_lists()?;
        Ok(Policy {
            refuse_anonymous: config.refuse_anonymous,
            allowed_caller_prefixes: allowed,
            allow_named_callers: config.allow_named_callers,
            blocked,
            rates: config
                .rate
                .as_ref()
                .map(|r| Mutex::new(CallerRates::new(r))),
            channels: ChannelCounter::new(config.channels),
            destinations,
            minutes: config.outbound.minutes_per_day.map(|m| {
                Arc::new(Mutex::new(MinutesLedger {
                    cap: Duration::from_secs(u64::from(m) * 60),
                    days: BTreeMap::new(),
                }))
            }),
            reserve: Duration::from_secs(u64::from(config.outbound.reserve_minutes) * 60),
            time_zone,
        })
    }

    /// The tenant's channels (for a status page: in use, limit).
    pub fn channels(&self) -> &ChannelCounter {
        &self.channels
    }

    /// Decides an inbound call from `caller` arriving at `now`.
    pub fn check_inbound(&self, caller: &Normalised, now: Timestamp) -> InboundVerdict {
        if caller.is_anonymous() && self.refuse_anonymous {
            return refuse_in(RefusalReason::Anonymous, caller);
        }
        if self.blocked.contains(caller.key()) {
            return refuse_in(RefusalReason::Blocked, caller);
        }
        if !self.allowed_caller_prefixes.is_empty() {
            let allowed = match caller {
                Normalised::Number(n) => self
                    .allowed_caller_prefixes
                    .iter()
                    .any(|p| n.e164().starts_with(p.as_str())),
                Normalised::NotANumber(n) => {
                    n.kind == NotANumberKind::Name && self.allow_named_callers
                        || n.kind == NotANumberKind::Anonymous
                }
            };
            if !allowed {
                return refuse_in(RefusalReason::CountryNotAllowed, caller);
            }
        }
        let Some(guard) = self.channels.try_acquire() else {
            return refuse_in(RefusalReason::ChannelLimit, caller);
        };
        if let Some(rates) = &self.rates {
            if !lock(rates).admit(caller.key(), now) {
                return refuse_in(RefusalReason::RateLimited, caller);
            }
        }
        InboundVerdict::Admit(guard)
    }

    /// Decides an outbound call (originated, transfer or fallback) to
    /// `destination` at `now`. An admitted call holds a channel and a
    /// reservation of the day's minutes until its grant is settled.
    pub fn check_outbound(&self, destination: &Normalised, now: Timestamp) -> OutboundVerdict {
        let allowed = destination.number().is_some_and(|n| {
            self.destinations
                .iter()
                .any(|p| n.e164().starts_with(p.as_str()))
        });
        if !allowed {
            return refuse_out(RefusalReason::DestinationNotAllowed, destination);
        }
        let Some(channel) = self.channels.try_acquire() else {
            return refuse_out(RefusalReason::ChannelLimit, destination);
        };
        let mut grant = OutboundGrant {
            _channel: channel,
            reservation: None,
        };
        if let Some(ledger) = &self.minutes {
            let day = self.time_zone.to_datetime(now).date();
            let reserved = lock(ledger).reserve(day, self.reserve);
            if reserved.is_zero() {
                return refuse_out(RefusalReason::MinutesCapReached, destination);
            }
            grant.reservation = Some(Reservation {
                ledger: Arc::clone(ledger),
                day,
                reserved,
                chunk: self.reserve,
            });
        }
        OutboundVerdict::Admit(grant)
    }

    /// Outbound minutes used and reserved on the tenant's day that
    /// contains `now` (both zero without a cap).
    pub fn minutes_used(&self, now: Timestamp) -> (Duration, Duration) {
        match &self.minutes {
            None => (Duration::ZERO, Duration::ZERO),
            Some(ledger) => {
                let day = self.time_zone.to_datetime(now).date();
                let ledger = lock(ledger);
                ledger
                    .days
                    .get(&day)
                    .map_or((Duration::ZERO, Duration::ZERO), |d| (d.used, d.reserved))
            }
        }
    }
}

/// Counts a tenant's calls in progress against its channel limit.
/// Cloning shares the count.
#[derive(Debug, Clone)]
pub struct ChannelCounter {
    inner: Arc<Channels>,
}

#[derive(Debug)]
struct Channels {
    in_use: AtomicU32,
    limit: Option<u32>,
}

impl ChannelCounter {
    /// A counter allowing `limit` calls at once (`None`: any number).
    pub fn new(limit: Option<u32>) -> Self {
        ChannelCounter {
            inner: Arc::new(Channels {
                in_use: AtomicU32::new(0),
                limit,
            }),
        }
    }

    /// Takes a channel if one is free; it is given back when the guard
    /// is dropped.
    pub fn try_acquire(&self) -> Option<ChannelGuard> {
        let limit = self.inner.limit.unwrap_or(u32::MAX);
        self.inner
            .in_use
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()?;
        Some(ChannelGuard {
            inner: Arc::clone(&self.inner),
        })
    }

    /// Calls holding a channel now.
    pub fn in_use(&self) -> u32 {
        self.inner.in_use.load(Ordering::Acquire)
    }

    /// The limit, if any.
    pub fn limit(&self) -> Option<u32> {
        self.inner.limit
    }
}

/// One channel held by one call; dropping it frees the channel.
#[derive(Debug)]
pub struct ChannelGuard {
    inner: Arc<Channels>,
}

impl Drop for ChannelGuard {
    fn drop(&mut self) {
        self.inner.in_use.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Admitted calls per caller over the last hour, for the callers seen
/// most recently (least recently seen forgotten first).
#[derive(Debug)]
struct CallerRates {
    per_minute: usize,
    per_hour: usize,
    max_callers: usize,
    callers: HashMap<String, CallerCalls>,
    /// Callers by when they were last touched: the first is evicted first.
    recency: BTreeMap<u64, String>,
    next_touch: u64,
}

#[derive(Debug)]
struct CallerCalls {
    admitted: VecDeque<Timestamp>,
    touched: u64,
}

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

impl CallerRates {
    fn new(config: &RateConfig) -> Self {
        CallerRates {
            per_minute: config.per_minute as usize,
            per_hour: config.per_hour as usize,
            max_callers: config.max_tracked_callers,
            callers: HashMap::new(),
            recency: BTreeMap::new(),
            next_touch: 0,
        }
    }

    /// Whether `caller` may place a call at `now`; when it may, the call
    /// is counted.
    fn admit(&mut self, caller: &str, now: Timestamp) -> bool {
        let touch = self.next_touch;
        self.next_touch += 1;
        if let Some(calls) = self.callers.get_mut(caller) {
            self.recency.remove(&calls.touched);
            self.recency.insert(touch, caller.to_string());
            calls.touched = touch;
            let hour_ago = now - HOUR;
            while calls.admitted.front().is_some_and(|t| *t <= hour_ago) {
                calls.admitted.pop_front();
            }
            let minute_ago = now - MINUTE;
            let last_minute = calls
                .admitted
                .iter()
                .rev()
                .take_while(|t| **t > minute_ago)
                .count();
            if last_minute >= self.per_minute || calls.admitted.len() >= self.per_hour {
                return false;
            }
            calls.admitted.push_back(now);
            return true;
        }
        while self.callers.len() >= self.max_callers {
            let Some((_, oldest)) = self.recency.pop_first() else {
                break;
            };
            self.callers.remove(&oldest);
        }
        self.recency.insert(touch, caller.to_string());
        self.callers.insert(
            caller.to_string(),
            CallerCalls {
                admitted: VecDeque::from([now]),
                touched: touch,
            },
        );
        true
    }
}

/// A tenant's outbound talk time per local day.
#[derive(Debug)]
struct MinutesLedger {
    cap: Duration,
    days: BTreeMap<Date, DayMinutes>,
}

#[derive(Debug, Default, Clone, Copy)]
struct DayMinutes {
    used: Duration,
    reserved: Duration,
}

impl MinutesLedger {
    /// Reserves up to `want` on `day`: all of it if the budget allows,
    /// what is left otherwise, zero when nothing is. Used and reserved
    /// together never pass the cap, so concurrent calls cannot overshoot.
    fn reserve(&mut self, day: Date, want: Duration) -> Duration {
        // Days before this one matter only while a call from them is open.
        self.days.retain(|d, m| *d >= day || !m.reserved.is_zero());
        let entry = self.days.entry(day).or_default();
        let left = self.cap.saturating_sub(entry.used + entry.reserved);
        let granted = want.min(left);
        entry.reserved += granted;
        granted
    }

    /// Turns a reservation into talk time: `reserved` is released, `used`
    /// is charged (it may exceed the reservation if a call ran over; that
    /// time was spent and is counted).
    fn settle(&mut self, day: Date, reserved: Duration, used: Duration) {
        let entry = self.days.entry(day).or_default();
        entry.reserved = entry.reserved.saturating_sub(reserved);
        entry.used += used;
    }
}

/// Permission for one outbound call: a channel, and (with a minutes cap) a
/// reservation of the day's minutes on the day the call started. A call
/// that crosses midnight is charged wholly to the day it started.
///
/// Settle it with the call's talk time when it ends; a grant dropped
/// without [`settle`](Self::settle) is charged its whole reservation, so a
/// lost call record cannot hand minutes back.
#[derive(Debug)]
pub struct OutboundGrant {
    _channel: ChannelGuard,
    reservation: Option<Reservation>,
}

#[derive(Debug)]
struct Reservation {
    ledger: Arc<Mutex<MinutesLedger>>,
    day: Date,
    reserved: Duration,
    chunk: Duration,
}

impl OutboundGrant {
    /// How long the call may talk before it must [`extend`](Self::extend)
    /// or hang up; `None` without a minutes cap.
    pub fn max_duration(&self) -> Option<Duration> {
        self.reservation.as_ref().map(|r| r.reserved)
    }

    /// Reserves another chunk of the same day's minutes for a call that is
    /// still talking; returns the new [`max_duration`](Self::max_duration)
    /// (unchanged when the day's budget is spent: time to hang up).
    pub fn extend(&mut self) -> Option<Duration> {
        let r = self.reservation.as_mut()?;
        let more = lock(&r.ledger).reserve(r.day, r.chunk);
        r.reserved += more;
        Some(r.reserved)
    }

    /// Ends the call, charging `talk_time` and giving back the rest of the
    /// reservation.
    pub fn settle(mut self, talk_time: Duration) {
        if let Some(r) = self.reservation.take() {
            lock(&r.ledger).settle(r.day, r.reserved, talk_time);
        }
    }
}

impl Drop for OutboundGrant {
    fn drop(&mut self) {
        if let Some(r) = self.reservation.take() {
            tracing::warn!(
                day = %r.day,
                reserved_s = r.reserved.as_secs(),
                "outbound grant dropped without settling; charging its whole reservation"
            );
            lock(&r.ledger).settle(r.day, r.reserved, r.reserved);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numbers::Normaliser;

    fn it(user: &str) -> Normalised {
        Normaliser::new("IT").unwrap().normalise(user)
    }

    fn rome() -> TimeZone {
        TimeZone::get("Europe/Rome").unwrap()
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn policy(toml_text: &str) -> Policy {
        let config: PolicyConfig = toml::from_str(toml_text).unwrap();
        config.validate().unwrap();
        Policy::new(&config, rome()).unwrap()
    }

    fn refusal(v: InboundVerdict) -> Option<(u16, RefusalReason)> {
        match v {
            InboundVerdict::Admit(_) => None,
            InboundVerdict::Refuse { status, reason } => Some((status, reason)),
        }
    }

    const NOON: &str = "2026-12-04T11:00:00Z";

    #[test]
    fn anonymous_callers_get_433_unless_allowed() {
        let p = policy("");
        assert_eq!(
            refusal(p.check_inbound(&it("anonymous"), at(NOON))),
            Some((433, RefusalReason::Anonymous))
        );
        let p = policy("refuse_anonymous = false");
        assert_eq!(refusal(p.check_inbound(&it("anonymous"), at(NOON))), None);
    }

    #[test]
    fn blocked_callers_get_403_in_any_written_form() {
        let p = policy(r#"blocked_callers = ["+39 02 1234 5678"]"#);
        for form in ["0212345678", "+390212345678", "00390212345678"] {
            assert_eq!(
                refusal(p.check_inbound(&it(form), at(NOON))),
                Some((403, RefusalReason::Blocked)),
                "{form}"
            );
        }
        assert_eq!(refusal(p.check_inbound(&it("0212345679"), at(NOON))), None);
    }

    #[test]
    fn callers_outside_allowed_country_prefixes_get_403() {
        let p = policy(r#"allowed_caller_prefixes = ["+39", "+41"]"#);
        assert_eq!(refusal(p.check_inbound(&it("0212345678"), at(NOON))), None);
        assert_eq!(
            refusal(p.check_inbound(&it("+442079460018"), at(NOON))),
            Some((403, RefusalReason::CountryNotAllowed))
        );
        assert_eq!(
            refusal(p.check_inbound(&it("12"), at(NOON))),
            Some((403, RefusalReason::CountryNotAllowed)),
            "digits that are no valid number cannot show their country"
        );
        assert_eq!(refusal(p.check_inbound(&it("alice"), at(NOON))), None);
        let strict = policy(
            r#"allowed_caller_prefixes = ["+39"]
               allow_named_callers = false"#,
        );
        assert_eq!(
            refusal(strict.check_inbound(&it("alice"), at(NOON))),
            Some((403, RefusalReason::CountryNotAllowed))
        );
    }

    #[test]
    fn calls_over_the_channel_limit_get_486_until_one_hangs_up() {
        let p = policy("channels = 2");
        let a = p.check_inbound(&it("0212345671"), at(NOON));
        let b = p.check_inbound(&it("0212345672"), at(NOON));
        assert!(matches!(a, InboundVerdict::Admit(_)));
        assert!(matches!(b, InboundVerdict::Admit(_)));
        assert_eq!(p.channels().in_use(), 2);
        assert_eq!(
            refusal(p.check_inbound(&it("0212345673"), at(NOON))),
            Some((486, RefusalReason::ChannelLimit))
        );
        drop(a);
        assert_eq!(p.channels().in_use(), 1);
        assert!(matches!(
            p.check_inbound(&it("0212345673"), at(NOON)),
            InboundVerdict::Admit(_)
        ));
    }

    #[test]
    fn per_minute_rate_slides_with_time() {
        let p = policy("rate = { per_minute = 2, per_hour = 10 }");
        let caller = it("0212345678");
        let t0 = at(NOON);
        assert_eq!(refusal(p.check_inbound(&caller, t0)), None);
        assert_eq!(
            refusal(p.check_inbound(&caller, t0 + Duration::from_secs(20))),
            None
        );
        assert_eq!(
            refusal(p.check_inbound(&caller, t0 + Duration::from_secs(59))),
            Some((486, RefusalReason::RateLimited))
        );
        // Another caller is not affected.
        assert_eq!(refusal(p.check_inbound(&it("0212345679"), t0)), None);
        // At t0+60 s the first call has left the window; the refused one
        // never counted.
        assert_eq!(
            refusal(p.check_inbound(&caller, t0 + Duration::from_secs(60))),
            None
        );
        assert_eq!(
            refusal(p.check_inbound(&caller, t0 + Duration::from_secs(61))),
            Some((486, RefusalReason::RateLimited))
        );
    }

    #[test]
    fn per_hour_rate_counts_the_last_3600_seconds() {
        let p = policy("rate = { per_minute = 1, per_hour = 3 }");
        let caller = it("+12125550123");
        let t0 = at(NOON);
        for k in 0..3 {
            let t = t0 + Duration::from_secs(k * 600);
            assert_eq!(refusal(p.check_inbound(&caller, t)), None, "call {k}");
        }
        let t = t0 + Duration::from_secs(3599);
        assert_eq!(
            refusal(p.check_inbound(&caller, t)),
            Some((486, RefusalReason::RateLimited))
        );
        assert_eq!(refusal(p.check_inbound(&caller, t0 + HOUR)), None);
    }

    #[test]
    fn rate_memory_is_bounded_by_forgetting_the_least_recent_caller() {
        let p = policy("rate = { per_minute = 1, per_hour = 1, max_tracked_callers = 2 }");
        let t = at(NOON);
        let (a, b, c) = (it("0212345671"), it("0212345672"), it("0212345673"));
        assert_eq!(refusal(p.check_inbound(&a, t)), None);
        assert_eq!(refusal(p.check_inbound(&b, t)), None);
        // a is seen again (refused), so b is now the least recent.
        assert!(refusal(p.check_inbound(&a, t)).is_some());
        assert_eq!(refusal(p.check_inbound(&c, t)), None);
        let rates = lock(p.rates.as_ref().unwrap());
        assert_eq!(rates.callers.len(), 2);
        assert_eq!(rates.recency.len(), 2);
        assert!(!rates.callers.contains_key(b.key()));
        drop(rates);
        // b was forgotten, so it is admitted again; a is still limited.
        assert_eq!(refusal(p.check_inbound(&b, t)), None);
        assert!(refusal(p.check_inbound(&c, t)).is_some());
    }

    #[test]
    fn refusal_codes_are_stable_labels() {
        let all = [
            (RefusalReason::Anonymous, "anonymous", 433),
            (RefusalReason::Blocked, "blocked", 403),
            (RefusalReason::CountryNotAllowed, "country", 403),
            (RefusalReason::RateLimited, "rate", 486),
            (RefusalReason::ChannelLimit, "channels", 486),
            (RefusalReason::DestinationNotAllowed, "destination", 403),
            (RefusalReason::MinutesCapReached, "minutes", 403),
        ];
        for (reason, code, status) in all {
            assert_eq!(reason.code(), code);
            assert_eq!(reason.status(), status);
            assert_eq!(reason.to_string(), code);
            assert_eq!(
                crate::record::Outcome::from(reason),
                crate::record::Outcome::Refused {
                    status,
                    reason: code.to_string()
                }
            );
        }
    }

    fn grant(v: OutboundVerdict) -> OutboundGrant {
        match v {
            OutboundVerdict::Admit(g) => g,
            OutboundVerdict::Refuse { status, reason } => panic!("refused {status} {reason}"),
        }
    }

    fn out_refusal(v: OutboundVerdict) -> Option<(u16, RefusalReason)> {
        match v {
            OutboundVerdict::Admit(_) => None,
            OutboundVerdict::Refuse { status, reason } => Some((status, reason)),
        }
    }

    #[test]
    fn outbound_goes_only_to_allowed_destination_prefixes() {
        let p = policy("");
        assert_eq!(
            out_refusal(p.check_outbound(&it("0212345678"), at(NOON))),
            Some((403, RefusalReason::DestinationNotAllowed)),
            "no allow-list means no outbound calls"
        );
        let p = policy(r#"outbound = { allowed_destination_prefixes = ["+39"] }"#);
        let g = grant(p.check_outbound(&it("0212345678"), at(NOON)));
        assert_eq!(g.max_duration(), None);
        for premium in ["+882123456789", "+442079460018", "anonymous", "alice"] {
            assert_eq!(
                out_refusal(p.check_outbound(&it(premium), at(NOON))),
                Some((403, RefusalReason::DestinationNotAllowed)),
                "{premium}"
            );
        }
    }

    fn capped(minutes: u32, reserve: u32) -> Policy {
        policy(&format!(
            r#"[outbound]
               allowed_destination_prefixes = ["+39"]
               minutes_per_day = {minutes}
               reserve_minutes = {reserve}"#
        ))
    }

    #[test]
    fn concurrent_outbound_calls_cannot_reserve_past_the_daily_cap() {
        let p = capped(25, 10);
        let n = it("0212345678");
        let t = at(NOON);
        let a = grant(p.check_outbound(&n, t));
        let b = grant(p.check_outbound(&n, t));
        let c = grant(p.check_outbound(&n, t));
        assert_eq!(a.max_duration(), Some(Duration::from_secs(600)));
        assert_eq!(b.max_duration(), Some(Duration::from_secs(600)));
        assert_eq!(
            c.max_duration(),
            Some(Duration::from_secs(300)),
            "only 5 left"
        );
        assert_eq!(
            out_refusal(p.check_outbound(&n, t)),
            Some((403, RefusalReason::MinutesCapReached))
        );
        assert_eq!(
            p.minutes_used(t),
            (Duration::ZERO, Duration::from_secs(1500))
        );
        // a talked 2 minutes: 8 come back, and a new call gets them.
        a.settle(Duration::from_secs(120));
        assert_eq!(
            p.minutes_used(t),
            (Duration::from_secs(120), Duration::from_secs(900))
        );
        let d = grant(p.check_outbound(&n, t));
        assert_eq!(d.max_duration(), Some(Duration::from_secs(480)));
        // A dropped grant is charged in full.
        drop(b);
        assert_eq!(
            p.minutes_used(t),
            (Duration::from_secs(720), Duration::from_secs(780))
        );
        drop((c, d));
    }

    #[test]
    fn extending_a_call_takes_from_the_same_days_budget() {
        let p = capped(15, 10);
        let t = at(NOON);
        let mut a = grant(p.check_outbound(&it("0212345678"), t));
        assert_eq!(a.extend(), Some(Duration::from_secs(900)));
        assert_eq!(a.extend(), Some(Duration::from_secs(900)), "budget spent");
        a.settle(Duration::from_secs(890));
        assert_eq!(
            p.minutes_used(t),
            (Duration::from_secs(890), Duration::ZERO)
        );
    }

    #[test]
    fn the_minutes_day_turns_at_midnight_in_the_tenants_time_zone() {
        let p = capped(10, 10);
        let n = it("0212345678");
        // 23:30 in Rome (CET, UTC+1) is 22:30 UTC.
        let late = at("2026-12-04T22:30:00Z");
        let call = grant(p.check_outbound(&n, late));
        assert_eq!(
            out_refusal(p.check_outbound(&n, late + Duration::from_secs(1200))),
            Some((403, RefusalReason::MinutesCapReached)),
            "23:50 Rome is still the same day though UTC is 22:50"
        );
        // 00:10 in Rome on the 5th: a new day with a whole budget, while the
        // call from the 4th is still open and charged to the 4th.
        let next = at("2026-12-04T23:10:00Z");
        let fresh = grant(p.check_outbound(&n, next));
        assert_eq!(fresh.max_duration(), Some(Duration::from_secs(600)));
        call.settle(Duration::from_secs(900));
        assert_eq!(
            p.minutes_used(late),
            (Duration::from_secs(900), Duration::ZERO)
        );
        assert_eq!(
            p.minutes_used(next),
            (Duration::ZERO, Duration::from_secs(600))
        );
        fresh.settle(Duration::from_secs(60));
    }

    #[test]
    fn outbound_calls_share_the_channel_limit() {
        let p = policy(
            r#"channels = 1
               outbound = { allowed_destination_prefixes = ["+39"] }"#,
        );
        let inbound = p.check_inbound(&it("0212345678"), at(NOON));
        assert!(matches!(inbound, InboundVerdict::Admit(_)));
        assert_eq!(
            out_refusal(p.check_outbound(&it("0212345679"), at(NOON))),
            Some((486, RefusalReason::ChannelLimit))
        );
    }

    #[test]
    fn loads_from_toml_and_refuses_bad_values_naming_the_setting() {
        let full: PolicyConfig = toml::from_str(
            r#"
            refuse_anonymous = true
            allowed_caller_prefixes = ["+39", "+41"]
            blocked_callers = ["+390212345678"]
            channels = 30
            [rate]
            per_minute = 3
            per_hour = 20
            [outbound]
            allowed_destination_prefixes = ["+39", "+41"]
            minutes_per_day = 600
            "#,
        )
        .unwrap();
        assert_eq!(full.validate(), Ok(()));
        assert_eq!(full.rate.as_ref().unwrap().max_tracked_callers, 10_000);
        assert_eq!(full.outbound.reserve_minutes, 10);

        let bad = |text: &str| -> String {
            let c: PolicyConfig = toml::from_str(text).unwrap();
            c.validate().unwrap_err().setting
        };
        assert_eq!(
            bad("rate = { per_minute = 0, per_hour = 5 }"),
            "rate.per_minute"
        );
        assert_eq!(
            bad("rate = { per_minute = 5, per_hour = 0 }"),
            "rate.per_hour"
        );
        assert_eq!(
            bad("rate = { per_minute = 5, per_hour = 4 }"),
            "rate.per_hour"
        );
        assert_eq!(
            bad("rate = { per_minute = 1, per_hour = 1, max_tracked_callers = 0 }"),
            "rate.max_tracked_callers"
        );
        assert_eq!(bad("channels = 0"), "channels");
        assert_eq!(
            bad(r#"allowed_caller_prefixes = ["+39", "+999"]"#),
            "allowed_caller_prefixes[1]"
        );
        assert_eq!(
            bad(r#"allowed_caller_prefixes = ["39"]"#),
            "allowed_caller_prefixes[0]"
        );
        assert_eq!(
            bad(r#"blocked_callers = ["0212345678"]"#),
            "blocked_callers[0]"
        );
        assert_eq!(
            bad(r#"outbound = { allowed_destination_prefixes = ["+1", "00"] }"#),
            "outbound.allowed_destination_prefixes[1]"
        );
        assert_eq!(
            bad("outbound = { minutes_per_day = 0 }"),
            "outbound.minutes_per_day"
        );
        assert_eq!(
            bad("outbound = { reserve_minutes = 0 }"),
            "outbound.reserve_minutes"
        );
        assert!(
            toml::from_str::<PolicyConfig>("chanels = 3").is_err(),
            "typos are refused"
        );
    }
}
