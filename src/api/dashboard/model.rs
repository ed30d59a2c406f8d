//! What the dashboard's pages show, read from the store in one place: per organization
//! today's and yesterday's energy, 30 days of daily energy, the plants and the open
//! alerts; per plant its 30 days (with their sources) and today's power samples.
//!
//! Days are the history's days (each plant's own zone, else the configured `timezone`:
//! [`crate::store::HistoryScope`]); an organization's day is the sum of its plants' values
//! for that date, and a date none of them has a value for is a gap, never 0.

use super::svg::{DayBar, PowerPoint};
use crate::domain::{
    Alert, AlertStatus, DaySource, OrgId, PlantId, PlantStatus, PlantZone, Timestamp, VendorId,
};
use crate::store::{AlertFilter, HistoryScope, PlantFilter, Store, StoreError, VendorFilter};
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::HashMap;

/// Days a chart covers, today included.
pub const DAYS: i64 = 30;

/// One plant's line in an organization's table.
#[derive(Debug, Clone, PartialEq)]
pub struct PlantRow {
    /// Its id (the link to its page).
    pub id: PlantId,
    /// Its name.
    pub name: String,
    /// Its vendor's name.
    pub vendor: String,
    /// The normalized status.
    pub status: PlantStatus,
    /// Energy of its own today, from the history.
    pub today_kwh: Option<f64>,
    /// Its last reading: the portal's update time, else when plantsync last listed it.
    pub last_reading: Option<Timestamp>,
}

/// One organization's part of the overview.
#[derive(Debug, Clone, PartialEq)]
pub struct OrgView {
    /// Its id (`None`: the vendors without an organization).
    pub id: Option<OrgId>,
    /// Its name.
    pub name: String,
    /// The sum of its plants' energy today, when any has a value.
    pub today_kwh: Option<f64>,
    /// The same for yesterday.
    pub yesterday_kwh: Option<f64>,
    /// Its daily energy, oldest first.
    pub bars: Vec<DayBar>,
    /// Its active plants.
    pub plants: Vec<PlantRow>,
    /// Its open alerts, newest first.
    pub alerts: Vec<Alert>,
}

/// The sum of the values present, `None` when none is.
fn sum(values: impl IntoIterator<Item = Option<f64>>) -> Option<f64> {
    values.into_iter().flatten().fold(None, |acc, v| Some(acc.unwrap_or(0.0) + v))
}

/// The dates of a chart ending on `today`, oldest first.
pub fn chart_days(today: NaiveDate) -> Vec<NaiveDate> {
    (0..DAYS).rev().map(|back| today - chrono::Duration::days(back)).collect()
}

