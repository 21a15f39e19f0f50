//! Outbound campaigns as they are kept: the settings, the numbers to call
//! and every attempt, so a campaign survives a restart of the process.
//!
//! The scheduler (which dials) asks [`CampaignStore::due`] what to call,
//! marks each call with [`CampaignStore::start_attempt`] and reports how
//! it went with [`CampaignStore::finish_attempt`]; the store decides from
//! the [`Outcome`] whether the number is finished or called again after
//! the retry delay.

use std::fmt;
use std::time::Duration;

use jiff::civil::Time;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Deserializer, Serialize};

use super::{Outcome, StoreError};
use crate::config::{ConfigError, Validate};

macro_rules! row_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

row_id!(
    /// A campaign, as the store numbered it.
    CampaignId
);
row_id!(
    /// One number of one campaign, as the store numbered it.
    NumberId
);
row_id!(
    /// One call made to a campaign number.
    AttemptId
);

/// How a campaign calls: set when it is created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignSettings {
    /// A name for people (`december-reminders`).
    pub name: String,
    /// The line the calls go out by.
    pub line: String,
    /// The profile (agent, prompt) that talks to whoever answers.
    pub profile: String,
    /// The most calls of this campaign up at once.
    pub max_concurrent: u32,
    /// The most calls started per second.
    pub calls_per_second: f64,
    /// How many times a number is called at most (first call included)
    /// when it is busy or not answered.
    pub max_attempts: u32,
    /// How long to wait before calling a busy or unanswered number again
    /// (`"10m"`, `"1h 30m"` in a config file).
    #[serde(deserialize_with = "deserialize_duration")]
    pub retry_delay: Duration,
    /// When calls may be placed; any time if absent.
    #[serde(default)]
    pub calling_hours: Option<CallingHours>,
}

impl Validate for CampaignSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.name.trim().is_empty() {
            return Err(ConfigError::new("name", "is empty"));
        }
        if self.line.trim().is_empty() {
            return Err(ConfigError::new(
                "line",
                "is empty: name the line to call out by",
            ));
        }
        if self.profile.trim().is_empty() {
            return Err(ConfigError::new(
                "profile",
                "is empty: name the profile that talks",
            ));
        }
        if self.max_concurrent == 0 {
            return Err(ConfigError::new(
                "max_concurrent",
                "is 0: no call could be placed",
            ));
        }
        if !(self.calls_per_second.is_finite() && self.calls_per_second > 0.0) {
            return Err(ConfigError::new(
                "calls_per_second",
                format!("is {}: give a number above 0", self.calls_per_second),
            ));
        }
        if self.max_attempts == 0 {
            return Err(ConfigError::new("max_attempts", "is 0: give at least 1"));
        }
        if let Some(hours) = &self.calling_hours {
            hours.validate().map_err(|e| e.within("calling_hours"))?;
        }
        Ok(())
    }
}

/// The daily window in which a campaign may call, in the time zone of the
/// people called (calling laws count in their local time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallingHours {
    /// The first moment calls may start (`"09:00"`).
    pub from: Time,
    /// The moment calls must stop starting (`"20:00"`). Earlier than
    /// `from` means the window runs over midnight.
    pub until: Time,
    /// An IANA time zone name (`"Europe/Paris"`).
    pub time_zone: String,
}

impl CallingHours {
    /// Whether `at` falls in the window, in its time zone. `None` if the
    /// time zone is not known on this system.
    pub fn contains(&self, at: Timestamp) -> Option<bool> {
        let tz = TimeZone::get(&self.time_zone).ok()?;
        let local = tz.to_datetime(at).time();
        Some(if self.from <= self.until {
            self.from <= local && local < self.until
        } else {
            local >= self.from || local < self.until
        })
    }
}

impl Validate for CallingHours {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.from == self.until {
            return Err(ConfigError::new(
                "until",
                "is the same as `from`: the window would be empty",
            ));
        }
        if let Err(e) = TimeZone::get(&self.time_zone) {
            return Err(ConfigError::new(
                "time_zone",
                format!("{:?} is not a known time zone: {e}", self.time_zone),
            ));
        }
        Ok(())
    }
}

/// Reads a duration written as `"90s"`, `"10m"`, `"1h 30m"` or ISO 8601
/// (`"PT10M"`), and refuses a negative one.
fn deserialize_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    let signed: jiff::SignedDuration = text
        .parse()
        .map_err(|e| serde::de::Error::custom(format!("{text:?} is not a duration: {e}")))?;
    Duration::try_from(signed)
        .map_err(|_| serde::de::Error::custom(format!("{text:?} is negative")))
}

