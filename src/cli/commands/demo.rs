//! `plantsync demo`: the simulator in-process, a demo organization with one vendor of each
//! implemented kind, a plant sync and an alert sync, then a short listing.

use super::Ctx;
use super::sync::{fail_if_vendors_failed, print, resolve, run_with_progress};
use crate::cli::output::{Format, TABLE_WIDTH, Table, number_cell, text_cell};
use crate::datadir::lock::{DataDirLock, SyncAccess};
use crate::domain::{
    CredentialField, Credentials, NewOrganization, NewVendor, RunKind, VendorKind,
};
use crate::simulator::{SimCredentials, Simulator, demo_config};
use crate::store::{PlantFilter, Selection, StoreError, VendorPatch};
use crate::sync::{Engine, EngineSettings};

/// Name of the demo organization.
pub const DEMO_ORG: &str = "Demo Solar Co";

/// The credentials a user would enter for a simulated account: the fields its kind needs.
fn credentials_of(sim: &SimCredentials) -> Credentials {
    let mut credentials = Credentials::default();
    for &field in sim.kind.required_credentials() {
        let value = match field {
            CredentialField::Username => sim.username.clone(),
            CredentialField::Password => sim.password.clone(),
            CredentialField::AppId => sim.app_id.clone(),
            CredentialField::AppSecret => sim.app_secret.clone(),
            CredentialField::ApiKey => sim.api_key.clone(),
            CredentialField::CompanyId => continue,
        };
        credentials.set(field, value);
    }
    credentials
}

/// Runs the demo against the data dir of `ctx` (the caller chose or created it).
pub async fn run(ctx: &mut Ctx<'_>, seed: u64, data_dir_is_temporary: bool) -> anyhow::Result<()> {
    let data_dir = ctx.settings.data_dir.value.display().to_string();
    if data_dir_is_temporary {
        writeln!(ctx.out, "plantsync demo: using a fresh temporary data dir {data_dir}")?;
    } else {
        writeln!(
            ctx.out,
            "plantsync demo: using the data dir {data_dir} (demo rows are added or refreshed)"
        )?;
    }
    // The demo syncs like `plantsync sync`: holding the data dir, never beside an agent, and
    // it takes the data dir before it changes anything in it.
    let lock = match DataDirLock::acquire_for_sync(
        &ctx.settings.data_dir.value,
        RunKind::Plants,
        |other| eprintln!("waiting for {} to finish", other.describe()),
    )
    .await?
    {
        SyncAccess::Locked(lock) => lock,
        SyncAccess::Agent(agent) => anyhow::bail!(
            "an agent (pid {}) runs on {data_dir}: stop it, or run the demo without --data-dir",
            agent.pid
        ),
    };
    let config = demo_config(seed);
    let accounts = config.accounts.len();
    let simulator = Simulator::start(config).await?;
    writeln!(ctx.out, "built-in vendor simulator listening on http://{}\n", simulator.addr())?;

    let org = match ctx.store.find_org(DEMO_ORG).await {
        Ok(org) => org,
        Err(StoreError::NotFound { .. }) => {
            ctx.store
                .add_org(NewOrganization {
                    name: DEMO_ORG.into(),
                    auto_sync_enabled: true,
                    sync_interval_minutes: 15,
                })
                .await?
        }
        Err(e) => return Err(e.into()),
    };
    for index in 0..accounts {
        let sim = simulator.credentials(index);
        let kind = sim.kind;
        let credentials = credentials_of(&sim);
        let name = format!("Demo {}", kind.display_name());
        let base_url = simulator.base_url(kind);
        // The simulator's port changes every run: refresh an existing demo vendor.
        match ctx.store.find_vendor(&name).await {
            Ok(vendor) => {
                let patch = VendorPatch {
                    org: Some(Some(org.id.to_string())),
                    base_url: Some(Some(base_url)),
                    is_active: Some(true),
                    credentials: Some(credentials),
                    ..VendorPatch::default()
                };
                ctx.store.update_vendor(&vendor.id.to_string(), patch).await?;
            }
            Err(StoreError::NotFound { .. }) => {
                let new = NewVendor {
                    name,
                    kind,
                    org_id: Some(org.id),
                    base_url: Some(base_url),
                    is_active: true,
                };
                ctx.store.add_vendor(new, credentials).await?;
            }
            Err(e) => return Err(e.into()),
        }
    }

    crate::sync::recover_unfinished_runs(ctx.store).await?;
    let engine = Engine::new(ctx.store.clone(), EngineSettings::from_settings(ctx.settings))?;
    let selection = Selection { org: Some(org.id.to_string()), force: true, vendor: None };
    let plants_request = resolve(ctx, RunKind::Plants, selection.clone()).await?;
    let plants = run_with_progress(&engine, &plants_request).await?;
    print(ctx, &plants, Format::Table)?;
    writeln!(ctx.out)?;
    let alerts_request = resolve(ctx, RunKind::Alerts, selection).await?;
    let alerts = run_with_progress(&engine, &alerts_request).await?;
    print(ctx, &alerts, Format::Table)?;
    drop(lock);
    simulator.shutdown().await;

    let listed = ctx
        .store
        .list_plants(PlantFilter {
            org: Some(org.id.to_string()),
            limit: Some(8),
            ..PlantFilter::default()
        })
        .await?;
    writeln!(ctx.out, "\nfirst plants of '{DEMO_ORG}':")?;
    let mut table = Table::default()
        .number("ID")
        .text("NAME", 10)
        .number("KWP")
        .number("KW NOW")
        .number("KWH TODAY")
        .whole("ZONE");
    for p in &listed {
        table.row(vec![
            p.id.to_string(),
            p.name.clone(),
            number_cell(p.capacity_kw),
            number_cell(p.current_power_kw),
            number_cell(p.daily_energy_kwh),
            text_cell(p.timezone.as_deref()),
        ]);
    }
    write!(ctx.out, "{}", table.render(TABLE_WIDTH))?;
    let db = shell_word(&ctx.settings.database_path().display().to_string());
    // The commands name this very binary, so they work from a checkout (`target/release/..`)
    // as well as after `cargo install`.
    let bin = std::env::current_exe()
        .map_or_else(|_| "plantsync".to_owned(), |p| shell_word(&p.display().to_string()));
    let at = format!("{bin} --data-dir {}", shell_word(&data_dir));
    writeln!(
        ctx.out,
        "\ninspect the data:\n  {at} plants list --org '{DEMO_ORG}'\n  \
         {at} alerts list --status active\n  {at} runs list\n  \
         {at} history --org '{DEMO_ORG}' --total\n  \
         sqlite3 {db} 'SELECT name, current_power_kw FROM plants LIMIT 5'"
    )?;
    if data_dir_is_temporary {
        writeln!(
            ctx.out,
            "\nthe demo's data dir is kept for these commands; remove it when done:\n  \
             rm -rf {}",
            shell_word(&data_dir)
        )?;
    }
    writeln!(
        ctx.out,
        "\ngo on with your own portal accounts (in your own data dir, not the demo's):\n{}",
        go_on(&bin)
    )?;
    fail_if_vendors_failed(&plants)?;
    fail_if_vendors_failed(&alerts)
}

