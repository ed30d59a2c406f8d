//! The command line: clap definitions here, one module per command group in `commands`,
//! and the table/JSON/CSV rendering in `output`.
//!
//! Exit codes: 0 success, 1 runtime failure (including "not found" and conflicts with
//! existing data), 2 usage or configuration error.

pub mod commands;
pub mod output;
mod secrets;
mod time_arg;

use crate::domain::{AlertStatus, RunKind, RunStatus, Severity, VendorKind};
use crate::store::StatusFilter;
use clap::builder::TypedValueParser as _;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

pub use output::Format;

/// plantsync: keeps solar plants and alerts from vendor portals in a local SQLite file.
#[derive(Debug, Parser)]
#[command(name = "plantsync", version, about, max_term_width = 100)]
pub struct Cli {
    /// Config file (default: the platform config dir's plantsync/config.toml; env PLANTSYNC_CONFIG).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory holding plantsync.db and logs/ (env PLANTSYNC_DATA_DIR).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// IANA time zone of the schedule and window (env PLANTSYNC_TIMEZONE).
    #[arg(long, global = true, value_name = "ZONE")]
    pub timezone: Option<String>,
    /// Log level or filter, e.g. debug (env PLANTSYNC_LOG).
    #[arg(long, global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented example config file.
    Init(InitArgs),
    /// Show the effective configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Manage organizations (the unit of sync settings).
    #[command(subcommand)]
    Org(OrgCommand),
    /// Manage vendors (monitoring-portal accounts).
    #[command(subcommand)]
    Vendor(VendorCommand),
    /// Inspect plants.
    #[command(subcommand)]
    Plants(PlantsCommand),
    /// Inspect alerts.
    #[command(subcommand)]
    Alerts(AlertsCommand),
    /// Inspect the sync history.
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Daily energy per plant (or per organization with --total) over plant-local days,
    /// gaps shown as gaps.
    History(HistoryArgs),
    /// Reports over the energy history.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Counts, per-vendor health and the database file.
    Status(FormatArg),
    /// Sync plants or alerts from the vendors now.
    #[command(subcommand)]
    Sync(SyncCommand),
    /// Try plantsync without accounts: the built-in simulator, a demo organization, a
    /// plant and an alert sync (in a fresh temporary data dir unless --data-dir is given).
    Demo(DemoArgs),
    /// Serve the built-in vendor simulator on loopback until Ctrl-C.
    Simulate(SimulateArgs),
    /// Run the agent: the schedule and the loopback control API, until Ctrl-C or SIGTERM.
    Run,
    /// Show the agent's state in the desktop's tray, with a menu to sync, push, pause and
    /// resume (a client of the running agent; builds without the `tray` feature say so).
    Tray(TrayArgs),
    /// Pause the running agent's automatic syncs (a sync you start still runs).
    Pause,
    /// Resume the running agent's automatic syncs.
    Resume,
    /// Open the running agent's dashboard in the browser, logged in with a one-time link.
    Dashboard(DashboardArgs),
    /// Stop the running agent (as SIGTERM does: a sync under way gets the shutdown grace)
    /// and wait until it is gone.
    Stop,
    /// Show or rotate the admin token of the loopback API.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Where vendor secrets are kept: the OS keyring or the database file.
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Push what changed since the last push to the central PostgreSQL (upstream.url).
    Push(PushArgs),
    /// The central PostgreSQL schema: print it, or create it.
    #[command(subcommand)]
    Upstream(UpstreamCommand),
}

/// `tray`.
#[derive(Debug, Args)]
pub struct TrayArgs {
    /// When no agent runs on the data dir, start one (`plantsync run`, as its own
    /// process: it keeps running when the tray ends) and say so; for a desktop without the
    /// installed service.
    #[arg(long)]
    pub start_agent: bool,
}

/// `dashboard`.
#[derive(Debug, Args)]
pub struct DashboardArgs {
    /// Print the one-time login URL (valid for 60 s) instead of opening a browser.
    #[arg(long)]
    pub print_url: bool,
}

