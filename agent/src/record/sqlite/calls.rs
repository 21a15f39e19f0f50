//! [`CallStore`] for [`SqliteStore`].

use std::time::Duration;

use jiff::Timestamp;
use rusqlite::{params, Connection, ErrorCode, OptionalExtension, Row, TransactionBehavior};

use super::codec::{
    db, dur_from_db, dur_to_db, opt_dur_from_db, opt_dur_to_db, opt_ts_from_db, outcome_from_db,
    outcome_to_db, path_from_db, path_to_db, ts_from_db, ts_to_db, ts_to_db_clamped, Word,
};
use super::SqliteStore;
use crate::record::{
    CallDirection, CallEnd, CallRecord, CallStore, CallUpdate, DtmfEntry, ErrorEntry, Handoff,
    HandoffKind, HangupCause, Party, Speaker, StoreError, TranscriptEntry, TurnTimings,
};

const SELECT_CALL: &str = "SELECT call_id, line, tenant, direction, caller_raw, caller_e164, \
     caller_name, did, start_ns, answer_ns, end_ns, outcome, outcome_status, outcome_reason, \
     hangup_cause, profile, agent, recording FROM calls";

impl CallStore for SqliteStore {
    fn open(&self, record: &CallRecord) -> Result<(), StoreError> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let start = ts_to_db(record.start)?;
        let answer = record.answer.map(ts_to_db).transpose()?;
        let (end, outcome, status, reason, cause) = match &record.end {
            Some(end) => {
                let (word, status, reason) = outcome_to_db(&end.outcome);
                (
                    Some(ts_to_db(end.at)?),
                    Some(word),
                    status,
                    reason,
                    Some(end.cause.word()),
                )
            }
            None => (None, None, None, None, None),
        };
        let recording = record.recording.as_deref().map(path_to_db).transpose()?;
        let last_seen = start.max(answer.unwrap_or(start)).max(end.unwrap_or(start));
        let inserted = tx
            .prepare_cached(
                "INSERT INTO calls (call_id, instance, line, tenant, direction, caller_raw, \
                 caller_e164, caller_name, did, start_ns, answer_ns, end_ns, last_seen_ns, \
                 outcome, outcome_status, outcome_reason, hangup_cause, profile, agent, recording) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, \
                 ?17, ?18, ?19, ?20)",
            )
            .map_err(db)?
            .execute(params![
                record.call_id,
                self.instance,
                record.line,
                record.tenant,
                record.direction.word(),
                record.caller.raw,
                record.caller.e164,
                record.caller.name,
                record.did,
                start,
                answer,
                end,
                last_seen,
                outcome,
                status,
                reason,
                cause,
                record.profile,
                record.agent,
                recording,
            ]);
        match inserted {
            Ok(_) => {}
            Err(e) if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) => {
                return Err(StoreError::DuplicateCall(record.call_id.clone()));
            }
            Err(e) => return Err(db(e)),
        }
        let id = &record.call_id;
        for entry in &record.transcript {
            insert_transcript(&tx, id, entry)?;
        }
        for entry in &record.dtmf {
            insert_dtmf(&tx, id, entry)?;
        }
        for entry in &record.handoffs {
            insert_handoff(&tx, id, entry)?;
        }
        for entry in &record.errors {
            insert_error(&tx, id, entry)?;
        }
        // The lists may speak of later moments than the start.
        for moment in list_moments(record) {
            touch(&tx, id, moment)?;
        }
        tx.commit().map_err(db)
    }

    fn update(&self, call_id: &str, update: &CallUpdate) -> Result<(), StoreError> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let changed = match update {
            CallUpdate::Answered(at) => {
                let at = ts_to_db(*at)?;
                tx.prepare_cached(
                    "UPDATE calls SET answer_ns = COALESCE(answer_ns, ?1), \
                     last_seen_ns = MAX(last_seen_ns, ?1) WHERE call_id = ?2",
                )
                .map_err(db)?
                .execute(params![at, call_id])
                .map_err(db)?
            }
            CallUpdate::Routed { profile, agent } => tx
                .prepare_cached("UPDATE calls SET profile = ?1, agent = ?2 WHERE call_id = ?3")
                .map_err(db)?
                .execute(params![profile, agent, call_id])
                .map_err(db)?,
            CallUpdate::Recording(path) => tx
                .prepare_cached("UPDATE calls SET recording = ?1 WHERE call_id = ?2")
                .map_err(db)?
                .execute(params![path_to_db(path)?, call_id])
                .map_err(db)?,
            CallUpdate::Transcript(entry) => {
                let n = touch(&tx, call_id, Moment::SinceAnswer(entry_latest(entry)))?;
                if n > 0 {
                    insert_transcript(&tx, call_id, entry)?;
                }
                n
            }
            CallUpdate::Dtmf(entry) => {
                let n = touch(&tx, call_id, Moment::SinceAnswer(dtmf_latest(entry)))?;
                if n > 0 {
                    insert_dtmf(&tx, call_id, entry)?;
                }
                n
            }
            CallUpdate::Handoff(entry) => {
                let n = touch(&tx, call_id, Moment::At(entry.at))?;
                if n > 0 {
                    insert_handoff(&tx, call_id, entry)?;
                }
                n
            }
            CallUpdate::Error(entry) => {
                let n = touch(&tx, call_id, Moment::At(entry.at))?;
                if n > 0 {
                    insert_error(&tx, call_id, entry)?;
                }
                n
            }
        };
        if changed == 0 {
            return Err(StoreError::UnknownCall(call_id.to_string()));
        }
        tx.commit().map_err(db)
    }

    fn close(&self, call_id: &str, end: &CallEnd) -> Result<bool, StoreError> {
        let conn = self.lock();
        let at = ts_to_db(end.at)?;
        let (word, status, reason) = outcome_to_db(&end.outcome);
        let changed = conn
            .prepare_cached(
                "UPDATE calls SET end_ns = ?1, last_seen_ns = MAX(last_seen_ns, ?1), \
                 outcome = ?2, outcome_status = ?3, outcome_reason = ?4, hangup_cause = ?5 \
                 WHERE call_id = ?6 AND end_ns IS NULL",
            )
            .map_err(db)?
            .execute(params![at, word, status, reason, end.cause.word(), call_id])
            .map_err(db)?;
        if changed > 0 {
            return Ok(true);
        }
        if exists(&conn, call_id)? {
            Ok(false)
        } else {
            Err(StoreError::UnknownCall(call_id.to_string()))
        }
    }

    fn get(&self, call_id: &str) -> Result<Option<CallRecord>, StoreError> {
        let conn = self.lock();
        let row = conn
            .prepare_cached(&format!("{SELECT_CALL} WHERE call_id = ?1"))
            .map_err(db)?
            .query_row([call_id], CallRow::read)
            .optional()
            .map_err(db)?;
        row.map(|row| row.into_record(&conn)).transpose()
    }

    fn recent(&self, limit: usize) -> Result<Vec<CallRecord>, StoreError> {
        let conn = self.lock();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = conn
            .prepare_cached(&format!(
                "{SELECT_CALL} ORDER BY start_ns DESC, rowid DESC LIMIT ?1"
            ))
            .map_err(db)?
            .query_map([limit], CallRow::read)
            .map_err(db)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db)?;
        rows.into_iter().map(|r| r.into_record(&conn)).collect()
    }

    fn recent_before(
        &self,
        before_call_id: &str,
        limit: usize,
    ) -> Result<Vec<CallRecord>, StoreError> {
        let conn = self.lock();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let cursor: Option<(i64, i64)> = conn
            .prepare_cached("SELECT start_ns, rowid FROM calls WHERE call_id = ?1")
            .map_err(db)?
            .query_row([before_call_id], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()
            .map_err(db)?;
        let (start_ns, rowid) =
            cursor.ok_or_else(|| StoreError::UnknownCall(before_call_id.to_string()))?;
        let rows = conn
            .prepare_cached(&format!(
                "{SELECT_CALL} WHERE start_ns < ?1 OR (start_ns = ?1 AND rowid < ?2) \
                 ORDER BY start_ns DESC, rowid DESC LIMIT ?3"
            ))
            .map_err(db)?
            .query_map([start_ns, rowid, limit], CallRow::read)
            .map_err(db)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db)?;
        rows.into_iter().map(|r| r.into_record(&conn)).collect()
    }

    fn started_between(
        &self,
        from: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<CallRecord>, StoreError> {
        let conn = self.lock();
        let rows = conn
            .prepare_cached(&format!(
                "{SELECT_CALL} WHERE start_ns >= ?1 AND start_ns < ?2 ORDER BY start_ns, rowid"
            ))
            .map_err(db)?
            .query_map(
                [ts_to_db_clamped(from), ts_to_db_clamped(until)],
                CallRow::read,
            )
            .map_err(db)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db)?;
        rows.into_iter().map(|r| r.into_record(&conn)).collect()
    }

    fn close_interrupted(&self) -> Result<usize, StoreError> {
        let conn = self.lock();
        let closed = conn
            .prepare_cached(
                "UPDATE calls SET end_ns = last_seen_ns, outcome = 'interrupted', \
                 outcome_status = NULL, outcome_reason = NULL, hangup_cause = ?1 \
                 WHERE end_ns IS NULL AND instance = ?2",
            )
            .map_err(db)?
            .execute(params![HangupCause::ProcessStopped.word(), self.instance])
            .map_err(db)?;
        Ok(closed)
    }
}

