//! Which agent answers a call: tenants, their DIDs and profiles, opening
//! hours, and the router that puts them together.
//!
//! One switch serves several tenants, each with its own DIDs, profiles,
//! limits ([`policy`](crate::policy)), outbound routes and customer list.
//! A call is routed in three steps, all in the tenant's own terms:
//!
//! 1. the called number (DID) picks a profile, or the tenant's default;
//! 2. a known caller ([`customer`](crate::customer)) may have a profile of
//!    their own, which wins;
//! 3. the profile's opening hours, read on the wall clock of the profile's
//!    time zone (so a Rome office opens at 09:00 local time on both sides
//!    of a daylight-saving change), decide whether its agent answers or
//!    its out-of-hours action applies: another profile, another agent, or
//!    a greeting followed by hang-up or voicemail.
//!
//! Opening hours are written per weekday as ranges `"09:00-13:00"`; a range
//! that runs past midnight says so with `+1` (`"22:00-06:00+1"`), so that
//! an inverted range (`"18:00-09:00"`) is caught as the typo it usually is.
//! A range belongs to the day it starts on: a holiday closes the ranges
//! that start on it, and the night shift that began the evening before
//! runs to its end. Holidays are dates (`"2026-04-06"`) or yearly
//! (`"12-25"`).
//!
//! Time zones come from `jiff` (the IANA database, bundled so that a
//! machine without tzdata routes the same way).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::Deserialize;

use crate::config::{ConfigError, Validate};
use crate::customer::{Customer, CustomerError, CustomerLookup, CustomersConfig};
use crate::numbers::{e164_number_setting, Normalised, Normaliser, PhoneNumber};
use crate::outbound_routes::{OutboundRoutes, OutboundRoutesConfig};
use crate::policy::{Policy, PolicyConfig};

/// What a profile does when it is closed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum OutOfHours {
    /// Hand the call to another profile (which has its own hours).
    Profile {
        /// The other profile's name.
        profile: String,
    },
    /// Keep this profile's settings but let another agent answer.
    Agent {
        /// The agent's name.
        agent: String,
    },
    /// Play a greeting, then hang up or take a voicemail.
    Greeting {
        /// The prompt (a file or text, as the agent layer understands it).
        greeting: String,
        /// What follows the greeting. Default: hang up.
        #[serde(default)]
        then: AfterGreeting,
    },
}

/// What follows an out-of-hours greeting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AfterGreeting {
    /// End the call.
    #[default]
    HangUp,
    /// Record a message (the profile must have voicemail on).
    Voicemail,
}

/// Opening hours per weekday: each a list of `"HH:MM-HH:MM"` ranges
/// (`"+1"` after the end for a range past midnight). A missing day is
/// closed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeeklyHours {
    /// Monday's ranges.
    #[serde(default)]
    pub monday: Vec<String>,
    /// Tuesday's ranges.
    #[serde(default)]
    pub tuesday: Vec<String>,
    /// Wednesday's ranges.
    #[serde(default)]
    pub wednesday: Vec<String>,
    /// Thursday's ranges.
    #[serde(default)]
    pub thursday: Vec<String>,
    /// Friday's ranges.
    #[serde(default)]
    pub friday: Vec<String>,
    /// Saturday's ranges.
    #[serde(default)]
    pub saturday: Vec<String>,
    /// Sunday's ranges.
    #[serde(default)]
    pub sunday: Vec<String>,
}

impl WeeklyHours {
    /// The days Monday first, with their setting names.
    fn days(&self) -> [(&'static str, &[String]); 7] {
        [
            ("monday", &self.monday),
            ("tuesday", &self.tuesday),
            ("wednesday", &self.wednesday),
            ("thursday", &self.thursday),
            ("friday", &self.friday),
            ("saturday", &self.saturday),
            ("sunday", &self.sunday),
        ]
    }
}

/// How a call is handed to a person (the profile's human number, a
/// number or URI an agent transfers to).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransferMethod {
    /// Blind transfer (REFER, RFC 3515 and RFC 5589): the far end (the
    /// provider, the gateway) places the call to the person and we leave.
    /// Needs a far end that takes REFER.
    #[default]
    Refer,
    /// We place the call to the person ourselves, through the tenant's
    /// outbound routes, play ringback to the caller while it rings, and
    /// join the two calls' media when it answers; the call ends when
    /// either side hangs up. Works with any far end; uses a second channel
    /// and the tenant's outbound minutes.
    Bridge,
}

/// A profile: which agent answers, with what, and when.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileConfig {
    /// The agent that answers in hours.
    pub agent: String,
    /// The greeting the agent opens with.
    #[serde(default)]
    pub greeting: Option<String>,
    /// Where a caller who asks for a person is transferred, in E.164.
    #[serde(default)]
    pub human_number: Option<String>,
    /// Whether callers may leave a message.
    #[serde(default)]
    pub voicemail: bool,
    /// How calls are handed to a person: `"refer"` (the default) or
    /// `"bridge"`.
    #[serde(default)]
    pub transfer: TransferMethod,
    /// A short prompt (WAV, MP3, FLAC or OGG) played when the agent fails,
    /// before the call goes to the human number or to voicemail
    /// ("Sorry, something went wrong; let me put you through").
    #[serde(default)]
    pub apology: Option<PathBuf>,
    /// IANA time zone the hours and holidays are read in
    /// (`"Europe/Rome"`).
    pub time_zone: String,
    /// Opening hours; absent: always open (holidays still close).
    #[serde(default)]
    pub hours: Option<WeeklyHours>,
    /// Closed days: `"2026-04-06"` once, `"12-25"` every year.
    #[serde(default)]
    pub holidays: Vec<String>,
    /// What happens when closed; needed when `hours` or `holidays` are
    /// set.
    #[serde(default)]
    pub out_of_hours: Option<OutOfHours>,
    /// The questions the assistant agent answers
    /// ([`Assistant`](crate::agents::Assistant)): each entry's phrases,
    /// matched on the caller's words in any order, lead to its answer.
    #[serde(default)]
    pub faq: Vec<FaqEntry>,
    /// A menu the assistant says after the greeting ("press 1 to talk to
    /// the assistant, 2 for a person"): key `1` goes on with the
    /// assistant, `2` (like `0` at any time) reaches a person.
    #[serde(default)]
    pub menu: Option<String>,
    /// Where the assistant sends a caller it did not understand twice in
    /// a row. Default: a person (the human number), else voicemail where
    /// the profile offers it.
    #[serde(default)]
    pub not_understood: NotUnderstood,
}

/// One question the assistant knows: how callers ask it, and the answer.
///
/// ```toml
/// [[tenants.profiles.front.faq]]
/// phrases = ["opening hours", "when are you open"]
/// answer = "We are open Monday to Friday, nine to six."
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaqEntry {
    /// Ways a caller asks the question; the words count, not their order,
    /// case or punctuation.
    pub phrases: Vec<String>,
    /// What the assistant says back.
    pub answer: String,
}

