//! `plantsync status`: what the local database holds and how each vendor is doing.

use super::Ctx;
use crate::api::wire::{StatusResponse, WindowStatus};
use crate::cli::output::{
    Format, TABLE_WIDTH, Table, key_values, text_cell, time_cell, write_csv, write_json, yes_no,
};
use crate::schedule::{NextRun, NextRuns};
use crate::store::StoreStatus;
use chrono::{DateTime, Utc};

/// `status --format json`: the store's report and the running agent, if any.
#[derive(serde::Serialize)]
struct Report<'a> {
    #[serde(flatten)]
    store: &'a crate::store::StoreStatus,
    agent: Option<crate::datadir::lock::AgentInfo>,
    schedule: &'a Schedule,
    secrets: &'a Secrets,
    upstream: &'a Upstream,
    history: &'a crate::store::HistorySummary,
}

/// The upstream push: where to, what is pending per table, the last push, the retries
/// (the shape of `/api/status`'s `upstream`).
type Upstream = crate::api::wire::UpstreamStatus;

async fn read_upstream(ctx: &Ctx<'_>) -> anyhow::Result<Upstream> {
    Ok(Upstream {
        target: ctx.settings.upstream_url.value.as_ref().map(|u| u.shown().to_owned()),
        state: ctx.store.upstream_state().await?,
    })
}

/// Where this install keeps vendor secrets, and whether the keyring works now.
#[derive(Debug, serde::Serialize)]
struct Secrets {
    /// `keyring` or `file`.
    store: crate::secrets::SecretsStore,
    /// How it was chosen (`auto`, `config`, `moved`, `upgrade`; `null` until chosen).
    chosen: Option<crate::secrets::Chosen>,
    /// When.
    chosen_at: Option<crate::domain::Timestamp>,
    /// Why the probe chose the file.
    note: Option<String>,
    /// For the keyring: whether it answered now (an entry written, read back, deleted);
    /// `null` for the file.
    keyring_reachable: Option<bool>,
    /// For an unreachable keyring: why, and what to do.
    keyring_problem: Option<String>,
    /// `secrets.store` names the other store: what to run to follow it.
    config_differs: Option<String>,
}

impl Secrets {
    async fn read(ctx: &Ctx<'_>) -> anyhow::Result<(Self, String)> {
        use crate::secrets::{Preference, Reachability, SecretsError, SecretsStore};
        let state = ctx.store.secrets_state().await?;
        let store = state.effective();
        let (keyring_reachable, keyring_problem) = match store {
            SecretsStore::File => (None, None),
            SecretsStore::Keyring => match ctx.store.keyring_reachability().await? {
                Reachability::Reachable => (Some(true), None),
                Reachability::Unreachable(reason) => {
                    (Some(false), Some(SecretsError::Unreachable { reason }.to_string()))
                }
            },
        };
        let config_differs = match ctx.settings.secrets_store.value {
            Preference::Forced(wanted) if state.store.is_some_and(|s| s != wanted) => {
                Some(format!(
                    "secrets.store is {wanted}: run `plantsync secrets move --to {wanted}` to follow it"
                ))
            }
            _ => None,
        };
        let mut line = state.describe();
        match (&keyring_reachable, &keyring_problem) {
            (Some(true), _) => line.push_str("; the keyring answers"),
            (_, Some(problem)) => line.push_str(&format!("; {problem}")),
            _ => {}
        }
        if let Some(differs) = &config_differs {
            line.push_str(&format!("; {differs}"));
        }
        let report = Self {
            store,
            chosen: state.chosen,
            chosen_at: state.chosen_at,
            note: state.note,
            keyring_reachable,
            keyring_problem,
            config_differs,
        };
        Ok((report, line))
    }
}

/// What the schedule will do next: the running agent's word when one answers, else what
/// an agent started with this configuration would do (without one nothing syncs on
/// schedule; `paused` is then `null`).
#[derive(Debug, serde::Serialize)]
struct Schedule {
    /// Whether this is the running agent's answer.
    from_agent: bool,
    /// The restricted window now.
    window: WindowStatus,
    /// Whether automatic syncs are paused (`null`: no agent answered).
    paused: Option<bool>,
    /// Why the running agent did not answer, when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    agent_error: Option<String>,
    /// The next scheduled run of each kind that will really happen.
    next: NextRuns,
}