/// A moment in a call that moves its "last seen" time forward.
#[derive(Debug, Clone, Copy)]
enum Moment {
    /// A wall-clock time.
    At(Timestamp),
    /// An offset from the answer (or from the start, if not answered).
    SinceAnswer(Duration),
}

/// Moves the call's last-seen time to `moment` if that is later; returns
/// 0 if no call has the id.
fn touch(conn: &Connection, call_id: &str, moment: Moment) -> Result<usize, StoreError> {
    match moment {
        Moment::At(at) => conn
            .prepare_cached(
                "UPDATE calls SET last_seen_ns = MAX(last_seen_ns, ?1) WHERE call_id = ?2",
            )
            .map_err(db)?
            .execute(params![ts_to_db(at)?, call_id])
            .map_err(db),
        Moment::SinceAnswer(offset) => conn
            .prepare_cached(
                "UPDATE calls SET last_seen_ns = \
                 MAX(last_seen_ns, COALESCE(answer_ns, start_ns) + ?1) WHERE call_id = ?2",
            )
            .map_err(db)?
            .execute(params![dur_to_db(offset)?, call_id])
            .map_err(db),
    }
}

/// The latest moment a transcript entry speaks of.
fn entry_latest(entry: &TranscriptEntry) -> Duration {
    let t = entry.timings;
    [
        t.end_of_speech,
        t.transcript_ready,
        t.reply_ready,
        t.first_audio,
    ]
    .into_iter()
    .flatten()
    .fold(entry.offset, Duration::max)
}