/// Where a caller the assistant did not understand twice goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotUnderstood {
    /// The profile's human number; voicemail when it has none.
    #[default]
    Human,
    /// Voicemail (the profile must have voicemail on).
    Voicemail,
}

/// A tenant: one customer of the switch with its own numbers, profiles,
/// limits, outbound routes and customer list.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// The tenant's name (records and metrics are labelled with it).
    pub name: String,
    /// ISO 3166-1 region national numbers are read in (`"IT"`).
    pub default_country: String,
    /// IANA time zone the tenant's day (minutes cap) is counted in.
    pub time_zone: String,
    /// DIDs, in any form the default country allows, to profile names.
    #[serde(default)]
    pub dids: BTreeMap<String, String>,
    /// The profile for a DID not listed (or a called party that is not a
    /// number); absent: such calls are not routed.
    #[serde(default)]
    pub default_profile: Option<String>,
    /// The profiles, by name.
    pub profiles: BTreeMap<String, ProfileConfig>,
    /// Policy and limits.
    #[serde(default)]
    pub limits: PolicyConfig,
    /// Outbound routes (transfers, fallbacks, originated calls).
    #[serde(default)]
    pub outbound_routes: OutboundRoutesConfig,
    /// Where known callers are listed.
    #[serde(default)]
    pub customers: Option<CustomersConfig>,
}

/// Every tenant of a switch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantsConfig {
    /// The tenants; names and DIDs must be unique across them.
    #[serde(default)]
    pub tenants: Vec<TenantConfig>,
}

/// An opening range in seconds of the local day; `end` may pass 86 400
/// for a range that runs past midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct OpenRange {
    start: u32,
    end: u32,
}

const DAY: u32 = 86_400;

fn clock(text: &str, allow_24: bool) -> Result<u32, String> {
    let (h, m) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?} is not a time of day HH:MM"))?;
    let h: u32 = h
        .parse()
        .map_err(|_| format!("{text:?} is not a time of day HH:MM"))?;
    let m: u32 = m
        .parse()
        .map_err(|_| format!("{text:?} is not a time of day HH:MM"))?;
    if m > 59 || h > 24 || (h == 24 && (m > 0 || !allow_24)) {
        return Err(format!(
            "{text:?} is not a time of day between 00:00 and 23:59"
        ));
    }
    Ok(h * 3600 + m * 60)
}

fn open_range(text: &str) -> Result<OpenRange, String> {
    let (start, end) = text
        .split_once('-')
        .ok_or_else(|| format!("{text:?} is not a range HH:MM-HH:MM"))?;
    let start = clock(start.trim(), false)?;
    let end = end.trim();
    if let Some(end) = end.strip_suffix("+1") {
        let end = clock(end.trim(), false)? + DAY;
        if end - start > DAY {
            return Err(format!("{text:?} is longer than a day"));
        }
        Ok(OpenRange { start, end })
    } else {
        let end = clock(end, true)?;
        if end <= start {
            return Err(format!(
                "{text:?} closes before it opens; write \"+1\" after the end for a range past midnight"
            ));
        }
        Ok(OpenRange { start, end })
    }
}

/// Holidays: one-off dates and yearly (month, day).
#[derive(Debug, Clone, Default)]
struct Holidays {
    dates: HashSet<Date>,
    yearly: HashSet<(i8, i8)>,
}

impl Holidays {
    fn contains(&self, date: Date) -> bool {
        self.dates.contains(&date) || self.yearly.contains(&(date.month(), date.day()))
    }
}

fn holiday(text: &str, holidays: &mut Holidays) -> Result<(), String> {
    let bad = || format!("{text:?} is neither a date YYYY-MM-DD nor a yearly MM-DD");
    match text.len() {
        10 => {
            holidays.dates.insert(text.parse().map_err(|_| bad())?);
        }
        5 => {
            let (m, d) = text.split_once('-').ok_or_else(bad)?;
            let m: i8 = m.parse().map_err(|_| bad())?;
            let d: i8 = d.parse().map_err(|_| bad())?;
            // A leap year accepts every day that exists in some year.
            Date::new(2024, m, d).map_err(|_| bad())?;
            holidays.yearly.insert((m, d));
        }
        _ => return Err(bad()),
    }
    Ok(())
}

/// A profile, checked and ready: its settings and its hours.
#[derive(Debug)]
pub struct Profile {
    name: String,
    agent: String,
    greeting: Option<String>,
    human_number: Option<PhoneNumber>,
    voicemail: bool,
    transfer: TransferMethod,
    apology: Option<PathBuf>,
    time_zone: TimeZone,
    hours: Option<[Vec<OpenRange>; 7]>,
    holidays: Holidays,
    out_of_hours: Option<OutOfHours>,
    faq: Vec<FaqEntry>,
    menu: Option<String>,
    not_understood: NotUnderstood,
}

/// Refuses an FAQ entry without phrases, an empty phrase or an empty
/// answer, naming it (`faq[2].phrases[0]`).
pub(crate) fn check_faq(faq: &[FaqEntry]) -> Result<(), ConfigError> {
    for (i, entry) in faq.iter().enumerate() {
        if entry.phrases.is_empty() {
            return Err(ConfigError::new(
                format!("faq[{i}].phrases"),
                "an FAQ entry needs at least one phrase a caller would say",
            ));
        }
        for (j, phrase) in entry.phrases.iter().enumerate() {
            if !phrase.chars().any(char::is_alphanumeric) {
                return Err(ConfigError::new(
                    format!("faq[{i}].phrases[{j}]"),
                    format!("{phrase:?} has no words to match"),
                ));
            }
        }
        if entry.answer.trim().is_empty() {
            return Err(ConfigError::new(format!("faq[{i}].answer"), "empty answer"));
        }
    }
    Ok(())
}

