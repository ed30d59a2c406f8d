//! The composition root: settings, logging, the store and the command, and the mapping of
//! errors to exit codes (0 ok, 1 runtime failure, 2 usage or configuration error).

use crate::cli::commands::{self, Ctx, UsageError};
use crate::cli::{Cli, Command, ConfigCommand, SyncCommand, TokenCommand};
use crate::config::{ConfigError, FlagValues, Inputs, Settings, keys};
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
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("plantsync: error: {error:#}");
            tracing::info!("command failed: {error:#}");
            ExitCode::from(exit_code(&error))
        }
    }
}

fn exit_code(error: &anyhow::Error) -> u8 {
    let usage = error.chain().any(|cause| cause.is::<ConfigError>() || cause.is::<UsageError>());
    if usage { EXIT_USAGE } else { 1 }
}

fn run(cli: Cli) -> anyhow::Result<()> {
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
        let dir = &settings.data_dir.value;
        let token = match command {
            TokenCommand::Show => crate::datadir::token::load_or_create(dir)?,
            TokenCommand::Rotate => crate::datadir::token::rotate(dir)?,
        };
        println!("{}", token.expose());
        return Ok(());
    }
    if let Command::Run = cli.command {
        return run_agent(settings);
    }
    if let Command::Simulate(args) = cli.command {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        return runtime.block_on(commands::simulate::run(args, &mut std::io::stdout().lock()));
    }
    // The demo never touches the default data dir unless asked to.
    let demo_in_temp_dir = matches!(cli.command, Command::Demo(_))
        && settings.data_dir.source == crate::config::Source::Default;
    if demo_in_temp_dir {
        let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S");
        settings.data_dir.value =
            std::env::temp_dir().join(format!("plantsync-demo-{stamp}-{}", std::process::id()));
    }
    if let Command::Config(ConfigCommand::Show(format)) = &cli.command {
        return commands::config::show(&settings, format.format, &mut std::io::stdout().lock());
    }

    let _log_guard = logging::init(&LogOptions {
        level: settings.log_level.value.clone(),
        // Inspection commands print their data on stdout; keep stderr for problems.
        console_level: Some("warn".to_owned()),
        dir: Some(settings.log_dir()),
        retention_days: settings.log_retention_days.value as usize,
        timezone: settings.timezone.value,
    });

    let store = Store::open(settings.database_path())?;
    // Syncs parse vendor JSON while the writer thread stores it: give them both cores.
    let runtime = if matches!(cli.command, Command::Sync(_) | Command::Demo(_)) {
        tokio::runtime::Builder::new_multi_thread().enable_all().build()?
    } else {
        tokio::runtime::Builder::new_current_thread().enable_all().build()?
    };
    let operation = operation_name(&cli.command);
    let span = tracing::info_span!("command", source = "user", operation);
    let result = runtime
        .block_on(dispatch(&store, &settings, cli.command, demo_in_temp_dir).instrument(span));
    store.close();
    result
}

/// `plantsync run`: one agent per data dir (waiting while a CLI sync holds it), the
/// console at the configured level.
fn run_agent(settings: Settings) -> anyhow::Result<()> {
    let _log_guard = logging::init(&LogOptions {
        level: settings.log_level.value.clone(),
        console_level: None,
        dir: Some(settings.log_dir()),
        retention_days: settings.log_retention_days.value as usize,
        timezone: settings.timezone.value,
    });
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let span = tracing::info_span!("agent", source = "system", operation = "agent");
    let data_dir = settings.data_dir.value.clone();
    let (lock, unclean) = runtime
        .block_on(
            DataDirLock::acquire_for_agent(&data_dir, |sync| {
                tracing::info!(
                    "a CLI {} sync (pid {}) holds the data dir; starting when it is done",
                    sync.kind,
                    sync.pid
                );
            })
            .instrument(span.clone()),
        )
        .map_err(|e| UsageError(e.to_string()))?;
    let store = match Store::open(settings.database_path()) {
        Ok(store) => store,
        Err(e) => {
            lock.release();
            return Err(e.into());
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
        Command::Status(format) => commands::status::run(&mut ctx, format.format).await,
        Command::Sync(SyncCommand::Plants(args)) => {
            commands::sync::run(&mut ctx, RunKind::Plants, args).await
        }
        Command::Sync(SyncCommand::Alerts(args)) => {
            commands::sync::run(&mut ctx, RunKind::Alerts, args).await
        }
        Command::Demo(args) => commands::demo::run(&mut ctx, args.seed, demo_in_temp_dir).await,
        Command::Init(_)
        | Command::Config(_)
        | Command::Simulate(_)
        | Command::Run
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
        Command::Status(_) => "status",
        Command::Sync(SyncCommand::Plants(_)) => "sync-plants",
        Command::Sync(SyncCommand::Alerts(_)) => "sync-alerts",
        Command::Demo(_) => "demo",
        Command::Simulate(_) => "simulate",
        Command::Run => "agent",
        Command::Token(_) => "token",
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
    fn usage_errors_exit_2_others_1() {
        assert_eq!(exit_code(&anyhow::Error::new(UsageError("x".into()))), 2);
        assert_eq!(exit_code(&anyhow::anyhow!("boom")), 1);
    }
}
