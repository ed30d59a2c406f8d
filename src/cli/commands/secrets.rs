//! `plantsync secrets move --to keyring|file`: one command between the two stores.

use super::Ctx;
use crate::cli::output::{Format, key_values, write_csv, write_json};
use crate::secrets::SecretsStore;

/// The report as one CSV row (the accounts left behind space-separated, the secrets not
/// moved as `vendor:field` space-separated).
#[derive(serde::Serialize)]
struct CsvRow {
    from: SecretsStore,
    to: SecretsStore,
    vendors: usize,
    secrets: usize,
    tokens_dropped: usize,
    left_in_keyring: String,
    not_moved: String,
}

/// Runs `secrets move`.
pub async fn move_to(ctx: &mut Ctx<'_>, to: SecretsStore, format: Format) -> anyhow::Result<()> {
    let report = ctx.store.move_secrets(to).await?;
    let state = ctx.store.secrets_state().await?;
    match format {
        Format::Json => write_json(ctx.out, &report),
        Format::Csv => write_csv(
            ctx.out,
            &[CsvRow {
                from: report.from,
                to: report.to,
                vendors: report.vendors,
                secrets: report.secrets,
                tokens_dropped: report.tokens_dropped,
                left_in_keyring: report.left_in_keyring.join(" "),
                not_moved: report
                    .not_moved
                    .iter()
                    .map(|n| format!("{}:{}", n.vendor_id, n.field))
                    .collect::<Vec<_>>()
                    .join(" "),
            }],
        ),
        Format::Table => {
            let moved = if report.secrets == 0 {
                format!("nothing to move: every secret is already in {}", to.describe())
            } else {
                format!(
                    "{} secret(s) of {} vendor(s) moved from {} to {}",
                    report.secrets,
                    report.vendors,
                    report.from.describe(),
                    to.describe()
                )
            };
            let mut lines = vec![("moved", moved), ("secrets now in", state.describe())];
            if report.tokens_dropped > 0 {
                lines.push((
                    "session tokens",
                    format!(
                        "{} cached token(s) dropped: each vendor logs in once at its next sync",
                        report.tokens_dropped
                    ),
                ));
            }
            for missing in &report.not_moved {
                lines.push(("not moved", missing.reason.clone()));
            }
            if !report.left_in_keyring.is_empty() {
                lines.push((
                    "left in the keyring",
                    format!(
                        "{} entr(ies) could not be deleted (service 'plantsync', accounts {}); \
                         the database no longer uses them, delete them with your keyring's tool",
                        report.left_in_keyring.len(),
                        report.left_in_keyring.join(", ")
                    ),
                ));
            }
            write!(ctx.out, "{}", key_values(&lines))?;
            Ok(())
        }
    }
}