/// Reads the overview: every organization (and the vendors without one, when they have
/// plants or alerts), at `now`, with days and times in `zone` for what has no zone of its own.
pub async fn overview(
    store: &Store,
    zone: chrono_tz::Tz,
    now: DateTime<Utc>,
) -> Result<Vec<OrgView>, StoreError> {
    let fallback = PlantZone::Named(zone);
    let stamp = Timestamp::from_datetime(&now);
    let today = now.with_timezone(&zone).date_naive();
    let days = chart_days(today);
    let (first, last) = (days[0], today);
    let history_plants = store.history_plants(HistoryScope::All, fallback).await?;
    let energy = store.today_and_yesterday(HistoryScope::All, stamp, fallback).await?;
    let rows = store.history_days(HistoryScope::All, first, last).await?;
    let listed =
        store.list_plants(PlantFilter { active: Some(true), ..PlantFilter::default() }).await?;
    let orgs = store.list_orgs().await?;
    let vendors = store.list_vendors(VendorFilter::default()).await?;
    let alerts = store
        .list_alerts(AlertFilter { status: Some(AlertStatus::Active), ..AlertFilter::default() })
        .await?;

    let vendor_org: HashMap<VendorId, Option<OrgId>> =
        vendors.iter().map(|v| (v.id, v.org_id)).collect();
    let plant_org: HashMap<PlantId, Option<OrgId>> =
        history_plants.iter().map(|p| (p.id, p.org_id)).collect();
    let vendor_name: HashMap<VendorId, &str> =
        vendors.iter().map(|v| (v.id, v.name.as_str())).collect();

    let mut groups: Vec<OrgView> = orgs
        .iter()
        .map(|o| OrgView {
            id: Some(o.id),
            name: o.name.clone(),
            today_kwh: None,
            yesterday_kwh: None,
            bars: Vec::new(),
            plants: Vec::new(),
            alerts: Vec::new(),
        })
        .collect();
    let index = |groups: &mut Vec<OrgView>, org: Option<OrgId>| -> usize {
        if let Some(i) = groups.iter().position(|g| g.id == org) {
            return i;
        }
        groups.push(OrgView {
            id: None,
            name: "Vendors without an organization".to_owned(),
            today_kwh: None,
            yesterday_kwh: None,
            bars: Vec::new(),
            plants: Vec::new(),
            alerts: Vec::new(),
        });
        groups.len() - 1
    };
    for plant in listed {
        let org = plant.org_id;
        let (today_kwh, _) = energy.get(&plant.id).copied().unwrap_or((None, None));
        let row = PlantRow {
            id: plant.id,
            name: plant.name,
            vendor: vendor_name.get(&plant.vendor_id).copied().unwrap_or("?").to_owned(),
            status: plant.status,
            today_kwh,
            last_reading: plant.vendor_updated_at.or(plant.last_refreshed_at),
        };
        let i = index(&mut groups, org);
        groups[i].plants.push(row);
    }
    for alert in alerts {
        let org = alert
            .plant_id
            .and_then(|p| plant_org.get(&p).copied())
            .unwrap_or_else(|| vendor_org.get(&alert.vendor_id).copied().flatten());
        let i = index(&mut groups, org);
        groups[i].alerts.push(alert);
    }
    // Daily sums per organization and date.
    let mut by_day: HashMap<(Option<OrgId>, NaiveDate), Vec<Option<f64>>> = HashMap::new();
    for row in rows {
        let org = plant_org.get(&row.plant_id).copied().flatten();
        by_day.entry((org, row.day)).or_default().push(row.energy_kwh);
    }
    for group in &mut groups {
        let active: Vec<PlantId> = group.plants.iter().map(|p| p.id).collect();
        group.today_kwh = sum(active.iter().map(|id| energy.get(id).and_then(|e| e.0)));
        group.yesterday_kwh = sum(active.iter().map(|id| energy.get(id).and_then(|e| e.1)));
        group.bars = days
            .iter()
            .map(|day| DayBar {
                day: *day,
                energy_kwh: by_day.get(&(group.id, *day)).and_then(|v| sum(v.iter().copied())),
                source: None,
            })
            .collect();
    }
    Ok(groups)
}

/// One plant's page.
#[derive(Debug, Clone, PartialEq)]
pub struct PlantPage {
    /// The plant.
    pub plant: crate::domain::Plant,
    /// Its vendor's and organization's names.
    pub vendor: String,
    /// Its organization's name.
    pub org: Option<String>,
    /// The zone its days are counted in.
    pub zone: PlantZone,
    /// Its own today.
    pub today: NaiveDate,
    /// Its energy today, from the history.
    pub today_kwh: Option<f64>,
    /// Its 30 days, oldest first, with their sources.
    pub bars: Vec<DayBar>,
    /// The past days the portal could not fill, and why: runs of days with one reason
    /// (first day, last day, reason).
    pub gaps: Vec<(NaiveDate, NaiveDate, String)>,
    /// Today's power, in time order.
    pub power: Vec<PowerPoint>,
}

