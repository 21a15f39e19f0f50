//! How record values are written in the database: times as signed
//! nanoseconds since 1970 (UTC), durations as nanoseconds, enums as
//! snake_case words, an [`Outcome`] as a word plus an optional status and
//! reason.

use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;

use crate::record::{
    CallDirection, CampaignState, HandoffKind, HangupCause, NumberState, Outcome, Speaker,
    StoreError,
};

/// A database failure, in words.
pub(super) fn db(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

/// A time as nanoseconds since 1970; times outside 1677–2262 cannot be
/// stored.
pub(super) fn ts_to_db(t: Timestamp) -> Result<i64, StoreError> {
    i64::try_from(t.as_nanosecond()).map_err(|_| StoreError::Unstorable {
        what: "a time",
        problem: format!("{t} is outside the years 1677 to 2262"),
    })
}

/// A time bound for a query: times outside what can be stored are moved
/// to the nearest one that can, which selects the same rows.
pub(super) fn ts_to_db_clamped(t: Timestamp) -> i64 {
    let n = t.as_nanosecond();
    i64::try_from(n).unwrap_or(if n < 0 { i64::MIN } else { i64::MAX })
}

pub(super) fn ts_from_db(n: i64, what: &dyn Fn() -> String) -> Result<Timestamp, StoreError> {
    Timestamp::from_nanosecond(i128::from(n)).map_err(|e| corrupt(what(), e))
}

pub(super) fn opt_ts_from_db(
    n: Option<i64>,
    what: &dyn Fn() -> String,
) -> Result<Option<Timestamp>, StoreError> {
    n.map(|n| ts_from_db(n, what)).transpose()
}

/// A duration as nanoseconds; over 292 years cannot be stored.
pub(super) fn dur_to_db(d: Duration) -> Result<i64, StoreError> {
    i64::try_from(d.as_nanos()).map_err(|_| StoreError::Unstorable {
        what: "a duration",
        problem: format!("{d:?} is longer than 292 years"),
    })
}

pub(super) fn opt_dur_to_db(d: Option<Duration>) -> Result<Option<i64>, StoreError> {
    d.map(dur_to_db).transpose()
}

pub(super) fn dur_from_db(n: i64, what: &dyn Fn() -> String) -> Result<Duration, StoreError> {
    u64::try_from(n)
        .map(Duration::from_nanos)
        .map_err(|_| corrupt(what(), format!("negative duration {n} ns")))
}

pub(super) fn opt_dur_from_db(
    n: Option<i64>,
    what: &dyn Fn() -> String,
) -> Result<Option<Duration>, StoreError> {
    n.map(|n| dur_from_db(n, what)).transpose()
}

pub(super) fn path_to_db(p: &Path) -> Result<&str, StoreError> {
    p.to_str().ok_or_else(|| StoreError::Unstorable {
        what: "a recording path",
        problem: format!("{} is not UTF-8", p.display()),
    })
}

pub(super) fn path_from_db(p: Option<String>) -> Option<PathBuf> {
    p.map(PathBuf::from)
}

pub(super) fn corrupt(what: String, problem: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        what,
        problem: problem.to_string(),
    }
}

/// An enum stored as a word.
pub(super) trait Word: Sized {
    /// The word for the value.
    fn word(self) -> &'static str;

    /// The value for a stored word; `what` names the row for the error.
    fn from_word(word: &str, what: &dyn Fn() -> String) -> Result<Self, StoreError>;
}

/// Implements [`Word`] from one list of (variant, word), so that `word` is
/// an exhaustive match (a new variant without a word does not compile)
/// and `from_word` reads back exactly the words written.
macro_rules! words {
    ($ty:ident, $name:literal, { $($variant:ident => $word:literal,)+ }) => {
        impl Word for $ty {
            fn word(self) -> &'static str {
                match self {
                    $($ty::$variant => $word,)+
                }
            }

            fn from_word(word: &str, what: &dyn Fn() -> String) -> Result<Self, StoreError> {
                match word {
                    $($word => Ok($ty::$variant),)+
                    other => Err(corrupt(what(), format!("unknown {} {other:?}", $name))),
                }
            }
        }
    };
}

words!(CallDirection, "direction", {
    Inbound => "inbound",
    Outbound => "outbound",
});

words!(HangupCause, "hang-up cause", {
    Remote => "remote",
    Agent => "agent",
    Transferred => "transferred",
    Switch => "switch",
    MediaTimeout => "media_timeout",
    Error => "error",
    Shutdown => "shutdown",
    ProcessStopped => "process_stopped",
});

words!(Speaker, "speaker", {
    Remote => "remote",
    Agent => "agent",
});

words!(HandoffKind, "handoff kind", {
    Transfer => "transfer",
    Fallback => "fallback",
});

words!(CampaignState, "campaign state", {
    Active => "active",
    Paused => "paused",
    Stopped => "stopped",
});

words!(NumberState, "number state", {
    Pending => "pending",
    InProgress => "in_progress",
    Answered => "answered",
    Failed => "failed",
});

/// An outcome as (word, status, reason).
pub(super) fn outcome_to_db(o: &Outcome) -> (&'static str, Option<u16>, Option<&str>) {
    match o {
        Outcome::Completed => ("completed", None, None),
        Outcome::Refused { status, reason } => ("refused", Some(*status), Some(reason)),
        Outcome::Busy => ("busy", None, None),
        Outcome::NoAnswer => ("no_answer", None, None),
        Outcome::Cancelled => ("cancelled", None, None),
        Outcome::Failed { status, reason } => ("failed", *status, Some(reason)),
        Outcome::AgentFailed { reason } => ("agent_failed", None, Some(reason)),
        Outcome::Interrupted => ("interrupted", None, None),
    }
}

/// The outcome stored as (word, status, reason).
pub(super) fn outcome_from_db(
    word: &str,
    status: Option<i64>,
    reason: Option<String>,
    what: &dyn Fn() -> String,
) -> Result<Outcome, StoreError> {
    let status = status
        .map(|s| u16::try_from(s).map_err(|_| corrupt(what(), format!("SIP status {s}"))))
        .transpose()?;
    let reason = || reason.clone().unwrap_or_default();
    Ok(match word {
        "completed" => Outcome::Completed,
        "refused" => Outcome::Refused {
            status: status.ok_or_else(|| corrupt(what(), "a refusal without its status"))?,
            reason: reason(),
        },
        "busy" => Outcome::Busy,
        "no_answer" => Outcome::NoAnswer,
        "cancelled" => Outcome::Cancelled,
        "failed" => Outcome::Failed {
            status,
            reason: reason(),
        },
        "agent_failed" => Outcome::AgentFailed { reason: reason() },
        "interrupted" => Outcome::Interrupted,
        other => return Err(corrupt(what(), format!("unknown outcome {other:?}"))),
    })
}
