//! `plantsync vendor add|list|show|set|enable|disable|remove`.

use super::{Ctx, UsageError, usage_if_invalid};
use crate::cli::output::{
    Format, TABLE_WIDTH, Table, key_values, text_cell, time_cell, write_csv, write_json, yes_no,
};
use crate::cli::secrets::SecretReader;
use crate::cli::{CredentialArgs, VendorCommand};
use crate::domain::{CredentialField, Credentials, NewVendor, Vendor, VendorKind};
use crate::store::{VendorFilter, VendorPatch};
use serde::Serialize;
use tracing::info;

/// Runs a `vendor` subcommand.
pub async fn run(ctx: &mut Ctx<'_>, command: VendorCommand) -> anyhow::Result<()> {
    match command {
        VendorCommand::Add { name, kind, org, base_url, disabled, credentials } => {
            let org_id = match &org {
                Some(reference) => Some(ctx.store.find_org(reference).await?.id),
                None => None,
            };
            ctx.store.check_vendor_name(&name, org_id, None).await.map_err(usage_if_invalid)?;
            let creds = collect_new_credentials(kind, &credentials)?;
            let vendor = ctx
                .store
                .add_vendor(NewVendor { name, kind, org_id, base_url, is_active: !disabled }, creds)
                .await
                .map_err(usage_if_invalid)?;
            info!(vendor = %vendor.id, kind = %vendor.kind, "vendor '{}' created", vendor.name);
            show(ctx, &vendor, Format::Table).await?;
        }
        VendorCommand::List { org, kind, active, format } => {
            let vendors = ctx.store.list_vendors(VendorFilter { org, kind, active }).await?;
            print_list(ctx, &vendors, format.format)?;
        }
        VendorCommand::Show { vendor, format } => {
            let vendor = ctx.store.find_vendor(&vendor).await.map_err(usage_if_invalid)?;
            show(ctx, &vendor, format.format).await?;
        }
        VendorCommand::Set {
            vendor,
            name,
            org,
            no_org,
            base_url,
            default_url,
            credentials,
            password,
            app_secret,
            api_key,
        } => {
            let current = ctx.store.find_vendor(&vendor).await.map_err(usage_if_invalid)?;
            if name.is_some() || org.is_some() {
                // Renamed or moved: refused before any secret is asked for.
                let name = name.as_deref().unwrap_or(&current.name);
                let org_id = match (&org, no_org) {
                    (_, true) => None,
                    (Some(reference), false) => Some(ctx.store.find_org(reference).await?.id),
                    (None, false) => current.org_id,
                };
                let check = ctx.store.check_vendor_name(name, org_id, Some(current.id)).await;
                check.map_err(usage_if_invalid)?;
            }
            let mut creds = plain_credentials(&credentials);
            let mut reader = None;
            for (wanted, field) in [
                (password, CredentialField::Password),
                (app_secret, CredentialField::AppSecret),
                (api_key, CredentialField::ApiKey),
            ] {
                if wanted {
                    let reader = reader.get_or_insert_with(SecretReader::from_stdin);
                    creds.set(field, reader.read(&format!("new {}", field.label(current.kind)))?);
                }
            }
            let patch = VendorPatch {
                name,
                org: if no_org { Some(None) } else { org.map(Some) },
                base_url: if default_url { Some(None) } else { base_url.map(Some) },
                is_active: None,
                credentials: (creds != Credentials::default()).then_some(creds),
            };
            let updated = ctx
                .store
                .update_vendor(&current.id.to_string(), patch)
                .await
                .map_err(usage_if_invalid)?;
            info!(vendor = %updated.id, "vendor '{}' updated", updated.name);
            show(ctx, &updated, Format::Table).await?;
        }
        VendorCommand::Enable { vendor } => set_active(ctx, &vendor, true).await?,
        VendorCommand::Disable { vendor } => set_active(ctx, &vendor, false).await?,
        VendorCommand::Remove { vendor, force } => {
            let removed =
                ctx.store.remove_vendor(&vendor, force).await.map_err(usage_if_invalid)?;
            info!(vendor = %removed.id, plants = removed.plant_count, "vendor '{}' removed", removed.name);
            writeln!(
                ctx.out,
                "removed vendor '{}' (id {}) and its {} plant(s)",
                removed.name, removed.id, removed.plant_count
            )?;
        }
    }
    Ok(())
}

