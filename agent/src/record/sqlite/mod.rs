//! The embedded store: one SQLite file holding call records and
//! campaigns.
//!
//! The database runs in write-ahead-log mode (readers never wait for the
//! writer, and a process killed mid-call loses no committed update) with
//! `synchronous = NORMAL` (durable across a crash of the process; across a
//! power cut the last transactions before it may be lost, never the file).
//! One connection, behind a mutex, serves every thread of the process;
//! statements are prepared once and cached. Other processes may open the
//! same file: each waits up to the busy timeout for another's write.

mod calls;
mod campaigns;
mod codec;
mod migrations;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use jiff::Timestamp;
use rusqlite::Connection;

use super::{CallStore, CampaignStore, StoreError, StoreSettings};
use codec::db;

/// How long a write waits for another process's write to finish.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Call records and campaigns in one SQLite file.
///
/// Implements [`CallStore`] and [`CampaignStore`]; share it as an
/// `Arc<SqliteStore>` (or `Arc<dyn CallStore>`).
#[derive(Debug)]
pub struct SqliteStore {
    conn: Mutex<Connection>,
    path: PathBuf,
    instance: String,
}

impl SqliteStore {
    /// Opens (creating it if missing) the database in `settings`, brings
    /// its schema up to date, and closes as interrupted the calls and
    /// campaign attempts this instance left open when it last stopped
    /// (see [`CallStore::close_interrupted`]).
    pub fn open(settings: &StoreSettings) -> Result<Self, StoreError> {
        Self::open_path(&settings.database, &settings.instance)
    }

    /// [`open`](Self::open) with the database file and instance name given
    /// directly.
    pub fn open_path(path: &Path, instance: &str) -> Result<Self, StoreError> {
        let store = Self::open_at_version(path, instance, migrations::LATEST)?;
        let calls = store.close_interrupted()?;
        let attempts = store.finish_interrupted_attempts(Timestamp::now())?;
        if calls > 0 || attempts > 0 {
            tracing::warn!(
                calls,
                attempts,
                instance,
                "closed as interrupted the calls and campaign attempts left open when the process last stopped"
            );
        }
        Ok(store)
    }

    /// Opens the database migrated only up to `version` (tests build old
    /// databases with it), without closing interrupted calls.
    fn open_at_version(path: &Path, instance: &str, version: i64) -> Result<Self, StoreError> {
        let open_error = |e: rusqlite::Error| StoreError::Open {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let mut conn = Connection::open(path).map_err(open_error)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_error)?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(open_error)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Open {
                path: path.to_path_buf(),
                message: format!(
                    "the file system does not allow write-ahead logging (journal mode {mode})"
                ),
            });
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_error)?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(open_error)?;
        let now = codec::ts_to_db_clamped(Timestamp::now());
        let from = migrations::migrate(&mut conn, version, now)?;
        if from < version {
            tracing::info!(from, to = version, path = %path.display(), "call record database schema upgraded");
        }
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
            instance: instance.to_string(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The name this process's records are stamped with.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// The schema version of the database.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        migrations::current_version(&self.lock()).map_err(db)
    }

    /// The connection. A thread that panicked while holding it left no
    /// transaction open (an unfinished one rolls back when dropped), so
    /// the connection is used on after a poisoning.
    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests;
