//! Group commit of the records of finished API runs.
//!
//! Every synchronous API run stores its record before the response goes out,
//! so a client can load the run by the `executionId` it received. With one
//! commit per record, the load bench ran about 4,900 runs/s, and about 7,600
//! with no record at all (an estimate from one run of each). The writer
//! thread here stores every record that is waiting in one transaction, so
//! under load one commit serves many runs, and an idle server still commits
//! each record at once, without a timer.

use std::sync::Arc;
use std::sync::mpsc;

use tokio::sync::oneshot;

use super::slots::RunSlot;
use crate::store::{Backend, RunRecord, StoreError};

/// Maximum number of records in one transaction, which bounds how long the
/// writer holds the store's write lock.
const MAX_BATCH: usize = 256;

/// A record on its way to the store, the run slot it keeps taken until it
/// is stored, and the waiter of its result.
struct Pending {
    record: RunRecord,
    slot: RunSlot,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// Hands run records to a thread that stores them in batches.
///
/// The thread ends when the writer is dropped, after it stored the records
/// it holds.
pub(crate) struct RunWriter {
    /// `None` when the thread could not start; then each record is stored
    /// on its own by the thread that submits it.
    sender: Option<mpsc::Sender<Pending>>,
    backend: Arc<dyn Backend>,
}

/// The result of a submitted record, ready once it is committed.
pub(crate) struct Stored(oneshot::Receiver<Result<(), StoreError>>);

impl Stored {
    /// Waits for the commit.
    ///
    /// # Errors
    ///
    /// Returns the store's error: [`StoreError::Conflict`] when the run id
    /// exists, or the failure of the transaction that held the record.
    pub(crate) async fn wait(self) -> Result<(), StoreError> {
        self.0.await.map_err(|_| stopped())?
    }
}

fn stopped() -> StoreError {
    StoreError::Backend("the thread that stores run records stopped before it stored this one".to_owned())
}

impl RunWriter {
    /// Starts the writer thread on `backend`.
    pub(crate) fn start(backend: Arc<dyn Backend>) -> Self {
        let (sender, receiver) = mpsc::channel();
        let thread_backend = Arc::clone(&backend);
        let started = std::thread::Builder::new()
            .name("sluice-run-writer".to_owned())
            .spawn(move || write_batches(thread_backend.as_ref(), &receiver));
        let sender = match started {
            Ok(_) => Some(sender),
            Err(err) => {
                tracing::warn!(error = %err, "Cannot start the run record thread; each run record is committed alone");
                None
            }
        };
        Self { sender, backend }
    }

    /// Queues `record` for the next commit. `slot` stays taken until the
    /// record is stored.
    ///
    /// The record is queued before this returns, so it is stored even when
    /// no caller waits for the result. Without the writer thread the record is
    /// stored here, on the calling thread, which may block.
    pub(crate) fn submit(&self, record: RunRecord, slot: RunSlot) -> Stored {
        let (done, result) = oneshot::channel();
        let pending = Pending { record, slot, done };
        let unsent = match &self.sender {
            Some(sender) => sender.send(pending).err().map(|mpsc::SendError(pending)| pending),
            None => Some(pending),
        };
        if let Some(Pending { record, slot, done }) = unsent {
            let result = self.backend.insert_run(&record);
            drop(slot);
            let _ = done.send(result);
        }
        Stored(result)
    }
}

/// Stores what arrives on `receiver` until every sender is gone: each batch
/// is the first record that arrives and whatever else waits behind it.
fn write_batches(backend: &dyn Backend, receiver: &mpsc::Receiver<Pending>) {
    let mut batch = Vec::new();
    while let Ok(first) = receiver.recv() {
        batch.push(first);
        batch.extend(receiver.try_iter().take(MAX_BATCH - 1));
        let mut records = Vec::with_capacity(batch.len());
        let mut waiters = Vec::with_capacity(batch.len());
        let mut slots = Vec::with_capacity(batch.len());
        for Pending { record, slot, done } in batch.drain(..) {
            records.push(record);
            slots.push(slot);
            waiters.push(done);
        }
        let outcome = backend.insert_runs(&records);
        drop(slots);
        match outcome {
            Ok(results) => {
                for (done, result) in waiters.into_iter().zip(results) {
                    let _ = done.send(result);
                }
            }
            Err(err) => {
                tracing::error!(runs = records.len(), error = %err, "Failed to store a batch of run records");
                for done in waiters {
                    let _ = done.send(Err(err.clone()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::api::slots::RunSlots;
    use crate::store::{RunStore, SqliteStore};

    fn record(run_id: &str) -> RunRecord {
        RunRecord {
            run_id: run_id.to_owned(),
            project: "P1".to_owned(),
            flow_id: "welcome".to_owned(),
            flow_version: 1,
            status: "completed".to_owned(),
            input: json!({ "loginId": "ada@acme.com" }),
            output: json!({ "ok": true }),
            error: Value::Null,
            trace: json!([]),
            created: 1,
            duration_us: 10,
        }
    }

    #[tokio::test]
    async fn batch_stores_all_and_duplicate_fails_alone() {
        let store = Arc::new(SqliteStore::open_in_memory().expect("in-memory store"));
        let writer = RunWriter::start(Arc::clone(&store) as Arc<dyn Backend>);
        let slots = RunSlots::new(100, 100);
        let slot = || slots.try_take("P1").expect("a free run slot");
        let tasks: Vec<_> = (0..50)
            .map(|index| {
                let stored = writer.submit(record(&format!("run-{index}")), slot());
                tokio::spawn(stored.wait())
            })
            .collect();
        for task in tasks {
            task.await.expect("task").expect("stored");
        }
        for index in 0..50 {
            let run_id = format!("run-{index}");
            let stored = store.load_run("P1", &run_id).expect("load").expect("run is stored");
            assert_eq!(stored.run_id, run_id);
        }

        let duplicate = writer.submit(record("run-7"), slot()).wait().await;
        assert!(matches!(duplicate, Err(StoreError::Conflict(_))), "got {duplicate:?}");
        writer.submit(record("run-50"), slot()).wait().await.expect("the writer goes on after a conflict");
        assert!(store.load_run("P1", "run-50").expect("load").is_some());
    }

    #[tokio::test]
    async fn run_slot_freed_after_store() {
        let store = Arc::new(SqliteStore::open_in_memory().expect("in-memory store"));
        let writer = RunWriter::start(store as Arc<dyn Backend>);
        let slots = RunSlots::new(1, 1);
        let slot = slots.try_take("P1").expect("the only slot");
        assert!(slots.try_take("P1").is_err(), "the server limit of one run is taken");
        writer.submit(record("run-1"), slot).wait().await.expect("stored");
        assert!(slots.try_take("P1").is_ok(), "the slot was given back with the record");
    }
}