async fn set_active(ctx: &mut Ctx<'_>, vendor: &str, active: bool) -> anyhow::Result<()> {
    let patch = VendorPatch { is_active: Some(active), ..Default::default() };
    let updated = ctx.store.update_vendor(vendor, patch).await.map_err(usage_if_invalid)?;
    let verb = if active { "enabled" } else { "disabled" };
    info!(vendor = %updated.id, "vendor '{}' {verb}", updated.name);
    writeln!(ctx.out, "{verb} vendor '{}' (id {})", updated.name, updated.id)?;
    Ok(())
}

fn plain_credentials(args: &CredentialArgs) -> Credentials {
    Credentials {
        username: args.username.clone(),
        app_id: args.app_id.clone(),
        company_id: args.company_id.clone(),
        ..Default::default()
    }
}

/// Takes the non-secret fields from flags, checks the kind's required ones are there, then
/// reads the kind's secrets (prompt or stdin).
fn collect_new_credentials(kind: VendorKind, args: &CredentialArgs) -> anyhow::Result<Credentials> {
    let mut creds = plain_credentials(args);
    let missing_flags: Vec<String> = kind
        .required_credentials()
        .iter()
        .filter(|f| !f.is_secret() && !creds.has(**f))
        .map(|f| format!("{} ({})", f.flag(), f.label(kind)))
        .collect();
    if !missing_flags.is_empty() {
        return Err(
            UsageError(format!("a {kind} vendor needs {}", missing_flags.join(" and "))).into()
        );
    }
    let mut reader = SecretReader::from_stdin();
    for field in kind.required_credentials().iter().filter(|f| f.is_secret()) {
        creds.set(*field, reader.read(field.label(kind))?);
    }
    Ok(creds)
}

/// The end of `vendor add --help`: every kind, and the flags and secrets it needs, from
/// the one table of each kind's credential fields (`VendorKind::required_credentials`).
pub fn add_help() -> String {
    let mut text = String::from(
        "Kinds (--kind), and what each needs: the flags on the command line, then the secrets,\n\
         prompted for or read from stdin one per line, in the order shown.\n",
    );
    for kind in VendorKind::ALL.iter().copied() {
        let (secrets, flags): (Vec<CredentialField>, Vec<CredentialField>) =
            kind.required_credentials().iter().partition(|f| f.is_secret());
        text.push_str(&format!("  {:<10} {}\n", kind.as_str(), kind.display_name()));
        for (what, fields) in [
            ("flags:", &flags[..]),
            ("secrets:", &secrets),
            ("optional:", kind.optional_credentials()),
        ] {
            if !fields.is_empty() {
                let shown: Vec<String> = fields.iter().map(|f| flag_first(*f, kind)).collect();
                text.push_str(&format!("{:13}{what:<10}{}\n", "", shown.join(", ")));
            }
        }
    }
    text.push_str(
        "\nA secret is replaced later by `plantsync vendor set VENDOR` with its flag (the one\n\
         named beside it, else --password), which asks for the new value.",
    );
    text
}

/// A `vendor add` command line for a vendor `name` of `kind` in `org`, from the same table:
/// the arguments (after the binary's name), with a placeholder for each flag the user fills
/// in (`--app-id YOUR_APP_ID`), and the secrets it then asks for, in order, by the portal's
/// names (secrets are never flags, so the line cannot carry them).
pub fn add_example(kind: VendorKind, org: &str, name: &str) -> (Vec<String>, Vec<&'static str>) {
    let mut args: Vec<String> = ["vendor", "add", "--org", org, "--kind", kind.as_str()]
        .into_iter()
        .chain(["--name", name])
        .map(str::to_owned)
        .collect();
    let mut secrets = Vec::new();
    for field in kind.required_credentials().iter().copied() {
        if field.is_secret() {
            secrets.push(field.label(kind));
        } else {
            args.push(field.flag().to_owned());
            args.push(format!("YOUR_{}", field.as_str().to_ascii_uppercase()));
        }
    }
    (args, secrets)
}

