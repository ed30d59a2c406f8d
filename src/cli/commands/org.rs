//! `plantsync org add|list|set|remove`.

use super::{Ctx, usage_if_invalid};
use crate::cli::OrgCommand;
use crate::cli::output::{
    Format, TABLE_WIDTH, Table, key_values, time_cell, write_csv, write_json, yes_no,
};
use crate::domain::{NewOrganization, Organization};
use crate::store::OrgPatch;
use tracing::info;

/// Runs an `org` subcommand.
pub async fn run(ctx: &mut Ctx<'_>, command: OrgCommand) -> anyhow::Result<()> {
    match command {
        OrgCommand::Add { name, interval, auto_sync } => {
            let interval =
                interval.map_or(ctx.settings.default_interval_minutes.value, |i| i as u32);
            let org = ctx
                .store
                .add_org(NewOrganization {
                    name,
                    auto_sync_enabled: auto_sync,
                    sync_interval_minutes: interval,
                })
                .await
                .map_err(usage_if_invalid)?;
            info!(org = %org.id, "organization '{}' created", org.name);
            write!(ctx.out, "{}", describe(&org, ctx))?;
        }
        OrgCommand::List(format) => {
            let orgs = ctx.store.list_orgs().await?;
            print_list(ctx, &orgs, format.format)?;
        }
        OrgCommand::Set { org, name, interval, auto_sync } => {
            let patch = OrgPatch {
                name,
                auto_sync_enabled: auto_sync,
                sync_interval_minutes: interval.map(|i| i as u32),
            };
            let updated = ctx.store.update_org(&org, patch).await.map_err(usage_if_invalid)?;
            info!(org = %updated.id, "organization '{}' updated", updated.name);
            write!(ctx.out, "{}", describe(&updated, ctx))?;
        }
        OrgCommand::Remove { org, force } => {
            let removed = ctx.store.remove_org(&org, force).await?;
            info!(org = %removed.id, vendors_detached = removed.vendor_count, "organization '{}' removed", removed.name);
            writeln!(ctx.out, "removed organization '{}' (id {})", removed.name, removed.id)?;
        }
    }
    Ok(())
}

fn describe(org: &Organization, ctx: &Ctx<'_>) -> String {
    key_values(&[
        ("id", org.id.to_string()),
        ("name", org.name.clone()),
        ("auto sync", yes_no(org.auto_sync_enabled)),
        ("interval", format!("{} min", org.sync_interval_minutes)),
        ("vendors", org.vendor_count.to_string()),
        ("plants", org.plant_count.to_string()),
        ("updated", time_cell(Some(&org.updated_at), ctx.tz())),
    ])
}

fn print_list(ctx: &mut Ctx<'_>, orgs: &[Organization], format: Format) -> anyhow::Result<()> {
    match format {
        Format::Json => write_json(ctx.out, orgs),
        Format::Csv => write_csv(ctx.out, orgs),
        Format::Table => {
            let mut table = Table::default()
                .number("ID")
                .text("NAME", 10)
                .whole("AUTO")
                .number("EVERY")
                .number("VENDORS")
                .number("PLANTS")
                .whole("UPDATED");
            for org in orgs {
                table.row(vec![
                    org.id.to_string(),
                    org.name.clone(),
                    if org.auto_sync_enabled { "on" } else { "off" }.to_owned(),
                    format!("{}m", org.sync_interval_minutes),
                    org.vendor_count.to_string(),
                    org.plant_count.to_string(),
                    time_cell(Some(&org.updated_at), ctx.tz()),
                ]);
            }
            write!(ctx.out, "{}", table.render(TABLE_WIDTH))?;
            Ok(())
        }
    }
}