/// The latest moment a digit speaks of.
fn dtmf_latest(entry: &DtmfEntry) -> Duration {
    entry
        .offset
        .saturating_add(entry.duration.unwrap_or(Duration::ZERO))
}

/// The moments the lists of a record speak of.
fn list_moments(record: &CallRecord) -> impl Iterator<Item = Moment> + '_ {
    let transcript = record
        .transcript
        .iter()
        .map(|e| Moment::SinceAnswer(entry_latest(e)));
    let dtmf = record
        .dtmf
        .iter()
        .map(|e| Moment::SinceAnswer(dtmf_latest(e)));
    let handoffs = record.handoffs.iter().map(|e| Moment::At(e.at));
    let errors = record.errors.iter().map(|e| Moment::At(e.at));
    transcript.chain(dtmf).chain(handoffs).chain(errors)
}

fn exists(conn: &Connection, call_id: &str) -> Result<bool, StoreError> {
    conn.prepare_cached("SELECT 1 FROM calls WHERE call_id = ?1")
        .map_err(db)?
        .exists([call_id])
        .map_err(db)
}

fn insert_transcript(
    conn: &Connection,
    call_id: &str,
    e: &TranscriptEntry,
) -> Result<(), StoreError> {
    let t = e.timings;
    conn.prepare_cached(
        "INSERT INTO call_transcript (call_id, speaker, text, offset_ns, end_of_speech_ns, \
         transcript_ready_ns, reply_ready_ns, first_audio_ns) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .map_err(db)?
    .execute(params![
        call_id,
        e.speaker.word(),
        e.text,
        dur_to_db(e.offset)?,
        opt_dur_to_db(t.end_of_speech)?,
        opt_dur_to_db(t.transcript_ready)?,
        opt_dur_to_db(t.reply_ready)?,
        opt_dur_to_db(t.first_audio)?,
    ])
    .map_err(db)?;
    Ok(())
}

fn insert_dtmf(conn: &Connection, call_id: &str, e: &DtmfEntry) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO call_dtmf (call_id, digit, offset_ns, duration_ns) VALUES (?1, ?2, ?3, ?4)",
    )
    .map_err(db)?
    .execute(params![
        call_id,
        e.digit.to_string(),
        dur_to_db(e.offset)?,
        opt_dur_to_db(e.duration)?,
    ])
    .map_err(db)?;
    Ok(())
}