impl Profile {
    /// Checks `config` and builds the profile called `name`.
    pub fn new(name: &str, config: &ProfileConfig) -> Result<Self, ConfigError> {
        if config.agent.trim().is_empty() {
            return Err(ConfigError::new("agent", "a profile needs an agent"));
        }
        let time_zone = TimeZone::get(&config.time_zone).map_err(|_| {
            ConfigError::new(
                "time_zone",
                format!(
                    "{:?} is not a known IANA time zone (e.g. \"Europe/Rome\")",
                    config.time_zone
                ),
            )
        })?;
        let human_number = config
            .human_number
            .as_deref()
            .map(e164_number_setting)
            .transpose()
            .map_err(|e| ConfigError::new("human_number", e))?;
        if config
            .apology
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            return Err(ConfigError::new(
                "apology",
                "is empty: name a prompt file, or leave the setting out",
            ));
        }
        let hours = match &config.hours {
            None => None,
            Some(week) => {
                let mut days: [Vec<OpenRange>; 7] = Default::default();
                for (slot, (day, ranges)) in days.iter_mut().zip(week.days()) {
                    for (i, r) in ranges.iter().enumerate() {
                        let range = open_range(r)
                            .map_err(|e| ConfigError::new(format!("hours.{day}[{i}]"), e))?;
                        slot.push(range);
                    }
                }
                Some(days)
            }
        };
        let mut holidays = Holidays::default();
        for (i, h) in config.holidays.iter().enumerate() {
            holiday(h, &mut holidays).map_err(|e| ConfigError::new(format!("holidays[{i}]"), e))?;
        }
        let closes = hours.is_some() || !config.holidays.is_empty();
        match &config.out_of_hours {
            None if closes => {
                return Err(ConfigError::new(
                    "out_of_hours",
                    "the profile has hours or holidays, so it needs an out-of-hours action",
                ))
            }
            Some(OutOfHours::Profile { profile }) if profile.trim().is_empty() => {
                return Err(ConfigError::new(
                    "out_of_hours.profile",
                    "empty profile name",
                ))
            }
            Some(OutOfHours::Agent { agent }) if agent.trim().is_empty() => {
                return Err(ConfigError::new("out_of_hours.agent", "empty agent name"))
            }
            Some(OutOfHours::Greeting { greeting, then }) => {
                if greeting.trim().is_empty() {
                    return Err(ConfigError::new("out_of_hours.greeting", "empty greeting"));
                }
                if *then == AfterGreeting::Voicemail && !config.voicemail {
                    return Err(ConfigError::new(
                        "out_of_hours.then",
                        "voicemail after the greeting, but this profile has voicemail off",
                    ));
                }
            }
            _ => {}
        }
        check_faq(&config.faq)?;
        if config.menu.as_deref().is_some_and(|m| m.trim().is_empty()) {
            return Err(ConfigError::new(
                "menu",
                "empty menu; leave the setting out for none",
            ));
        }
        if config.not_understood == NotUnderstood::Voicemail && !config.voicemail {
            return Err(ConfigError::new(
                "not_understood",
                "voicemail for callers not understood, but this profile has voicemail off",
            ));
        }
        Ok(Profile {
            name: name.to_string(),
            agent: config.agent.clone(),
            greeting: config.greeting.clone(),
            human_number,
            voicemail: config.voicemail,
            transfer: config.transfer,
            apology: config.apology.clone(),
            time_zone,
            hours,
            holidays,
            out_of_hours: config.out_of_hours.clone(),
            faq: config.faq.clone(),
            menu: config.menu.clone(),
            not_understood: config.not_understood,
        })
    }

    /// The profile's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The agent that answers in hours.
    pub fn agent(&self) -> &str {
        &self.agent
    }

    /// The greeting the agent opens with.
    pub fn greeting(&self) -> Option<&str> {
        self.greeting.as_deref()
    }

    /// Where to transfer a caller who asks for a person.
    pub fn human_number(&self) -> Option<&PhoneNumber> {
        self.human_number.as_ref()
    }

    /// Whether callers may leave a message.
    pub fn voicemail(&self) -> bool {
        self.voicemail
    }

    /// How calls are handed to a person.
    pub fn transfer(&self) -> TransferMethod {
        self.transfer
    }

    /// The prompt played when the agent fails, before the fallback.
    pub fn apology(&self) -> Option<&Path> {
        self.apology.as_deref()
    }

    /// The time zone hours are read in.
    pub fn time_zone(&self) -> &TimeZone {
        &self.time_zone
    }

    /// What happens when closed.
    pub fn out_of_hours(&self) -> Option<&OutOfHours> {
        self.out_of_hours.as_ref()
    }

    /// The questions the assistant answers (checked: every entry has
    /// phrases with words and an answer).
    pub fn faq(&self) -> &[FaqEntry] {
        &self.faq
    }

    /// The menu said after the greeting, if any.
    pub fn menu(&self) -> Option<&str> {
        self.menu.as_deref()
    }

    /// Where a caller the assistant did not understand twice goes.
    pub fn not_understood(&self) -> NotUnderstood {
        self.not_understood
    }

    /// Whether the profile is open at `now`, on its own wall clock.
    pub fn is_open(&self, now: Timestamp) -> bool {
        let local = self.time_zone.to_datetime(now);
        let date = local.date();
        let t = local.hour() as u32 * 3600 + local.minute() as u32 * 60 + local.second() as u32;
        let Some(week) = &self.hours else {
            return !self.holidays.contains(date);
        };
        let day = |d: Date| &week[d.weekday().to_monday_zero_offset() as usize];
        let today =
            !self.holidays.contains(date) && day(date).iter().any(|r| r.start <= t && t < r.end);
        let spill = || {
            date.yesterday()
                .is_ok_and(|y| !self.holidays.contains(y) && day(y).iter().any(|r| t + DAY < r.end))
        };
        today || spill()
    }
}

impl Validate for ProfileConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        Profile::new("", self).map(|_| ())
    }
}

/// A tenant, checked and ready: its numbering, policy, profiles, routes.
#[derive(Debug)]
pub struct Tenant {
    name: String,
    normaliser: Normaliser,
    dids: HashMap<String, Arc<Profile>>,
    default_profile: Option<Arc<Profile>>,
    profiles: HashMap<String, Arc<Profile>>,
    policy: Policy,
    outbound_routes: OutboundRoutes,
    customers: Option<Arc<dyn CustomerLookup>>,
    customers_config: Option<CustomersConfig>,
}

impl Tenant {
    /// Checks `config` and builds the tenant (without opening its customer
    /// list; see [`Router::open`]).
    pub fn new(config: &TenantConfig) -> Result<Self, ConfigError> {
        if config.name.trim().is_empty() {
            return Err(ConfigError::new("name", "a tenant needs a name"));
        }
        let normaliser = Normaliser::new(&config.default_country)
            .map_err(|e| ConfigError::new("default_country", e))?;
        let time_zone = TimeZone::get(&config.time_zone).map_err(|_| {
            ConfigError::new(
                "time_zone",
                format!(
                    "{:?} is not a known IANA time zone (e.g. \"Europe/Rome\")",
                    config.time_zone
                ),
            )
        })?;
        if config.profiles.is_empty() {
            return Err(ConfigError::new(
                "profiles",
                "a tenant needs at least one profile",
            ));
        }
        let mut profiles = HashMap::new();
        for (name, p) in &config.profiles {
            let profile =
                Profile::new(name, p).map_err(|e| e.within(&format!("profiles.{name}")))?;
            profiles.insert(name.clone(), Arc::new(profile));
        }
        for (name, profile) in &profiles {
            check_out_of_hours_chain(name, profile, &profiles)?;
        }
        let known = |name: &str, setting: String| {
            profiles
                .get(name)
                .cloned()
                .ok_or_else(|| ConfigError::new(setting, format!("there is no profile {name:?}")))
        };
        let mut dids = HashMap::new();
        let mut written: HashMap<String, &str> = HashMap::new();
        for (did, profile) in &config.dids {
            let setting = format!("dids.{did:?}");
            let number = normaliser
                .setting_number(did)
                .map_err(|e| ConfigError::new(setting.clone(), e))?;
            let e164 = number.e164().to_string();
            if let Some(other) = written.insert(e164.clone(), did) {
                return Err(ConfigError::new(
                    setting,
                    format!("the same number as {other:?} ({e164})"),
                ));
            }
            dids.insert(e164, known(profile, setting)?);
        }
        let default_profile = config
            .default_profile
            .as_deref()
            .map(|p| known(p, "default_profile".to_string()))
            .transpose()?;
        let policy = Policy::new(&config.limits, time_zone).map_err(|e| e.within("limits"))?;
        let outbound_routes = OutboundRoutes::new(&config.outbound_routes)
            .map_err(|e| e.within("outbound_routes"))?;
        if let Some(c) = &config.customers {
            c.validate().map_err(|e| e.within("customers"))?;
        }
        Ok(Tenant {
            name: config.name.clone(),
            normaliser,
            dids,
            default_profile,
            profiles,
            policy,
            outbound_routes,
            customers: None,
            customers_config: config.customers.clone(),
        })
    }