/// Whether a campaign is calling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignState {
    /// Calling: its due numbers are offered to the scheduler.
    Active,
    /// Held: no new calls, calls up go on; can be made active again.
    Paused,
    /// Stopped for good: no new calls.
    Stopped,
}

/// A campaign as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Campaign {
    /// Its id.
    pub id: CampaignId,
    /// How it calls.
    pub settings: CampaignSettings,
    /// Whether it is calling.
    pub state: CampaignState,
    /// When it was created.
    pub created: Timestamp,
}

/// Where a campaign number stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NumberState {
    /// Waiting to be called, now or after its retry delay.
    Pending,
    /// A call to it is up.
    InProgress,
    /// Somebody answered: done.
    Answered,
    /// Given up: every attempt was busy or unanswered, or a call failed
    /// in a way that calling again would not mend.
    Failed,
}

/// One number of a campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CampaignNumber {
    /// Its id.
    pub id: NumberId,
    /// The number, as given to the campaign.
    pub number: String,
    /// Where it stands.
    pub state: NumberState,
    /// Calls made to it so far.
    pub attempts: u32,
    /// When it may next be called, while it is pending.
    pub next_attempt: Option<Timestamp>,
    /// How the last call to it went.
    pub last_outcome: Option<Outcome>,
}

/// A number the scheduler may call now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DueNumber {
    /// Its id, for [`CampaignStore::start_attempt`].
    pub id: NumberId,
    /// The campaign it belongs to.
    pub campaign: CampaignId,
    /// The number to call.
    pub number: String,
    /// Calls already made to it.
    pub attempts: u32,
}

/// One call made to a campaign number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    /// Its id.
    pub id: AttemptId,
    /// The number called.
    pub number: NumberId,
    /// Which call to that number it was (1 for the first).
    pub attempt: u32,
    /// The call's id, to find its call record.
    pub call_id: String,
    /// When the call was started.
    pub started: Timestamp,
    /// When it ended, once it has.
    pub ended: Option<Timestamp>,
    /// How it went, once it has ended.
    pub outcome: Option<Outcome>,
}

/// Where outbound campaigns are kept, in the same database as the call
/// records.
///
/// Synchronous, like [`CallStore`](super::CallStore): call it from a
/// blocking task.
pub trait CampaignStore: Send + Sync {
    /// Stores a new, active campaign with its numbers (duplicates kept
    /// once), all due at `now`.
    fn create_campaign(
        &self,
        settings: &CampaignSettings,
        numbers: &[String],
        now: Timestamp,
    ) -> Result<CampaignId, StoreError>;

    /// Adds numbers to a campaign, due at `now`; returns how many were new
    /// (a number already in the campaign is not added twice).
    fn add_numbers(
        &self,
        campaign: CampaignId,
        numbers: &[String],
        now: Timestamp,
    ) -> Result<usize, StoreError>;

    /// The campaign with this id.
    fn campaign(&self, id: CampaignId) -> Result<Option<Campaign>, StoreError>;

    /// Every campaign, oldest first.
    fn campaigns(&self) -> Result<Vec<Campaign>, StoreError>;

    /// Makes a campaign active, paused or stopped.
    fn set_state(&self, id: CampaignId, state: CampaignState) -> Result<(), StoreError>;

