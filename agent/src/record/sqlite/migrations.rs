//! The database schema, as the ordered list of migrations that build it.
//!
//! `schema_version` holds one row per migration applied. At open, every
//! migration newer than the database's version is applied in order, in
//! one immediate transaction, so two processes opening the same new
//! database do not both migrate it, and a failed migration leaves the
//! database as it was. A migration, once released, is never edited: a
//! change to the schema is a new migration at the end of the list.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use crate::record::StoreError;

/// The migrations, in order: (version, SQL).
pub(super) const MIGRATIONS: &[(i64, &str)] = &[(1, CALL_RECORDS), (2, CAMPAIGNS)];

/// The newest schema version this program knows.
pub(super) const LATEST: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// Version 1: call records and their lists.
const CALL_RECORDS: &str = "
CREATE TABLE calls (
    call_id         TEXT PRIMARY KEY NOT NULL,
    instance        TEXT NOT NULL,
    line            TEXT NOT NULL,
    tenant          TEXT,
    direction       TEXT NOT NULL,
    caller_raw      TEXT NOT NULL,
    caller_e164     TEXT,
    caller_name     TEXT,
    did             TEXT,
    start_ns        INTEGER NOT NULL,
    answer_ns       INTEGER,
    end_ns          INTEGER,
    last_seen_ns    INTEGER NOT NULL,
    outcome         TEXT,
    outcome_status  INTEGER,
    outcome_reason  TEXT,
    hangup_cause    TEXT,
    profile         TEXT,
    agent           TEXT,
    recording       TEXT
);
CREATE INDEX calls_by_start ON calls (start_ns);
CREATE INDEX calls_open ON calls (instance) WHERE end_ns IS NULL;

CREATE TABLE call_transcript (
    id                  INTEGER PRIMARY KEY,
    call_id             TEXT NOT NULL REFERENCES calls (call_id) ON DELETE CASCADE,
    speaker             TEXT NOT NULL,
    text                TEXT NOT NULL,
    offset_ns           INTEGER NOT NULL,
    end_of_speech_ns    INTEGER,
    transcript_ready_ns INTEGER,
    reply_ready_ns      INTEGER,
    first_audio_ns      INTEGER
);
CREATE INDEX call_transcript_by_call ON call_transcript (call_id, id);

CREATE TABLE call_dtmf (
    id          INTEGER PRIMARY KEY,
    call_id     TEXT NOT NULL REFERENCES calls (call_id) ON DELETE CASCADE,
    digit       TEXT NOT NULL,
    offset_ns   INTEGER NOT NULL,
    duration_ns INTEGER
);
CREATE INDEX call_dtmf_by_call ON call_dtmf (call_id, id);

CREATE TABLE call_handoffs (
    id      INTEGER PRIMARY KEY,
    call_id TEXT NOT NULL REFERENCES calls (call_id) ON DELETE CASCADE,
    at_ns   INTEGER NOT NULL,
    kind    TEXT NOT NULL,
    target  TEXT NOT NULL,
    reason  TEXT
);
CREATE INDEX call_handoffs_by_call ON call_handoffs (call_id, id);

CREATE TABLE call_errors (
    id        INTEGER PRIMARY KEY,
    call_id   TEXT NOT NULL REFERENCES calls (call_id) ON DELETE CASCADE,
    at_ns     INTEGER NOT NULL,
    component TEXT NOT NULL,
    message   TEXT NOT NULL
);
CREATE INDEX call_errors_by_call ON call_errors (call_id, id);
";

/// Version 2: outbound campaigns, their numbers and attempts.
const CAMPAIGNS: &str = "
CREATE TABLE campaigns (
    id               INTEGER PRIMARY KEY,
    name             TEXT NOT NULL,
    line             TEXT NOT NULL,
    profile          TEXT NOT NULL,
    max_concurrent   INTEGER NOT NULL,
    calls_per_second REAL NOT NULL,
    max_attempts     INTEGER NOT NULL,
    retry_delay_ns   INTEGER NOT NULL,
    hours_from       TEXT,
    hours_until      TEXT,
    hours_time_zone  TEXT,
    state            TEXT NOT NULL,
    created_ns       INTEGER NOT NULL
);

CREATE TABLE campaign_numbers (
    id                  INTEGER PRIMARY KEY,
    campaign_id         INTEGER NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    number              TEXT NOT NULL,
    state               TEXT NOT NULL,
    attempts            INTEGER NOT NULL DEFAULT 0,
    next_attempt_ns     INTEGER,
    last_outcome        TEXT,
    last_outcome_status INTEGER,
    last_outcome_reason TEXT,
    UNIQUE (campaign_id, number)
);
CREATE INDEX campaign_numbers_due
    ON campaign_numbers (campaign_id, next_attempt_ns) WHERE state = 'pending';

CREATE TABLE campaign_attempts (
    id             INTEGER PRIMARY KEY,
    number_id      INTEGER NOT NULL REFERENCES campaign_numbers (id) ON DELETE CASCADE,
    instance       TEXT NOT NULL,
    attempt        INTEGER NOT NULL,
    call_id        TEXT NOT NULL,
    started_ns     INTEGER NOT NULL,
    ended_ns       INTEGER,
    outcome        TEXT,
    outcome_status INTEGER,
    outcome_reason TEXT
);
CREATE INDEX campaign_attempts_by_number ON campaign_attempts (number_id, id);
CREATE INDEX campaign_attempts_open ON campaign_attempts (instance) WHERE ended_ns IS NULL;
";

/// The schema version of the database (0 for a new one).
pub(super) fn current_version(conn: &Connection) -> Result<i64, rusqlite::Error> {
    let has_table: Option<i64> = conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'",
            [],
            |row| row.get(0),
        )
        .optional()?;
    if has_table.is_none() {
        return Ok(0);
    }
    conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_version",
        [],
        |row| row.get(0),
    )
}

/// Brings the database up to `target` (normally [`LATEST`]), applying
/// each missing migration in order. Returns the version it was at.
pub(super) fn migrate(conn: &mut Connection, target: i64, now_ns: i64) -> Result<i64, StoreError> {
    let db = |e: rusqlite::Error| StoreError::Database(e.to_string());
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_version (
             version    INTEGER PRIMARY KEY NOT NULL,
             applied_ns INTEGER NOT NULL
         )",
    )
    .map_err(db)?;
    let found = current_version(&tx).map_err(db)?;
    if found > LATEST {
        return Err(StoreError::NewerSchema {
            found,
            known: LATEST,
        });
    }
    for &(version, sql) in MIGRATIONS {
        if version <= found || version > target {
            continue;
        }
        let apply = || -> Result<(), rusqlite::Error> {
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT INTO schema_version (version, applied_ns) VALUES (?1, ?2)",
                (version, now_ns),
            )?;
            Ok(())
        };
        apply().map_err(|e| StoreError::Migration {
            version,
            message: e.to_string(),
        })?;
        tracing::info!(version, "call record database migrated");
    }
    tx.commit().map_err(db)?;
    Ok(found)
}
