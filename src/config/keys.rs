//! Every configuration key in one table: its TOML path, environment variables, flag,
//! default and documentation, its typed field in [`Settings`], how its text parses and how
//! `config show` prints it.
//!
//! The [`settings!`] table below drives resolution, `config show` and the example file of
//! `plantsync init`, so a new key is one entry of it. The data dir is the one key outside
//! the table: its default comes from the platform, not from text.

use super::upstream::{UpstreamUrl, parse_upstream_url, show_upstream_url};
use super::{
    ConfigError, Layers, Setting, Source, int_in, optional_int_in, parse_bool, parse_ip,
    parse_log_filter, parse_secret, parse_url, parse_zone, show_optional, show_portal_limit,
    show_secret,
};
use crate::agent::notify::DesktopMode;
use crate::domain::{CronSchedule, Secret, TimeOfDay};
use crate::secrets::Preference;
use chrono_tz::Tz;
use std::net::IpAddr;
use std::path::PathBuf;

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

/// The environment variable naming the config file.
pub const CONFIG_ENV: &str = "PLANTSYNC_CONFIG";

/// Where the database and logs live.
pub const DATA_DIR: Key = Key {
    name: "data_dir",
    env: &["PLANTSYNC_DATA_DIR"],
    flag: Some("--data-dir"),
    default: None,
    doc: "Directory of the database (plantsync.db) and logs/; default: the platform data dir",
    secret: false,
};

