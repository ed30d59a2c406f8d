//! The composition root: settings, logging, the store and the command, and the mapping of
//! errors to exit codes (0 ok, 1 runtime failure, 2 usage or configuration error).

use crate::cli::commands::{self, Ctx, UsageError};
use crate::cli::{
    Cli, Command, ConfigCommand, SecretsCommand, SyncCommand, TokenCommand, UpstreamCommand,
};
use crate::config::{ConfigError, FlagValues, Inputs, Settings, keys};
use crate::datadir::dir::{self as data_dir, DataDir, DataDirError, DirAccess};
use crate::datadir::lock::DataDirLock;
use crate::domain::RunKind;
use crate::logging::{self, LogOptions};
use crate::store::Store;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use tracing::Instrument;

/// Exit code of a usage or configuration error.
pub const EXIT_USAGE: u8 = 2;

/// Runs a parsed command line to completion and returns the process exit code.
pub fn main(cli: Cli) -> ExitCode {
    // The log file's writer outlives `run`, so the final error reaches the file too; it is
    // dropped (flushing the file) only after that line.
    let mut log = None;
    let operation = operation_name(&cli.command);
    let code = match run(cli, &mut log) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let message = render(&error);
            eprintln!("plantsync: error: {message}");
            // In the command's span, so the line names its source and operation like the
            // command's own lines; an error, since the command failed.
            tracing::info_span!("command", source = "user", operation).in_scope(|| {
                tracing::error!(target: logging::FILE_ONLY, "command failed: {message}");
            });
            ExitCode::from(exit_code(&error))
        }
    };
    drop(log);
    code
}

fn exit_code(error: &anyhow::Error) -> u8 {
    let usage = error.chain().any(|cause| {
        cause.is::<ConfigError>() || cause.is::<UsageError>() || cause.is::<DataDirError>()
    });
    if usage { EXIT_USAGE } else { 1 }
}

/// The one rule for printing an error and its causes: a cause the text so far already ends
/// with is not said again, so a type whose message includes its source (thiserror's
/// `"...: {source}"` with a `source` field) is not followed by that source again; an I/O
/// error is said in words ("permission denied", not "Permission denied (os error 13)"),
/// replacing its raw text where a message embedded it; and the chain ends at an I/O or
/// SQLite error, whose own text is complete (rusqlite's inner error only repeats it with
/// a number).
fn render(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let (part, last) = match cause.downcast_ref::<std::io::Error>() {
            Some(io) => {
                let raw = io.to_string();
                let words = data_dir::in_words(io);
                if text.contains(&raw) {
                    text = text.replace(&raw, &words);
                }
                (words, true)
            }
            None => (cause.to_string(), cause.is::<rusqlite::Error>()),
        };
        // Only a cause the text so far ends with is already said (a message that embeds
        // its source); the same words earlier (a path that contains them) are not it.
        if !text.ends_with(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
        if last {
            break;
        }
    }
    text
}

