//! Logging: the original system's context line, built from tracing spans.
//!
//! ```text
//! [2026-11-29T19:05:03.123+05:30] [CRON] [sync-plants] [INFO] [Vendor:4] [Org:2] message key=value
//! ```
//!
//! # Design
//!
//! The original kept a mapped diagnostic context (MDC) in `AsyncLocalStorage`. Here the
//! context is tracing spans: any span may carry the fields `source`, `operation`, `vendor`,
//! `org`, `request_id` and `user`; an event's context is the merge of its spans from the root
//! outwards, so work nested inside a vendor's span inherits the operation and source of the
//! run around it, and the innermost value of a field wins. [`ContextLayer`] records those
//! fields when a span opens; [`ContextFormat`] renders the line.
//!
//! Output goes to stderr and to a daily file in `<data_dir>/logs` ([`daily`]: named by the
//! date its lines carry, in the configured zone) with a bounded number of files. A log
//! file that cannot be opened degrades to stderr with one warning: logging never stops the
//! agent.
//!
//! Both outputs render the same line. The console is quieter (warnings only for
//! inspection commands), but its filter only ever drops events, never spans
//! ([`EventsOnly`]): a span the console's filter disabled would be invisible to its
//! formatter, and a warning inside a vendor's sync would lose its `[Vendor:N]` there.

mod daily;

use chrono_tz::Tz;
use std::fmt;
use std::path::PathBuf;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber, span};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry};

/// Target of events for the log file only: what the console already shows another way
/// (the error a command ends with, which `main` prints on stderr itself).
pub const FILE_ONLY: &str = "plantsync::file_only";

/// Prefix of the daily log files (`plantsync.2026-11-29.log`).
pub const LOG_FILE_PREFIX: &str = "plantsync";

/// The context fields a span may carry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogContext {
    /// `user`, `cron`, `system`, `api` or `tray`.
    pub source: Option<String>,
    /// What is being done, e.g. `sync-plants`.
    pub operation: Option<String>,
    /// Vendor id.
    pub vendor: Option<String>,
    /// Organization id.
    pub org: Option<String>,
    /// Request id (API calls, runs).
    pub request_id: Option<String>,
    /// The person, when known.
    pub user: Option<String>,
}

impl LogContext {
    fn merge_from(&mut self, inner: &LogContext) {
        for (mine, theirs) in [
            (&mut self.source, &inner.source),
            (&mut self.operation, &inner.operation),
            (&mut self.vendor, &inner.vendor),
            (&mut self.org, &inner.org),
            (&mut self.request_id, &inner.request_id),
            (&mut self.user, &inner.user),
        ] {
            if theirs.is_some() {
                mine.clone_from(theirs);
            }
        }
    }
}

impl Visit for LogContext {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.store(field, value.to_owned());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.store(field, value.to_string());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.store(field, value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.store(field, format!("{value:?}"));
    }
}

impl LogContext {
    fn is_context_field(name: &str) -> bool {
        matches!(name, "source" | "operation" | "vendor" | "org" | "request_id" | "user")
    }

    fn store(&mut self, field: &Field, value: String) {
        let slot = match field.name() {
            "source" => &mut self.source,
            "operation" => &mut self.operation,
            "vendor" => &mut self.vendor,
            "org" => &mut self.org,
            "request_id" => &mut self.request_id,
            "user" => &mut self.user,
            _ => return,
        };
        *slot = Some(value);
    }
}

/// Records the context fields of every span in its extensions.
#[derive(Debug, Default)]
pub struct ContextLayer;

impl<S> Layer<S> for ContextLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        let mut fields = LogContext::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            let mut extensions = span.extensions_mut();
            if let Some(fields) = extensions.get_mut::<LogContext>() {
                values.record(fields);
            }
        }
    }
}

/// Renders the context line; timestamps in `timezone` with their offset.
#[derive(Debug, Clone)]
pub struct ContextFormat {
    timezone: Tz,
}

impl ContextFormat {
    /// A formatter that prints times in `timezone`.
    pub fn new(timezone: Tz) -> Self {
        Self { timezone }
    }
}

impl<S, N> FormatEvent<S, N> for ContextFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut context = LogContext::default();
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                if let Some(fields) = span.extensions().get::<LogContext>() {
                    context.merge_from(fields);
                }
            }
        }
        // Context fields on the event itself (`info!(vendor = %id, ...)`) fill the brackets too.
        let mut own = LogContext::default();
        event.record(&mut own);
        context.merge_from(&own);
        let now = chrono::Utc::now().with_timezone(&self.timezone);
        let dash = || "-".to_owned();
        write!(
            writer,
            "[{}] [{}] [{}] [{}] [Vendor:{}] [Org:{}] ",
            now.format("%Y-%m-%dT%H:%M:%S%.3f%:z"),
            context.source.as_deref().unwrap_or("system").to_uppercase(),
            context.operation.unwrap_or_else(dash),
            event.metadata().level(),
            context.vendor.unwrap_or_else(dash),
            context.org.unwrap_or_else(dash),
        )?;
        if let Some(request) = context.request_id {
            write!(writer, "[Req:{request}] ")?;
        }
        if let Some(user) = context.user {
            write!(writer, "[User:{user}] ")?;
        }
        let mut rest = MessageAndFields { writer: writer.by_ref(), result: Ok(()), first: true };
        event.record(&mut rest);
        rest.result?;
        writeln!(writer)
    }
}