/// Defines each key's constant, its field of [`Settings`], and the code that resolves and
/// shows every field, from one entry per key.
macro_rules! settings {
    ($(
        $(#[$attr:meta])*
        $field:ident: $ty:ty => $key:ident {
            name: $name:literal,
            env: [$($env:literal),* $(,)?],
            flag: $flag:expr,
            default: $default:expr,
            doc: $doc:literal,
            secret: $secret:literal,
            parse: $parse:expr,
            show: $show:expr $(,)?
        }
    )*) => {
        $(
            $(#[$attr])*
            pub const $key: Key = Key {
                name: $name,
                env: &[$($env),*],
                flag: $flag,
                default: $default,
                doc: $doc,
                secret: $secret,
            };
        )*

        /// Every key, in the order `config show` and `init` list them.
        pub const ALL: &[Key] = &[DATA_DIR, $($key),*];

        /// The validated settings.
        #[derive(Debug, Clone)]
        pub struct Settings {
            /// The config file that was read, if any.
            pub config_file: Option<PathBuf>,
            /// Directory of the database and logs.
            pub data_dir: Setting<PathBuf>,
            $(
                $(#[$attr])*
                pub $field: Setting<$ty>,
            )*
        }

        impl Settings {
            /// Every key of the table, each from the highest layer that has it.
            pub(super) fn from_layers(
                layers: &Layers<'_>,
                config_file: Option<PathBuf>,
                data_dir: Setting<PathBuf>,
            ) -> Result<Self, ConfigError> {
                Ok(Self { config_file, data_dir, $($field: layers.typed(&$key, $parse)?,)* })
            }

            /// `(key, value as text, source)` of every setting, secrets redacted, for
            /// `config show`.
            pub fn entries(&self) -> Vec<(&'static str, String, &Source)> {
                let mut rows = vec![(
                    DATA_DIR.name,
                    self.data_dir.value.display().to_string(),
                    &self.data_dir.source,
                )];
                $(rows.push(($key.name, ($show)(&self.$field.value), &self.$field.source));)*
                rows
            }
        }
    };
}

settings! {
    /// The zone of the schedule and the restricted window.
    timezone: Tz => TIMEZONE {
        name: "timezone",
        env: ["PLANTSYNC_TIMEZONE"],
        flag: Some("--timezone"),
        default: Some("\"Asia/Kolkata\""),
        doc: "IANA time zone in which the cron schedule and the restricted window are read",
        secret: false,
        parse: parse_zone,
        show: |v: &Tz| v.name().to_owned(),
    }
    /// Log filter directive.
    log_level: String => LOG_LEVEL {
        name: "log.level",
        env: ["PLANTSYNC_LOG"],
        flag: Some("--log-level"),
        default: Some("\"info\""),
        doc: "Log level or tracing filter (error, warn, info, debug, trace, or e.g. \"plantsync=debug\")",
        secret: false,
        parse: parse_log_filter,
        show: String::clone,
    }
    /// Daily log files kept.
    log_retention_days: u32 => LOG_RETENTION_DAYS {
        name: "log.retention_days",
        env: ["PLANTSYNC_LOG_RETENTION_DAYS"],
        flag: None,
        default: Some("14"),
        doc: "How many daily log files to keep in <data_dir>/logs (1-3650)",
        secret: false,
        parse: |t| int_in(t, 1, 3650),
        show: u32::to_string,
    }
    /// Scheduled plant syncs on/off (the agent's loop; `GET /api/cron/*` runs regardless).
    sync_enabled: bool => SYNC_ENABLED {
        name: "sync.enabled",
        env: ["PLANTSYNC_SYNC_ENABLED", "ENABLE_PLANT_SYNC_CRON"],
        flag: None,
        default: Some("true"),
        doc: "Run the agent's own scheduled plant syncs; false keeps manual triggers and GET /api/cron/sync-plants (an external cron)",
        secret: false,
        parse: parse_bool,
        show: bool::to_string,
    }
    /// Cron expression of plant syncs.
    sync_schedule: CronSchedule => SYNC_SCHEDULE {
        name: "sync.schedule",
        env: ["PLANTSYNC_SYNC_SCHEDULE", "PLANT_SYNC_CRON_SCHEDULE"],
        flag: None,
        default: Some("\"*/15 * * * *\""),
        doc: "Cron expression of the scheduler's ticks (5 fields, to the minute; one that never fires is refused), read in `timezone`",
        secret: false,
        parse: str::parse::<CronSchedule>,
        show: CronSchedule::to_string,
    }
    /// Start of the restricted window.
    window_start: TimeOfDay => SYNC_WINDOW_START {
        name: "sync.window_start",
        env: ["PLANTSYNC_SYNC_WINDOW_START", "SYNC_WINDOW_START"],
        flag: None,
        default: Some("\"19:00\""),
        doc: "Start (HH:MM, in `timezone`) of the window in which scheduled syncs never run",
        secret: false,
        parse: str::parse::<TimeOfDay>,
        show: TimeOfDay::to_string,
    }
    /// End of the restricted window.
    window_end: TimeOfDay => SYNC_WINDOW_END {
        name: "sync.window_end",
        env: ["PLANTSYNC_SYNC_WINDOW_END", "SYNC_WINDOW_END"],
        flag: None,
        default: Some("\"06:00\""),
        doc: "End (HH:MM) of the restricted window; equal to the start means no window",
        secret: false,
        parse: str::parse::<TimeOfDay>,
        show: TimeOfDay::to_string,
    }
    /// Vendors (portal accounts) synced at once.
    sync_concurrency: u32 => SYNC_CONCURRENCY {
        name: "sync.concurrency",
        env: ["PLANTSYNC_SYNC_CONCURRENCY"],
        flag: None,
        default: Some("16"),
        doc: "How many vendors (portal accounts) are synced at the same time (1-256); the work is waiting on the network, and each portal's own limits still hold",
        secret: false,
        parse: |t| int_in(t, 1, 256),
        show: u32::to_string,
    }
    /// Interval given to new organizations, minutes.
    default_interval_minutes: u32 => SYNC_DEFAULT_INTERVAL {
        name: "sync.default_interval_minutes",
        env: ["PLANTSYNC_SYNC_DEFAULT_INTERVAL_MINUTES"],
        flag: None,
        default: Some("15"),
        doc: "Sync interval given to an organization created without --interval (1-1440)",
        secret: false,
        parse: |t| int_in(t, 1, 1440),
        show: u32::to_string,
    }
    /// Timeout of one vendor request, seconds.
    request_timeout_seconds: u32 => SYNC_REQUEST_TIMEOUT {
        name: "sync.request_timeout_seconds",
        env: ["PLANTSYNC_SYNC_REQUEST_TIMEOUT_SECONDS"],
        flag: None,
        default: Some("25"),
        doc: "Timeout of one vendor HTTP request, seconds (1-300)",
        secret: false,
        parse: |t| int_in(t, 1, 300),
        show: u32::to_string,
    }
    /// Deadline of one vendor's whole sync, seconds.
    vendor_deadline_seconds: u32 => SYNC_VENDOR_DEADLINE {
        name: "sync.vendor_deadline_seconds",
        env: ["PLANTSYNC_SYNC_VENDOR_DEADLINE_SECONDS"],
        flag: None,
        default: Some("600"),
        doc: "A vendor's whole sync (all pages, retries included) must finish within this, seconds (10-86400)",
        secret: false,
        parse: |t| int_in(t, 10, 86_400),
        show: u32::to_string,
    }
    /// How far back alert syncs look, hours.
    alert_lookback_hours: u32 => SYNC_ALERT_LOOKBACK {
        name: "sync.alert_lookback_hours",
        env: ["PLANTSYNC_SYNC_ALERT_LOOKBACK_HOURS"],
        flag: None,
        default: Some("72"),
        doc: "How far back an alert sync asks the vendor when it has not synced alerts recently, hours (1-8760)",
        secret: false,
        parse: |t| int_in(t, 1, 8760),
        show: u32::to_string,
    }
    /// Spread of scheduled run starts, seconds.
    jitter_seconds: u32 => SYNC_JITTER {
        name: "sync.jitter_seconds",
        env: ["PLANTSYNC_SYNC_JITTER_SECONDS"],
        flag: None,
        default: Some("20"),
        doc: "A scheduled run starts up to this many seconds after its tick, so agents spread out (0-600)",
        secret: false,
        parse: |t| int_in(t, 0, 600),
        show: u32::to_string,
    }
    /// Scheduled alert syncs on/off (the agent's loop).
    alerts_enabled: bool => ALERTS_ENABLED {
        name: "alerts.enabled",
        env: ["PLANTSYNC_ALERTS_ENABLED", "ENABLE_ALERT_SYNC_CRON"],
        flag: None,
        default: Some("true"),
        doc: "Run the agent's own scheduled alert syncs; false keeps manual triggers and GET /api/cron/sync-alerts",
        secret: false,
        parse: parse_bool,
        show: bool::to_string,
    }
    /// Cron expression of alert syncs.
    alerts_schedule: CronSchedule => ALERTS_SCHEDULE {
        name: "alerts.schedule",
        env: ["PLANTSYNC_ALERTS_SCHEDULE"],
        flag: None,
        default: Some("\"*/30 * * * *\""),
        doc: "Cron expression of scheduled alert syncs (5 fields, to the minute; one that never fires is refused), read in `timezone`",
        secret: false,
        parse: str::parse::<CronSchedule>,
        show: CronSchedule::to_string,
    }
    /// Whether alert syncs stay out of the window too.
    alerts_respect_window: bool => ALERTS_RESPECT_WINDOW {
        name: "alerts.respect_window",
        env: ["PLANTSYNC_ALERTS_RESPECT_WINDOW"],
        flag: None,
        default: Some("true"),
        doc: "Keep scheduled alert syncs out of the restricted window too",
        secret: false,
        parse: parse_bool,
        show: bool::to_string,
    }
    /// Per-plant calls of one Solarman account in flight at once (unset: the portal's default).
    solarman_concurrency: Option<u32> => PORTALS_SOLARMAN_CONCURRENCY {
        name: "portals.solarman.concurrency",
        env: ["PLANTSYNC_PORTALS_SOLARMAN_CONCURRENCY"],
        flag: None,
        default: None,
        doc: "Per-plant calls (readings, alert lists) of one Solarman account in flight at once (1-32); unset: plantsync's default, 8",
        secret: false,
        parse: |t| optional_int_in(t, 1, 32),
        show: show_portal_limit,
    }
    /// Overview calls of SolarEdge in flight at once (unset: the portal's 3 per IP).
    solaredge_concurrency: Option<u32> => PORTALS_SOLAREDGE_CONCURRENCY {
        name: "portals.solaredge.concurrency",
        env: ["PLANTSYNC_PORTALS_SOLAREDGE_CONCURRENCY"],
        flag: None,
        default: None,
        doc: "Overview calls of one SolarEdge account in flight at once (1-3); all SolarEdge accounts together never exceed the 3 per IP SolarEdge allows; unset: 3",
        secret: false,
        parse: |t| optional_int_in(t, 1, 3),
        show: show_portal_limit,
    }
    /// Per-plant calls of one Growatt account in flight at once (unset: the portal's default).
    growatt_concurrency: Option<u32> => PORTALS_GROWATT_CONCURRENCY {
        name: "portals.growatt.concurrency",
        env: ["PLANTSYNC_PORTALS_GROWATT_CONCURRENCY"],
        flag: None,
        default: None,
        doc: "Per-plant calls (details, readings) of one Growatt account in flight at once (1-8); all Growatt accounts together never exceed 8; unset: plantsync's default, 4",
        secret: false,
        parse: |t| optional_int_in(t, 1, 8),
        show: show_portal_limit,
    }
    /// Interface of the control API.
    api_bind: IpAddr => API_BIND {
        name: "api.bind",
        env: ["PLANTSYNC_API_BIND"],
        flag: None,
        default: Some("\"127.0.0.1\""),
        doc: "Address the control API listens on; anything but loopback is logged as a warning",
        secret: false,
        parse: parse_ip,
        show: IpAddr::to_string,
    }
    /// Port of the control API.
    api_port: u16 => API_PORT {
        name: "api.port",
        env: ["PLANTSYNC_API_PORT"],
        flag: None,
        default: Some("8787"),
        doc: "Port of the control API (0 picks a free one, written to <data_dir>/agent.json)",
        secret: false,
        parse: |t| int_in(t, 0, 65535).map(|p| p as u16),
        show: u16::to_string,
    }
    /// `CRON_SECRET`: bearer secret of `GET /api/cron/*`.
    cron_secret: Option<Secret> => CRON_SECRET {
        name: "api.cron_secret",
        env: ["PLANTSYNC_CRON_SECRET", "CRON_SECRET"],
        flag: None,
        default: None,
        doc: "Bearer secret required by GET /api/cron/sync-plants when set",
        secret: true,
        parse: parse_secret,
        show: show_secret,
    }
    /// Where a new install keeps vendor secrets.
    secrets_store: Preference => SECRETS_STORE {
        name: "secrets.store",
        env: ["PLANTSYNC_SECRETS_STORE"],
        flag: None,
        default: Some("\"auto\""),
        doc: "Where a new install keeps vendor passwords, app secrets, API keys and tokens: auto (the OS keyring when one answers, else the database file), keyring or file; an existing install keeps its choice (move with `plantsync secrets move --to keyring|file`)",
        secret: false,
        parse: str::parse::<Preference>,
        show: |v: &Preference| v.as_str().to_owned(),
    }
    /// Failures in a row before a notification.
    notify_threshold: u32 => NOTIFY_THRESHOLD {
        name: "notify.failure_threshold",
        env: ["PLANTSYNC_NOTIFY_FAILURE_THRESHOLD"],
        flag: None,
        default: Some("3"),
        doc: "Raise one notification when a vendor fails this many runs in a row (1-100)",
        secret: false,
        parse: |t| int_in(t, 1, 100),
        show: u32::to_string,
    }
    /// Webhook of notifications.
    notify_webhook: Option<String> => NOTIFY_WEBHOOK {
        name: "notify.webhook_url",
        env: ["PLANTSYNC_NOTIFY_WEBHOOK_URL"],
        flag: None,
        default: None,
        doc: "Optional URL that receives each notification as a JSON POST (retried)",
        secret: false,
        parse: parse_url,
        show: show_optional,
    }
    /// Desktop notifications over the session bus (Linux).
    notify_desktop: DesktopMode => NOTIFY_DESKTOP {
        name: "notify.desktop",
        env: ["PLANTSYNC_NOTIFY_DESKTOP"],
        flag: None,
        default: Some("\"auto\""),
        doc: "Desktop notifications through the session bus's notification server (Linux only): auto (on when a session bus is there), on or off",
        secret: false,
        parse: str::parse::<DesktopMode>,
        show: |v: &DesktopMode| v.as_str().to_owned(),
    }
    /// The central PostgreSQL the push sends to (a secret: it may hold the password).
    upstream_url: Option<UpstreamUrl> => UPSTREAM_URL {
        name: "upstream.url",
        env: ["PLANTSYNC_UPSTREAM_URL"],
        flag: None,
        default: None,
        doc: "Where `plantsync push` sends: a central PostgreSQL postgres:// URL (its password is a secret: shown redacted; TLS by `sslmode`: disable, prefer (the default), require, verify-ca, verify-full, and `sslrootcert=PATH`), a PostgREST/Supabase https:// base URL (key in upstream.api_key), or file:///PATH to write offline bundles there",
        secret: true,
        parse: parse_upstream_url,
        show: show_upstream_url,
    }
    /// The PostgREST key of an https:// `upstream.url` (a secret).
    upstream_api_key: Option<Secret> => UPSTREAM_API_KEY {
        name: "upstream.api_key",
        env: ["PLANTSYNC_UPSTREAM_API_KEY"],
        flag: None,
        default: None,
        doc: "Key of a PostgREST/Supabase upstream.url, sent as apikey and Bearer: a per-device key with rights on the plantsync tables and functions only, never Supabase's service-role key (a secret: never shown)",
        secret: true,
        parse: parse_secret,
        show: show_secret,
    }
    /// Rows per upstream batch.
    upstream_batch_rows: u32 => UPSTREAM_BATCH_ROWS {
        name: "upstream.batch_rows",
        env: ["PLANTSYNC_UPSTREAM_BATCH_ROWS"],
        flag: None,
        default: Some("1000"),
        doc: "Rows per upstream batch, one statement each (1-10000)",
        secret: false,
        parse: |t| int_in(t, 1, 10_000),
        show: u32::to_string,
    }
    /// The agent's first wait after a failed push, and the least it ever waits.
    upstream_retry_min_seconds: u32 => UPSTREAM_RETRY_MIN_SECONDS {
        name: "upstream.retry_min_seconds",
        env: ["PLANTSYNC_UPSTREAM_RETRY_MIN_SECONDS"],
        flag: None,
        default: Some("30"),
        doc: "The agent's wait after a failed push, doubling (with jitter) after each failure in a row; never shorter than this (1-3600)",
        secret: false,
        parse: |t| int_in(t, 1, 3600),
        show: u32::to_string,
    }
    /// The longest wait between the agent's push attempts while the link is down.
    upstream_retry_max_seconds: u32 => UPSTREAM_RETRY_MAX_SECONDS {
        name: "upstream.retry_max_seconds",
        env: ["PLANTSYNC_UPSTREAM_RETRY_MAX_SECONDS"],
        flag: None,
        default: Some("1800"),
        doc: "The longest wait between the agent's push attempts while the upstream fails (1-86400; at least retry_min_seconds)",
        secret: false,
        parse: |t| int_in(t, 1, 86_400),
        show: u32::to_string,
    }
    /// Whether the vendors' raw JSON travels upstream.
    upstream_push_raw_json: bool => UPSTREAM_PUSH_RAW_JSON {
        name: "upstream.push_raw_json",
        env: ["PLANTSYNC_UPSTREAM_PUSH_RAW_JSON"],
        flag: None,
        default: Some("false"),
        doc: "Also push each plant's and alert's raw vendor record (off: the central raw_json columns stay NULL)",
        secret: false,
        parse: parse_bool,
        show: bool::to_string,
    }
    /// Whether plant syncs write the energy history (daily rows and power samples).
    history_enabled: bool => HISTORY_ENABLED {
        name: "history.enabled",
        env: ["PLANTSYNC_HISTORY_ENABLED"],
        flag: None,
        default: Some("true"),
        doc: "Write each plant sync's readings into the energy history (one row per plant and local day, and a power sample per sync); false keeps only the latest readings",
        secret: false,
        parse: parse_bool,
        show: bool::to_string,
    }
    /// Days back the backfill looks for gaps.
    history_backfill_days: u32 => HISTORY_BACKFILL_DAYS {
        name: "history.backfill_days",
        env: ["PLANTSYNC_HISTORY_BACKFILL_DAYS"],
        flag: None,
        default: Some("30"),
        doc: "After a plant sync, ask the portal's daily history for the days of the last N that the syncs missed or did not see to their end (0-366; 0 turns the backfill off)",
        secret: false,
        parse: |t| int_in(t, 0, 366),
        show: u32::to_string,
    }
    /// Days power samples are kept.
    history_sample_retention_days: u32 => HISTORY_SAMPLE_RETENTION_DAYS {
        name: "history.sample_retention_days",
        env: ["PLANTSYNC_HISTORY_SAMPLE_RETENTION_DAYS"],
        flag: None,
        default: Some("90"),
        doc: "How many days of power samples (the intraday curves) to keep (1-3650); daily rows are kept forever",
        secret: false,
        parse: |t| int_in(t, 1, 3650),
        show: u32::to_string,
    }
}
