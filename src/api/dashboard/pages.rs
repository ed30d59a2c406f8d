//! The dashboard's HTML, with maud (checked at compile time, no template files at run
//! time). Semantic markup: one `h1` per page, `header`/`nav`/`main`/`section`, tables with
//! `th scope`; the CSS is embedded in each page; no script anywhere.

use super::model::{Order, OrgView, PlantPage, PlantRow, SortKey};
use super::svg::{self, kwh};
use crate::api::upstream_words;
use crate::api::wire::StatusResponse;
use crate::domain::{PlantZone, Timestamp};
use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, PreEscaped, html};

/// The page's style sheet, compiled into the binary.
const STYLE: &str = include_str!("style.css");

/// What every page's frame needs.
pub struct Frame<'a> {
    /// The configured zone (times without a zone of their own are shown in it).
    pub zone: chrono_tz::Tz,
    /// Now.
    pub now: DateTime<Utc>,
    /// The session's CSRF token (`None`: a page for someone not logged in).
    pub csrf: Option<&'a str>,
    /// The message left for this page.
    pub flash: Option<&'a str>,
}

/// A time in `zone`, with the zone's abbreviation: `2026-12-02 08:15 CET`.
pub fn when(at: &Timestamp, zone: chrono_tz::Tz) -> String {
    at.as_datetime().with_timezone(&zone).format("%Y-%m-%d %H:%M %Z").to_string()
}

/// A time in a plant's zone.
fn when_in(at: &Timestamp, zone: PlantZone) -> String {
    match zone {
        PlantZone::Named(tz) => when(at, tz),
        PlantZone::Fixed(offset) => {
            at.as_datetime().with_timezone(&offset).format("%Y-%m-%d %H:%M %:z").to_string()
        }
    }
}

fn energy(value: Option<f64>) -> String {
    value.map_or_else(|| "no data".to_owned(), kwh)
}

/// A "Sync now" button: a POST form with the session's CSRF token.
fn sync_form(csrf: &str, org: Option<i64>, back: &str, label: &str) -> Markup {
    html! {
        form.inline method="post" action="/sync" {
            input type="hidden" name="csrf" value=(csrf);
            @if let Some(org) = org { input type="hidden" name="org" value=(org); }
            input type="hidden" name="back" value=(back);
            button type="submit" { (label) }
        }
    }
}

fn frame(frame: &Frame<'_>, title: &str, nav: Option<&Markup>, body: &Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " - plantsync" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header.top {
                    div {
                        h1 { a href="/" { "plantsync" } " " span.meta { (title) } }
                        p.meta { "As of " (when(&Timestamp::from_datetime(&frame.now), frame.zone))
                            " (" (frame.zone.name()) ")" }
                    }
                    @if let Some(csrf) = frame.csrf {
                        div {
                            (sync_form(csrf, None, "/", "Sync all now"))
                            " "
                            form.inline method="post" action="/logout" {
                                input type="hidden" name="csrf" value=(csrf);
                                button type="submit" { "Log out" }
                            }
                        }
                    }
                }
                @if let Some(nav) = nav { (nav) }
                main {
                    @if let Some(flash) = frame.flash { p.flash role="status" { (flash) } }
                    (body)
                }
            }
        }
    }
}

/// A page that only says something (a refused login, a missing plant).
pub fn message(frame_data: &Frame<'_>, title: &str, text: &str) -> Markup {
    frame(frame_data, title, None, &html! { section.card { h2 { (title) } p { (text) } } })
}

/// The page for a browser without a valid session.
pub fn not_logged_in(frame_data: &Frame<'_>) -> Markup {
    frame(
        frame_data,
        "Not logged in",
        None,
        &html! {
            section.card {
                h2 { "Not logged in" }
                p { "This dashboard opens from the agent's machine: run "
                    code { "plantsync dashboard" }
                    " (or choose “Open dashboard” in the tray menu). It logs this browser in \
                     with a one-time link." }
            }
        },
    )
}

fn schedule_section(status: &StatusResponse, zone: chrono_tz::Tz, now: DateTime<Utc>) -> Markup {
    let kinds = [
        (
            "Plant syncs",
            &status.schedule.plants,
            &status.next.plants,
            status.store.last_plant_run_at,
        ),
        (
            "Alert syncs",
            &status.schedule.alerts,
            &status.next.alerts,
            status.store.last_alert_run_at,
        ),
    ];
    html! {
        section.card aria-labelledby="schedule" {
            h2 #schedule { "Schedule" }
            dl.facts {
                dt { "Automatic syncs" }
                dd { @if status.schedule.paused { "paused (syncs you start still run)" } @else { "on" } }
                dt { "Restricted window" }
                dd { (status.window.describe(now)) }
                @for (name, kind, next, recorded) in kinds {
                    dt { (name) ": last run" }
                    dd {
                        @match (&kind.last_run_finished_at, kind.last_run_status, recorded) {
                            (Some(at), Some(outcome), _) => { (when(at, zone)) " (" (outcome) ")" }
                            (Some(at), None, _) => { (when(at, zone)) }
                            (None, _, Some(at)) => { "started " (when(&at, zone)) " (before this agent started)" }
                            (None, _, None) => { "none yet" }
                        }
                        @if let Some(current) = &kind.current {
                            " · running now (" (current.vendors) " vendors, since "
                            (when(&current.started_at, zone)) ")"
                        }
                    }
                    dt { (name) ": next run" }
                    dd { (next.describe(zone, now)) }
                }
            }
        }
    }
}