/// Runs the command; `log` receives the log file's guard once logging is set up, for
/// [`main`] to keep until the outcome is logged.
fn run(cli: Cli, log: &mut Option<logging::LogGuard>) -> anyhow::Result<()> {
    let mut flags = FlagValues::default();
    flags.set(&keys::DATA_DIR, cli.data_dir.as_ref().map(|p| p.display().to_string()));
    flags.set(&keys::TIMEZONE, cli.timezone.clone());
    flags.set(&keys::LOG_LEVEL, cli.log_level.clone());
    let inputs = Inputs::from_process(cli.config.clone(), flags);

    // `init` must work even when the existing configuration is broken: it is how to fix it.
    if let Command::Init(args) = &cli.command {
        let path = config_file_path(&inputs)?;
        return commands::config::init(&path, args.force, &mut std::io::stdout().lock());
    }

    // Everything is validated before anything (log file, database) is written.
    let mut settings = Settings::resolve(&inputs)?;
    if let Command::Token(command) = &cli.command {
        let dir = writable_data_dir(&settings)?;
        let dir = dir.path();
        let token = match command {
            TokenCommand::Show => crate::datadir::token::load_or_create(dir)?,
            TokenCommand::Rotate => crate::datadir::token::rotate(dir)?,
        };
        println!("{}", token.expose());
        return Ok(());
    }
    if let Command::Run = cli.command {
        return run_agent(settings, log);
    }
    // Pausing is the running agent's state: asked over its API, no store opened here.
    if let Command::Pause | Command::Resume = cli.command {
        let pause = matches!(cli.command, Command::Pause);
        return commands::pause::run(&settings, pause, &mut std::io::stdout().lock());
    }
    if let Command::Stop = cli.command {
        return commands::stop::run(&settings, &mut std::io::stdout().lock());
    }
    // The dashboard is the running agent's: a login code asked over its API, no store.
    if let Command::Dashboard(args) = &cli.command {
        return commands::dashboard::run(&settings, args.print_url, &mut std::io::stdout().lock());
    }
    // The tray is a client of the agent: no store, no lock; it logs to stderr only (the
    // log files are the agent's).
    if let Command::Tray(args) = &cli.command {
        *log = Some(logging::init(&LogOptions {
            level: settings.log_level.value.clone(),
            console_level: None,
            dir: None,
            retention_days: settings.log_retention_days.value as usize,
            timezone: settings.timezone.value,
        }));
        let start = args.start_agent.then(|| crate::tray::AgentStart {
            data_dir: settings.data_dir.value.clone(),
            config: cli.config.clone(),
        });
        return crate::tray::run(&settings, start);
    }
    // The central schema needs no data dir: printing it needs nothing, creating it only
    // the URL.
    // (An export reads the data dir's store: it goes the common way below.)
    if let Command::Upstream(command) = &cli.command
        && !matches!(command, UpstreamCommand::Export { .. } | UpstreamCommand::Rejected { .. })
    {
        return commands::push::upstream(&settings, command, &mut std::io::stdout().lock());
    }
    if let Command::Simulate(args) = cli.command {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        return runtime.block_on(commands::simulate::run(args, &mut std::io::stdout().lock()));
    }
    // The demo writes into a data dir only when one is given with `--data-dir`: never into
    // the configured one (PLANTSYNC_DATA_DIR, the config file's `data_dir`), which holds
    // real vendors. Its own dir is created exclusively under a random name (0700), so
    // another user of a shared machine cannot have prepared it (or a symlink) in advance;
    // it is kept for the commands the demo prints.
    let demo_in_temp_dir = matches!(cli.command, Command::Demo(_)) && cli.data_dir.is_none();
    if demo_in_temp_dir {
        let mut builder = tempfile::Builder::new();
        builder.prefix("plantsync-demo-");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(std::fs::Permissions::from_mode(0o700));
        }
        let created = builder.tempdir().map_err(|e| {
            anyhow::anyhow!(
                "cannot create the demo's temporary data dir in {}: {}",
                std::env::temp_dir().display(),
                data_dir::in_words(&e)
            )
        })?;
        settings.data_dir.value = created.keep();
    }
    if let Command::Config(ConfigCommand::Show(format)) = &cli.command {
        let secrets = secrets_in_use(&settings);
        return commands::config::show(
            &settings,
            secrets.as_ref(),
            format.format,
            &mut std::io::stdout().lock(),
        );
    }

    // The data dir first: a bad path is said once, before logging tries to create files.
    let dir = data_dir::prepare(&settings.data_dir.value)?;
    if dir.access() == DirAccess::ReadOnly && !cli.command.only_reads() {
        return Err(DataDirError::NotWritable(dir.path().to_path_buf()).into());
    }
    *log = Some(logging::init(&LogOptions {
        level: settings.log_level.value.clone(),
        // Inspection commands print their data on stdout; keep stderr for problems.
        console_level: Some("warn".to_owned()),
        // A read-only data dir has no log file; `open_store` says so, once.
        dir: (dir.access() == DirAccess::Writable).then(|| settings.log_dir()),
        retention_days: settings.log_retention_days.value as usize,
        timezone: settings.timezone.value,
    }));

    let operation = operation_name(&cli.command);
    let span = tracing::info_span!("command", source = "user", operation);
    let store = span.in_scope(|| open_store(&settings, &dir, &cli.command))?;
    // Syncs parse vendor JSON while the writer thread stores it: give them both cores.
    let runtime = if matches!(cli.command, Command::Sync(_) | Command::Demo(_)) {
        tokio::runtime::Builder::new_multi_thread().enable_all().build()?
    } else {
        tokio::runtime::Builder::new_current_thread().enable_all().build()?
    };
    let result = runtime.block_on(
        async {
            // The demo's throwaway data dir keeps its simulator secrets in its own file,
            // never in the user's keyring.
            settle_secrets(&store, &settings, demo_in_temp_dir).await?;
            dispatch(&store, &settings, cli.command, demo_in_temp_dir).await
        }
        .instrument(span),
    );
    store.close();
    result
}