/// Reads plant `id`'s page at `now` (`Ok(None)`: no such plant).
pub async fn plant_page(
    store: &Store,
    id: PlantId,
    zone: chrono_tz::Tz,
    now: DateTime<Utc>,
) -> Result<Option<PlantPage>, StoreError> {
    let plant = match store.get_plant(id).await {
        Ok((plant, _)) => plant,
        Err(StoreError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let scope = HistoryScope::Plant(id);
    let fallback = PlantZone::Named(zone);
    let Some(named) = store.history_plants(scope, fallback).await?.into_iter().next() else {
        return Ok(None);
    };
    let stamp = Timestamp::from_datetime(&now);
    let today = named.zone.local_date(&stamp);
    let days = chart_days(today);
    let rows = store.history_days(scope, days[0], today).await?;
    let by_day: HashMap<NaiveDate, (Option<f64>, DaySource)> =
        rows.into_iter().map(|r| (r.day, (r.energy_kwh, r.source))).collect();
    let bars: Vec<DayBar> = days
        .iter()
        .map(|day| {
            let (energy_kwh, source) = match by_day.get(day) {
                Some((Some(v), source)) => (Some(*v), Some(*source)),
                _ => (None, None),
            };
            DayBar { day: *day, energy_kwh, source }
        })
        .collect();
    let gaps = runs_of(
        store.history_gaps(scope, days[0], today).await?.into_iter().map(|g| (g.day, g.reason)),
    );
    let start = named.zone.end_of_day(today.pred_opt().unwrap_or(today));
    let end = named.zone.end_of_day(today);
    let power = match (start, end) {
        (Some(start), Some(end)) => {
            let length = (end.as_datetime() - start.as_datetime()).num_seconds().max(1) as f64;
            store
                .power_samples(id, start, end)
                .await?
                .into_iter()
                .map(|s| PowerPoint {
                    at: (s.at.as_datetime() - start.as_datetime()).num_seconds() as f64 / length,
                    power_kw: s.power_kw,
                    label: local_time(named.zone, s.at),
                })
                .collect()
        }
        _ => Vec::new(),
    };
    Ok(Some(PlantPage {
        today_kwh: by_day.get(&today).and_then(|d| d.0),
        vendor: named.vendor_name,
        org: named.org_name,
        zone: named.zone,
        today,
        bars,
        gaps,
        power,
        plant,
    }))
}

/// Consecutive days with the same reason, as one run each (`days` in day order).
fn runs_of(
    days: impl IntoIterator<Item = (NaiveDate, String)>,
) -> Vec<(NaiveDate, NaiveDate, String)> {
    let mut runs: Vec<(NaiveDate, NaiveDate, String)> = Vec::new();
    for (day, reason) in days {
        match runs.last_mut() {
            Some((_, last, words)) if *words == reason && last.succ_opt() == Some(day) => {
                *last = day;
            }
            _ => runs.push((day, day, reason)),
        }
    }
    runs
}

/// The wall-clock time of `at` in `zone`.
fn local_time(zone: PlantZone, at: Timestamp) -> chrono::NaiveTime {
    match zone {
        PlantZone::Named(tz) => at.as_datetime().with_timezone(&tz).time(),
        PlantZone::Fixed(offset) => at.as_datetime().with_timezone(&offset).time(),
    }
}

/// What the plants table is sorted by (`?sort=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    /// Name.
    #[default]
    Name,
    /// The normalized status.
    Status,
    /// Today's energy.
    Today,
    /// The last reading.
    Last,
}

impl SortKey {
    /// Every key, in the table's column order.
    pub const ALL: [Self; 4] = [Self::Name, Self::Status, Self::Today, Self::Last];

    /// The spelling in the query string.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Status => "status",
            Self::Today => "today",
            Self::Last => "last",
        }
    }

    /// A query value; anything else is the default (a stale bookmark still shows a page).
    pub fn parse(text: Option<&str>) -> Self {
        Self::ALL.into_iter().find(|k| Some(k.as_str()) == text).unwrap_or_default()
    }
}

/// Ascending or descending (`?order=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// Smallest first (missing values last).
    #[default]
    Asc,
    /// Largest first (missing values last).
    Desc,
}

impl Order {
    /// The spelling in the query string.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Asc => "asc",
            Self::Desc => "desc",
        }
    }

    /// A query value; anything else is ascending.
    pub fn parse(text: Option<&str>) -> Self {
        if text == Some("desc") { Self::Desc } else { Self::Asc }
    }

    /// The other one.
    pub const fn flip(self) -> Self {
        match self {
            Self::Asc => Self::Desc,
            Self::Desc => Self::Asc,
        }
    }
}

