//! Background WAL checkpoints.
//!
//! SQLite checkpoints the write-ahead log inside the commit that crosses
//! `wal_autocheckpoint` pages, and that checkpoint syncs the database file
//! while the writer lock is held. A thread with its own connection
//! checkpoints instead, in `PASSIVE` mode, which never blocks readers or the
//! writer. The automatic checkpoint stays on at a much larger size, so the
//! log stays bounded if this thread falls behind.
//!
//! With `runtime/benches/triggers/run.sh` at 1,000 events/s on a 2-core VM
//! with ext4, the p99 of the event call fell from 5.8 ms to 2.5 ms and the
//! p99 from event to run start from at most 7.5 ms to at most 4 ms. Short
//! intervals did best there: at 1 s and 5 s the larger checkpoints stalled
//! other writes on the same disk for longer.

use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use crate::store::StoreError;

/// Time between two background checkpoints.
const INTERVAL: Duration = Duration::from_millis(50);

/// Log size, in pages, at which a commit checkpoints by itself: 16,384 pages
/// of 4 KiB is 64 MiB, far above what the background thread lets build up.
pub(super) const FALLBACK_PAGES: u32 = 16_384;

/// The checkpoint thread of one database file; stopped and joined on drop.
#[derive(Debug)]
pub(super) struct Checkpointer {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Opens a connection to `path` and starts checkpointing it.
    pub(super) fn start(path: &Path) -> Result<Self, StoreError> {
        let connection = Connection::open(path).map_err(|err| {
            StoreError::Backend(format!("opening the checkpoint connection to `{}` failed: {err}", path.display()))
        })?;
        let (stop, stopped) = mpsc::channel();
        let path = path.to_owned();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".to_owned())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
                    checkpoint(&connection, &path);
                }
            })
            .map_err(|err| StoreError::Backend(format!("starting the checkpoint thread failed: {err}")))?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

fn checkpoint(connection: &Connection, path: &Path) {
    if let Err(err) = connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
        tracing::warn!(database = %path.display(), error = %err, "Background WAL checkpoint failed");
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        // Dropping the sender ends the thread's wait at once.
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
