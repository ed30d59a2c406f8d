//! The upstream push's state in words, as `plantsync status` and the dashboard say it: one
//! wording for both.

use super::wire::UpstreamStatus;
use crate::domain::Timestamp;
use crate::store::CentralUpTo;
use chrono::{DateTime, Utc};

/// A time in `tz`, to the minute.
fn minute(time: &Timestamp, tz: chrono_tz::Tz) -> String {
    time.as_datetime().with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
}

/// A duration in words, coarse: `45 s`, `12 min`, `3 h`, `2 d`.
fn span_words(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..172_800 => format!("{} h", s / 3600),
        _ => format!("{} d", s / 86_400),
    }
}

/// The lines, labels in lower case: the target, pending rows per table and how old the oldest is, the
/// last push, and while pushes fail, the failures in a row, the next attempt and the error.
pub fn lines(
    upstream: &UpstreamStatus,
    tz: chrono_tz::Tz,
    now: DateTime<Utc>,
) -> Vec<(&'static str, String)> {
    let state = &upstream.state;
    let pending: Vec<String> = state
        .tables
        .iter()
        .filter(|t| t.pending > 0)
        .map(|t| format!("{} {}", t.pending, t.table))
        .collect();
    let pending = match state.oldest_pending_at() {
        _ if pending.is_empty() => "none".to_owned(),
        Some(oldest) => format!(
            "{} (oldest change {}, {} ago)",
            pending.join(", "),
            minute(&oldest, tz),
            span_words((now - oldest.as_datetime()).num_seconds())
        ),
        None => pending.join(", "),
    };
    let last = match &state.last_push {
        None => "never".to_owned(),
        Some(p) if p.ok => {
            format!("{}: ok, {} rows", minute(&p.finished_at, tz), p.rows_sent)
        }
        Some(p) => format!(
            "{}: failed after {} rows: {}",
            minute(&p.finished_at, tz),
            p.rows_sent,
            p.error.as_deref().filter(|e| !e.is_empty()).unwrap_or("-")
        ),
    };
    let mut central = match state.central_up_to {
        CentralUpTo::Nothing => "nothing is central yet".to_owned(),
        CentralUpTo::Everything => "everything is central".to_owned(),
        CentralUpTo::Until { at } => {
            format!("everything up to {} is central", minute(&at, tz))
        }
    };
    if state.rejected > 0 {
        central.push_str(&format!(
            ", except {} rows the upstream refused (`plantsync upstream rejected`)",
            state.rejected
        ));
    }
    let mut lines = vec![
        ("target", upstream.target.clone().unwrap_or_else(|| "not configured".to_owned())),
        ("agent id", state.agent_id.clone()),
        ("central", central),
        ("pending rows", pending),
    ];
    if state.deletions_pending > 0 {
        lines.push(("pending deletions", state.deletions_pending.to_string()));
    }
    lines.push(("last push", last));
    if let Some(receipt) = &state.last_receipt {
        lines.push(("last receipt", receipt_line(receipt, tz)));
    }
    let retry = &state.retry;
    if retry.failures > 0 {
        let next = match &retry.next_attempt_at {
            Some(at) => format!(
                "; next attempt {} (in {})",
                minute(at, tz),
                span_words((at.as_datetime() - now).num_seconds())
            ),
            None => String::new(),
        };
        lines.push(("failures", format!("{} in a row{next}", retry.failures)));
    }
    if let (Some(error), Some(at)) = (&retry.last_error, &retry.last_error_at) {
        lines.push(("last error", format!("{}: {error}", minute(at, tz))));
    }
    lines
}

/// The last receipt in words: every table matching, or which differ and what was done.
fn receipt_line(receipt: &crate::store::StoredReceipt, tz: chrono_tz::Tz) -> String {
    use crate::upstream::verify::{TableCheck, Verdict};
    let at = minute(&receipt.checked_at, tz);
    let tables: Vec<TableCheck> =
        serde_json::from_value(receipt.tables.clone()).unwrap_or_default();
    let differing: Vec<String> = tables
        .iter()
        .filter(|t| t.verdict == Verdict::Differs)
        .map(|t| format!("{} ({} central, {} here)", t.table, t.central_rows, t.local_rows))
        .collect();
    let pending = tables.iter().filter(|t| t.verdict == Verdict::Pending).count();
    if !differing.is_empty() {
        return format!(
            "{at}: differs: {}; {} rows re-queued for the next push",
            differing.join(", "),
            receipt.requeued
        );
    }
    let matching = tables.len() - pending;
    if pending > 0 {
        format!("{at}: {matching} tables match, {pending} not compared (rows pending)")
    } else {
        format!("{at}: all {matching} tables match")
    }
}