/// Writes an event's message, then its non-context fields as `key=value`.
struct MessageAndFields<'a> {
    writer: Writer<'a>,
    result: fmt::Result,
    first: bool,
}

impl Visit for MessageAndFields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.write(format_args!("{value}"));
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match field.name() {
            "message" => self.write(format_args!("{value:?}")),
            // Context fields are in the brackets; `log.*` fields are the `log` crate's
            // bridged metadata (file, line), noise in a field office's log.
            name if LogContext::is_context_field(name) || name.starts_with("log.") => {}
            name => self.write(format_args!("{name}={value:?}")),
        }
    }
}

impl MessageAndFields<'_> {
    fn write(&mut self, args: fmt::Arguments<'_>) {
        if self.result.is_err() {
            return;
        }
        let separator = if self.first { "" } else { " " };
        self.first = false;
        self.result = write!(self.writer, "{separator}{args}");
    }
}

/// How to set logging up.
#[derive(Debug, Clone)]
pub struct LogOptions {
    /// Filter for the file (and the console unless `console_level` is set).
    pub level: String,
    /// A quieter filter for the console (inspection commands print data on stdout and keep
    /// stderr for warnings).
    pub console_level: Option<String>,
    /// Directory of the daily files; `None` logs to the console only.
    pub dir: Option<PathBuf>,
    /// Daily files kept.
    pub retention_days: usize,
    /// Zone of the timestamps.
    pub timezone: Tz,
}

/// Keeps the file writer flushing; drop it last (at the end of `main`).
#[must_use = "dropping the guard stops the log file writer"]
pub struct LogGuard {
    _file: Option<WorkerGuard>,
}

/// Installs the global subscriber. Never fails: problems with the file are reported on the
/// console and logging goes on there.
pub fn init(options: &LogOptions) -> LogGuard {
    let format = ContextFormat::new(options.timezone);
    let console_filter = options.console_level.as_deref().unwrap_or(&options.level);
    let console = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .event_format(format.clone())
        .with_filter(EventsOnly(filter(console_filter)));

    let mut file_problem = None;
    let (file_layer, guard) = match &options.dir {
        Some(dir) => match open_file_writer(dir, options.retention_days, options.timezone) {
            Ok((writer, guard)) => {
                let layer = tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(writer)
                    .event_format(format)
                    .with_filter(filter(&options.level));
                (Some(layer), Some(guard))
            }
            Err(problem) => {
                file_problem = Some(problem);
                (None, None)
            }
        },
        None => (None, None),
    };

    // `try_init` fails only when a subscriber is already set (tests); keep that one.
    let _ = Registry::default().with(ContextLayer).with(console).with(file_layer).try_init();
    if let Some(problem) = file_problem {
        tracing::warn!("logging to the console only: {problem}");
    }
    LogGuard { _file: guard }
}

fn filter(directive: &str) -> EnvFilter {
    EnvFilter::try_new(directive).unwrap_or_else(|_| EnvFilter::new("info"))
}

fn open_file_writer(
    dir: &std::path::Path,
    retention_days: usize,
    timezone: Tz,
) -> Result<(tracing_appender::non_blocking::NonBlocking, WorkerGuard), String> {
    let file =
        daily::DailyFile::open(dir, LOG_FILE_PREFIX, timezone, retention_days).map_err(|e| {
            let why = crate::datadir::dir::in_words(&e);
            format!("cannot open a log file in {}: {why}", dir.display())
        })?;
    Ok(tracing_appender::non_blocking(file))
}

/// The console's filter: it decides which events the console shows (never those for the
/// file only) and lets every span through, so the formatter sees the whole context of the
/// events it does show (see the module docs).
struct EventsOnly(EnvFilter);