/// The organization and vendor of the "go on" example.
const EXAMPLE_ORG: &str = "My Office";
const EXAMPLE_VENDOR: &str = "Roof A";

/// The commands that take a user from the demo to their own accounts, in the order they
/// work: an organization, a vendor in it (a real `vendor add` line, its flags from the
/// credential table, so `sync plants` then has a vendor to sync), the reference for the
/// other kinds, a sync, the agent. `bin` is already a shell word.
fn go_on(bin: &str) -> String {
    let kind = VendorKind::Solarman;
    let (args, secrets) = super::vendor::add_example(kind, EXAMPLE_ORG, EXAMPLE_VENDOR);
    let add: Vec<String> = args.iter().map(|a| shell_word(a)).collect();
    [
        format!("{bin} org add {}", shell_word(EXAMPLE_ORG)),
        format!(
            "{bin} {}\n      # then asks for the {}",
            add.join(" "),
            secrets.join(", then the ")
        ),
        format!("{bin} vendor add --help      # the five kinds and the credentials each needs"),
        format!("{bin} sync plants"),
        format!("{bin} run                    # the agent, on the schedule `config show` prints"),
    ]
    .iter()
    .map(|line| format!("  {line}\n"))
    .collect::<String>()
    .trim_end()
    .to_owned()
}

/// `text` as one word for a POSIX shell: unchanged when it is made of safe characters, else
/// in single quotes.
fn shell_word(text: &str) -> String {
    let safe = !text.is_empty()
        && text.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@%".contains(c));
    if safe { text.to_owned() } else { format!("'{}'", text.replace('\'', r"'\''")) }
}

#[cfg(test)]
mod tests {
    use super::{go_on, shell_word};

    /// In order, the lines add an organization, then a vendor in it, before the sync (the
    /// integration test `cli::the_demo_go_on_lines_add_a_vendor_the_sync_can_take` runs
    /// them in a shell).
    #[test]
    fn the_go_on_lines_add_a_vendor_before_they_sync() {
        let text = go_on("plantsync");
        let commands: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split("  #").next().unwrap().trim())
            .collect();
        assert_eq!(commands.len(), 5, "{text}");
        assert_eq!(commands[0], "plantsync org add 'My Office'");
        assert!(
            commands[1].starts_with(
                "plantsync vendor add --org 'My Office' --kind solarman --name 'Roof A' --app-id "
            ),
            "{text}"
        );
        assert_eq!(commands[2], "plantsync vendor add --help");
        assert_eq!(commands[3], "plantsync sync plants");
        assert_eq!(commands[4], "plantsync run");
        assert!(
            text.contains("# then asks for the Solarman appSecret, then the password"),
            "{text}"
        );
    }

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(shell_word("/tmp/plantsync-demo-1"), "/tmp/plantsync-demo-1");
        assert_eq!(shell_word("/home/a b/x"), "'/home/a b/x'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
    }
}