/// Records where a new install keeps its secrets (`secrets.store`; `auto` asks the OS
/// keyring) at its first read-write open, and says so once: the keyring, or why the file.
async fn settle_secrets(store: &Store, settings: &Settings, file_only: bool) -> anyhow::Result<()> {
    use crate::secrets::{Preference, SecretsStore};
    if store.is_read_only() {
        return Ok(());
    }
    let preference = if file_only {
        Preference::Forced(SecretsStore::File)
    } else {
        settings.secrets_store.value
    };
    let settled = store.settle_secrets(preference).await.map_err(commands::usage_if_invalid)?;
    let state = &settled.state;
    if settled.chosen_now {
        match (state.effective(), &state.note) {
            (SecretsStore::File, Some(note)) => tracing::warn!(
                "no OS keyring is reachable ({note}): this install keeps vendor secrets in the database file (mode 0600); `plantsync secrets move --to keyring` moves them once one is"
            ),
            (store, _) => {
                tracing::info!("this install keeps vendor secrets in {}", store.describe())
            }
        }
    } else if let Preference::Forced(wanted) = preference
        && state.store.is_some_and(|s| s != wanted)
    {
        tracing::warn!(
            "secrets.store is {wanted}, but this install keeps its secrets in {}: run `plantsync secrets move --to {wanted}` to move them",
            state.effective().describe()
        );
    }
    Ok(())
}

/// What `config show` says of the secrets store in use: the install's record when its
/// database exists (read-only, without creating anything), `None` before there is one.
fn secrets_in_use(settings: &Settings) -> Option<Result<crate::store::SecretsState, String>> {
    let path = settings.database_path();
    if !path.exists() {
        return None;
    }
    let read = || -> anyhow::Result<crate::store::SecretsState> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let store = Store::open_read_only(&path)?;
        let state = runtime.block_on(store.secrets_state());
        store.close();
        Ok(state?)
    };
    Some(read().map_err(|e| render(&e)))
}

/// The data dir of a command that writes: created if missing, refused when read-only.
fn writable_data_dir(settings: &Settings) -> Result<DataDir, DataDirError> {
    let dir = data_dir::prepare(&settings.data_dir.value)?;
    match dir.access() {
        DirAccess::Writable => Ok(dir),
        DirAccess::ReadOnly => Err(DataDirError::NotWritable(dir.path().to_path_buf())),
    }
}

/// Opens the database the way `command` needs it: a command that only reads opens a file
/// it may not write (or one in a read-only dir) read-only, and says so once; a command
/// that writes is refused on such a file; a command that syncs checks the file first.
fn open_store(settings: &Settings, dir: &DataDir, command: &Command) -> anyhow::Result<Store> {
    let path = settings.database_path();
    let file_read_only = path.exists() && !data_dir::is_writable_file(&path);
    if command.only_reads() && dir.access() == DirAccess::ReadOnly {
        if !path.exists() {
            return Err(DataDirError::NoDatabase(dir.path().to_path_buf()).into());
        }
        let store = Store::open_read_only(&path)?;
        tracing::warn!(
            "data dir {} is read-only: reading {} without changing it, and logging to the console only",
            dir.path().display(),
            path.display()
        );
        return Ok(store);
    }
    if file_read_only {
        if !command.only_reads() {
            return Err(DataDirError::DatabaseReadOnly(path).into());
        }
        let store = Store::open_read_only(&path)?;
        tracing::warn!("database {} is read-only: reading it without changing it", path.display());
        return Ok(store);
    }
    Ok(if command.syncs() { Store::open_checked(&path)? } else { Store::open(&path)? })
}