impl<S> tracing_subscriber::layer::Filter<S> for EventsOnly
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn enabled(&self, meta: &tracing::Metadata<'_>, cx: &Context<'_, S>) -> bool {
        meta.is_span()
            || (meta.target() != FILE_ONLY
                && tracing_subscriber::layer::Filter::enabled(&self.0, meta, cx))
    }

    fn callsite_enabled(
        &self,
        meta: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        if meta.is_span() {
            tracing::subscriber::Interest::always()
        } else if meta.target() == FILE_ONLY {
            tracing::subscriber::Interest::never()
        } else {
            tracing_subscriber::layer::Filter::<S>::callsite_enabled(&self.0, meta)
        }
    }

    // No level hint: spans of every level must reach the layer, whatever the event level.
    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        None
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        tracing_subscriber::layer::Filter::on_new_span(&self.0, attrs, id, ctx);
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        tracing_subscriber::layer::Filter::on_record(&self.0, id, values, ctx);
    }

    fn on_enter(&self, id: &span::Id, ctx: Context<'_, S>) {
        tracing_subscriber::layer::Filter::on_enter(&self.0, id, ctx);
    }

    fn on_exit(&self, id: &span::Id, ctx: Context<'_, S>) {
        tracing_subscriber::layer::Filter::on_exit(&self.0, id, ctx);
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        tracing_subscriber::layer::Filter::on_close(&self.0, id, ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing::{info, info_span, warn};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn capture(f: impl FnOnce()) -> Vec<String> {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = Registry::default().with(ContextLayer).with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(move || writer.clone())
                .event_format(ContextFormat::new(chrono_tz::Asia::Kolkata)),
        );
        tracing::subscriber::with_default(subscriber, f);
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        text.lines().map(str::to_owned).collect()
    }

    /// Strips the timestamp, which changes every run.
    fn without_time(line: &str) -> &str {
        line.split_once("] ").map(|(_, rest)| rest).unwrap_or(line)
    }

    #[test]
    fn nested_spans_build_the_context_line() {
        let lines = capture(|| {
            let run = info_span!(
                "run",
                source = "cron",
                operation = "sync-plants",
                request_id = "abc12345"
            );
            let _run = run.enter();
            info!("Starting sync");
            let vendor = info_span!("vendor", vendor = 4, operation = "sync-vendor-4");
            let _vendor = vendor.enter();
            let org = info_span!("org", org = 2);
            let _org = org.enter();
            warn!(plants = 250, "Vendor synced");
            info!(org = 9, reason = "late", "Org override");
        });
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert_eq!(
            without_time(&lines[2]),
            "[CRON] [sync-vendor-4] [INFO] [Vendor:4] [Org:9] [Req:abc12345] Org override reason=\"late\""
        );
        assert_eq!(
            without_time(&lines[0]),
            "[CRON] [sync-plants] [INFO] [Vendor:-] [Org:-] [Req:abc12345] Starting sync"
        );
        assert_eq!(
            without_time(&lines[1]),
            "[CRON] [sync-vendor-4] [WARN] [Vendor:4] [Org:2] [Req:abc12345] Vendor synced plants=250"
        );
    }

    #[test]
    fn a_quieter_console_shows_the_same_line_as_the_file() {
        let (console, file) = (Buffer::default(), Buffer::default());
        let (c, f) = (console.clone(), file.clone());
        let format = ContextFormat::new(chrono_tz::UTC);
        let subscriber = Registry::default()
            .with(ContextLayer)
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(move || c.clone())
                    .event_format(format.clone())
                    .with_filter(EventsOnly(filter("warn"))),
            )
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(move || f.clone())
                    .event_format(format)
                    .with_filter(filter("info")),
            );
        tracing::subscriber::with_default(subscriber, || {
            let command = info_span!("command", source = "user", operation = "sync-plants");
            let _command = command.enter();
            let vendor = info_span!("vendor", vendor = 1, operation = "sync-plants-vendor-1");
            let _vendor = vendor.enter();
            info!("not on the console");
            warn!("vendor sg1 failed");
        });
        let lines = |b: &Buffer| -> Vec<String> {
            let text = String::from_utf8(b.0.lock().unwrap().clone()).unwrap();
            text.lines().map(|l| without_time(l).to_owned()).collect()
        };
        let expected = "[USER] [sync-plants-vendor-1] [WARN] [Vendor:1] [Org:-] vendor sg1 failed";
        assert_eq!(lines(&console), [expected]);
        assert_eq!(lines(&file).last().map(String::as_str), Some(expected));
    }

    #[test]
    fn timestamp_is_in_the_configured_zone() {
        let lines = capture(|| info!("tick"));
        let stamp = lines[0].split_once(']').unwrap().0.trim_start_matches('[');
        assert!(stamp.ends_with("+05:30"), "{stamp}");
        assert!(chrono::DateTime::parse_from_rfc3339(stamp).is_ok(), "{stamp}");
    }

    #[test]
    fn each_entry_point_source_is_shown_and_default_is_system() {
        let lines = capture(|| {
            info!("no span");
            for source in ["user", "api", "tray"] {
                let span = info_span!("entry", source);
                let _entered = span.enter();
                info!("hello");
            }
        });
        let sources: Vec<&str> =
            lines.iter().map(|l| without_time(l).split(' ').next().unwrap()).collect();
        assert_eq!(sources, ["[SYSTEM]", "[USER]", "[API]", "[TRAY]"]);
    }

    #[test]
    fn unwritable_log_dir_degrades_to_console() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, "not a dir").unwrap();
        let err = open_file_writer(&blocker.join("logs"), 3, chrono_tz::UTC).unwrap_err();
        let expected = format!(
            "cannot open a log file in {}: not a directory",
            blocker.join("logs").display()
        );
        assert_eq!(err, expected);
    }
}