/// The upstream part of the status, in `plantsync status`'s words.
fn upstream_section(status: &StatusResponse, zone: chrono_tz::Tz, now: DateTime<Utc>) -> Markup {
    html! {
        section.card aria-labelledby="upstream" {
            h2 #upstream { "Upstream" }
            @match &status.upstream {
                Some(upstream) => {
                    dl.facts {
                        @for (name, value) in upstream_words::lines(upstream, zone, now) {
                            dt { (capitalized(name)) } dd { (value) }
                        }
                    }
                }
                None => { p { "The agent did not say." } }
            }
        }
    }
}

/// `text` with its first letter in upper case (a label of `plantsync status` as a heading).
pub(super) fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// The link of a sortable column's heading.
fn sort_heading(label: &str, key: SortKey, sort: SortKey, order: Order, numeric: bool) -> Markup {
    let next = if key == sort { order.flip() } else { Order::Asc };
    let aria = match (key == sort, order) {
        (false, _) => "none",
        (true, Order::Asc) => "ascending",
        (true, Order::Desc) => "descending",
    };
    let arrow = match (key == sort, order) {
        (false, _) => "",
        (true, Order::Asc) => " ▲",
        (true, Order::Desc) => " ▼",
    };
    html! {
        th scope="col" class=[numeric.then_some("num")] aria-sort=(aria) {
            a href=(format!("/?sort={}&order={}", key.as_str(), next.as_str())) { (label) (arrow) }
        }
    }
}

fn plants_table(rows: &[PlantRow], zone: chrono_tz::Tz, sort: SortKey, order: Order) -> Markup {
    html! {
        div.scroll {
            table {
                thead { tr {
                    (sort_heading("Plant", SortKey::Name, sort, order, false))
                    th scope="col" { "Vendor" }
                    (sort_heading("Status", SortKey::Status, sort, order, false))
                    (sort_heading("Today", SortKey::Today, sort, order, true))
                    (sort_heading("Last reading", SortKey::Last, sort, order, false))
                } }
                tbody {
                    @for row in rows {
                        tr data-plant=(row.id) {
                            th scope="row" { a href=(format!("/plants/{}", row.id)) { (row.name) } }
                            td { (row.vendor) }
                            td { span class=(format!("status status-{}", row.status)) { (row.status) } }
                            td.num data-kwh=[row.today_kwh.map(|v| format!("{v:.3}"))] { (energy(row.today_kwh)) }
                            td { (row.last_reading.as_ref().map_or_else(|| "never".to_owned(), |t| when(t, zone))) }
                        }
                    }
                }
            }
        }
    }
}

