//! Single flight: at most one run of a kind at a time; a trigger that arrives while one is
//! going joins it and gets its result instead of stacking a second run.

use crate::sync::RunReport;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::{Mutex, broadcast};

/// The result every joiner of a run receives.
pub type Shared = Arc<Result<RunReport, String>>;

/// One kind's flight.
#[derive(Default)]
pub struct Flight {
    running: Mutex<Option<broadcast::Sender<Shared>>>,
}

/// How a trigger was served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joined {
    /// This trigger started the run.
    Started,
    /// A run was already going; this trigger waited for it.
    Coalesced,
}

impl Flight {
    /// Whether a run is going.
    pub async fn is_running(&self) -> bool {
        self.running.lock().await.is_some()
    }

    /// Runs `work` unless a run is going, in which case waits for that one.
    pub async fn run<F, Fut>(&self, work: F) -> (Joined, Shared)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<RunReport, String>>,
    {
        let sender = {
            let mut running = self.running.lock().await;
            if let Some(sender) = running.as_ref() {
                let mut receiver = sender.subscribe();
                drop(running);
                let shared = receiver.recv().await.unwrap_or_else(|_| {
                    Arc::new(Err("the running sync ended without a result".into()))
                });
                return (Joined::Coalesced, shared);
            }
            let (sender, _) = broadcast::channel(1);
            *running = Some(sender.clone());
            sender
        };
        let result: Shared = Arc::new(work().await);
        self.running.lock().await.take();
        let _ = sender.send(Arc::clone(&result));
        (Joined::Started, result)
    }
}
