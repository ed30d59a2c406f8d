//! Every configuration key: its TOML path, environment variables, flag and documentation.
//!
//! This table drives resolution, `config show` and the example file of `plantsync init`, so a
//! new key is added in one place.

/// One configuration key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// Dotted TOML path, e.g. `sync.window_start`.
    pub name: &'static str,
    /// Environment variables, highest precedence first (`PLANTSYNC_*` before the original
    /// system's names).
    pub env: &'static [&'static str],
    /// The command-line flag that sets it, if any.
    pub flag: Option<&'static str>,
    /// The default as it would be written in the TOML file (`None`: unset).
    pub default: Option<&'static str>,
    /// One line of documentation.
    pub doc: &'static str,
    /// Whether the value is a secret (redacted everywhere).
    pub secret: bool,
}

/// Where the database and logs live.
pub const DATA_DIR: Key = Key {
    name: "data_dir",
    env: &["PLANTSYNC_DATA_DIR"],
    flag: Some("--data-dir"),
    default: None,
    doc: "Directory of the database (plantsync.db) and logs/; default: the platform data dir",
    secret: false,
};
/// The zone of the schedule and the restricted window.
pub const TIMEZONE: Key = Key {
    name: "timezone",
    env: &["PLANTSYNC_TIMEZONE"],
    flag: Some("--timezone"),
    default: Some("\"Asia/Kolkata\""),
    doc: "IANA time zone in which the cron schedule and the restricted window are read",
    secret: false,
};
/// Log filter.
pub const LOG_LEVEL: Key = Key {
    name: "log.level",
    env: &["PLANTSYNC_LOG"],
    flag: Some("--log-level"),
    default: Some("\"info\""),
    doc: "Log level or tracing filter (error, warn, info, debug, trace, or e.g. \"plantsync=debug\")",
    secret: false,
};
/// Days of daily log files kept.
pub const LOG_RETENTION_DAYS: Key = Key {
    name: "log.retention_days",
    env: &["PLANTSYNC_LOG_RETENTION_DAYS"],
    flag: None,
    default: Some("14"),
    doc: "How many daily log files to keep in <data_dir>/logs (1-3650)",
    secret: false,
};
/// Automatic plant sync on/off.
pub const SYNC_ENABLED: Key = Key {
    name: "sync.enabled",
    env: &["PLANTSYNC_SYNC_ENABLED", "ENABLE_PLANT_SYNC_CRON"],
    flag: None,
    default: Some("true"),
    doc: "Run scheduled syncs; false keeps only manual triggers (CLI, tray, API)",
    secret: false,
};
/// Cron expression of the schedule.
pub const SYNC_SCHEDULE: Key = Key {
    name: "sync.schedule",
    env: &["PLANTSYNC_SYNC_SCHEDULE", "PLANT_SYNC_CRON_SCHEDULE"],
    flag: None,
    default: Some("\"*/15 * * * *\""),
    doc: "Cron expression of the scheduler's ticks, read in `timezone`",
    secret: false,
};
/// Start of the restricted window.
pub const SYNC_WINDOW_START: Key = Key {
    name: "sync.window_start",
    env: &["PLANTSYNC_SYNC_WINDOW_START", "SYNC_WINDOW_START"],
    flag: None,
    default: Some("\"19:00\""),
    doc: "Start (HH:MM, in `timezone`) of the window in which scheduled syncs never run",
    secret: false,
};
/// End of the restricted window.
pub const SYNC_WINDOW_END: Key = Key {
    name: "sync.window_end",
    env: &["PLANTSYNC_SYNC_WINDOW_END", "SYNC_WINDOW_END"],
    flag: None,
    default: Some("\"06:00\""),
    doc: "End (HH:MM) of the restricted window; equal to the start means no window",
    secret: false,
};
/// Vendors synced at once.
pub const SYNC_CONCURRENCY: Key = Key {
    name: "sync.concurrency",
    env: &["PLANTSYNC_SYNC_CONCURRENCY"],
    flag: None,
    default: Some("16"),
    doc: "How many vendors (portal accounts) are synced at the same time (1-256); the work is waiting on the network, and each portal's own limits still hold",
    secret: false,
};
/// Interval given to new organizations.
pub const SYNC_DEFAULT_INTERVAL: Key = Key {
    name: "sync.default_interval_minutes",
    env: &["PLANTSYNC_SYNC_DEFAULT_INTERVAL_MINUTES"],
    flag: None,
    default: Some("15"),
    doc: "Sync interval given to an organization created without --interval (1-1440)",
    secret: false,
};
/// Timeout of one vendor request.
pub const SYNC_REQUEST_TIMEOUT: Key = Key {
    name: "sync.request_timeout_seconds",
    env: &["PLANTSYNC_SYNC_REQUEST_TIMEOUT_SECONDS"],
    flag: None,
    default: Some("25"),
    doc: "Timeout of one vendor HTTP request, seconds (1-300)",
    secret: false,
};
/// Deadline of one vendor's whole sync.
pub const SYNC_VENDOR_DEADLINE: Key = Key {
    name: "sync.vendor_deadline_seconds",
    env: &["PLANTSYNC_SYNC_VENDOR_DEADLINE_SECONDS"],
    flag: None,
    default: Some("600"),
    doc: "A vendor's whole sync (all pages, retries included) must finish within this, seconds (10-86400)",
    secret: false,
};
/// Lookback of the first alert sync.
pub const SYNC_ALERT_LOOKBACK: Key = Key {
    name: "sync.alert_lookback_hours",
    env: &["PLANTSYNC_SYNC_ALERT_LOOKBACK_HOURS"],
    flag: None,
    default: Some("72"),
    doc: "How far back an alert sync asks the vendor when it has not synced alerts recently, hours (1-8760)",
    secret: false,
};
/// Spread of scheduled run starts.
pub const SYNC_JITTER: Key = Key {
    name: "sync.jitter_seconds",
    env: &["PLANTSYNC_SYNC_JITTER_SECONDS"],
    flag: None,
    default: Some("20"),
    doc: "A scheduled run starts up to this many seconds after its tick, so agents spread out (0-600)",
    secret: false,
};
/// Scheduled alert syncs on/off.
pub const ALERTS_ENABLED: Key = Key {
    name: "alerts.enabled",
    env: &["PLANTSYNC_ALERTS_ENABLED", "ENABLE_ALERT_SYNC_CRON"],
    flag: None,
    default: Some("true"),
    doc: "Run scheduled alert syncs",
    secret: false,
};
/// Cron expression of alert syncs.
pub const ALERTS_SCHEDULE: Key = Key {
    name: "alerts.schedule",
    env: &["PLANTSYNC_ALERTS_SCHEDULE"],
    flag: None,
    default: Some("\"*/30 * * * *\""),
    doc: "Cron expression of scheduled alert syncs, read in `timezone`",
    secret: false,
};
/// Alert syncs and the window.
pub const ALERTS_RESPECT_WINDOW: Key = Key {
    name: "alerts.respect_window",
    env: &["PLANTSYNC_ALERTS_RESPECT_WINDOW"],
    flag: None,
    default: Some("true"),
    doc: "Keep scheduled alert syncs out of the restricted window too",
    secret: false,
};
/// Interface of the control API.
pub const API_BIND: Key = Key {
    name: "api.bind",
    env: &["PLANTSYNC_API_BIND"],
    flag: None,
    default: Some("\"127.0.0.1\""),
    doc: "Address the control API listens on; anything but loopback is logged as a warning",
    secret: false,
};
/// Port of the control API.
pub const API_PORT: Key = Key {
    name: "api.port",
    env: &["PLANTSYNC_API_PORT"],
    flag: None,
    default: Some("8787"),
    doc: "Port of the control API (0 picks a free one, written to <data_dir>/agent.json)",
    secret: false,
};
/// Failures in a row before a notification.
pub const NOTIFY_THRESHOLD: Key = Key {
    name: "notify.failure_threshold",
    env: &["PLANTSYNC_NOTIFY_FAILURE_THRESHOLD"],
    flag: None,
    default: Some("3"),
    doc: "Raise one notification when a vendor fails this many runs in a row (1-100)",
    secret: false,
};
/// Webhook of notifications.
pub const NOTIFY_WEBHOOK: Key = Key {
    name: "notify.webhook_url",
    env: &["PLANTSYNC_NOTIFY_WEBHOOK_URL"],
    flag: None,
    default: None,
    doc: "Optional URL that receives each notification as a JSON POST (retried)",
    secret: false,
};
/// Bearer secret of `GET /api/cron/sync-plants`.
pub const CRON_SECRET: Key = Key {
    name: "api.cron_secret",
    env: &["PLANTSYNC_CRON_SECRET", "CRON_SECRET"],
    flag: None,
    default: None,
    doc: "Bearer secret required by GET /api/cron/sync-plants when set",
    secret: true,
};

/// Every key, in the order `config show` and `init` list them.
pub const ALL: &[Key] = &[
    DATA_DIR,
    TIMEZONE,
    LOG_LEVEL,
    LOG_RETENTION_DAYS,
    SYNC_ENABLED,
    SYNC_SCHEDULE,
    SYNC_WINDOW_START,
    SYNC_WINDOW_END,
    SYNC_CONCURRENCY,
    SYNC_DEFAULT_INTERVAL,
    SYNC_REQUEST_TIMEOUT,
    SYNC_VENDOR_DEADLINE,
    SYNC_ALERT_LOOKBACK,
    SYNC_JITTER,
    ALERTS_ENABLED,
    ALERTS_SCHEDULE,
    ALERTS_RESPECT_WINDOW,
    API_BIND,
    API_PORT,
    CRON_SECRET,
    NOTIFY_THRESHOLD,
    NOTIFY_WEBHOOK,
];

/// The environment variable naming the config file.
pub const CONFIG_ENV: &str = "PLANTSYNC_CONFIG";
