//! Migration step 5: what earlier versions stored from hostile or misread replies, put
//! right once, by the rules the sync applies to new data.
//!
//! Earlier versions stored what no plant can report (a capacity of 1e308, a latitude of
//! 123.5, a time in the year 58887) and words plantsync made up for unknown codes
//! (`STATE_7`); the sync no longer does ([`crate::domain::plausible`],
//! `vendors::codes`), but a merge that keeps a stored value when a listing says nothing
//! would keep those forever. And alerts whose time a portal sent in the other unit
//! (FusionSolar seconds, Solarman milliseconds) were keyed by the misread number: the same
//! occurrence now gets the normalized key, so the old row is rekeyed, or removed where
//! the normalized one exists already (the same occurrence twice).

use super::Result;
use crate::domain::Timestamp;
use crate::domain::plausible::{
    EARLIEST, MAX_CAPACITY_KW, MAX_DAILY_ENERGY_KWH, MAX_TOTAL_ENERGY_KWH, STANDBY_SHARE,
};
use rusqlite::{Transaction, params};

/// Step 5 (no schema change): clears implausible stored values, turns made-up status words
/// into the portal's digits, and rekeys alerts stored under a misread time.
pub(super) fn step_5(tx: &Transaction<'_>) -> Result<Vec<String>> {
    let mut notices = Vec::new();
    let cleared = clear_implausible_values(tx)?;
    if cleared > 0 {
        notices.push(format!(
            "{cleared} stored plant value(s) no plant can report were cleared; the next sync \
             fills them"
        ));
    }
    unmake_status_words(tx)?;
    let (rekeyed, removed) = rekey_misread_alerts(tx)?;
    if rekeyed + removed > 0 {
        notices.push(format!(
            "{rekeyed} alert(s) stored under a time read in the wrong unit were rekeyed, and \
             {removed} duplicate(s) of alerts stored under the right time were removed"
        ));
    }
    Ok(notices)
}

/// Sets to NULL every stored plant value outside its plausibility rule.
fn clear_implausible_values(tx: &Transaction<'_>) -> Result<usize> {
    let latest = Timestamp::from_datetime(&(chrono::Utc::now() + chrono::TimeDelta::days(2)));
    // Canonical times are 24 characters and sort as text; a year past 9999 is longer.
    let time_outside = format!(
        "length(vendor_updated_at) != 24 OR vendor_updated_at < '{EARLIEST}' \
         OR vendor_updated_at > '{}'",
        latest.to_canonical()
    );
    let rules: [(&str, String); 7] = [
        ("latitude", "latitude NOT BETWEEN -90 AND 90".into()),
        ("longitude", "longitude NOT BETWEEN -180 AND 180".into()),
        ("capacity_kw", format!("capacity_kw NOT BETWEEN 0 AND {MAX_CAPACITY_KW}")),
        (
            "current_power_kw",
            format!(
                "current_power_kw > {MAX_CAPACITY_KW} OR current_power_kw < \
                 -max(1.0, coalesce(capacity_kw, 0) * {STANDBY_SHARE})"
            ),
        ),
        ("daily_energy_kwh", format!("daily_energy_kwh NOT BETWEEN 0 AND {MAX_DAILY_ENERGY_KWH}")),
        ("total_energy_kwh", format!("total_energy_kwh NOT BETWEEN 0 AND {MAX_TOTAL_ENERGY_KWH}")),
        ("vendor_updated_at", time_outside.clone()),
    ];
    let mut cleared = 0;
    // Readings of an impossible time go with it, as the sync drops them together.
    cleared += tx.execute(
        &format!(
            "UPDATE plants SET current_power_kw = NULL, daily_energy_kwh = NULL,
                 total_energy_kwh = NULL
             WHERE vendor_updated_at IS NOT NULL AND ({time_outside})
               AND (current_power_kw IS NOT NULL OR daily_energy_kwh IS NOT NULL
                    OR total_energy_kwh IS NOT NULL)"
        ),
        [],
    )?;
    for (column, outside) in rules {
        cleared += tx.execute(
            &format!(
                "UPDATE plants SET {column} = NULL WHERE {column} IS NOT NULL AND ({outside})"
            ),
            [],
        )?;
    }
    // Growatt's `peak_power` of 0 is a field never entered, not a size (issue 15).
    cleared += tx.execute(
        "UPDATE plants SET capacity_kw = NULL WHERE capacity_kw = 0
         AND vendor_id IN (SELECT id FROM vendors WHERE kind = 'growatt')",
        [],
    )?;
    Ok(cleared)
}