    /// The numbers of an active campaign that may be called at `now`:
    /// pending ones never called, and ones whose retry delay has passed;
    /// the longest waiting first, at most `limit`. Empty for a paused or
    /// stopped campaign. (The scheduler applies the concurrency limit,
    /// rate and calling hours.)
    fn due(
        &self,
        campaign: CampaignId,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<DueNumber>, StoreError>;

    /// How many calls of the campaign are up now.
    fn in_progress(&self, campaign: CampaignId) -> Result<usize, StoreError>;

    /// Records that a call to a due number started, as call `call_id`.
    /// Fails with [`StoreError::NotDue`] if the number is not pending or
    /// its delay has not passed, so two schedulers cannot call it twice.
    fn start_attempt(
        &self,
        number: NumberId,
        call_id: &str,
        at: Timestamp,
    ) -> Result<AttemptId, StoreError>;

    /// Records how an attempt ended and returns where its number stands
    /// now: answered; pending again after the retry delay if the outcome
    /// [is retryable](Outcome::is_retryable) and attempts remain; failed
    /// otherwise.
    fn finish_attempt(
        &self,
        attempt: AttemptId,
        at: Timestamp,
        outcome: &Outcome,
    ) -> Result<NumberState, StoreError>;

    /// The numbers of a campaign, in the order they were added.
    fn numbers(&self, campaign: CampaignId) -> Result<Vec<CampaignNumber>, StoreError>;

    /// Every attempt of a campaign, in the order they were started.
    fn attempts(&self, campaign: CampaignId) -> Result<Vec<Attempt>, StoreError>;

    /// Finishes, as [`Outcome::Interrupted`] at `now`, every attempt this
    /// instance left up when it stopped, and returns how many (their
    /// numbers are retried like a busy one).
    fn finish_interrupted_attempts(&self, now: Timestamp) -> Result<usize, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAMPAIGN: &str = r#"
        name = "december-reminders"
        line = "trunk-main"
        profile = "reminder"
        max_concurrent = 4
        calls_per_second = 0.5
        max_attempts = 3
        retry_delay = "10m"
        calling_hours = { from = "09:00", until = "20:00", time_zone = "Europe/Paris" }
    "#;

    fn settings() -> CampaignSettings {
        toml::from_str(CAMPAIGN).unwrap()
    }

    #[test]
    fn campaign_settings_read_from_toml_with_a_readable_retry_delay() {
        let s = settings();
        assert_eq!(s.retry_delay, Duration::from_secs(600));
        let hours = s.calling_hours.as_ref().unwrap();
        assert_eq!(hours.from, Time::constant(9, 0, 0, 0));
        assert_eq!(hours.until, Time::constant(20, 0, 0, 0));
        assert_eq!(s.validate(), Ok(()));

        let iso = CAMPAIGN.replace("\"10m\"", "\"PT1H30M\"");
        let s: CampaignSettings = toml::from_str(&iso).unwrap();
        assert_eq!(s.retry_delay, Duration::from_secs(5400));

        for bad in ["\"-5m\"", "\"soon\"", "600"] {
            let text = CAMPAIGN.replace("\"10m\"", bad);
            let e = toml::from_str::<CampaignSettings>(&text).unwrap_err();
            assert!(e.to_string().contains("retry_delay"), "{bad}: {e}");
        }
    }

    #[test]
    fn unusable_campaign_settings_name_the_setting() {
        type Spoil = fn(&mut CampaignSettings);
        let cases: [(&str, Spoil); 7] = [
            ("name", |s| s.name = " ".into()),
            ("line", |s| s.line.clear()),
            ("profile", |s| s.profile.clear()),
            ("max_concurrent", |s| s.max_concurrent = 0),
            ("calls_per_second", |s| s.calls_per_second = f64::NAN),
            ("max_attempts", |s| s.max_attempts = 0),
            ("calling_hours.time_zone", |s| {
                s.calling_hours.as_mut().unwrap().time_zone = "Mars/Olympus_Mons".into()
            }),
        ];
        for (setting, spoil) in cases {
            let mut s = settings();
            spoil(&mut s);
            let e = s
                .validate()
                .map_err(|e| e.within("campaigns.reminders"))
                .unwrap_err();
            assert_eq!(e.setting, format!("campaigns.reminders.{setting}"), "{e}");
        }
        let mut s = settings();
        s.calls_per_second = 0.0;
        assert_eq!(s.validate().unwrap_err().setting, "calls_per_second");
        let hours = s.calling_hours.as_mut().unwrap();
        hours.until = hours.from;
        s.calls_per_second = 1.0;
        assert_eq!(s.validate().unwrap_err().setting, "calling_hours.until");
    }

    #[test]
    fn calling_hours_are_counted_in_the_called_partys_time_zone() {
        let hours = settings().calling_hours.unwrap();
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        // Paris is UTC+1 in December.
        assert_eq!(hours.contains(at("2026-12-04T07:59:59Z")), Some(false));
        assert_eq!(hours.contains(at("2026-12-04T08:00:00Z")), Some(true));
        assert_eq!(hours.contains(at("2026-12-04T18:59:59Z")), Some(true));
        assert_eq!(hours.contains(at("2026-12-04T19:00:00Z")), Some(false));
        // And UTC+2 in summer.
        assert_eq!(hours.contains(at("2026-07-01T07:30:00Z")), Some(true));

        let overnight = CallingHours {
            from: Time::constant(22, 0, 0, 0),
            until: Time::constant(6, 0, 0, 0),
            time_zone: "UTC".into(),
        };
        assert_eq!(overnight.contains(at("2026-12-04T23:00:00Z")), Some(true));
        assert_eq!(overnight.contains(at("2026-12-04T05:59:00Z")), Some(true));
        assert_eq!(overnight.contains(at("2026-12-04T12:00:00Z")), Some(false));

        let unknown = CallingHours {
            time_zone: "Nowhere/Special".into(),
            ..overnight
        };
        assert_eq!(unknown.contains(at("2026-12-04T12:00:00Z")), None);
    }
}