impl Schedule {
    /// Asks the running agent (`api`) first; without one, or when it does not answer,
    /// applies the schedule's rule to this configuration and the store.
    async fn read(ctx: &Ctx<'_>, api: Option<&str>, now: DateTime<Utc>) -> anyhow::Result<Self> {
        let mut agent_error = None;
        if let Some(api) = api {
            match ask_agent(ctx, api).await {
                Ok(status) => {
                    return Ok(Self {
                        from_agent: true,
                        window: status.window,
                        paused: Some(status.schedule.paused),
                        agent_error: None,
                        next: status.next,
                    });
                }
                Err(e) => agent_error = Some(format!("{e:#}")),
            }
        }
        let settings = crate::agent::schedule_settings(ctx.settings);
        let candidates = ctx.store.schedule_candidates().await?;
        Ok(Self {
            from_agent: false,
            window: WindowStatus::of(&settings.window, now),
            paused: None,
            agent_error,
            next: settings.next_runs(false, &candidates, now),
        })
    }

    /// The table's lines: the window, the pause, the next run of each kind.
    fn lines(&self, tz: chrono_tz::Tz, now: DateTime<Utc>) -> Vec<(&'static str, String)> {
        let next = |run: &NextRun| {
            let words = run.describe(tz, now);
            if self.from_agent || matches!(run, NextRun::NoVendors | NextRun::Disabled) {
                words
            } else if self.agent_error.is_some() {
                format!("{words} by this configuration")
            } else {
                format!("none: no agent runs; with one: {words}")
            }
        };
        let automatic = match (self.paused, &self.agent_error) {
            (Some(true), _) => "paused (manual syncs still run)".to_owned(),
            (Some(false), _) => "on".to_owned(),
            (None, Some(error)) => format!("unknown: the agent did not answer ({error})"),
            (None, None) => {
                "no agent runs: nothing syncs on schedule (start one with `plantsync run`)"
                    .to_owned()
            }
        };
        vec![
            ("restricted window", self.window.describe(now)),
            ("automatic syncs", automatic),
            ("next plant sync", next(&self.next.plants)),
            ("next alert sync", next(&self.next.alerts)),
        ]
    }
}

/// The running agent's `/api/status`.
async fn ask_agent(ctx: &Ctx<'_>, api: &str) -> anyhow::Result<StatusResponse> {
    let token = crate::datadir::token::read(&ctx.settings.data_dir.value)?;
    let client = crate::vendors::http::plain_client(std::time::Duration::from_secs(5))?;
    let response = client
        .get(format!("http://{api}/api/status"))
        .bearer_auth(token.expose())
        .send()
        .await?
        .error_for_status()?;
    Ok(response.json().await?)
}