/// `plantsync run`: one agent per data dir (waiting while a CLI sync holds it), the
/// console at the configured level.
fn run_agent(settings: Settings, log: &mut Option<logging::LogGuard>) -> anyhow::Result<()> {
    let dir = writable_data_dir(&settings)?;
    *log = Some(logging::init(&LogOptions {
        level: settings.log_level.value.clone(),
        console_level: None,
        dir: Some(settings.log_dir()),
        retention_days: settings.log_retention_days.value as usize,
        timezone: settings.timezone.value,
    }));
    // The database is opened (and checked) before the lock is taken: an agent that refuses
    // its database leaves nothing behind, not even `agent.lock`.
    let span = tracing::info_span!("agent", source = "system", operation = "agent");
    let store = span.in_scope(|| open_store(&settings, &dir, &Command::Run))?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    if let Err(e) =
        runtime.block_on(settle_secrets(&store, &settings, false).instrument(span.clone()))
    {
        store.close();
        return Err(e);
    }
    let locked = runtime.block_on(
        DataDirLock::acquire_for_agent(dir.path(), |sync| {
            tracing::info!(
                "a CLI {} (pid {}) holds the data dir; starting when it is done",
                sync.kind,
                sync.pid
            );
        })
        .instrument(span.clone()),
    );
    let (lock, unclean) = match locked {
        Ok(locked) => locked,
        Err(e) => {
            store.close();
            return Err(UsageError(e.to_string()).into());
        }
    };
    let result = runtime
        .block_on(crate::agent::run(settings, store.clone(), &lock, unclean).instrument(span));
    // The data dir is released last: after every task has ended and the store is closed,
    // so nothing of this agent writes once another process may hold the lock.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    store.close();
    lock.release();
    result
}

async fn dispatch(
    store: &Store,
    settings: &Settings,
    command: Command,
    demo_in_temp_dir: bool,
) -> anyhow::Result<()> {
    // Listings can be tens of thousands of lines: buffer rather than flush at every newline.
    let mut stdout = std::io::BufWriter::with_capacity(256 * 1024, std::io::stdout().lock());
    let result = run_command(store, settings, command, demo_in_temp_dir, &mut stdout).await;
    stdout.flush()?;
    result
}

async fn run_command(
    store: &Store,
    settings: &Settings,
    command: Command,
    demo_in_temp_dir: bool,
    stdout: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    let mut ctx = Ctx { store, settings, out: stdout };
    match command {
        Command::Org(cmd) => commands::org::run(&mut ctx, cmd).await,
        Command::Vendor(cmd) => commands::vendor::run(&mut ctx, cmd).await,
        Command::Plants(cmd) => commands::plants::run(&mut ctx, cmd).await,
        Command::Alerts(cmd) => commands::alerts::run(&mut ctx, cmd).await,
        Command::Runs(cmd) => commands::runs::run(&mut ctx, cmd).await,
        Command::History(args) => commands::history::run(&mut ctx, args).await,
        Command::Report(cmd) => commands::report::run(&mut ctx, cmd).await,
        Command::Status(format) => commands::status::run(&mut ctx, format.format).await,
        Command::Sync(SyncCommand::Plants(args)) => {
            commands::sync::run(&mut ctx, RunKind::Plants, args).await
        }
        Command::Sync(SyncCommand::Alerts(args)) => {
            commands::sync::run(&mut ctx, RunKind::Alerts, args).await
        }
        Command::Demo(args) => commands::demo::run(&mut ctx, args.seed, demo_in_temp_dir).await,
        Command::Secrets(SecretsCommand::Move { to, format }) => {
            commands::secrets::move_to(&mut ctx, to, format).await
        }
        Command::Push(args) => commands::push::run(&mut ctx, &args).await,
        Command::Upstream(UpstreamCommand::Export { file, full, format }) => {
            commands::bundle::export(&mut ctx, &file, full, format).await
        }
        Command::Upstream(UpstreamCommand::Rejected { format }) => {
            commands::push::rejected(&mut ctx, format).await
        }
        Command::Init(_)
        | Command::Upstream(_)
        | Command::Config(_)
        | Command::Simulate(_)
        | Command::Run
        | Command::Tray(_)
        | Command::Pause
        | Command::Resume
        | Command::Dashboard(_)
        | Command::Stop
        | Command::Token(_) => Ok(()),
    }
}