/// `push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// Send every row again, not only those changed since the last confirmed push.
    #[arg(long)]
    pub full: bool,
    /// Send the rows the central database refused earlier again first (see `plantsync
    /// upstream rejected`).
    #[arg(long)]
    pub retry_rejected: bool,
    /// After the push, compare every central row of this agent with the store, key by key,
    /// print what differs and re-queue it for the next push.
    #[arg(long)]
    pub verify: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// `upstream ...`.
#[derive(Debug, Subcommand)]
pub enum UpstreamCommand {
    /// Print the SQL of the central tables (schema `plantsync`).
    Schema,
    /// Create the central tables over upstream.url (idempotent).
    Init,
    /// Write every row not yet confirmed centrally into an offline bundle FILE (a SQLite
    /// file, 0600), for a site without a link; nothing is marked as delivered.
    Export {
        /// The bundle to write (replaced whole once complete).
        file: PathBuf,
        /// Every row, not only those not yet confirmed centrally.
        #[arg(long)]
        full: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// List the rows the central database refused (set aside so the queue went on), with
    /// why; `plantsync push --retry-rejected` sends them again.
    Rejected {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Check an offline bundle FILE against its manifest and push its rows to upstream.url
    /// (needs no data dir; importing a bundle twice changes nothing).
    Import {
        /// The bundle to import.
        file: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

impl Command {
    /// Whether the command only reads the database (listings, `show`, `status`): such a
    /// command also works on a copy or a file it may not write, opened read-only.
    pub fn only_reads(&self) -> bool {
        match self {
            Self::Org(OrgCommand::List(_))
            | Self::Vendor(VendorCommand::List { .. } | VendorCommand::Show { .. })
            | Self::Plants(_)
            | Self::Alerts(_)
            | Self::Runs(_)
            | Self::History(_)
            | Self::Report(_)
            | Self::Status(_)
            | Self::Upstream(UpstreamCommand::Export { .. } | UpstreamCommand::Rejected { .. }) => {
                true
            }
            Self::Init(_)
            | Self::Config(_)
            | Self::Org(_)
            | Self::Vendor(_)
            | Self::Sync(_)
            | Self::Demo(_)
            | Self::Simulate(_)
            | Self::Run
            | Self::Tray(_)
            | Self::Pause
            | Self::Resume
            | Self::Dashboard(_)
            | Self::Stop
            | Self::Token(_)
            | Self::Secrets(_)
            | Self::Push(_)
            | Self::Upstream(_) => false,
        }
    }

    /// Whether the command syncs (and so writes a lot): its database is checked first with
    /// `PRAGMA quick_check`, so a damaged file is refused before a sync writes into it.
    pub fn syncs(&self) -> bool {
        matches!(self, Self::Sync(_) | Self::Demo(_) | Self::Run)
    }
}

/// `secrets ...`.
#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Move every vendor secret (passwords, app secrets, API keys) to the OS keyring or to
    /// the database file, and keep new ones there. All or nothing: every secret is written
    /// and read back at the target before the source is cleared. Cached session tokens
    /// are dropped (each vendor logs in once at its next sync). Running it again is a no-op.
    Move {
        /// Where to: keyring or file.
        #[arg(long, value_name = "keyring|file", value_parser = parse_secrets_store)]
        to: crate::secrets::SecretsStore,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

fn parse_secrets_store(text: &str) -> Result<crate::secrets::SecretsStore, String> {
    text.parse()
}

/// `token ...`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print the admin token (created if there is none).
    Show,
    /// Replace the admin token; a running agent accepts only the new one from now on.
    Rotate,
}

/// `demo`.
#[derive(Debug, Args, Clone)]
pub struct DemoArgs {
    /// Seed of the simulated data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// `simulate`: the size of the simulated portals and their fault switches. Faults apply to
/// every account (or only to `--faulty-account`).
#[derive(Debug, Args, Clone)]
pub struct SimulateArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8790)]
    pub port: u16,
    /// Seed of the generated data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Accounts of each vendor kind.
    #[arg(long, default_value_t = 1)]
    pub accounts: usize,
    /// Only these vendor kinds (comma-separated; default: all five).
    #[arg(long, value_delimiter = ',', value_name = "KIND,...", value_parser = parse_kind)]
    pub kinds: Vec<VendorKind>,
    /// Plants per account.
    #[arg(long, default_value_t = 25)]
    pub plants: usize,
    /// Alerts per plant.
    #[arg(long, default_value_t = 2)]
    pub alerts: usize,
    /// Apply the faults only to this account (0-based, in the printed order).
    #[arg(long)]
    pub faulty_account: Option<usize>,
    /// Delay every response by this many milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Answer every plant-list request with this HTTP status and an HTML body (500, 502, 503).
    #[arg(long)]
    pub http_error: Option<u16>,
    /// Answer every plant-list request with the vendor's rate-limit signal.
    #[arg(long)]
    pub rate_limit: bool,
    /// A token stops working after this many requests.
    #[arg(long)]
    pub token_expires_after: Option<u32>,
    /// Reject every login.
    #[arg(long)]
    pub reject_login: bool,
    /// Truncate every plant-list body.
    #[arg(long)]
    pub truncated_json: bool,
    /// Send this plant (0-based) with a wrongly typed field.
    #[arg(long)]
    pub wrong_type_plant: Option<usize>,
    /// Send this plant (0-based) without its id.
    #[arg(long)]
    pub missing_field_plant: Option<usize>,
    /// Plant-list pages from this one (1-based) on are empty.
    #[arg(long)]
    pub empty_pages_from: Option<u32>,
    /// Repeat the last plant of each page at the start of the next.
    #[arg(long)]
    pub duplicate_ids: bool,
    /// Hold every plant-list body this many milliseconds after the headers.
    #[arg(long)]
    pub slow_body_ms: Option<u64>,
    /// Spoil every JSON reply with one to three mutations chosen by this seed (type
    /// changes, huge numbers, megabyte strings, unicode edge cases, deep nesting,
    /// truncation, wrong lengths, seconds for milliseconds, impossible zones), each reply
    /// differently: a fuzzing proxy built in.
    #[arg(long, value_name = "SEED")]
    pub mutate: Option<u64>,
    /// Move every plant's readings (last update time, power, energy) at the first request
    /// at least this many seconds after they last moved (0: at every request, at most once
    /// a second: readings never run ahead of the clock), as a real portal's do every few
    /// minutes. Applies to every account.
    #[arg(long, value_name = "SECONDS")]
    pub move_readings_secs: Option<u64>,
    /// Requests of one account handled at once before the portal answers with its
    /// rate-limit signal (0: no limit). Default: the portal's own, 10 on Solarman, Sungrow
    /// and Growatt. Applies to every account.
    #[arg(long, value_name = "N")]
    pub account_concurrency: Option<u32>,
}

/// `sync ...`.
#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// Pull every plant of the selected vendors.
    Plants(SyncArgs),
    /// Pull the alerts of the selected vendors.
    Alerts(SyncArgs),
}

/// Which vendors a manual sync takes, and how to print the result.
#[derive(Debug, Args, Clone)]
pub struct SyncArgs {
    /// Only this vendor (id or unique name).
    #[arg(long)]
    pub vendor: Option<String>,
    /// Only this organization (id or name).
    #[arg(long)]
    pub org: Option<String>,
    /// Include vendors of organizations with auto-sync off (every active vendor with an
    /// organization).
    #[arg(long)]
    pub force: bool,
    /// Output format (json prints the original system's response object).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// `init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
}

/// `config ...`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print every setting, its value (secrets redacted) and where it came from.
    Show(FormatArg),
}