    /// The tenant's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Reads numbers in the tenant's country: normalise the caller and
    /// the DID with it before [`policy`](Self::policy) and
    /// [`Router::route`].
    pub fn normaliser(&self) -> &Normaliser {
        &self.normaliser
    }

    /// The tenant's policy and limits.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The tenant's outbound routes.
    pub fn outbound_routes(&self) -> &OutboundRoutes {
        &self.outbound_routes
    }

    /// A profile by name.
    pub fn profile(&self, name: &str) -> Option<&Arc<Profile>> {
        self.profiles.get(name)
    }

    /// Uses `lookup` to find callers (replacing any configured list).
    pub fn set_customers(&mut self, lookup: Arc<dyn CustomerLookup>) {
        self.customers = Some(lookup);
    }

    fn customer(&self, caller: &Normalised) -> Option<Customer> {
        let (Some(lookup), Some(number)) = (&self.customers, caller.number()) else {
            return None;
        };
        match lookup.find(number) {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(tenant = %self.name, caller = number.e164(), error = %e,
                    "customer lookup failed; routing without a customer");
                None
            }
        }
    }
}

/// Refuses an out-of-hours `profile` chain that names an unknown profile
/// or comes back to a profile already on it (a call could then go round
/// for ever on a holiday that closes them all).
fn check_out_of_hours_chain(
    start: &str,
    profile: &Profile,
    profiles: &HashMap<String, Arc<Profile>>,
) -> Result<(), ConfigError> {
    let setting = format!("profiles.{start}.out_of_hours.profile");
    let mut seen = vec![start.to_string()];
    let mut current = profile;
    while let Some(OutOfHours::Profile { profile: next }) = &current.out_of_hours {
        let Some(p) = profiles.get(next) else {
            return Err(ConfigError::new(
                setting,
                format!("there is no profile {next:?}"),
            ));
        };
        if seen.contains(next) {
            seen.push(next.clone());
            return Err(ConfigError::new(
                setting,
                format!(
                    "out-of-hours profiles go round in a loop: {}",
                    seen.join(" → ")
                ),
            ));
        }
        seen.push(next.clone());
        current = p;
    }
    Ok(())
}

impl Validate for TenantConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        Tenant::new(self).map(|_| ())
    }
}

impl Validate for TenantsConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        Router::new(self).map(|_| ())
    }
}

/// What routing decided for a call.
#[derive(Debug, Clone)]
pub struct Route {
    /// The tenant's name.
    pub tenant: String,
    /// The profile the DID (or the customer's own profile) picked.
    pub profile: Arc<Profile>,
    /// The caller, when the customer list knows them.
    pub customer: Option<Customer>,
    /// Whether [`profile`](Self::profile) is open now.
    pub in_hours: bool,
    /// What the switch does with the call.
    pub action: RouteAction,
}

/// What the switch does with a routed call.
#[derive(Debug, Clone)]
pub enum RouteAction {
    /// `agent` answers, with `profile`'s settings (greeting, human number,
    /// voicemail): the routed profile in hours, or the one its
    /// out-of-hours action names.
    Answer {
        /// The agent's name.
        agent: String,
        /// The profile whose settings apply.
        profile: Arc<Profile>,
    },
    /// Play `greeting`, then `then`.
    Greeting {
        /// The prompt.
        greeting: String,
        /// Hang up or take a voicemail.
        then: AfterGreeting,
    },
}

/// Why a call could not be routed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// No tenant by that name.
    #[error("no tenant {0:?}")]
    UnknownTenant(String),
    /// The called number is not one of the tenant's DIDs and the tenant
    /// has no default profile.
    #[error("tenant {tenant:?} has no profile for the called number {did:?}")]
    UnknownDid {
        /// The tenant.
        tenant: String,
        /// The called number (E.164, or raw if it is not a number).
        did: String,
    },
}

impl RouteError {
    /// The SIP final response for a call that cannot be routed: 404 Not
    /// Found (RFC 3261 §21.4.5), the number does not exist here.
    pub fn status(&self) -> u16 {
        404
    }
}

/// Why the router could not start.
#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    /// A setting is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A tenant's customer list could not be opened.
    #[error("tenant {tenant:?}: {source}")]
    Customers {
        /// The tenant.
        tenant: String,
        /// What went wrong.
        source: CustomerError,
    },
}

/// All tenants, and the routing of a call to a profile and an action.
#[derive(Debug)]
pub struct Router {
    tenants: HashMap<String, Tenant>,
    did_owner: HashMap<String, String>,
}

impl Router {
    /// Checks every tenant and builds the router, without opening customer
    /// lists (give them with [`Tenant::set_customers`], or use
    /// [`open`](Self::open)).
    pub fn new(config: &TenantsConfig) -> Result<Self, ConfigError> {
        let mut tenants = HashMap::new();
        let mut did_owner = HashMap::new();
        for (i, t) in config.tenants.iter().enumerate() {
            let at = format!("tenants[{i}]");
            let tenant = Tenant::new(t).map_err(|e| e.within(&at))?;
            for did in tenant.dids.keys() {
                if let Some(other) = did_owner.insert(did.clone(), tenant.name.clone()) {
                    return Err(ConfigError::new(
                        format!("{at}.dids"),
                        format!("{did} is already a DID of tenant {other:?}"),
                    ));
                }
            }
            if tenants.contains_key(&tenant.name) {
                return Err(ConfigError::new(
                    format!("{at}.name"),
                    format!("{:?} names two tenants", tenant.name),
                ));
            }
            tenants.insert(tenant.name.clone(), tenant);
        }
        Ok(Router { tenants, did_owner })
    }

    /// Like [`new`](Self::new), and opens each tenant's configured
    /// customer list.
    pub fn open(config: &TenantsConfig) -> Result<Self, RouterError> {
        let mut router = Router::new(config)?;
        for tenant in router.tenants.values_mut() {
            if let Some(c) = tenant.customers_config.clone() {
                let lookup =
                    c.open(&tenant.normaliser)
                        .map_err(|source| RouterError::Customers {
                            tenant: tenant.name.clone(),
                            source,
                        })?;
                tenant.customers = Some(Arc::from(lookup));
            }
        }
        Ok(router)
    }

    /// A tenant by name.
    pub fn tenant(&self, name: &str) -> Option<&Tenant> {
        self.tenants.get(name)
    }