/// Sorts `rows` by `key` in `order`; plants without the value come last either way, ties
/// by name then id.
pub fn sort_plants(rows: &mut [PlantRow], key: SortKey, order: Order) {
    use std::cmp::Ordering;
    fn missing_last<T: PartialOrd>(a: Option<T>, b: Option<T>, order: Order) -> Ordering {
        match (a, b) {
            (Some(a), Some(b)) => {
                let o = a.partial_cmp(&b).unwrap_or(Ordering::Equal);
                if order == Order::Desc { o.reverse() } else { o }
            }
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        }
    }
    let by_name = |a: &PlantRow, b: &PlantRow| {
        a.name.to_lowercase().cmp(&b.name.to_lowercase()).then(a.id.0.cmp(&b.id.0))
    };
    rows.sort_by(|a, b| {
        let primary = match key {
            SortKey::Name => {
                let o = by_name(a, b);
                return if order == Order::Desc { o.reverse() } else { o };
            }
            SortKey::Status => missing_last(Some(a.status), Some(b.status), order),
            SortKey::Today => missing_last(a.today_kwh, b.today_kwh, order),
            SortKey::Last => missing_last(a.last_reading, b.last_reading, order),
        };
        primary.then_with(|| by_name(a, b))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, name: &str, status: PlantStatus, today: Option<f64>) -> PlantRow {
        PlantRow {
            id: PlantId(id),
            name: name.into(),
            vendor: "v".into(),
            status,
            today_kwh: today,
            last_reading: None,
        }
    }

    fn names(rows: &[PlantRow]) -> Vec<&str> {
        rows.iter().map(|r| r.name.as_str()).collect()
    }

    #[test]
    fn plants_sort_by_each_column_with_missing_values_last() {
        let mut rows = vec![
            row(1, "beta", PlantStatus::Offline, Some(5.0)),
            row(2, "Alpha", PlantStatus::Online, None),
            row(3, "gamma", PlantStatus::Fault, Some(9.0)),
        ];
        sort_plants(&mut rows, SortKey::Name, Order::Asc);
        assert_eq!(names(&rows), ["Alpha", "beta", "gamma"]);
        sort_plants(&mut rows, SortKey::Name, Order::Desc);
        assert_eq!(names(&rows), ["gamma", "beta", "Alpha"]);
        sort_plants(&mut rows, SortKey::Today, Order::Desc);
        assert_eq!(names(&rows), ["gamma", "beta", "Alpha"]);
        sort_plants(&mut rows, SortKey::Today, Order::Asc);
        assert_eq!(names(&rows), ["beta", "gamma", "Alpha"], "no value sorts last");
        sort_plants(&mut rows, SortKey::Status, Order::Asc);
        assert_eq!(names(&rows), ["Alpha", "beta", "gamma"]);
    }

    #[test]
    fn gap_days_with_one_reason_are_one_run() {
        let d = |n| NaiveDate::from_ymd_opt(2026, 11, n).unwrap();
        let r = |t: &str| t.to_owned();
        let runs = runs_of([(d(1), r("a")), (d(2), r("a")), (d(3), r("b")), (d(5), r("b"))]);
        assert_eq!(runs, [(d(1), d(2), r("a")), (d(3), d(3), r("b")), (d(5), d(5), r("b"))]);
    }

    #[test]
    fn query_values_parse_leniently() {
        assert_eq!(SortKey::parse(Some("today")), SortKey::Today);
        assert_eq!(SortKey::parse(Some("bogus")), SortKey::Name);
        assert_eq!(SortKey::parse(None), SortKey::Name);
        assert_eq!(Order::parse(Some("desc")), Order::Desc);
        assert_eq!(Order::parse(Some("DESC; drop")), Order::Asc);
    }

    #[test]
    fn sums_keep_no_data_apart_from_zero() {
        assert_eq!(sum([None, None]), None);
        assert_eq!(sum([Some(0.0), None]), Some(0.0));
        assert_eq!(sum([Some(1.5), Some(2.0)]), Some(3.5));
        let days = chart_days(NaiveDate::from_ymd_opt(2026, 3, 1).unwrap());
        assert_eq!(days.len(), 30);
        assert_eq!(days[29], NaiveDate::from_ymd_opt(2026, 3, 1).unwrap());
        assert_eq!(days[0], NaiveDate::from_ymd_opt(2026, 1, 31).unwrap());
    }
}
