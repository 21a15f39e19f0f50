//! A call's record written from async code, in order, without blocking
//! the call.
//!
//! [`CallStore`](crate::record::CallStore) calls block (SQLite). A call's
//! task, its agent and its supervisor all add to the same record; a
//! [`RecordLog`] queues their [`CallUpdate`]s to one writer thread per call,
//! which applies them in the order they were made and closes the record at
//! the end. The writer holds the call's
//! [`OpenCallRecord`], so a call whose
//! tasks all end without closing the record still gets it closed (as
//! failed, saying so).

use crate::record::{CallEnd, CallUpdate, ErrorEntry, OpenCallRecord, StoreError};
use jiff::Timestamp;
use thiserror::Error;
use tokio::sync::{mpsc, oneshot};

/// Why [`RecordLog::close`] could not say how closing went.
#[derive(Debug, Error)]
pub enum RecordLogError {
    /// The store refused the close.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The record had already been closed through this log, or its writer
    /// thread is gone.
    #[error("the call record is already closed")]
    Closed,
}

enum Op {
    Update(CallUpdate),
    Close(CallEnd, oneshot::Sender<Result<bool, StoreError>>),
}

/// Appends to one call's record from any task; cheap to clone.
#[derive(Debug, Clone)]
pub struct RecordLog {
    call_id: String,
    tx: mpsc::UnboundedSender<Op>,
}

impl std::fmt::Debug for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Op::Update(u) => f.debug_tuple("Update").field(u).finish(),
            Op::Close(end, _) => f.debug_tuple("Close").field(end).finish(),
        }
    }
}

impl RecordLog {
    /// Starts the writer thread of `record`'s call. Updates are written in
    /// the order they are made; a failed write is logged and the call goes
    /// on (a record is never a reason to drop a call).
    pub fn start(record: OpenCallRecord) -> Result<RecordLog, std::io::Error> {
        let call_id = record.call_id().to_owned();
        let (tx, mut rx) = mpsc::unbounded_channel::<Op>();
        std::thread::Builder::new()
            .name("call-record".into())
            .spawn(move || {
                let record = record;
                while let Some(op) = rx.blocking_recv() {
                    match op {
                        Op::Update(update) => {
                            if let Err(e) = record.update(&update) {
                                tracing::warn!(call_id = record.call_id(), error = %e, "call record update failed");
                            }
                        }
                        Op::Close(end, reply) => {
                            let _ = reply.send(record.close(&end));
                            return;
                        }
                    }
                }
                // Every log dropped without closing: the record closes
                // itself as failed when `record` drops here.
            })?;
        Ok(RecordLog { call_id, tx })
    }

    /// The call's id.
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// Queues `update`; never blocks. Updates after the close are ignored.
    pub fn update(&self, update: CallUpdate) {
        let _ = self.tx.send(Op::Update(update));
    }

    /// Queues an error entry for `component` (`agent`, `media`...).
    pub fn error(&self, component: &str, message: impl Into<String>) {
        self.update(CallUpdate::Error(ErrorEntry {
            at: Timestamp::now(),
            component: component.to_owned(),
            message: message.into(),
        }));
    }

    /// Writes everything queued, then closes the record; `false` if it was
    /// closed before (see [`CallStore::close`](crate::record::CallStore::close)).
    pub async fn close(&self, end: CallEnd) -> Result<bool, RecordLogError> {
        let (reply, done) = oneshot::channel();
        self.tx
            .send(Op::Close(end, reply))
            .map_err(|_| RecordLogError::Closed)?;
        Ok(done.await.map_err(|_| RecordLogError::Closed)??)
    }
}