    /// A tenant by name, to change (set its customer list).
    pub fn tenant_mut(&mut self, name: &str) -> Option<&mut Tenant> {
        self.tenants.get_mut(name)
    }

    /// The tenant a DID (E.164) belongs to, for calls from a trusted peer
    /// that carry no account.
    pub fn tenant_of_did(&self, did: &str) -> Option<&Tenant> {
        self.did_owner.get(did).and_then(|t| self.tenants.get(t))
    }

    /// Routes a call to `did` from `caller` (both normalised with the
    /// tenant's [`normaliser`](Tenant::normaliser)) at `now`.
    ///
    /// The customer lookup may block (a SQLite list); call this where
    /// blocking is allowed. A failing lookup routes without a customer.
    pub fn route(
        &self,
        tenant: &str,
        did: &Normalised,
        caller: &Normalised,
        now: Timestamp,
    ) -> Result<Route, RouteError> {
        let t = self
            .tenants
            .get(tenant)
            .ok_or_else(|| RouteError::UnknownTenant(tenant.to_string()))?;
        let by_did = did
            .number()
            .and_then(|n| t.dids.get(n.e164()))
            .or(t.default_profile.as_ref())
            .ok_or_else(|| RouteError::UnknownDid {
                tenant: t.name.clone(),
                did: did.key().to_string(),
            })?;
        let customer = t.customer(caller);
        let profile = match customer.as_ref().and_then(|c| c.profile.as_deref()) {
            None => Arc::clone(by_did),
            Some(name) => match t.profiles.get(name) {
                Some(p) => Arc::clone(p),
                None => {
                    tracing::warn!(tenant = %t.name, profile = name,
                        "customer's profile does not exist; using the DID's");
                    Arc::clone(by_did)
                }
            },
        };
        let in_hours = profile.is_open(now);
        let action = action_for(t, &profile, in_hours, now);
        Ok(Route {
            tenant: t.name.clone(),
            profile,
            customer,
            in_hours,
            action,
        })
    }
}