/// `--format` of listings.
#[derive(Debug, Args, Clone, Copy)]
pub struct FormatArg {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// `org ...`.
#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organization.
    Add {
        /// Unique name.
        name: String,
        /// Minutes between scheduled syncs, 1-1440 (default: sync.default_interval_minutes).
        #[arg(long, value_name = "MINUTES", allow_negative_numbers = true,
              value_parser = clap::value_parser!(i64).range(1..=1440))]
        interval: Option<i64>,
        /// Whether the schedule syncs it: on or off.
        #[arg(long, value_name = "on|off", action = clap::ArgAction::Set,
              value_parser = clap::builder::BoolishValueParser::new(), default_value = "on")]
        auto_sync: bool,
    },
    /// List organizations.
    List(FormatArg),
    /// Change an organization's name or sync settings.
    Set {
        /// Id or name.
        org: String,
        /// New name.
        #[arg(long)]
        name: Option<String>,
        /// Minutes between scheduled syncs, 1-1440.
        #[arg(long, value_name = "MINUTES", allow_negative_numbers = true,
              value_parser = clap::value_parser!(i64).range(1..=1440))]
        interval: Option<i64>,
        /// on or off.
        #[arg(long, value_name = "on|off", value_parser = clap::builder::BoolishValueParser::new())]
        auto_sync: Option<bool>,
    },
    /// Delete an organization.
    Remove {
        /// Id or name.
        org: String,
        /// Also detach its vendors (they stop syncing automatically).
        #[arg(long)]
        force: bool,
    },
}