/// `PS_STATUS_7`, `STATE_7`, `STATUS_7` (words earlier versions made up) become the digits
/// the portal sent, as new listings store them; a code no portal sends as a state
/// (`STATE_-9223372036854775808`) becomes no word, as `vendors::codes` rules.
fn unmake_status_words(tx: &Transaction<'_>) -> Result<()> {
    for (kind, prefix) in [("sungrow", "PS_STATUS_"), ("huawei", "STATE_"), ("growatt", "STATUS_")]
    {
        let (length, from) = (prefix.len(), prefix.len() + 1);
        let digits = format!("substr(network_status, {from})");
        tx.execute(
            &format!(
                "UPDATE plants SET network_status = CASE
                     WHEN {digits} GLOB '[0-9]' OR {digits} GLOB '[0-9][0-9]'
                       OR {digits} GLOB '[0-9][0-9][0-9]' THEN {digits}
                     ELSE NULL END
                 WHERE substr(network_status, 1, {length}) = ?2
                 AND vendor_id IN (SELECT id FROM vendors WHERE kind = ?1)"
            ),
            [kind, prefix],
        )?;
    }
    Ok(())
}

/// Alerts keyed by a time in the other unit: FusionSolar's key ends in milliseconds (one in
/// seconds is below 1e11), Solarman's in seconds (one in milliseconds is 1e11 or more).
/// Each is rekeyed and its start set from the normalized time, or removed where a row with
/// the normalized key exists. Returns (rekeyed, removed).
fn rekey_misread_alerts(tx: &Transaction<'_>) -> Result<(usize, usize)> {
    let rows: Vec<(i64, i64, String, String)> = {
        let mut stmt = tx.prepare(
            "SELECT a.id, a.vendor_id, a.vendor_alert_key, v.kind FROM alerts a
             JOIN vendors v ON v.id = a.vendor_id WHERE v.kind IN ('huawei', 'solarman')",
        )?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<std::result::Result<_, _>>()?
    };
    let (mut rekeyed, mut removed) = (0, 0);
    for (id, vendor, key, kind) in rows {
        let Some((head, last)) = key.rsplit_once('|') else { continue };
        let Ok(number) = last.parse::<i64>() else { continue };
        let millis = match kind.as_str() {
            "huawei" if (1..100_000_000_000).contains(&number) => number * 1000,
            "solarman" if number >= 100_000_000_000 => number,
            _ => continue,
        };
        let Some(start) = Timestamp::from_unix_millis(millis) else { continue };
        let normalized = match kind.as_str() {
            "huawei" => millis,
            _ => millis / 1000,
        };
        let new_key = format!("{head}|{normalized}");
        let taken: bool = tx.query_row(
            "SELECT count(*) > 0 FROM alerts WHERE vendor_id = ?1 AND vendor_alert_key = ?2",
            params![vendor, new_key],
            |r| r.get(0),
        )?;
        if taken {
            // What a person or the portal decided under the old key (acknowledged,
            // resolved and when) carries over to the row that stays, unless that one is
            // further along already; the earlier first sighting is kept.
            tx.execute(
                "UPDATE alerts SET
                     status = CASE
                         WHEN alerts.status = 'ACTIVE' THEN old.status
                         WHEN alerts.status = 'ACKNOWLEDGED' AND old.status = 'RESOLVED'
                             THEN old.status
                         ELSE alerts.status END,
                     ended_at = coalesce(alerts.ended_at, old.ended_at),
                     created_at = min(alerts.created_at, old.created_at)
                 FROM (SELECT status, ended_at, created_at FROM alerts WHERE id = ?3) AS old
                 WHERE alerts.vendor_id = ?1 AND alerts.vendor_alert_key = ?2",
                params![vendor, new_key, id],
            )?;
            removed += tx.execute("DELETE FROM alerts WHERE id = ?1", [id])?;
        } else {
            rekeyed += tx.execute(
                "UPDATE alerts SET vendor_alert_key = ?1, started_at = ?2 WHERE id = ?3",
                params![new_key, start, id],
            )?;
        }
    }
    // Impossible ends (read in the wrong unit, the year 9999, before their start) were
    // stored by earlier versions: cleared, as the sync no longer stores them.
    let latest = Timestamp::from_datetime(&(chrono::Utc::now() + chrono::TimeDelta::days(2)));
    tx.execute(
        &format!(
            "UPDATE alerts SET ended_at = NULL WHERE ended_at IS NOT NULL
             AND (length(ended_at) != 24 OR ended_at < '{EARLIEST}' OR ended_at > ?1
                  OR (started_at IS NOT NULL AND ended_at < started_at))"
        ),
        [latest],
    )?;
    Ok((rekeyed, removed))
}
