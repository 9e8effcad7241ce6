//! Progress events: per-blob byte counts for progress bars.
//!
//! Give the client anything implementing [`Progress`]: a closure `Fn(&ProgressEvent)`, or a
//! `tokio::sync::mpsc::UnboundedSender<ProgressEvent>` whose receiver a UI task drains.

use mbi_core::Digest;

/// Which way a blob moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Registry to store.
    Pull,
    /// Store (or another registry) to registry.
    Push,
}

/// How a blob ended up where it had to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlobOutcome {
    /// Its bytes were transferred.
    Transferred,
    /// It was already there (store or registry): nothing was transferred.
    AlreadyPresent,
    /// The registry mounted it from another repository.
    Mounted,
}

/// One progress event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProgressEvent {
    /// A blob transfer starts (or restarts after an error, from `offset`).
    BlobStarted {
        /// The blob.
        digest: Digest,
        /// Pull or push.
        direction: Direction,
        /// Its total size.
        total: u64,
        /// Where this attempt starts (non-zero when resuming).
        offset: u64,
    },
    /// Bytes moved. Sent at most every few hundred KiB per blob.
    BlobProgress {
        /// The blob.
        digest: Digest,
        /// Pull or push.
        direction: Direction,
        /// Bytes done so far (absolute, including any resumed prefix).
        done: u64,
        /// Its total size.
        total: u64,
    },
    /// A blob is done.
    BlobDone {
        /// The blob.
        digest: Digest,
        /// Pull or push.
        direction: Direction,
        /// What happened.
        outcome: BlobOutcome,
        /// Its size.
        size: u64,
    },
    /// A manifest or index was stored (pull) or put (push).
    ManifestDone {
        /// Its digest.
        digest: Digest,
        /// Pull or push.
        direction: Direction,
        /// Whether it was already there (push only: skipped).
        already_present: bool,
    },
    /// An operation failed and will be retried after `delay_ms`.
    Retrying {
        /// What is being retried.
        what: String,
        /// Which attempt failed (1-based).
        attempt: u32,
        /// The delay before the next attempt, in milliseconds.
        delay_ms: u64,
        /// The error (never contains secrets).
        error: String,
    },
}

/// Receives progress events. Called from async tasks: keep it quick and non-blocking.
pub trait Progress: Send + Sync {
    /// Handles one event.
    fn event(&self, event: &ProgressEvent);
}

impl<F: Fn(&ProgressEvent) + Send + Sync> Progress for F {
    fn event(&self, event: &ProgressEvent) {
        self(event)
    }
}

impl Progress for tokio::sync::mpsc::UnboundedSender<ProgressEvent> {
    fn event(&self, event: &ProgressEvent) {
        // A closed receiver just means nobody is watching any more.
        let _ = self.send(event.clone());
    }
}