/// Credential flags that are not secrets. Secrets are never flags: they are prompted for,
/// or read from stdin one per line.
#[derive(Debug, Args, Default, Clone)]
pub struct CredentialArgs {
    /// Login name or e-mail (Solarman, Sungrow; FusionSolar API account userName).
    #[arg(long)]
    pub username: Option<String>,
    /// Application id (Solarman appId, Sungrow app key).
    #[arg(long)]
    pub app_id: Option<String>,
    /// Solarman business orgId (optional).
    #[arg(long)]
    pub company_id: Option<String>,
}

/// `vendor ...`.
#[derive(Debug, Subcommand)]
pub enum VendorCommand {
    /// Create a vendor; its secrets are prompted for (or read from stdin, one per line).
    #[command(after_help = commands::vendor::add_help())]
    Add {
        /// Display name.
        #[arg(long)]
        name: String,
        /// Portal kind (what each needs is listed below).
        #[arg(long, value_parser = kind_parser(), ignore_case = true)]
        kind: VendorKind,
        /// Organization id or name (without one it is never synced automatically).
        #[arg(long)]
        org: Option<String>,
        /// Base URL override (regional host, test server).
        #[arg(long, value_name = "URL", value_parser = parse_url)]
        base_url: Option<String>,
        /// Create it disabled.
        #[arg(long)]
        disabled: bool,
        /// Credential fields that are not secrets.
        #[command(flatten)]
        credentials: CredentialArgs,
    },
    /// List vendors.
    List {
        /// Only this organization (id or name).
        #[arg(long)]
        org: Option<String>,
        /// Only this kind.
        #[arg(long, value_parser = parse_kind)]
        kind: Option<VendorKind>,
        /// Only active (true) or disabled (false) vendors.
        #[arg(long, value_parser = clap::builder::BoolishValueParser::new())]
        active: Option<bool>,
        /// Output format.
        #[command(flatten)]
        format: FormatArg,
    },
    /// Show one vendor (which credentials are set, never their values).
    Show {
        /// Id or unique name.
        vendor: String,
        /// Output format.
        #[command(flatten)]
        format: FormatArg,
    },
    /// Change a vendor's settings or credentials.
    Set {
        /// Id or unique name.
        vendor: String,
        /// New name.
        #[arg(long)]
        name: Option<String>,
        /// Move to this organization (id or name); its plants move with it.
        #[arg(long, conflicts_with = "no_org")]
        org: Option<String>,
        /// Detach from its organization.
        #[arg(long)]
        no_org: bool,
        /// New base URL.
        #[arg(long, value_name = "URL", value_parser = parse_url, conflicts_with = "default_url")]
        base_url: Option<String>,
        /// Return to the kind's default base URL.
        #[arg(long)]
        default_url: bool,
        /// Credential fields that are not secrets.
        #[command(flatten)]
        credentials: CredentialArgs,
        /// Replace the password / system code (prompted, or read from stdin).
        #[arg(long)]
        password: bool,
        /// Replace the app secret (prompted, or read from stdin).
        #[arg(long)]
        app_secret: bool,
        /// Replace the API key / token (prompted, or read from stdin).
        #[arg(long)]
        api_key: bool,
    },
    /// Include a vendor in syncs again.
    Enable {
        /// Id or unique name.
        vendor: String,
    },
    /// Leave a vendor out of syncs, keeping its data.
    Disable {
        /// Id or unique name.
        vendor: String,
    },
    /// Delete a vendor.
    Remove {
        /// Id or unique name.
        vendor: String,
        /// Also delete its plants and alerts.
        #[arg(long)]
        force: bool,
    },
}