fn insert_handoff(conn: &Connection, call_id: &str, e: &Handoff) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO call_handoffs (call_id, at_ns, kind, target, reason) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .map_err(db)?
    .execute(params![
        call_id,
        ts_to_db(e.at)?,
        e.kind.word(),
        e.target,
        e.reason
    ])
    .map_err(db)?;
    Ok(())
}

fn insert_error(conn: &Connection, call_id: &str, e: &ErrorEntry) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO call_errors (call_id, at_ns, component, message) VALUES (?1, ?2, ?3, ?4)",
    )
    .map_err(db)?
    .execute(params![call_id, ts_to_db(e.at)?, e.component, e.message])
    .map_err(db)?;
    Ok(())
}

/// A `calls` row as stored, before its values are checked.
struct CallRow {
    call_id: String,
    line: String,
    tenant: Option<String>,
    direction: String,
    caller_raw: String,
    caller_e164: Option<String>,
    caller_name: Option<String>,
    did: Option<String>,
    start: i64,
    answer: Option<i64>,
    end: Option<i64>,
    outcome: Option<String>,
    outcome_status: Option<i64>,
    outcome_reason: Option<String>,
    hangup_cause: Option<String>,
    profile: Option<String>,
    agent: Option<String>,
    recording: Option<String>,
}

impl CallRow {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(CallRow {
            call_id: row.get(0)?,
            line: row.get(1)?,
            tenant: row.get(2)?,
            direction: row.get(3)?,
            caller_raw: row.get(4)?,
            caller_e164: row.get(5)?,
            caller_name: row.get(6)?,
            did: row.get(7)?,
            start: row.get(8)?,
            answer: row.get(9)?,
            end: row.get(10)?,
            outcome: row.get(11)?,
            outcome_status: row.get(12)?,
            outcome_reason: row.get(13)?,
            hangup_cause: row.get(14)?,
            profile: row.get(15)?,
            agent: row.get(16)?,
            recording: row.get(17)?,
        })
    }

    /// The record, with its lists read from `conn`.
    fn into_record(self, conn: &Connection) -> Result<CallRecord, StoreError> {
        let id = self.call_id.clone();
        let what = move || format!("call record {id:?}");
        let what = &what;
        let end = match (self.end, self.outcome, self.hangup_cause) {
            (None, None, None) => None,
            (Some(at), Some(outcome), Some(cause)) => Some(CallEnd {
                at: ts_from_db(at, what)?,
                outcome: outcome_from_db(&outcome, self.outcome_status, self.outcome_reason, what)?,
                cause: HangupCause::from_word(&cause, what)?,
            }),
            _ => {
                return Err(StoreError::Corrupt {
                    what: what(),
                    problem: "end time, outcome and hang-up cause are not all set".into(),
                })
            }
        };
        Ok(CallRecord {
            transcript: read_transcript(conn, &self.call_id, what)?,
            dtmf: read_dtmf(conn, &self.call_id, what)?,
            handoffs: read_handoffs(conn, &self.call_id, what)?,
            errors: read_errors(conn, &self.call_id, what)?,
            line: self.line,
            tenant: self.tenant,
            direction: CallDirection::from_word(&self.direction, what)?,
            caller: Party {
                raw: self.caller_raw,
                e164: self.caller_e164,
                name: self.caller_name,
            },
            did: self.did,
            start: ts_from_db(self.start, what)?,
            answer: opt_ts_from_db(self.answer, what)?,
            end,
            profile: self.profile,
            agent: self.agent,
            recording: path_from_db(self.recording),
            call_id: self.call_id,
        })
    }
}

