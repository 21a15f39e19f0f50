//! A record that closes itself: the call's task holds an
//! [`OpenCallRecord`], and if the task ends without closing it (a panic
//! unwinding, a cancelled task) the record is closed on drop, so no path
//! out of a call leaves its record open.

use std::sync::Arc;

use jiff::Timestamp;

use super::{CallEnd, CallRecord, CallStore, CallUpdate, HangupCause, Outcome, StoreError};

/// The record of a call in progress, closed when dropped if it was not
/// closed before.
///
/// Dropping it unclosed writes to the store from `drop`, which blocks:
/// hold it where blocking is allowed (the call's blocking task), as with
/// every [`CallStore`] call.
pub struct OpenCallRecord {
    store: Arc<dyn CallStore>,
    call_id: String,
    closed: bool,
}

impl OpenCallRecord {
    /// Stores `record` (see [`CallStore::open`]) and returns the guard
    /// that will close it.
    pub fn open(store: Arc<dyn CallStore>, record: &CallRecord) -> Result<Self, StoreError> {
        store.open(record)?;
        Ok(OpenCallRecord {
            store,
            call_id: record.call_id.clone(),
            closed: record.end.is_some(),
        })
    }

    /// The call's id.
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// Appends to the record (see [`CallStore::update`]).
    pub fn update(&self, update: &CallUpdate) -> Result<(), StoreError> {
        self.store.update(&self.call_id, update)
    }

    /// Closes the record (see [`CallStore::close`]); `false` if something
    /// else had closed it first.
    pub fn close(mut self, end: &CallEnd) -> Result<bool, StoreError> {
        self.closed = true;
        self.store.close(&self.call_id, end)
    }
}

impl Drop for OpenCallRecord {
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        let reason = if std::thread::panicking() {
            "the call's task panicked"
        } else {
            "the call's task ended without recording how the call ended"
        };
        let end = CallEnd {
            at: Timestamp::now(),
            outcome: Outcome::Failed {
                status: None,
                reason: reason.to_string(),
            },
            cause: HangupCause::Error,
        };
        match self.store.close(&self.call_id, &end) {
            Ok(_) => tracing::error!(call_id = %self.call_id, reason, "call record closed on drop"),
            Err(e) => {
                tracing::error!(call_id = %self.call_id, error = %e, "call record could not be closed on drop")
            }
        }
    }
}

impl std::fmt::Debug for OpenCallRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenCallRecord")
            .field("call_id", &self.call_id)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}