/// Sort keys of `plants list`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PlantSortArg {
    /// Name.
    Name,
    /// Installed capacity.
    Capacity,
    /// Current power.
    Power,
    /// Today's energy.
    Energy,
    /// Last change.
    Updated,
    /// Id.
    Id,
}

/// `plants ...`.
#[derive(Debug, Subcommand)]
pub enum PlantsCommand {
    /// List plants.
    List {
        /// Only this organization (id or name).
        #[arg(long)]
        org: Option<String>,
        /// Only this vendor (id, or name: with --org, the one in that organization).
        #[arg(long)]
        vendor: Option<String>,
        /// Only this status: online, partial, offline, fault or unknown (plantsync's words,
        /// every portal), or a portal's own word such as ALL_OFFLINE (matched against the
        /// portal's word, in every portal that uses it; a word no plant has is answered on
        /// stderr with the words there are).
        #[arg(long, value_parser = parse_plant_status)]
        status: Option<StatusFilter>,
        /// Only active (true) or inactive (false) plants.
        #[arg(long, value_parser = clap::builder::BoolishValueParser::new())]
        active: Option<bool>,
        /// Name contains this text.
        #[arg(long)]
        search: Option<String>,
        /// Sort key.
        #[arg(long, value_enum, default_value_t = PlantSortArg::Name)]
        sort: PlantSortArg,
        /// Descending order.
        #[arg(long)]
        desc: bool,
        /// At most this many rows.
        #[arg(long)]
        limit: Option<u64>,
        /// Output format.
        #[command(flatten)]
        format: FormatArg,
    },
    /// Show one plant with the vendor's raw record.
    Show {
        /// Plant id.
        id: i64,
        /// Output format.
        #[command(flatten)]
        format: FormatArg,
    },
}

/// `alerts ...`.
#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// List alerts, newest first.
    List {
        /// Only this organization (id or name).
        #[arg(long)]
        org: Option<String>,
        /// Only this vendor (id or unique name).
        #[arg(long)]
        vendor: Option<String>,
        /// Only this plant id.
        #[arg(long)]
        plant: Option<i64>,
        /// Only this severity.
        #[arg(long, value_parser = parse_severity)]
        severity: Option<Severity>,
        /// Only this status.
        #[arg(long, value_parser = parse_alert_status)]
        status: Option<AlertStatus>,
        /// Started at or after: RFC 3339, a date (YYYY-MM-DD, in the configured zone) or an age (30m, 24h, 7d).
        #[arg(long)]
        since: Option<String>,
        /// At most this many rows.
        #[arg(long)]
        limit: Option<u64>,
        /// Output format.
        #[command(flatten)]
        format: FormatArg,
    },
    /// Show one alert with the vendor's raw record.
    Show {
        /// Alert id.
        id: i64,
        /// Output format.
        #[command(flatten)]
        format: FormatArg,
    },
}

/// `runs ...`.
#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// List sync runs, newest first.
    List {
        /// Only this kind.
        #[arg(long, value_parser = parse_run_kind)]
        kind: Option<RunKind>,
        /// Only this status.
        #[arg(long, value_parser = parse_run_status)]
        status: Option<RunStatus>,
        /// At most this many rows.
        #[arg(long, default_value_t = 50)]
        limit: u64,
        /// Output format.
        #[command(flatten)]
        format: FormatArg,
    },
    /// Show one run with its per-vendor results and summary.
    Show {
        /// Run id.
        id: i64,
        /// Output format.
        #[command(flatten)]
        format: FormatArg,
    },
}