/// Follows out-of-hours actions from `profile` (chains are loop-free, as
/// [`Tenant::new`] checked).
fn action_for(tenant: &Tenant, profile: &Arc<Profile>, open: bool, now: Timestamp) -> RouteAction {
    let mut current = Arc::clone(profile);
    let mut open = open;
    loop {
        if open {
            return RouteAction::Answer {
                agent: current.agent.clone(),
                profile: current,
            };
        }
        match current.out_of_hours.clone() {
            // Unreachable for a checked profile (closing needs an action);
            // answering is the least surprising fallback.
            None => {
                return RouteAction::Answer {
                    agent: current.agent.clone(),
                    profile: current,
                }
            }
            Some(OutOfHours::Agent { agent }) => {
                return RouteAction::Answer {
                    agent,
                    profile: current,
                }
            }
            Some(OutOfHours::Greeting { greeting, then }) => {
                return RouteAction::Greeting { greeting, then }
            }
            Some(OutOfHours::Profile { profile: next }) => {
                let Some(next) = tenant.profiles.get(&next) else {
                    return RouteAction::Answer {
                        agent: current.agent.clone(),
                        profile: current,
                    };
                };
                current = Arc::clone(next);
                open = current.is_open(now);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::customer::CsvCustomers;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn profile(toml_text: &str) -> Profile {
        let config: ProfileConfig = toml::from_str(toml_text).unwrap();
        config.validate().unwrap();
        Profile::new("p", &config).unwrap()
    }

    const OFFICE: &str = r#"
        agent = "receptionist"
        time_zone = "Europe/Rome"
        holidays = ["12-25", "2026-04-06"]
        out_of_hours = { action = "greeting", greeting = "closed.wav" }
        [hours]
        monday = ["09:00-13:00", "14:00-18:00"]
        tuesday = ["09:00-18:00"]
        wednesday = ["09:00-18:00"]
        thursday = ["09:00-18:00"]
        friday = ["09:00-18:00", "22:00-02:00+1"]
        saturday = ["01:00-04:00"]
        sunday = ["02:00-03:00"]
    "#;

    #[test]
    fn opening_hours_are_read_on_the_profiles_wall_clock() {
        let p = profile(OFFICE);
        // Friday 2026-12-04, CET (UTC+1).
        assert!(!p.is_open(at("2026-12-04T07:59:59Z")), "08:59:59 local");
        assert!(p.is_open(at("2026-12-04T08:00:00Z")), "09:00 local");
        assert!(p.is_open(at("2026-12-04T16:59:59Z")), "17:59:59 local");
        assert!(!p.is_open(at("2026-12-04T17:00:00Z")), "18:00 local");
        // Monday 2026-12-07: the lunch break.
        assert!(p.is_open(at("2026-12-07T11:59:00Z")), "12:59");
        assert!(!p.is_open(at("2026-12-07T12:30:00Z")), "13:30");
        assert!(p.is_open(at("2026-12-07T13:00:00Z")), "14:00");
    }

    #[test]
    fn a_range_past_midnight_runs_into_the_next_day() {
        let p = profile(OFFICE);
        // Friday 22:00 local to Saturday 02:00, then Saturday's own 01:00-04:00.
        assert!(!p.is_open(at("2026-12-04T20:59:00Z")), "Fri 21:59");
        assert!(p.is_open(at("2026-12-04T21:00:00Z")), "Fri 22:00");
        assert!(
            p.is_open(at("2026-12-04T23:30:00Z")),
            "Sat 00:30, spill from Friday"
        );
        assert!(
            p.is_open(at("2026-12-05T02:30:00Z")),
            "Sat 03:30, Saturday's own"
        );
        assert!(!p.is_open(at("2026-12-05T03:00:00Z")), "Sat 04:00");
        // Thursday night has no such range.
        assert!(!p.is_open(at("2026-12-03T23:30:00Z")), "Fri 00:30");
    }

    #[test]
    fn holidays_close_ranges_that_start_on_them() {
        let p = profile(OFFICE);
        // Friday 2026-12-25: yearly holiday.
        assert!(!p.is_open(at("2026-12-25T10:00:00Z")), "Christmas 11:00");
        assert!(!p.is_open(at("2026-12-25T22:00:00Z")), "Christmas 23:00");
        assert!(
            !p.is_open(at("2026-12-25T23:30:00Z")),
            "no Christmas night shift spills"
        );
        assert!(
            p.is_open(at("2026-12-26T02:30:00Z")),
            "Sat 26th 03:30 is open"
        );
        // Easter Monday 2026-04-06 (CEST, UTC+2), a one-off date.
        assert!(
            !p.is_open(at("2026-04-06T08:00:00Z")),
            "Easter Monday 10:00"
        );
        assert!(p.is_open(at("2026-04-13T08:00:00Z")), "the Monday after");
        // Thursday 2026-12-24 22:00-… does not exist; but a holiday the day
        // after a night shift does not cut the shift short:
        let night = profile(
            r#"agent = "a"
               time_zone = "Europe/Rome"
               holidays = ["12-25"]
               out_of_hours = { action = "agent", agent = "b" }
               hours = { thursday = ["22:00-06:00+1"] }"#,
        );
        assert!(
            night.is_open(at("2026-12-25T03:00:00Z")),
            "Christmas 04:00, shift from the 24th"
        );
        assert!(
            !night.is_open(at("2026-12-25T05:00:00Z")),
            "Christmas 06:00"
        );
    }

    #[test]
    fn rome_spring_forward_day_keeps_wall_clock_hours() {
        // 2026-03-29: 02:00 CET becomes 03:00 CEST. Sunday's 02:00-03:00
        // does not exist that day; Saturday night's 01:00-04:00 lasts two
        // real hours.
        let p = profile(OFFICE);
        let weekday = |s| p.is_open(at(s));
        assert!(
            !p.is_open(at("2026-03-29T00:30:00Z")),
            "01:30 CET Sunday: Sunday opens 02:00"
        );
        assert!(
            !p.is_open(at("2026-03-29T01:00:00Z")),
            "03:00 CEST: past Sunday's range"
        );
        // The Monday after: 09:00 local is 07:00 UTC now, not 08:00.
        assert!(weekday("2026-03-30T07:00:00Z"), "Mon 09:00 CEST");
        assert!(!weekday("2026-03-30T06:59:00Z"), "Mon 08:59 CEST");
        assert!(!weekday("2026-03-30T16:00:00Z"), "Mon 18:00 CEST");
        // The Friday before, still CET: 09:00 local is 08:00 UTC.
        assert!(!weekday("2026-03-27T07:30:00Z"), "Fri 08:30 CET");
        assert!(weekday("2026-03-27T08:00:00Z"), "Fri 09:00 CET");
        // A range across the change: Sunday 01:00-04:00 lasts two real
        // hours that day, 01:00-02:00 CET and 03:00-04:00 CEST.
        let change = profile(
            r#"agent = "a"
               time_zone = "Europe/Rome"
               out_of_hours = { action = "agent", agent = "b" }
               hours = { sunday = ["01:00-04:00"] }"#,
        );
        assert!(change.is_open(at("2026-03-29T00:00:00Z")), "01:00 CET");
        assert!(change.is_open(at("2026-03-29T00:59:59Z")), "01:59:59 CET");
        assert!(
            change.is_open(at("2026-03-29T01:00:00Z")),
            "03:00 CEST, straight after"
        );
        assert!(change.is_open(at("2026-03-29T01:59:59Z")), "03:59:59 CEST");
        assert!(
            !change.is_open(at("2026-03-29T02:00:00Z")),
            "04:00 CEST: two real hours"
        );
    }

    #[test]
    fn rome_fall_back_day_keeps_wall_clock_hours() {
        // 2026-10-25: 03:00 CEST becomes 02:00 CET, so 02:00-03:00 happens
        // twice; a Sunday range 02:00-03:00 is open both times.
        let p = profile(OFFICE);
        assert!(!p.is_open(at("2026-10-24T23:59:00Z")), "01:59 CEST");
        assert!(
            p.is_open(at("2026-10-25T00:00:00Z")),
            "02:00 CEST, first time"
        );
        assert!(p.is_open(at("2026-10-25T00:59:59Z")), "02:59:59 CEST");
        assert!(
            p.is_open(at("2026-10-25T01:00:00Z")),
            "02:00 CET, second time"
        );
        assert!(p.is_open(at("2026-10-25T01:59:59Z")), "02:59:59 CET");
        assert!(!p.is_open(at("2026-10-25T02:00:00Z")), "03:00 CET");
        // The Monday after: 09:00 local is 08:00 UTC again.
        assert!(!p.is_open(at("2026-10-26T07:30:00Z")), "Mon 08:30 CET");
        assert!(p.is_open(at("2026-10-26T08:00:00Z")), "Mon 09:00 CET");
        // The Friday before, CEST: 09:00 local was 07:00 UTC.
        assert!(p.is_open(at("2026-10-23T07:00:00Z")), "Fri 09:00 CEST");
    }

    #[test]
    fn a_profile_without_hours_is_always_open_but_for_holidays() {
        let always = profile(
            r#"agent = "a"
                               time_zone = "America/New_York""#,
        );
        assert!(always.is_open(at("2026-12-25T05:00:00Z")));
        let closed_xmas = profile(
            r#"agent = "a"
               time_zone = "America/New_York"
               holidays = ["12-25"]
               out_of_hours = { action = "agent", agent = "b" }"#,
        );
        // 00:30 on the 25th in New York is 05:30 UTC; 23:30 on the 24th is 04:30.
        assert!(!closed_xmas.is_open(at("2026-12-25T05:30:00Z")));
        assert!(closed_xmas.is_open(at("2026-12-25T04:30:00Z")));
    }

    #[test]
    fn bad_profiles_are_refused_naming_the_setting() {
        let bad = |extra: &str| -> String {
            let text = format!(
                "agent = \"a\"\ntime_zone = \"Europe/Rome\"\nout_of_hours = {{ action = \"agent\", agent = \"b\" }}\n{extra}"
            );
            let c: ProfileConfig = toml::from_str(&text).unwrap();
            c.validate().unwrap_err().setting
        };
        assert_eq!(
            bad("hours = { monday = [\"18:00-09:00\"] }"),
            "hours.monday[0]"
        );
        assert_eq!(
            bad("hours = { tuesday = [\"09:00-09:00\"] }"),
            "hours.tuesday[0]"
        );
        assert_eq!(
            bad("hours = { friday = [\"09:00-18:00\", \"25:00-26:00\"] }"),
            "hours.friday[1]"
        );
        assert_eq!(
            bad("hours = { sunday = [\"09:60-10:00\"] }"),
            "hours.sunday[0]"
        );
        assert_eq!(
            bad("hours = { sunday = [\"09:00-10:00+1\"] }"),
            "hours.sunday[0]"
        );
        assert_eq!(
            bad("hours = { sunday = [\"24:00-01:00+1\"] }"),
            "hours.sunday[0]"
        );
        assert_eq!(
            bad("hours = { sunday = [\"nine to five\"] }"),
            "hours.sunday[0]"
        );
        assert_eq!(bad("holidays = [\"12-25\", \"02-30\"]"), "holidays[1]");
        assert_eq!(bad("holidays = [\"2026-13-01\"]"), "holidays[0]");
        assert_eq!(bad("human_number = \"02 1234 5678\""), "human_number");
        let c: ProfileConfig =
            toml::from_str("agent = \"a\"\ntime_zone = \"Europe/Roma\"").unwrap();
        assert_eq!(c.validate().unwrap_err().setting, "time_zone");
        let c: ProfileConfig = toml::from_str(
            "agent = \"a\"\ntime_zone = \"UTC\"\nhours = { monday = [\"09:00-17:00\"] }",
        )
        .unwrap();
        assert_eq!(c.validate().unwrap_err().setting, "out_of_hours");
        let c: ProfileConfig = toml::from_str(
            "agent = \"a\"\ntime_zone = \"UTC\"\nout_of_hours = { action = \"greeting\", greeting = \"g\", then = \"voicemail\" }",
        )
        .unwrap();
        assert_eq!(c.validate().unwrap_err().setting, "out_of_hours.then");
        assert_eq!(
            bad("faq = [{ phrases = [], answer = \"a\" }]"),
            "faq[0].phrases"
        );
        assert_eq!(
            bad("faq = [{ phrases = [\"hours\"], answer = \"a\" }, { phrases = [\"x\", \" ?! \"], answer = \"b\" }]"),
            "faq[1].phrases[1]"
        );
        assert_eq!(
            bad("faq = [{ phrases = [\"opening hours\"], answer = \"  \" }]"),
            "faq[0].answer"
        );
        assert_eq!(bad("menu = \"\""), "menu");
        assert_eq!(bad("not_understood = \"voicemail\""), "not_understood");
        let c: ProfileConfig = toml::from_str(
            "agent = \"a\"\ntime_zone = \"UTC\"\nvoicemail = true\nnot_understood = \"voicemail\"\nmenu = \"Press 1 for the assistant, 2 for a person.\"\n[[faq]]\nphrases = [\"opening hours\", \"when are you open\"]\nanswer = \"Nine to six.\"",
        )
        .unwrap();
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.faq[0].phrases.len(), 2);
        // 24:00 closes a day; a 24-hour range past midnight is allowed.
        let c: ProfileConfig = toml::from_str(
            "agent = \"a\"\ntime_zone = \"UTC\"\nout_of_hours = { action = \"agent\", agent = \"b\" }\nhours = { monday = [\"18:00-24:00\", \"08:00-08:00+1\"] }",
        )
        .unwrap();
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn the_transfer_method_is_refer_unless_bridge_is_asked_and_nothing_else_is_taken() {
        let profile = |extra: &str| -> Result<Profile, String> {
            let text = format!("agent = \"a\"\ntime_zone = \"UTC\"\n{extra}");
            let c: ProfileConfig = toml::from_str(&text).map_err(|e| e.to_string())?;
            Profile::new("p", &c).map_err(|e| e.setting)
        };
        assert_eq!(profile("").unwrap().transfer(), TransferMethod::Refer);
        assert_eq!(
            profile("transfer = \"refer\"").unwrap().transfer(),
            TransferMethod::Refer
        );
        let bridged = profile("transfer = \"bridge\"\napology = \"sorry.wav\"").unwrap();
        assert_eq!(bridged.transfer(), TransferMethod::Bridge);
        assert_eq!(bridged.apology(), Some(Path::new("sorry.wav")));
        let wrong = profile("transfer = \"conference\"").unwrap_err();
        assert!(
            wrong.contains("conference") && wrong.contains("bridge"),
            "the error names the value and the choices: {wrong}"
        );
        assert_eq!(profile("apology = \"\"").unwrap_err(), "apology");
    }

    const TENANTS: &str = r#"
        [[tenants]]
        name = "acme"
        default_country = "IT"
        time_zone = "Europe/Rome"
        default_profile = "sales"
        [tenants.dids]
        "02 1234 5678" = "sales"
        "+39 06 1234 5678" = "support"
        [tenants.profiles.sales]
        agent = "sales-bot"
        greeting = "Buongiorno, ufficio vendite."
        human_number = "+390212340000"
        voicemail = true
        time_zone = "Europe/Rome"
        hours = { monday = ["09:00-18:00"], friday = ["09:00-18:00"] }
        out_of_hours = { action = "profile", profile = "night" }
        [tenants.profiles.night]
        agent = "night-bot"
        time_zone = "Europe/Rome"
        hours = { friday = ["18:00-23:00"] }
        out_of_hours = { action = "greeting", greeting = "closed.wav", then = "hang_up" }
        [tenants.profiles.support]
        agent = "support-bot"
        time_zone = "Europe/Rome"
        [tenants.profiles.vip]
        agent = "vip-bot"
        time_zone = "Europe/Rome"
        [tenants.limits]
        channels = 10
        rate = { per_minute = 2, per_hour = 10 }
        outbound = { allowed_destination_prefixes = ["+39"], minutes_per_day = 120 }
        [[tenants.outbound_routes.routes]]
        name = "italy"
        prefix = "+39"
        trunks = ["voip-it"]

        [[tenants]]
        name = "nyc"
        default_country = "US"
        time_zone = "America/New_York"
        dids = { "(212) 555-0100" = "main" }
        [tenants.profiles.main]
        agent = "ny-bot"
        time_zone = "America/New_York"
    "#;

    fn router() -> Router {
        let config: TenantsConfig = toml::from_str(TENANTS).unwrap();
        config.validate().unwrap();
        Router::new(&config).unwrap()
    }

    fn n(router: &Router, tenant: &str, user: &str) -> Normalised {
        router.tenant(tenant).unwrap().normaliser().normalise(user)
    }

    fn answered_by(route: &Route) -> &str {
        match &route.action {
            RouteAction::Answer { agent, .. } => agent,
            RouteAction::Greeting { greeting, .. } => greeting,
        }
    }

    #[test]
    fn did_picks_the_profile_in_the_tenants_numbering() {
        let r = router();
        let monday_10 = at("2026-12-07T09:00:00Z");
        let caller = n(&r, "acme", "3471234567");
        let sales = r
            .route("acme", &n(&r, "acme", "+390212345678"), &caller, monday_10)
            .unwrap();
        assert_eq!(
            (sales.tenant.as_str(), sales.profile.name()),
            ("acme", "sales")
        );
        assert!(sales.in_hours);
        assert_eq!(answered_by(&sales), "sales-bot");
        assert_eq!(
            sales.profile.human_number().unwrap().e164(),
            "+390212340000"
        );
        let support = r
            .route("acme", &n(&r, "acme", "0612345678"), &caller, monday_10)
            .unwrap();
        assert_eq!(support.profile.name(), "support");
        let other = r
            .route("acme", &n(&r, "acme", "0299999999"), &caller, monday_10)
            .unwrap();
        assert_eq!(other.profile.name(), "sales", "default profile");
        let ny = r
            .route("nyc", &n(&r, "nyc", "2125550100"), &caller, monday_10)
            .unwrap();
        assert_eq!(answered_by(&ny), "ny-bot");
        assert_eq!(
            r.route("nyc", &n(&r, "nyc", "2125550199"), &caller, monday_10)
                .unwrap_err(),
            RouteError::UnknownDid {
                tenant: "nyc".into(),
                did: "+12125550199".into()
            }
        );
        assert_eq!(
            r.route("nope", &caller, &caller, monday_10)
                .unwrap_err()
                .status(),
            404
        );
        assert_eq!(r.tenant_of_did("+12125550100").unwrap().name(), "nyc");
        assert_eq!(r.tenant_of_did("+390612345678").unwrap().name(), "acme");
    }

    #[test]
    fn out_of_hours_follows_the_profile_chain_to_an_agent_or_a_greeting() {
        let r = router();
        let did = n(&r, "acme", "0212345678");
        let caller = n(&r, "acme", "3471234567");
        // Friday 19:00 Rome: sales closed, night open.
        let evening = r
            .route("acme", &did, &caller, at("2026-12-04T18:00:00Z"))
            .unwrap();
        assert!(!evening.in_hours);
        assert_eq!(evening.profile.name(), "sales");
        assert_eq!(answered_by(&evening), "night-bot");
        // Friday 23:30: both closed, night's greeting then hang up.
        let late = r
            .route("acme", &did, &caller, at("2026-12-04T22:30:00Z"))
            .unwrap();
        assert!(matches!(
            late.action,
            RouteAction::Greeting { ref greeting, then: AfterGreeting::HangUp } if greeting == "closed.wav"
        ));
    }

    #[derive(Debug)]
    struct Failing;
    impl CustomerLookup for Failing {
        fn find(&self, _: &PhoneNumber) -> Result<Option<Customer>, CustomerError> {
            Err(CustomerError::Schema("database is locked".into()))
        }
    }

    #[test]
    fn a_known_customer_gets_their_own_profile() {
        let mut r = router();
        let list = "number,name,profile\n347 123 4567,Mario,vip\n333 000 0000,Gina,gone\n";
        let normaliser = r.tenant("acme").unwrap().normaliser().clone();
        let csv = CsvCustomers::from_reader(list.as_bytes(), "t.csv", &normaliser).unwrap();
        r.tenant_mut("acme").unwrap().set_customers(Arc::new(csv));
        let did = n(&r, "acme", "0212345678");
        let now = at("2026-12-07T09:00:00Z");
        let mario = r
            .route("acme", &did, &n(&r, "acme", "+393471234567"), now)
            .unwrap();
        assert_eq!(mario.customer.as_ref().unwrap().name, "Mario");
        assert_eq!(mario.profile.name(), "vip");
        assert_eq!(answered_by(&mario), "vip-bot");
        let gina = r
            .route("acme", &did, &n(&r, "acme", "3330000000"), now)
            .unwrap();
        assert_eq!(
            gina.profile.name(),
            "sales",
            "unknown customer profile falls back to the DID's"
        );
        assert_eq!(gina.customer.unwrap().name, "Gina");
        let stranger = r
            .route("acme", &did, &n(&r, "acme", "anonymous"), now)
            .unwrap();
        assert!(stranger.customer.is_none());
        r.tenant_mut("acme")
            .unwrap()
            .set_customers(Arc::new(Failing));
        let during_outage = r
            .route("acme", &did, &n(&r, "acme", "3471234567"), now)
            .unwrap();
        assert!(during_outage.customer.is_none());
        assert_eq!(during_outage.profile.name(), "sales");
    }

    #[test]
    fn tenant_policy_and_routes_come_from_the_same_config() {
        let r = router();
        let acme = r.tenant("acme").unwrap();
        assert_eq!(acme.policy().channels().limit(), Some(10));
        assert_eq!(
            acme.outbound_routes()
                .select("+390212345678")
                .unwrap()
                .route,
            "italy"
        );
        assert!(r
            .tenant("nyc")
            .unwrap()
            .outbound_routes()
            .select("+39021234567")
            .is_none());
    }

    #[test]
    fn open_reads_the_configured_customer_list() {
        let path = std::env::temp_dir().join(format!("agent-routing-{}.csv", std::process::id()));
        std::fs::write(&path, "number,name\n2125550123,Joe\n").unwrap();
        let text = format!(
            "{TENANTS}\n[tenants.customers]\ncsv = {:?}\n",
            path.display().to_string()
        );
        let config: TenantsConfig = toml::from_str(&text).unwrap();
        let r = Router::open(&config).unwrap();
        let joe = r
            .route(
                "nyc",
                &n(&r, "nyc", "2125550100"),
                &n(&r, "nyc", "+12125550123"),
                at("2026-12-07T15:00:00Z"),
            )
            .unwrap();
        assert_eq!(joe.customer.unwrap().name, "Joe");
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(
            Router::open(&config),
            Err(RouterError::Customers { ref tenant, .. }) if tenant == "nyc"
        ));
    }

    #[test]
    fn bad_tenants_are_refused_naming_the_setting() {
        let bad = |from: &str, to: &str| -> String {
            assert!(TENANTS.contains(from), "{from}");
            let c: TenantsConfig = toml::from_str(&TENANTS.replacen(from, to, 1)).unwrap();
            c.validate().unwrap_err().setting
        };
        assert_eq!(
            bad("default_country = \"IT\"", "default_country = \"XX\""),
            "tenants[0].default_country"
        );
        assert_eq!(
            bad(
                "time_zone = \"Europe/Rome\"\n        default",
                "time_zone = \"Mars/Olympus\"\n        default"
            ),
            "tenants[0].time_zone"
        );
        assert_eq!(
            bad(
                "\"02 1234 5678\" = \"sales\"",
                "\"02 1234 5678\" = \"sails\""
            ),
            "tenants[0].dids.\"02 1234 5678\""
        );
        assert_eq!(
            bad("\"02 1234 5678\" = \"sales\"", "\"12\" = \"sales\""),
            "tenants[0].dids.\"12\""
        );
        assert_eq!(
            bad(
                "\"+39 06 1234 5678\" = \"support\"",
                "\"+39 02 1234 5678\" = \"support\""
            ),
            "tenants[0].dids.\"02 1234 5678\""
        );
        assert_eq!(
            bad(
                "default_profile = \"sales\"",
                "default_profile = \"nobody\""
            ),
            "tenants[0].default_profile"
        );
        assert_eq!(
            bad("profile = \"night\" }", "profile = \"nite\" }"),
            "tenants[0].profiles.sales.out_of_hours.profile"
        );
        let e = {
            let text = TENANTS.replacen(
                "{ action = \"greeting\", greeting = \"closed.wav\", then = \"hang_up\" }",
                "{ action = \"profile\", profile = \"sales\" }",
                1,
            );
            let c: TenantsConfig = toml::from_str(&text).unwrap();
            c.validate().unwrap_err()
        };
        assert!(e.setting.ends_with(".out_of_hours.profile"), "{e}");
        assert!(e.problem.contains("loop"), "{e}");
        assert_eq!(
            bad("channels = 10", "channels = 0"),
            "tenants[0].limits.channels"
        );
        assert_eq!(
            bad("rate = { per_minute = 2,", "rate = { per_minute = 0,"),
            "tenants[0].limits.rate.per_minute"
        );
        assert_eq!(
            bad("prefix = \"+39\"\n", "regex = \"[\"\n"),
            "tenants[0].outbound_routes.routes[0].regex"
        );
        assert_eq!(
            bad("\"(212) 555-0100\"", "\"+39 06 1234 5678\""),
            "tenants[1].dids"
        );
        assert_eq!(bad("name = \"nyc\"", "name = \"acme\""), "tenants[1].name");
        assert_eq!(
            bad("agent = \"night-bot\"", "agent = \"\""),
            "tenants[0].profiles.night.agent"
        );
    }
}
