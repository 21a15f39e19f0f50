//! [`CampaignStore`] for [`SqliteStore`].

use jiff::civil::Time;
use jiff::Timestamp;
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};

use super::codec::{
    corrupt, db, dur_from_db, dur_to_db, opt_ts_from_db, outcome_from_db, outcome_to_db,
    ts_from_db, ts_to_db, Word,
};
use super::SqliteStore;
use crate::record::{
    Attempt, AttemptId, CallingHours, Campaign, CampaignId, CampaignNumber, CampaignSettings,
    CampaignState, CampaignStore, DueNumber, NumberId, NumberState, Outcome, StoreError,
};

const SELECT_CAMPAIGN: &str = "SELECT id, name, line, profile, max_concurrent, \
     calls_per_second, max_attempts, retry_delay_ns, hours_from, hours_until, hours_time_zone, \
     state, created_ns FROM campaigns";

impl CampaignStore for SqliteStore {
    fn create_campaign(
        &self,
        settings: &CampaignSettings,
        numbers: &[String],
        now: Timestamp,
    ) -> Result<CampaignId, StoreError> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let hours = settings.calling_hours.as_ref();
        tx.prepare_cached(
            "INSERT INTO campaigns (name, line, profile, max_concurrent, calls_per_second, \
             max_attempts, retry_delay_ns, hours_from, hours_until, hours_time_zone, state, \
             created_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )
        .map_err(db)?
        .execute(params![
            settings.name,
            settings.line,
            settings.profile,
            settings.max_concurrent,
            settings.calls_per_second,
            settings.max_attempts,
            dur_to_db(settings.retry_delay)?,
            hours.map(|h| h.from.to_string()),
            hours.map(|h| h.until.to_string()),
            hours.map(|h| h.time_zone.as_str()),
            CampaignState::Active.word(),
            ts_to_db(now)?,
        ])
        .map_err(db)?;
        let id = CampaignId(tx.last_insert_rowid());
        insert_numbers(&tx, id, numbers, now)?;
        tx.commit().map_err(db)?;
        Ok(id)
    }