type What<'a> = &'a dyn Fn() -> String;

fn read_transcript(
    conn: &Connection,
    call_id: &str,
    what: What<'_>,
) -> Result<Vec<TranscriptEntry>, StoreError> {
    type Raw = (
        String,
        String,
        i64,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
    );
    let rows: Vec<Raw> = conn
        .prepare_cached(
            "SELECT speaker, text, offset_ns, end_of_speech_ns, transcript_ready_ns, \
             reply_ready_ns, first_audio_ns FROM call_transcript WHERE call_id = ?1 ORDER BY id",
        )
        .map_err(db)?
        .query_map([call_id], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })
        .map_err(db)?
        .collect::<Result<_, _>>()
        .map_err(db)?;
    rows.into_iter()
        .map(|(speaker, text, offset, eos, ready, reply, audio)| {
            Ok(TranscriptEntry {
                speaker: Speaker::from_word(&speaker, what)?,
                text,
                offset: dur_from_db(offset, what)?,
                timings: TurnTimings {
                    end_of_speech: opt_dur_from_db(eos, what)?,
                    transcript_ready: opt_dur_from_db(ready, what)?,
                    reply_ready: opt_dur_from_db(reply, what)?,
                    first_audio: opt_dur_from_db(audio, what)?,
                },
            })
        })
        .collect()
}

fn read_dtmf(
    conn: &Connection,
    call_id: &str,
    what: What<'_>,
) -> Result<Vec<DtmfEntry>, StoreError> {
    let rows: Vec<(String, i64, Option<i64>)> = conn
        .prepare_cached(
            "SELECT digit, offset_ns, duration_ns FROM call_dtmf WHERE call_id = ?1 ORDER BY id",
        )
        .map_err(db)?
        .query_map([call_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .map_err(db)?
        .collect::<Result<_, _>>()
        .map_err(db)?;
    rows.into_iter()
        .map(|(digit, offset, duration)| {
            let mut chars = digit.chars();
            let (Some(digit), None) = (chars.next(), chars.next()) else {
                return Err(super::codec::corrupt(
                    what(),
                    format!("DTMF digit {digit:?} is not one character"),
                ));
            };
            Ok(DtmfEntry {
                digit,
                offset: dur_from_db(offset, what)?,
                duration: opt_dur_from_db(duration, what)?,
            })
        })
        .collect()
}

fn read_handoffs(
    conn: &Connection,
    call_id: &str,
    what: What<'_>,
) -> Result<Vec<Handoff>, StoreError> {
    let rows: Vec<(i64, String, String, Option<String>)> = conn
        .prepare_cached(
            "SELECT at_ns, kind, target, reason FROM call_handoffs WHERE call_id = ?1 ORDER BY id",
        )
        .map_err(db)?
        .query_map([call_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .map_err(db)?
        .collect::<Result<_, _>>()
        .map_err(db)?;
    rows.into_iter()
        .map(|(at, kind, target, reason)| {
            Ok(Handoff {
                at: ts_from_db(at, what)?,
                kind: HandoffKind::from_word(&kind, what)?,
                target,
                reason,
            })
        })
        .collect()
}

fn read_errors(
    conn: &Connection,
    call_id: &str,
    what: What<'_>,
) -> Result<Vec<ErrorEntry>, StoreError> {
    let rows: Vec<(i64, String, String)> = conn
        .prepare_cached(
            "SELECT at_ns, component, message FROM call_errors WHERE call_id = ?1 ORDER BY id",
        )
        .map_err(db)?
        .query_map([call_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .map_err(db)?
        .collect::<Result<_, _>>()
        .map_err(db)?;
    rows.into_iter()
        .map(|(at, component, message)| {
            Ok(ErrorEntry {
                at: ts_from_db(at, what)?,
                component,
                message,
            })
        })
        .collect()
}