fn alerts_table(alerts: &[crate::domain::Alert], zone: chrono_tz::Tz) -> Markup {
    html! {
        @if alerts.is_empty() {
            p { "No open alerts." }
        } @else {
            div.scroll {
                table {
                    thead { tr {
                        th scope="col" { "Alert" } th scope="col" { "Severity" }
                        th scope="col" { "Plant" } th scope="col" { "Since" }
                    } }
                    tbody {
                        @for alert in alerts {
                            tr {
                                th scope="row" class="alert-title" { (alert.title) }
                                td class=(format!("sev-{}", alert.severity)) { (alert.severity) }
                                td {
                                    @match (alert.plant_id, &alert.plant_name) {
                                        (Some(id), Some(name)) => { a href=(format!("/plants/{id}")) { (name) } }
                                        _ => { "—" }
                                    }
                                }
                                td { (alert.started_at.as_ref().map_or_else(|| "unknown".to_owned(), |t| when(t, zone))) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn org_anchor(org: &OrgView) -> String {
    org.id.map_or_else(|| "org-none".to_owned(), |id| format!("org-{id}"))
}

/// `GET /`: every organization, the schedule and the upstream.
pub fn overview(
    f: &Frame<'_>,
    orgs: &[OrgView],
    status: &StatusResponse,
    sort: SortKey,
    order: Order,
) -> Markup {
    let nav = html! {
        nav.orgs aria-label="Organizations" {
            ul {
                @for org in orgs { li { a href=(format!("#{}", org_anchor(org))) { (org.name) } } }
                li { a href="#schedule" { "Schedule" } }
                li { a href="#upstream" { "Upstream" } }
            }
        }
    };
    let body = html! {
        @if orgs.is_empty() {
            section.card { h2 { "No organizations yet" }
                p { "Add one with " code { "plantsync org add NAME" } " and a vendor with "
                    code { "plantsync vendor add" } "." } }
        }
        @for org in orgs {
            @let anchor = org_anchor(org);
            section.card.org aria-labelledby=(anchor) data-org=[org.id] {
                div.heading-row {
                    h2 id=(anchor) { (org.name) }
                    @if let (Some(csrf), Some(id)) = (f.csrf, org.id) {
                        (sync_form(csrf, Some(id.0), "/", &format!("Sync {} now", org.name)))
                    }
                }
                div.energy {
                    div { span.label { "Today" }
                        span.value data-energy="today" { (energy(org.today_kwh)) } }
                    div { span.label { "Yesterday" }
                        span.value data-energy="yesterday" { (energy(org.yesterday_kwh)) } }
                    div { span.label { "Plants" } span.value { (org.plants.len()) } }
                    div { span.label { "Open alerts" } span.value { (org.alerts.len()) } }
                }
                h3 { "Daily energy, last 30 days" }
                (svg::day_bars(&anchor, &format!("Daily energy of {}, last 30 days", org.name), &org.bars))
                h3 { "Plants" }
                @if org.plants.is_empty() { p { "No active plants." } }
                @else { (plants_table(&org.plants, f.zone, sort, order)) }
                h3 { "Open alerts" }
                (alerts_table(&org.alerts, f.zone))
            }
        }
        div.grid {
            (schedule_section(status, f.zone, f.now))
            (upstream_section(status, f.zone, f.now))
        }
    };
    frame(f, "Dashboard", Some(&nav), &body)
}

/// `GET /plants/{id}`.
pub fn plant(f: &Frame<'_>, page: &PlantPage) -> Markup {
    let p = &page.plant;
    let back = format!("/plants/{}", p.id);
    let nav = html! {
        nav.orgs aria-label="Breadcrumb" { ul { li { a href="/" { "← Dashboard" } }
            li { a href="#history" { "History" } } li { a href="#power" { "Power today" } } } }
    };
    let body = html! {
        section.card aria-labelledby="plant" {
            div.heading-row {
                h2 #plant { (p.name) }
                @if let (Some(csrf), Some(org)) = (f.csrf, p.org_id) {
                    (sync_form(csrf, Some(org.0), &back, "Sync its organization now"))
                }
            }
            dl.facts {
                dt { "Status" } dd { span class=(format!("status status-{}", p.status)) { (p.status) }
                    @if let Some(word) = &p.network_status { " (portal: " (word) ")" } }
                dt { "Today (" (page.today) ")" } dd data-energy="today" { (energy(page.today_kwh)) }
                dt { "Power now" } dd { (p.current_power_kw.map_or_else(|| "no reading".to_owned(), svg::kw)) }
                dt { "Last reading" } dd { (p.vendor_updated_at.or(p.last_refreshed_at).as_ref()
                    .map_or_else(|| "never".to_owned(), |t| when_in(t, page.zone))) }
                dt { "Capacity" } dd { (p.capacity_kw.map_or_else(|| "unknown".to_owned(), |c| format!("{c:.1} kWp"))) }
                dt { "Lifetime energy" } dd { (p.total_energy_kwh.map_or_else(|| "unknown".to_owned(), kwh)) }
                dt { "Vendor" } dd { (page.vendor) }
                dt { "Organization" } dd { (page.org.as_deref().unwrap_or("none")) }
                dt { "Days counted in" } dd { (page.zone.name()) }
            }
        }
        section.card aria-labelledby="history" {
            h2 #history { "Daily energy, last 30 days" }
            (svg::day_bars("plant", &format!("Daily energy of {}, last 30 days", p.name), &page.bars))
            @if !page.gaps.is_empty() {
                h3 { "Days the portal could not fill" }
                div.scroll { table {
                    thead { tr { th scope="col" { "Days" } th scope="col" { "Why" } } }
                    tbody { @for (first, last, reason) in &page.gaps { tr {
                        th scope="row" { (first) @if first != last { " to " (last) } }
                        td { (reason) }
                    } } }
                } }
            }
        }
        section.card aria-labelledby="power" {
            h2 #power { "Power today (" (page.today) ", " (page.zone.name()) ")" }
            (svg::power_curve(&format!("Power of {} today", p.name), &page.power))
        }
    };
    frame(f, &p.name, Some(&nav), &body)
}