    fn add_numbers(
        &self,
        campaign: CampaignId,
        numbers: &[String],
        now: Timestamp,
    ) -> Result<usize, StoreError> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        campaign_state(&tx, campaign)?;
        let added = insert_numbers(&tx, campaign, numbers, now)?;
        tx.commit().map_err(db)?;
        Ok(added)
    }

    fn campaign(&self, id: CampaignId) -> Result<Option<Campaign>, StoreError> {
        let conn = self.lock();
        let row = conn
            .prepare_cached(&format!("{SELECT_CAMPAIGN} WHERE id = ?1"))
            .map_err(db)?
            .query_row([id.0], CampaignRow::read)
            .optional()
            .map_err(db)?;
        row.map(CampaignRow::into_campaign).transpose()
    }

    fn campaigns(&self) -> Result<Vec<Campaign>, StoreError> {
        let conn = self.lock();
        let rows = conn
            .prepare_cached(&format!("{SELECT_CAMPAIGN} ORDER BY id"))
            .map_err(db)?
            .query_map([], CampaignRow::read)
            .map_err(db)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db)?;
        rows.into_iter().map(CampaignRow::into_campaign).collect()
    }

    fn set_state(&self, id: CampaignId, state: CampaignState) -> Result<(), StoreError> {
        let conn = self.lock();
        let changed = conn
            .prepare_cached("UPDATE campaigns SET state = ?1 WHERE id = ?2")
            .map_err(db)?
            .execute(params![state.word(), id.0])
            .map_err(db)?;
        if changed == 0 {
            return Err(StoreError::UnknownCampaign(id));
        }
        Ok(())
    }

    fn due(
        &self,
        campaign: CampaignId,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<DueNumber>, StoreError> {
        let conn = self.lock();
        if campaign_state(&conn, campaign)? != CampaignState::Active {
            return Ok(Vec::new());
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<(i64, String, i64)> = conn
            .prepare_cached(
                "SELECT id, number, attempts FROM campaign_numbers \
                 WHERE campaign_id = ?1 AND state = 'pending' AND next_attempt_ns <= ?2 \
                 ORDER BY next_attempt_ns, id LIMIT ?3",
            )
            .map_err(db)?
            .query_map(params![campaign.0, ts_to_db(now)?, limit], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .map_err(db)?
            .collect::<Result<_, _>>()
            .map_err(db)?;
        rows.into_iter()
            .map(|(id, number, attempts)| {
                Ok(DueNumber {
                    id: NumberId(id),
                    campaign,
                    number,
                    attempts: count(attempts, || format!("campaign number {id}"))?,
                })
            })
            .collect()
    }

    fn in_progress(&self, campaign: CampaignId) -> Result<usize, StoreError> {
        let conn = self.lock();
        campaign_state(&conn, campaign)?;
        let n: i64 = conn
            .prepare_cached(
                "SELECT COUNT(*) FROM campaign_numbers \
                 WHERE campaign_id = ?1 AND state = 'in_progress'",
            )
            .map_err(db)?
            .query_row([campaign.0], |r| r.get(0))
            .map_err(db)?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    fn start_attempt(
        &self,
        number: NumberId,
        call_id: &str,
        at: Timestamp,
    ) -> Result<AttemptId, StoreError> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let at = ts_to_db(at)?;
        let changed = tx
            .prepare_cached(
                "UPDATE campaign_numbers SET state = 'in_progress', attempts = attempts + 1, \
                 next_attempt_ns = NULL \
                 WHERE id = ?1 AND state = 'pending' AND next_attempt_ns <= ?2 \
                 AND campaign_id IN (SELECT id FROM campaigns WHERE state = 'active')",
            )
            .map_err(db)?
            .execute(params![number.0, at])
            .map_err(db)?;
        if changed == 0 {
            let known = tx
                .prepare_cached("SELECT 1 FROM campaign_numbers WHERE id = ?1")
                .map_err(db)?
                .exists([number.0])
                .map_err(db)?;
            return Err(if known {
                StoreError::NotDue(number)
            } else {
                StoreError::UnknownNumber(number)
            });
        }
        tx.prepare_cached(
            "INSERT INTO campaign_attempts (number_id, instance, attempt, call_id, started_ns) \
             SELECT id, ?2, attempts, ?3, ?4 FROM campaign_numbers WHERE id = ?1",
        )
        .map_err(db)?
        .execute(params![number.0, self.instance, call_id, at])
        .map_err(db)?;
        let id = AttemptId(tx.last_insert_rowid());
        tx.commit().map_err(db)?;
        Ok(id)
    }

    fn finish_attempt(
        &self,
        attempt: AttemptId,
        at: Timestamp,
        outcome: &Outcome,
    ) -> Result<NumberState, StoreError> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let state = finish(&tx, attempt, ts_to_db(at)?, outcome)?;
        tx.commit().map_err(db)?;
        Ok(state)
    }

    fn numbers(&self, campaign: CampaignId) -> Result<Vec<CampaignNumber>, StoreError> {
        let conn = self.lock();
        campaign_state(&conn, campaign)?;
        type Raw = (
            i64,
            String,
            String,
            i64,
            Option<i64>,
            Option<String>,
            Option<i64>,
            Option<String>,
        );
        let rows: Vec<Raw> = conn
            .prepare_cached(
                "SELECT id, number, state, attempts, next_attempt_ns, last_outcome, \
                 last_outcome_status, last_outcome_reason FROM campaign_numbers \
                 WHERE campaign_id = ?1 ORDER BY id",
            )
            .map_err(db)?
            .query_map([campaign.0], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                ))
            })
            .map_err(db)?
            .collect::<Result<_, _>>()
            .map_err(db)?;
        rows.into_iter()
            .map(
                |(id, number, state, attempts, next, outcome, status, reason)| {
                    let what = || format!("campaign number {id}");
                    Ok(CampaignNumber {
                        id: NumberId(id),
                        number,
                        state: NumberState::from_word(&state, &what)?,
                        attempts: count(attempts, what)?,
                        next_attempt: opt_ts_from_db(next, &what)?,
                        last_outcome: outcome
                            .map(|o| outcome_from_db(&o, status, reason, &what))
                            .transpose()?,
                    })
                },
            )
            .collect()
    }

    fn attempts(&self, campaign: CampaignId) -> Result<Vec<Attempt>, StoreError> {
        let conn = self.lock();
        campaign_state(&conn, campaign)?;
        let rows = conn
            .prepare_cached(
                "SELECT a.id, a.number_id, a.attempt, a.call_id, a.started_ns, a.ended_ns, \
                 a.outcome, a.outcome_status, a.outcome_reason \
                 FROM campaign_attempts a JOIN campaign_numbers n ON a.number_id = n.id \
                 WHERE n.campaign_id = ?1 ORDER BY a.id",
            )
            .map_err(db)?
            .query_map([campaign.0], AttemptRow::read)
            .map_err(db)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db)?;
        rows.into_iter().map(AttemptRow::into_attempt).collect()
    }

    fn finish_interrupted_attempts(&self, now: Timestamp) -> Result<usize, StoreError> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let open: Vec<i64> = tx
            .prepare_cached(
                "SELECT id FROM campaign_attempts WHERE ended_ns IS NULL AND instance = ?1",
            )
            .map_err(db)?
            .query_map([&self.instance], |r| r.get(0))
            .map_err(db)?
            .collect::<Result<_, _>>()
            .map_err(db)?;
        let now = ts_to_db(now)?;
        for &id in &open {
            finish(&tx, AttemptId(id), now, &Outcome::Interrupted)?;
        }
        tx.commit().map_err(db)?;
        Ok(open.len())
    }
}

