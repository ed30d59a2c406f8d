//! A running sync's progress: counters the engine moves as vendors finish and batches are
//! stored, read by `/api/status`, the CLI's progress lines and (later) the tray.
//!
//! The counters are atomics, so reading them never waits on the engine; the optional event
//! channel carries each finished vendor's result to a display that prints them one by one.

use crate::domain::{ProgressSnapshot, VendorResult};
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc::UnboundedSender;

/// A finished vendor, as reported to a display.
#[derive(Debug, Clone)]
pub struct VendorFinished {
    /// Vendors finished so far, this one included.
    pub done: u64,
    /// Vendors in the run.
    pub total: u64,
    /// Rows stored so far over the whole run.
    pub rows_stored: u64,
    /// The vendor's result.
    pub result: VendorResult,
}

/// Live counters of one run.
#[derive(Debug, Default)]
pub struct Progress {
    vendors_total: AtomicU64,
    vendors_done: AtomicU64,
    rows_stored: AtomicU64,
    events: Option<UnboundedSender<VendorFinished>>,
}

impl Progress {
    /// Counters that also send every finished vendor to `events`.
    pub fn with_events(events: UnboundedSender<VendorFinished>) -> Self {
        Self { events: Some(events), ..Self::default() }
    }

    /// What has been done so far.
    pub fn snapshot(&self) -> ProgressSnapshot {
        ProgressSnapshot {
            vendors_done: self.vendors_done.load(Ordering::Relaxed),
            vendors_total: self.vendors_total.load(Ordering::Relaxed),
            rows_stored: self.rows_stored.load(Ordering::Relaxed),
        }
    }

    /// The run will sync `vendors` vendors.
    pub(super) fn start(&self, vendors: usize) {
        self.vendors_total.store(vendors as u64, Ordering::Relaxed);
    }

    /// `rows` more rows were stored.
    pub(super) fn stored(&self, rows: u64) {
        self.rows_stored.fetch_add(rows, Ordering::Relaxed);
    }

    /// One more vendor finished with `result`.
    pub(super) fn finished(&self, result: &VendorResult) {
        let done = self.vendors_done.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(events) = &self.events {
            // The display may be gone (its terminal closed): the run goes on regardless.
            let _ = events.send(VendorFinished {
                done,
                total: self.vendors_total.load(Ordering::Relaxed),
                rows_stored: self.rows_stored.load(Ordering::Relaxed),
                result: result.clone(),
            });
        }
    }
}