/// The `[OPERATION]` of a command's log lines, e.g. `org-add`.
fn operation_name(command: &Command) -> &'static str {
    use crate::cli::{
        AlertsCommand as A, OrgCommand as O, PlantsCommand as P, RunsCommand as R,
        VendorCommand as V,
    };
    match command {
        Command::Init(_) => "init",
        Command::Config(_) => "config-show",
        Command::Org(O::Add { .. }) => "org-add",
        Command::Org(O::List(_)) => "org-list",
        Command::Org(O::Set { .. }) => "org-set",
        Command::Org(O::Remove { .. }) => "org-remove",
        Command::Vendor(V::Add { .. }) => "vendor-add",
        Command::Vendor(V::List { .. }) => "vendor-list",
        Command::Vendor(V::Show { .. }) => "vendor-show",
        Command::Vendor(V::Set { .. }) => "vendor-set",
        Command::Vendor(V::Enable { .. }) => "vendor-enable",
        Command::Vendor(V::Disable { .. }) => "vendor-disable",
        Command::Vendor(V::Remove { .. }) => "vendor-remove",
        Command::Plants(P::List { .. }) => "plants-list",
        Command::Plants(P::Show { .. }) => "plants-show",
        Command::Alerts(A::List { .. }) => "alerts-list",
        Command::Alerts(A::Show { .. }) => "alerts-show",
        Command::Runs(R::List { .. }) => "runs-list",
        Command::Runs(R::Show { .. }) => "runs-show",
        Command::History(_) => "history",
        Command::Report(crate::cli::ReportCommand::Daily { .. }) => "report-daily",
        Command::Status(_) => "status",
        Command::Sync(SyncCommand::Plants(_)) => "sync-plants",
        Command::Sync(SyncCommand::Alerts(_)) => "sync-alerts",
        Command::Demo(_) => "demo",
        Command::Simulate(_) => "simulate",
        Command::Run => "agent",
        Command::Tray(_) => "tray",
        Command::Pause => "pause",
        Command::Resume => "resume",
        Command::Dashboard(_) => "dashboard",
        Command::Stop => "stop",
        Command::Token(_) => "token",
        Command::Secrets(SecretsCommand::Move { .. }) => "secrets-move",
        Command::Push(_) => "push",
        Command::Upstream(UpstreamCommand::Schema) => "upstream-schema",
        Command::Upstream(UpstreamCommand::Init) => "upstream-init",
        Command::Upstream(UpstreamCommand::Export { .. }) => "upstream-export",
        Command::Upstream(UpstreamCommand::Rejected { .. }) => "upstream-rejected",
        Command::Upstream(UpstreamCommand::Import { .. }) => "upstream-import",
    }
}

/// Where `init` writes: `--config`, else `PLANTSYNC_CONFIG`, else the platform config dir.
fn config_file_path(inputs: &Inputs) -> anyhow::Result<PathBuf> {
    inputs
        .config_flag
        .clone()
        .or_else(|| inputs.env.get(keys::CONFIG_ENV).filter(|p| !p.is_empty()).map(PathBuf::from))
        .or_else(|| inputs.default_config_path.clone())
        .ok_or_else(|| UsageError("no home directory: pass --config <FILE>".into()).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{OrgCommand, PlantsCommand};

    #[test]
    fn operation_names_follow_the_command() {
        let org = Command::Org(OrgCommand::Remove { org: "x".into(), force: false });
        assert_eq!(operation_name(&org), "org-remove");
        let plants = Command::Plants(PlantsCommand::Show {
            id: 1,
            format: crate::cli::FormatArg { format: crate::cli::Format::Json },
        });
        assert_eq!(operation_name(&plants), "plants-show");
        let status = Command::Status(crate::cli::FormatArg { format: crate::cli::Format::Table });
        assert_eq!(operation_name(&status), "status");
    }

    #[test]
    fn each_cause_is_said_once_in_words() {
        #[derive(Debug, thiserror::Error)]
        #[error("cannot read config file /x.toml: {source}")]
        struct Read {
            source: std::io::Error,
        }
        let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
        let error = anyhow::Error::new(Read { source: missing });
        assert_eq!(render(&error), "cannot read config file /x.toml: no such file or directory");

        let sqlite = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_READONLY),
            Some("attempt to write a readonly database".into()),
        );
        let open = crate::store::StoreError::Open { path: "x.db".into(), source: sqlite };
        let error = anyhow::Error::new(open).context("opening the store");
        assert_eq!(
            render(&error),
            "opening the store: cannot open database x.db: attempt to write a readonly database"
        );
    }

    #[test]
    fn a_cause_is_skipped_only_when_the_text_ends_with_it() {
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let error =
            anyhow::Error::new(denied).context("cannot open /srv/permission denied/plantsync.db");
        assert_eq!(
            render(&error),
            "cannot open /srv/permission denied/plantsync.db: permission denied"
        );
        let error = anyhow::anyhow!("timed out").context("sync run 4 timed out twice");
        assert_eq!(render(&error), "sync run 4 timed out twice: timed out");
    }

    #[test]
    fn usage_errors_exit_2_others_1() {
        assert_eq!(exit_code(&anyhow::Error::new(UsageError("x".into()))), 2);
        assert_eq!(exit_code(&anyhow::anyhow!("boom")), 1);
    }
}