/// Adds numbers not yet in the campaign, due at `now`; returns how many.
fn insert_numbers(
    conn: &Connection,
    campaign: CampaignId,
    numbers: &[String],
    now: Timestamp,
) -> Result<usize, StoreError> {
    let now = ts_to_db(now)?;
    let mut insert = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO campaign_numbers (campaign_id, number, state, next_attempt_ns) \
             VALUES (?1, ?2, 'pending', ?3)",
        )
        .map_err(db)?;
    let mut added = 0;
    for number in numbers {
        added += insert
            .execute(params![campaign.0, number, now])
            .map_err(db)?;
    }
    Ok(added)
}

/// The campaign's state, or [`StoreError::UnknownCampaign`].
fn campaign_state(conn: &Connection, id: CampaignId) -> Result<CampaignState, StoreError> {
    let word: Option<String> = conn
        .prepare_cached("SELECT state FROM campaigns WHERE id = ?1")
        .map_err(db)?
        .query_row([id.0], |r| r.get(0))
        .optional()
        .map_err(db)?;
    let word = word.ok_or(StoreError::UnknownCampaign(id))?;
    CampaignState::from_word(&word, &|| format!("campaign {id}"))
}

/// Ends an attempt and moves its number on; returns the number's state.
fn finish(
    conn: &Connection,
    attempt: AttemptId,
    at: i64,
    outcome: &Outcome,
) -> Result<NumberState, StoreError> {
    let row: Option<(i64, Option<i64>)> = conn
        .prepare_cached("SELECT number_id, ended_ns FROM campaign_attempts WHERE id = ?1")
        .map_err(db)?
        .query_row([attempt.0], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map_err(db)?;
    let (number, ended) = row.ok_or(StoreError::UnknownAttempt(attempt))?;
    if ended.is_some() {
        return Err(StoreError::AttemptFinished(attempt));
    }
    let (word, status, reason) = outcome_to_db(outcome);
    conn.prepare_cached(
        "UPDATE campaign_attempts SET ended_ns = ?1, outcome = ?2, outcome_status = ?3, \
         outcome_reason = ?4 WHERE id = ?5",
    )
    .map_err(db)?
    .execute(params![at, word, status, reason, attempt.0])
    .map_err(db)?;
    let (attempts, max_attempts, delay): (i64, i64, i64) = conn
        .prepare_cached(
            "SELECT n.attempts, c.max_attempts, c.retry_delay_ns \
             FROM campaign_numbers n JOIN campaigns c ON n.campaign_id = c.id WHERE n.id = ?1",
        )
        .map_err(db)?
        .query_row([number], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .map_err(db)?;
    let (state, next) = if outcome.was_answered() {
        (NumberState::Answered, None)
    } else if outcome.is_retryable() && attempts < max_attempts {
        (NumberState::Pending, Some(at.saturating_add(delay)))
    } else {
        (NumberState::Failed, None)
    };
    conn.prepare_cached(
        "UPDATE campaign_numbers SET state = ?1, next_attempt_ns = ?2, last_outcome = ?3, \
         last_outcome_status = ?4, last_outcome_reason = ?5 WHERE id = ?6",
    )
    .map_err(db)?
    .execute(params![state.word(), next, word, status, reason, number])
    .map_err(db)?;
    Ok(state)
}

/// A stored count as `u32`.
fn count(n: i64, what: impl Fn() -> String) -> Result<u32, StoreError> {
    u32::try_from(n).map_err(|_| corrupt(what(), format!("count {n}")))
}

/// A `campaigns` row as stored.
struct CampaignRow {
    id: i64,
    name: String,
    line: String,
    profile: String,
    max_concurrent: i64,
    calls_per_second: f64,
    max_attempts: i64,
    retry_delay: i64,
    hours_from: Option<String>,
    hours_until: Option<String>,
    hours_time_zone: Option<String>,
    state: String,
    created: i64,
}

impl CampaignRow {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(CampaignRow {
            id: row.get(0)?,
            name: row.get(1)?,
            line: row.get(2)?,
            profile: row.get(3)?,
            max_concurrent: row.get(4)?,
            calls_per_second: row.get(5)?,
            max_attempts: row.get(6)?,
            retry_delay: row.get(7)?,
            hours_from: row.get(8)?,
            hours_until: row.get(9)?,
            hours_time_zone: row.get(10)?,
            state: row.get(11)?,
            created: row.get(12)?,
        })
    }

    fn into_campaign(self) -> Result<Campaign, StoreError> {
        let id = self.id;
        let what = move || format!("campaign {id}");
        let time = |t: &str| t.parse::<Time>().map_err(|e| corrupt(what(), e));
        let calling_hours = match (self.hours_from, self.hours_until, self.hours_time_zone) {
            (None, None, None) => None,
            (Some(from), Some(until), Some(time_zone)) => Some(CallingHours {
                from: time(&from)?,
                until: time(&until)?,
                time_zone,
            }),
            _ => return Err(corrupt(what(), "calling hours are partly set")),
        };
        Ok(Campaign {
            id: CampaignId(id),
            settings: CampaignSettings {
                name: self.name,
                line: self.line,
                profile: self.profile,
                max_concurrent: count(self.max_concurrent, what)?,
                calls_per_second: self.calls_per_second,
                max_attempts: count(self.max_attempts, what)?,
                retry_delay: dur_from_db(self.retry_delay, &what)?,
                calling_hours,
            },
            state: CampaignState::from_word(&self.state, &what)?,
            created: ts_from_db(self.created, &what)?,
        })
    }
}

/// A `campaign_attempts` row as stored.
struct AttemptRow {
    id: i64,
    number: i64,
    attempt: i64,
    call_id: String,
    started: i64,
    ended: Option<i64>,
    outcome: Option<String>,
    outcome_status: Option<i64>,
    outcome_reason: Option<String>,
}

impl AttemptRow {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(AttemptRow {
            id: row.get(0)?,
            number: row.get(1)?,
            attempt: row.get(2)?,
            call_id: row.get(3)?,
            started: row.get(4)?,
            ended: row.get(5)?,
            outcome: row.get(6)?,
            outcome_status: row.get(7)?,
            outcome_reason: row.get(8)?,
        })
    }

    fn into_attempt(self) -> Result<Attempt, StoreError> {
        let id = self.id;
        let what = move || format!("campaign attempt {id}");
        Ok(Attempt {
            id: AttemptId(id),
            number: NumberId(self.number),
            attempt: count(self.attempt, what)?,
            call_id: self.call_id,
            started: ts_from_db(self.started, &what)?,
            ended: opt_ts_from_db(self.ended, &what)?,
            outcome: self
                .outcome
                .map(|o| outcome_from_db(&o, self.outcome_status, self.outcome_reason, &what))
                .transpose()?,
        })
    }
}
