//! Single flight: at most one run of a kind at a time; a trigger that arrives while one is
//! going joins it and gets its result instead of stacking a second run.

use crate::sync::RunReport;
use std::future::Future;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// The result every joiner of a run receives.
pub type Shared = Arc<Result<RunReport, String>>;

/// One kind's flight. The lock is a plain mutex held for a few instructions (never across
/// an await), so the guard below can clear it even while a panic unwinds.
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

/// Ends the flight when the run ends, however it ends (a panic included): joiners then get
/// an error instead of waiting forever, and the next trigger can start.
struct EndOfFlight<'a>(&'a Flight);

impl Drop for EndOfFlight<'_> {
    fn drop(&mut self) {
        if let Ok(mut running) = self.0.running.lock() {
            running.take();
        }
    }
}

impl Flight {
    /// Whether a run is going.
    pub fn is_running(&self) -> bool {
        self.running.lock().map(|r| r.is_some()).unwrap_or(false)
    }

    /// Runs `work` unless a run is going, in which case waits for that one.
    pub async fn run<F, Fut>(&self, work: F) -> (Joined, Shared)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<RunReport, String>>,
    {
        let joined = {
            let mut running =
                self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            match running.as_ref() {
                Some(sender) => Err(sender.subscribe()),
                None => {
                    let (sender, _) = broadcast::channel(1);
                    *running = Some(sender.clone());
                    Ok(sender)
                }
            }
        };
        let sender = match joined {
            Ok(sender) => sender,
            Err(mut receiver) => {
                let shared = receiver.recv().await.unwrap_or_else(|_| {
                    Arc::new(Err("the running sync ended without a result".into()))
                });
                return (Joined::Coalesced, shared);
            }
        };
        let end = EndOfFlight(self);
        let result: Shared = Arc::new(work().await);
        drop(end);
        let _ = sender.send(Arc::clone(&result));
        (Joined::Started, result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_run_does_not_leave_the_flight_stuck() {
        let flight = Arc::new(Flight::default());
        let panicking = Arc::clone(&flight);
        let task = tokio::spawn(async move {
            panicking.run(|| async { panic!("boom") }).await;
        });
        assert!(task.await.is_err());
        assert!(!flight.is_running());
        let (joined, result) = flight.run(|| async { Err("second run".to_owned()) }).await;
        assert_eq!(joined, Joined::Started);
        assert_eq!(result.as_ref().as_ref().unwrap_err(), "second run");
    }
}
