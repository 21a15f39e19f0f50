//! The [`CallStore`] trait and the one error every store returns.

use std::path::PathBuf;

use jiff::Timestamp;

use super::{CallEnd, CallRecord, CallUpdate, CampaignId, NumberId};
use crate::record::AttemptId;

/// An error from a store of call records or campaigns.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or prepared.
    #[error("cannot open the call record database {path}: {message}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// What the database said.
        message: String,
    },
    /// The database was written by a newer version of the program.
    #[error(
        "the call record database is at schema version {found}, newer than the {known} this \
         program knows: run a newer version, or point it at another database"
    )]
    NewerSchema {
        /// The version found in the database.
        found: i64,
        /// The newest version this program can use.
        known: i64,
    },
    /// A schema migration failed; the database was left at the version
    /// before it.
    #[error("migrating the call record database to schema version {version} failed: {message}")]
    Migration {
        /// The version that could not be applied.
        version: i64,
        /// What the database said.
        message: String,
    },
    /// No record has this call id.
    #[error("no call record has the call id {0:?}")]
    UnknownCall(String),
    /// A record with this call id is already stored.
    #[error("a call record with the call id {0:?} already exists")]
    DuplicateCall(String),
    /// No campaign has this id.
    #[error("no campaign has the id {0}")]
    UnknownCampaign(CampaignId),
    /// No campaign number has this id.
    #[error("no campaign number has the id {0}")]
    UnknownNumber(NumberId),
    /// No attempt has this id.
    #[error("no campaign attempt has the id {0}")]
    UnknownAttempt(AttemptId),
    /// The number is not waiting to be called (already being called,
    /// finished, or its retry delay has not passed).
    #[error("campaign number {0} is not due to be called")]
    NotDue(NumberId),
    /// The attempt was already finished.
    #[error("campaign attempt {0} has already finished")]
    AttemptFinished(AttemptId),
    /// A value cannot be stored (a time outside 1677–2262, a duration over
    /// 292 years, a path that is not UTF-8).
    #[error("cannot store {what}: {problem}")]
    Unstorable {
        /// Which value.
        what: &'static str,
        /// Why.
        problem: String,
    },
    /// A stored row cannot be read back as a record (edited by hand, or
    /// written by an incompatible program).
    #[error("stored {what} is unreadable: {problem}")]
    Corrupt {
        /// Which row (`call record "abc"`, `campaign 3`).
        what: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The database failed (disk full, I/O error, locked for longer than
    /// the busy timeout).
    #[error("call record database failed: {0}")]
    Database(String),
}

/// Where call records are kept.
///
/// Object safe, `Send + Sync`, so a switch holds an `Arc<dyn CallStore>`
/// and an application can put in its own (a shared database when several
/// machines serve one number).
///
/// The methods are synchronous and may block on disk I/O or a database
/// lock: call them from a blocking task (`tokio::task::spawn_blocking`)
/// or a thread of their own, never from the media path.
pub trait CallStore: Send + Sync {
    /// Stores the record of a call that has just started, with whatever it
    /// already holds (a call refused by policy can be stored closed in one
    /// step, with its `end` set).
    ///
    /// Fails with [`StoreError::DuplicateCall`] if the call id is taken.
    fn open(&self, record: &CallRecord) -> Result<(), StoreError>;

    /// Appends one thing that happened to an open or closed call (a
    /// transcript line may arrive after the hang-up). Nothing already
    /// stored is rewritten; a second [`CallUpdate::Answered`] is ignored.
    ///
    /// Fails with [`StoreError::UnknownCall`] if no record has the id.
    fn update(&self, call_id: &str, update: &CallUpdate) -> Result<(), StoreError>;

    /// Closes the record with its end. Returns `false`, changing nothing,
    /// if it was already closed: the first close wins, so every path that
    /// can end a call may close it without knowing whether another did.
    fn close(&self, call_id: &str, end: &CallEnd) -> Result<bool, StoreError>;

    /// The record with this call id, with all its lists.
    fn get(&self, call_id: &str) -> Result<Option<CallRecord>, StoreError>;

    /// The latest `limit` calls, newest first (by start).
    fn recent(&self, limit: usize) -> Result<Vec<CallRecord>, StoreError>;

    /// The `limit` calls that come after the call `before_call_id` in
    /// [`recent`](CallStore::recent)'s order (started before it, or at
    /// the same time and stored before it), newest first: the next page
    /// of a list of the latest calls.
    ///
    /// Fails with [`StoreError::UnknownCall`] if no record has the id.
    fn recent_before(
        &self,
        before_call_id: &str,
        limit: usize,
    ) -> Result<Vec<CallRecord>, StoreError>;

    /// The calls that started in `[from, until)`, oldest first.
    fn started_between(
        &self,
        from: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<CallRecord>, StoreError>;

    /// Closes, as [`Outcome::Interrupted`](super::Outcome::Interrupted)
    /// with [`HangupCause::ProcessStopped`](super::HangupCause::ProcessStopped),
    /// every record this instance left open, and returns how many.
    ///
    /// Each gets, as its end time, the last moment the record shows the
    /// call up (its start, answer or latest entry), not the time of the
    /// restart, so a call cut off at night does not look hours long.
    ///
    /// Only this instance's records are closed: several processes sharing
    /// one database each give their own instance name.
    fn close_interrupted(&self) -> Result<usize, StoreError>;
}
