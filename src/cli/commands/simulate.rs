//! `plantsync simulate`: the built-in vendor simulator as a standalone server.

use crate::cli::SimulateArgs;
use crate::domain::{CredentialField, VendorKind};
use crate::simulator::{
    AccountConcurrency, AccountSpec, Endpoint, Faults, SimCredentials, Simulator, SimulatorConfig,
    Trigger,
};
use std::io::Write;
use std::time::Duration;

/// The faults the flags ask for.
pub fn faults(args: &SimulateArgs) -> Faults {
    let plant_list = Trigger::always(Some(Endpoint::PlantList));
    Faults {
        latency: Duration::from_millis(args.latency_ms),
        http_error: args.http_error.map(|status| (status, plant_list)),
        rate_limit: args.rate_limit.then_some(plant_list),
        token_expires_after: args.token_expires_after,
        reject_login: args.reject_login,
        truncated_json: args.truncated_json.then_some(plant_list),
        wrong_type_plant: args.wrong_type_plant,
        missing_field_plant: args.missing_field_plant,
        empty_pages_from: args.empty_pages_from,
        duplicate_ids_across_pages: args.duplicate_ids,
        slow_body: args.slow_body_ms.map(|ms| (Duration::from_millis(ms), plant_list)),
        mutate: args.mutate,
        ..Faults::none()
    }
}

/// What every account gets, faulty or not: how its readings move and how many of its
/// requests the portal handles at once.
fn portal_behaviour(args: &SimulateArgs, mut faults: Faults) -> Faults {
    faults.account_concurrency = match args.account_concurrency {
        None => AccountConcurrency::PortalDefault,
        Some(0) => AccountConcurrency::Unlimited,
        Some(limit) => AccountConcurrency::Limit(limit),
    };
    faults.readings_move_every = args.move_readings_secs.map(Duration::from_secs);
    faults
}

/// Resolves at Ctrl-C (SIGINT) or, on Unix, SIGTERM: how a benchmark script stops the
/// simulator and reads its counters.
async fn stop_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            interrupted = tokio::signal::ctrl_c() => interrupted,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}

/// The `vendor add` command line for a simulated account: non-secret fields as flags,
/// secrets on stdin in the order `vendor add` prompts for them.
fn add_command(c: &SimCredentials, index: usize, base: &str) -> String {
    let mut flags = String::new();
    let mut secrets = Vec::new();
    for field in c.kind.required_credentials() {
        match field {
            CredentialField::AppId => flags.push_str(&format!(" --app-id '{}'", c.app_id)),
            CredentialField::Username => flags.push_str(&format!(" --username '{}'", c.username)),
            CredentialField::Password => secrets.push(c.password.as_str()),
            CredentialField::AppSecret => secrets.push(c.app_secret.as_str()),
            CredentialField::ApiKey => secrets.push(c.api_key.as_str()),
            CredentialField::CompanyId => {}
        }
    }
    let format = "%s\\n".repeat(secrets.len());
    let quoted: Vec<String> = secrets.iter().map(|s| format!("'{s}'")).collect();
    format!(
        "printf '{format}' {} | plantsync vendor add --name 'Sim {kind} {index}' --kind {kind} \
         --org <ORG> --base-url {base}{flags}",
        quoted.join(" "),
        kind = c.kind,
    )
}

/// Serves until Ctrl-C (or SIGTERM), after printing every account's base URL and
/// credentials; prints the server's counters (requests, rate-limit answers, peak
/// concurrency) when it stops.
pub async fn run(args: SimulateArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let faults = faults(&args);
    let kinds: &[VendorKind] = if args.kinds.is_empty() { VendorKind::ALL } else { &args.kinds };
    let accounts: Vec<AccountSpec> = (0..args.accounts)
        .flat_map(|_| kinds.iter().copied())
        .enumerate()
        .map(|(index, kind)| {
            let mut spec = AccountSpec::new(kind, args.plants, args.alerts);
            let faulty = args.faulty_account.is_none_or(|faulty| faulty == index);
            let own = if faulty { faults.clone() } else { Faults::none() };
            spec.faults = portal_behaviour(&args, own);
            spec
        })
        .collect();
    let count = accounts.len();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], args.port));
    let simulator =
        Simulator::start_on(SimulatorConfig { seed: args.seed, accounts }, addr).await?;
    writeln!(
        out,
        "plantsync vendor simulator on http://{} (seed {})",
        simulator.addr(),
        args.seed
    )?;
    writeln!(
        out,
        "these are throwaway simulator credentials; add an account with the command under it:\n"
    )?;
    for index in 0..count {
        let c = simulator.credentials(index);
        let base = simulator.base_url(c.kind);
        writeln!(out, "account {index}: {} at {base}", c.kind)?;
        writeln!(out, "  {}", add_command(&c, index, &base))?;
    }
    writeln!(out, "\nCtrl-C stops the simulator.")?;
    out.flush()?;
    stop_signal().await?;
    let stats = simulator.stats();
    simulator.shutdown().await;
    writeln!(out, "simulator stopped: {stats}")?;
    out.flush()?;
    Ok(())
}