/// Runs `status`.
pub async fn run(ctx: &mut Ctx<'_>, format: Format) -> anyhow::Result<()> {
    let status = ctx.store.status().await?;
    let agent = crate::datadir::lock::running_agent(&ctx.settings.data_dir.value);
    let now = Utc::now();
    let schedule = Schedule::read(ctx, agent.as_ref().and_then(|a| a.api.as_deref()), now).await?;
    let (secrets, secrets_line) = Secrets::read(ctx).await?;
    let upstream = read_upstream(ctx).await?;
    let history = ctx.store.history_summary().await?;
    match format {
        Format::Json => write_json(
            ctx.out,
            &Report {
                store: &status,
                agent,
                schedule: &schedule,
                secrets: &secrets,
                upstream: &upstream,
                history: &history,
            },
        ),
        Format::Csv => write_csv(ctx.out, &status.vendor_health),
        Format::Table => {
            let tz = ctx.tz();
            write!(
                ctx.out,
                "{}",
                key_values(&[
                    (
                        "agent",
                        agent.map_or_else(
                            || "not running".to_owned(),
                            |a| match &a.api {
                                Some(api) => format!("running (pid {}, API http://{api})", a.pid),
                                None => format!("starting (pid {})", a.pid),
                            },
                        ),
                    ),
                    ("database", status.database_path.clone()),
                    ("size", human_bytes(status.database_bytes)),
                    ("schema version", status.schema_version.to_string()),
                    ("secrets", secrets_line),
                    ("organizations", status.organizations.to_string()),
                    ("vendors", format!("{} ({} active)", status.vendors, status.active_vendors)),
                    ("plants", plants_line(&status)),
                    ("alerts", format!("{} ({} active)", status.alerts, status.active_alerts)),
                    ("history", history_line(&history)),
                    ("last plant sync run", time_cell(status.last_plant_run_at.as_ref(), tz)),
                    ("last alert sync run", time_cell(status.last_alert_run_at.as_ref(), tz)),
                ])
            )?;
            // What happens next: the window, the pause, the next runs that will happen.
            let schedule = key_values(&schedule.lines(tz, now));
            write!(ctx.out, "\nschedule:\n{schedule}")?;
            let upstream = key_values(&crate::api::upstream_words::lines(&upstream, tz, now));
            write!(ctx.out, "\nupstream:\n{upstream}")?;
            if !status.vendor_health.is_empty() {
                let mut table = Table::default()
                    .number("ID")
                    .text("VENDOR", 8)
                    .whole("KIND")
                    .whole("ON")
                    .whole("LAST SYNC")
                    .number("FAILS")
                    .text("LAST ERROR", 10);
                for v in &status.vendor_health {
                    let error = if v.needs_user_action {
                        format!("NEEDS ACTION: {}", text_cell(v.last_error.as_deref()))
                    } else {
                        text_cell(v.last_error.as_deref())
                    };
                    table.row(vec![
                        v.id.to_string(),
                        v.name.clone(),
                        v.kind.to_string(),
                        yes_no(v.is_active),
                        time_cell(v.last_synced_at.as_ref(), tz),
                        v.consecutive_failures.to_string(),
                        error,
                    ]);
                }
                write!(ctx.out, "\n{}", table.render(TABLE_WIDTH))?;
                let quotas: Vec<(String, String)> = status
                    .vendor_health
                    .iter()
                    .filter_map(|v| {
                        let (used, limit) = (v.quota_used_today?, v.quota_daily_limit?);
                        let left = limit.saturating_sub(used);
                        let mut text = format!("{left} of {limit} requests left today");
                        if let Some(at) = &v.quota_resets_at {
                            text.push_str(&format!(" (resets {})", time_cell(Some(at), tz)));
                        }
                        if let Some(said) = &v.quota_portal_said {
                            text.push_str(&format!("; the portal refused a call: {said}"));
                        }
                        Some((v.name.clone(), text))
                    })
                    .collect();
                if !quotas.is_empty() {
                    writeln!(ctx.out, "\ndaily request quotas (the portal's day):")?;
                    let rows: Vec<(&str, String)> =
                        quotas.iter().map(|(name, text)| (name.as_str(), text.clone())).collect();
                    write!(ctx.out, "{}", key_values(&rows))?;
                }
                let probes: Vec<(&str, String)> = status
                    .vendor_health
                    .iter()
                    .filter_map(|v| {
                        let at = v.next_key_probe_at.as_ref()?;
                        Some((
                            v.name.as_str(),
                            format!("tried again after {}", time_cell(Some(at), tz)),
                        ))
                    })
                    .collect();
                if !probes.is_empty() {
                    writeln!(ctx.out, "\nrefused API keys (one call each, until they work):")?;
                    write!(ctx.out, "{}", key_values(&probes))?;
                }
            }
            Ok(())
        }
    }
}