/// A field for the help: a flag by the flag (and what the portal calls it, where that
/// differs), a secret by the portal's name (and the `vendor set` flag that replaces it).
fn flag_first(field: CredentialField, kind: VendorKind) -> String {
    let described = field.described(kind);
    if field.is_secret() {
        described
    } else if described == field.label(kind) {
        field.flag().to_owned()
    } else {
        format!("{} ({})", field.flag(), field.label(kind))
    }
}

/// What `vendor show --format json` prints: the vendor plus which credentials are set.
#[derive(Serialize)]
struct VendorDetails<'a> {
    #[serde(flatten)]
    vendor: &'a Vendor,
    credentials_set: Vec<&'static str>,
    credentials_missing: Vec<&'static str>,
    /// When a refused static key is tried again with one call; `null` otherwise.
    next_key_probe_at: Option<crate::domain::Timestamp>,
}

async fn show(ctx: &mut Ctx<'_>, vendor: &Vendor, format: Format) -> anyhow::Result<()> {
    let creds = ctx.store.vendor_credential_fields(vendor.id).await?;
    let next_key_probe_at = match vendor.needs_user_action {
        true => ctx.store.key_probe(vendor.id).await?.map(|p| p.next_probe_at),
        false => None,
    };
    let all = [
        CredentialField::Username,
        CredentialField::Password,
        CredentialField::AppId,
        CredentialField::AppSecret,
        CredentialField::ApiKey,
        CredentialField::CompanyId,
    ];
    let set: Vec<CredentialField> = all.iter().copied().filter(|f| creds.has(*f)).collect();
    let missing = creds.missing_for(vendor.kind);
    let details = VendorDetails {
        vendor,
        credentials_set: set.iter().map(|f| f.as_str()).collect(),
        credentials_missing: missing.iter().map(|f| f.as_str()).collect(),
        next_key_probe_at,
    };
    match format {
        Format::Json => write_json(ctx.out, &details),
        Format::Csv => write_csv(ctx.out, std::slice::from_ref(vendor)),
        Format::Table => {
            let tz = ctx.tz();
            let text = key_values(&[
                ("id", vendor.id.to_string()),
                ("name", vendor.name.clone()),
                ("kind", vendor.kind.to_string()),
                ("organization", org_cell(vendor)),
                ("base url", vendor.base_url.clone().unwrap_or_else(|| "(default)".into())),
                ("active", yes_no(vendor.is_active)),
                ("plants", vendor.plant_count.to_string()),
                ("last plant sync", time_cell(vendor.last_synced_at.as_ref(), tz)),
                ("last alert sync", time_cell(vendor.last_alerts_synced_at.as_ref(), tz)),
                ("last error", text_cell(vendor.last_error.as_deref())),
                ("failures in a row", vendor.consecutive_failures.to_string()),
                ("needs your action", needs_action_cell(vendor, next_key_probe_at.as_ref(), tz)),
                ("credentials set", described(&set, vendor.kind)),
                ("credentials missing", described(&missing, vendor.kind)),
            ]);
            write!(ctx.out, "{text}")?;
            Ok(())
        }
    }
}

/// "yes", with when a refused key is tried again, or "no".
fn needs_action_cell(
    vendor: &Vendor,
    next_probe: Option<&crate::domain::Timestamp>,
    tz: chrono_tz::Tz,
) -> String {
    match next_probe {
        Some(at) if vendor.needs_user_action => {
            format!("yes (the key is tried again with one call after {})", time_cell(Some(at), tz))
        }
        _ => yes_no(vendor.needs_user_action),
    }
}

/// Fields by the portal's names (with the flag that sets them), as the README and the
/// prompts name them; JSON keeps the store's field names.
fn described(fields: &[CredentialField], kind: VendorKind) -> String {
    if fields.is_empty() {
        return "-".to_owned();
    }
    fields.iter().map(|f| f.described(kind)).collect::<Vec<_>>().join(", ")
}