/// `history`: which plants, which days, how.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("scope").multiple(false))]
pub struct HistoryArgs {
    /// Only this plant (its id, as `plantsync plants list` shows it).
    #[arg(long, group = "scope", value_name = "ID")]
    pub plant: Option<i64>,
    /// Only this vendor's plants (id or unique name).
    #[arg(long, group = "scope", value_name = "VENDOR")]
    pub vendor: Option<String>,
    /// Only this organization's plants (id or name). Without --plant, --vendor or --org:
    /// every plant.
    #[arg(long, group = "scope", value_name = "ORG")]
    pub org: Option<String>,
    /// First day, YYYY-MM-DD, a plant-local day (default: 30 days before --to).
    #[arg(long, value_name = "DATE", value_parser = parse_day)]
    pub from: Option<chrono::NaiveDate>,
    /// Last day, YYYY-MM-DD (default: today in the configured zone, whose value is the
    /// live reading so far, not the day's final figure).
    #[arg(long, value_name = "DATE", value_parser = parse_day)]
    pub to: Option<chrono::NaiveDate>,
    /// One row per organization and day: the sum of the plants with a value, and how many
    /// of its plants have one.
    #[arg(long)]
    pub total: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// `report ...`.
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// One organization's month as a plant x day matrix of energy (kWh), with totals per
    /// plant and per day; gaps are empty cells, never 0.
    Daily {
        /// Organization id or name.
        #[arg(long)]
        org: String,
        /// The month, YYYY-MM.
        #[arg(long, value_name = "YYYY-MM", value_parser = parse_month)]
        month: commands::report::Month,
        /// Output format (csv: RFC 4180, two decimals with a `.`, for spreadsheets).
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

fn parse_day(text: &str) -> Result<chrono::NaiveDate, String> {
    chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| format!("'{text}' is not a date YYYY-MM-DD"))
}

fn parse_month(text: &str) -> Result<commands::report::Month, String> {
    text.parse()
}

/// The five kinds as clap's possible values, so `--help` lists them and a typo is answered
/// with them (and a suggestion); any case is accepted, as everywhere.
fn kind_parser() -> impl clap::builder::TypedValueParser<Value = VendorKind> {
    clap::builder::PossibleValuesParser::new(VendorKind::ALL.iter().map(|k| k.as_str()))
        .try_map(|text| text.parse::<VendorKind>())
}

fn parse_kind(text: &str) -> Result<VendorKind, String> {
    text.parse().map_err(|e: crate::domain::ParseEnumError| e.to_string())
}

fn parse_severity(text: &str) -> Result<Severity, String> {
    text.parse().map_err(|e: crate::domain::ParseEnumError| e.to_string())
}

fn parse_plant_status(text: &str) -> Result<StatusFilter, String> {
    StatusFilter::parse(text).ok_or_else(|| "the status is blank".to_owned())
}

fn parse_alert_status(text: &str) -> Result<AlertStatus, String> {
    text.parse().map_err(|e: crate::domain::ParseEnumError| e.to_string())
}

fn parse_run_kind(text: &str) -> Result<RunKind, String> {
    text.parse().map_err(|e: crate::domain::ParseEnumError| e.to_string())
}

fn parse_run_status(text: &str) -> Result<RunStatus, String> {
    text.parse().map_err(|e: crate::domain::ParseEnumError| e.to_string())
}

/// Accepts `http://` and `https://` URLs with a host; the trailing slash is dropped.
fn parse_url(text: &str) -> Result<String, String> {
    let trimmed = text.trim().trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"))
        .ok_or_else(|| format!("'{text}' is not an http:// or https:// URL"))?;
    if rest.is_empty() || rest.starts_with('/') || rest.contains(char::is_whitespace) {
        return Err(format!("'{text}' has no host"));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn url_validation() {
        assert_eq!(parse_url("http://127.0.0.1:8080/").unwrap(), "http://127.0.0.1:8080");
        assert!(parse_url("ftp://x").is_err());
        assert!(parse_url("https://").is_err());
    }
}