/// The energy history in one line: how much, since when, from where, and the gaps the
/// portals cannot fill (never hidden).
fn history_line(history: &crate::store::HistorySummary) -> String {
    let Some(first) = history.first_day else {
        return "no days yet".to_owned();
    };
    let mut line = format!(
        "{} plant-days since {first} ({} from the portals' history), {} power samples",
        history.days, history.backfilled, history.power_samples
    );
    if history.unfillable_days > 0 {
        line.push_str(&format!("; {} past days cannot be filled", history.unfillable_days));
    }
    if history.no_data_days > 0 {
        line.push_str(&format!("; {} without data at the portal", history.no_data_days));
    }
    line
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// `250 (240 active: 200 online, 30 offline, 10 unknown)`: the active plants by status.
fn plants_line(status: &StoreStatus) -> String {
    let by_status = status
        .plants_by_status
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(word, n)| format!("{n} {word}"))
        .collect::<Vec<_>>();
    if by_status.is_empty() {
        format!("{} ({} active)", status.plants, status.active_plants)
    } else {
        format!("{} ({} active: {})", status.plants, status.active_plants, by_status.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::{RestrictedWindow, ScheduleSettings};
    use crate::store::ScheduleCandidate;

    #[test]
    fn the_history_line_says_how_much_since_when_and_the_gaps() {
        let mut history = crate::store::HistorySummary::default();
        assert_eq!(history_line(&history), "no days yet");
        history.first_day = "2026-11-01".parse().ok();
        (history.days, history.backfilled, history.power_samples) = (60, 20, 900);
        (history.unfillable_days, history.no_data_days) = (3, 2);
        assert_eq!(
            history_line(&history),
            "60 plant-days since 2026-11-01 (20 from the portals' history), 900 power samples; \
             3 past days cannot be filled; 2 without data at the portal"
        );
    }

    #[test]
    fn the_plants_line_counts_active_plants_by_status() {
        use crate::domain::PlantStatus;
        let status = |by: &[(PlantStatus, u64)]| StoreStatus {
            database_path: String::new(),
            database_bytes: 0,
            schema_version: 3,
            organizations: 1,
            vendors: 1,
            active_vendors: 1,
            plants: 250,
            active_plants: 240,
            plants_by_status: by.iter().copied().collect(),
            alerts: 0,
            active_alerts: 0,
            last_plant_run_at: None,
            last_alert_run_at: None,
            vendor_health: Vec::new(),
        };
        let by =
            [(PlantStatus::Online, 200), (PlantStatus::Offline, 30), (PlantStatus::Unknown, 10)];
        assert_eq!(
            plants_line(&status(&by)),
            "250 (240 active: 200 online, 30 offline, 10 unknown)"
        );
        assert_eq!(plants_line(&status(&[])), "250 (240 active)");
    }

    /// The schedule lines at a fixed clock: 20:00 IST, inside the 19:00-06:00 window.
    #[test]
    fn the_schedule_lines_at_a_fixed_clock() {
        let zone = chrono_tz::Asia::Kolkata;
        let now = DateTime::parse_from_rfc3339("2026-11-29T20:00:00+05:30").unwrap().to_utc();
        let settings = ScheduleSettings {
            plants_enabled: true,
            plants_cron: "*/15 * * * *".parse().unwrap(),
            alerts_enabled: false,
            alerts_cron: "*/30 * * * *".parse().unwrap(),
            alerts_respect_window: true,
            window: RestrictedWindow {
                start: "19:00".parse().unwrap(),
                end: "06:00".parse().unwrap(),
                zone,
            },
            jitter: std::time::Duration::ZERO,
        };
        let one = [ScheduleCandidate {
            vendor_id: crate::domain::VendorId(1),
            interval_minutes: 15,
            last_synced_at: None,
        }];
        let lines = |paused: Option<bool>, candidates: &[ScheduleCandidate]| {
            let schedule = Schedule {
                from_agent: paused.is_some(),
                window: WindowStatus::of(&settings.window, now),
                paused,
                agent_error: None,
                next: settings.next_runs(paused == Some(true), candidates, now),
            };
            schedule.lines(zone, now).into_iter().map(|(_, v)| v).collect::<Vec<_>>()
        };
        assert_eq!(
            lines(Some(false), &one),
            [
                "19:00-06:00 Asia/Kolkata: scheduled syncs wait until 06:00 tomorrow",
                "on",
                "06:00 tomorrow, 1 vendor",
                "none: scheduled syncs of this kind are off",
            ]
        );
        let offline = lines(None, &one);
        assert_eq!(offline[2], "none: no agent runs; with one: 06:00 tomorrow, 1 vendor");
        let paused = lines(Some(true), &one);
        assert_eq!(
            paused[1..3],
            ["paused (manual syncs still run)", "none while automatic syncs are paused"]
        );
        let empty = lines(Some(false), &[]);
        assert!(empty[2].starts_with("none: no vendor to sync"), "{empty:?}");
    }
}