fn org_cell(vendor: &Vendor) -> String {
    match (&vendor.org_id, &vendor.org_name) {
        (Some(id), Some(name)) => format!("{name} (id {id})"),
        _ => "- (never synced automatically)".to_owned(),
    }
}

fn print_list(ctx: &mut Ctx<'_>, vendors: &[Vendor], format: Format) -> anyhow::Result<()> {
    match format {
        Format::Json => write_json(ctx.out, vendors),
        Format::Csv => write_csv(ctx.out, vendors),
        Format::Table => {
            let mut table = Table::default()
                .number("ID")
                .text("NAME", 8)
                .whole("KIND")
                .text("ORG", 6)
                .whole("ON")
                .number("PLANTS")
                .whole("LAST SYNC")
                .text("ERROR", 5);
            for v in vendors {
                table.row(vec![
                    v.id.to_string(),
                    v.name.clone(),
                    v.kind.to_string(),
                    text_cell(v.org_name.as_deref()),
                    yes_no(v.is_active),
                    v.plant_count.to_string(),
                    time_cell(v.last_synced_at.as_ref(), ctx.tz()),
                    text_cell(v.last_error.as_deref()),
                ]);
            }
            write!(ctx.out, "{}", table.render(TABLE_WIDTH))?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The help is the credential table written out: every kind, each of its fields by the
    /// portal's name, in prompt order, and nothing a kind does not need.
    #[test]
    fn add_help_lists_every_kind_with_its_flags_and_secrets_from_the_table() {
        let help = add_help();
        for kind in VendorKind::ALL.iter().copied() {
            let title = format!("  {:<10} {}", kind.as_str(), kind.display_name());
            let mut lines = help.lines().skip_while(|line| *line != title);
            assert!(lines.next().is_some(), "{kind} missing:\n{help}");
            let section: String =
                lines.take_while(|line| line.starts_with("             ")).collect();
            let mut at = 0;
            for field in kind.required_credentials().iter().filter(|f| !f.is_secret()) {
                assert!(section.contains(field.flag()), "{kind}: {field:?}\n{section}");
            }
            for field in kind.required_credentials().iter().filter(|f| f.is_secret()) {
                let found = section[at..].find(field.label(kind));
                at += found.unwrap_or_else(|| panic!("{kind}: {field:?} in order\n{section}"));
            }
            for field in [CredentialField::AppId, CredentialField::ApiKey] {
                if !kind.required_credentials().contains(&field) {
                    assert!(!section.contains(field.flag()), "{kind} needs no {field:?}");
                }
            }
        }
        assert!(help.contains("huawei     Huawei FusionSolar"), "{help}");
        assert!(help.contains("secrets:  FusionSolar systemCode (--password)"), "{help}");
        assert!(
            help.contains("secrets:  iSolarCloud x-access-key secret (--app-secret), password\n"),
            "{help}"
        );
        assert!(!help.contains(") ("), "doubled parentheses:\n{help}");
    }

    /// The example is a command line clap accepts, with every flag the kind needs.
    #[test]
    fn the_add_example_of_every_kind_parses_and_names_its_secrets() {
        use clap::Parser;
        for kind in VendorKind::ALL.iter().copied() {
            let (args, secrets) = add_example(kind, "My Office", "Roof A");
            let cli =
                crate::cli::Cli::try_parse_from(std::iter::once("plantsync".into()).chain(args))
                    .unwrap_or_else(|e| panic!("{kind}: {e}"));
            let crate::cli::Command::Vendor(VendorCommand::Add {
                kind: parsed,
                org,
                name,
                credentials,
                ..
            }) = cli.command
            else {
                panic!("{kind}: not vendor add");
            };
            assert_eq!(
                (parsed, org.as_deref(), name.as_str()),
                (kind, Some("My Office"), "Roof A")
            );
            let wanted: Vec<&str> = kind
                .required_credentials()
                .iter()
                .filter(|f| f.is_secret())
                .map(|f| f.label(kind))
                .collect();
            assert_eq!(secrets, wanted, "{kind}");
            let missing = plain_credentials(&credentials).missing_for(kind);
            assert!(missing.iter().all(|f| f.is_secret()), "{kind}: {missing:?}");
        }
    }
}
