//! Cancelling a session's evaluation from another thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Cancels the evaluation a [`Session`](crate::Session) is running, from any
/// thread. Cheap to clone; every clone controls the same session.
///
/// [`CancelHandle::cancel`] sets a flag that the session checks before each
/// batch of (up to 32) tokens and before each decoder layer; the running
/// `eval`, `eval_all` or [`Generate`](crate::Generate) step then returns
/// [`Error::Cancelled`](crate::Error::Cancelled) and clears the flag. The
/// positions of the cancelled batch are not kept, batches completed before
/// it are, and the session keeps working. A cancel requested while nothing
/// runs cancels the session's next evaluation; [`CancelHandle::clear`]
/// withdraws it.
#[derive(Clone, Debug, Default)]
pub struct CancelHandle {
    flag: Arc<AtomicBool>,
}

impl CancelHandle {
    pub(crate) fn new() -> CancelHandle {
        CancelHandle::default()
    }

    /// Asks the session to stop its running (or next) evaluation.
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::Relaxed);
    }

    /// Whether a cancel is requested and not yet answered.
    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }

    /// Withdraws a cancel request that no evaluation has answered yet.
    pub fn clear(&self) {
        self.flag.store(false, Ordering::Relaxed);
    }

    /// The flag the forward pass polls.
    pub(crate) fn flag(&self) -> &AtomicBool {
        &self.flag
    }
}
