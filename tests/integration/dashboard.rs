//! The dashboard end to end: a real agent on a data dir synced from the simulator (with a
//! chosen portal figure recorded through the store), read by headless Chromium through the
//! one-time login, and by plain HTTP for the guards: the 401 page, the Host check, a spent
//! code, the CSRF check of "Sync now", the cookie's attributes, no admin token in any page.
//!
//! Needs Debian's `chromium` (tests/run.sh installs it). Set
//! `PLANTSYNC_DASHBOARD_SCREENSHOT=DIR` to keep the screenshots (`dashboard.png` at 1280 px,
//! `dashboard-phone.png` at 360 px; docs/ has them).

use crate::support::QUIET_AGENT;
use crate::support::{Sandbox, sqlite3};
use crate::upstream::{published_api, simulator, synced};
use plantsync::api::dashboard::svg::kwh;
use plantsync::domain::{AlertStatus, OrgId, PlantZone, Timestamp};
use plantsync::store::{AlertFilter, HistoryScope, PlantFilter, Store};
use plantsync::vendors::history::VendorDay;
use serde_json::Value;
use std::io::{Read, Write};
use std::path::Path;

/// A running agent that syncs only when asked: its process (stopped with SIGTERM when
/// dropped), API address and admin token.
struct Agent {
    child: std::process::Child,
    api: String,
    token: String,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = std::process::Command::new("kill").args(["-TERM", &pid]).status();
        let _ = self.child.wait();
    }
}

async fn start_agent(sandbox: &Sandbox) -> Agent {
    let child = sandbox.spawnable(&["run"]).envs(QUIET_AGENT).spawn().unwrap();
    let (api, token) = published_api(sandbox, child.id()).await;
    Agent { child, api, token }
}

/// A client that does not follow redirects (the test looks at each answer).
fn client() -> reqwest::Client {
    plantsync::vendors::http::install_crypto_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(120))
        .build()
        .unwrap()
}

/// A fresh login URL from `plantsync dashboard --print-url`.
fn login_url(sandbox: &Sandbox) -> String {
    let url = sandbox.ok(&["dashboard", "--print-url"]).trim().to_owned();
    assert!(url.starts_with("http://127.0.0.1:") && url.contains("/login?code="), "{url}");
    url
}

/// Headless Chromium with its own profile: `mode` is `--dump-dom` (the DOM on stdout) or
/// `--screenshot=FILE`; one run follows the login's redirect and keeps its cookie.
async fn chromium(profile: &Path, width: u32, height: u32, mode: String, url: String) -> String {
    let profile = profile.to_owned();
    tokio::task::spawn_blocking(move || {
        let output = std::process::Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--no-first-run",
                &format!("--user-data-dir={}", profile.display()),
                &format!("--window-size={width},{height}"),
                &mode,
                &url,
            ])
            .env("HOME", &profile)
            .output()
            .expect("chromium must be installed (tests/run.sh installs it)");
        assert!(output.status.success(), "chromium: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    })
    .await
    .unwrap()
}

/// The text of the first element after `marker` (up to its closing `<`).
fn text_after<'a>(dom: &'a str, marker: &str) -> &'a str {
    let at = dom.find(marker).unwrap_or_else(|| panic!("no {marker} in the page"));
    let rest = &dom[at + marker.len()..];
    let start = rest.find('>').unwrap() + 1;
    let end = rest[start..].find('<').unwrap();
    &rest[start..start + end]
}

/// The part of the page about organization `org` (its section).
fn org_section(dom: &str, org: OrgId) -> &str {
    let marker = format!("data-org=\"{org}\"");
    let start = dom.find(&marker).unwrap_or_else(|| panic!("no section of org {org}"));
    let end = dom[start..].find("</section>").unwrap();
    &dom[start..start + end]
}

/// PNG's width and height from its header.
fn png_size(file: &Path) -> (u32, u32) {
    let bytes = std::fs::read(file).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{} is no PNG", file.display());
    let word = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (word(16), word(20))
}

/// Synced from the simulator, with yesterday's figure of one plant replaced by a chosen
/// portal value: the sandbox, the organization and that plant's id.
async fn seeded(
    sim: &plantsync::simulator::Simulator,
) -> (Sandbox, OrgId, plantsync::domain::PlantId) {
    let sandbox = synced(sim);
    let store = Store::open(sandbox.db()).unwrap();
    let org = store.list_orgs().await.unwrap()[0].id;
    let plants = store.list_plants(PlantFilter::default()).await.unwrap();
    // A plant whose today the sync stored: just after a zone's midnight, a reading the
    // portal took before it belongs to that zone's yesterday (the simulator's plants span
    // eight zones, so some plant always has its today).
    let kolkata = PlantZone::Named(chrono_tz::Asia::Kolkata);
    let energy =
        store.today_and_yesterday(HistoryScope::Org(org), Timestamp::now(), kolkata).await.unwrap();
    let plant = plants
        .iter()
        .find(|p| energy.get(&p.id).is_some_and(|(today, _)| today.is_some()))
        .expect("a plant with today's energy");
    let zone = plantsync::domain::PlantZone::Named(chrono_tz::Asia::Kolkata);
    let zone = plant.timezone.as_deref().and_then(|z| z.parse().ok()).unwrap_or(zone);
    let yesterday = zone.local_date(&Timestamp::now()).pred_opt().unwrap();
    let day = VendorDay {
        vendor_plant_id: plant.vendor_plant_id.clone(),
        day: yesterday,
        energy_kwh: Some(4321.5),
    };
    store
        .record_backfill(
            plant.vendor_id,
            vec![day],
            Timestamp::now(),
            plantsync::domain::PlantZone::Named(chrono_tz::Asia::Kolkata),
        )
        .await
        .unwrap();
    (sandbox, org, plant.id)
}

/// What the store says: the organization's today and yesterday (sums over its plants).
async fn store_energy(sandbox: &Sandbox, org: OrgId) -> (f64, f64) {
    let store = Store::open_read_only(sandbox.db()).unwrap();
    let fallback = PlantZone::Named(chrono_tz::Asia::Kolkata);
    let energy = store
        .today_and_yesterday(HistoryScope::Org(org), Timestamp::now(), fallback)
        .await
        .unwrap();
    let today: f64 = energy.values().filter_map(|e| e.0).sum();
    let yesterday: f64 = energy.values().filter_map(|e| e.1).sum();
    (today, yesterday)
}

/// The page shows `value` as `kwh` formats it, but for the last bits of the sum: the page
/// and the test add the plants' values in different orders, and a sum on a half (a seeded
/// 4321.5) may round either way.
fn shows(shown: &str, value: f64, what: &str) {
    let bits = 1e-9 * value.abs().max(1.0);
    let near = [value - bits, value, value + bits].map(kwh);
    assert!(near.contains(&shown.to_owned()), "{what}: {shown}, not one of {near:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_logs_in_once_and_the_page_shows_the_stores_numbers() {
    let sim = simulator().await;
    let (sandbox, org, plant) = seeded(&sim).await;
    let agent = start_agent(&sandbox).await;
    let profile = tempfile::tempdir().unwrap();

    let dom = chromium(profile.path(), 1280, 900, "--dump-dom".into(), login_url(&sandbox)).await;
    assert!(dom.contains("<h1>"), "{dom}");
    let (today, yesterday) = store_energy(&sandbox, org).await;
    assert!(yesterday >= 4321.5, "the chosen figure is in the store: {yesterday}");
    assert!(today > 0.0, "the sync stored today's energy: {today}");
    let section = org_section(&dom, org);
    shows(text_after(section, "data-energy=\"today\""), today, "today");
    shows(text_after(section, "data-energy=\"yesterday\""), yesterday, "yesterday");

    // A plant's today, as its row shows it (to the Wh), matches the store's.
    let store = Store::open_read_only(sandbox.db()).unwrap();
    let fallback = PlantZone::Named(chrono_tz::Asia::Kolkata);
    let energy = store
        .today_and_yesterday(HistoryScope::Plant(plant), Timestamp::now(), fallback)
        .await
        .unwrap();
    let row = &dom[dom.find(&format!("data-plant=\"{plant}\"")).expect("the plant's row")..];
    let row = &row[..row.find("</tr>").unwrap()];
    let value = energy.get(&plant).and_then(|e| e.0).expect("the sync stored the plant's today");
    let shown: f64 = text_between(row, "data-kwh=\"", "\"").parse().unwrap();
    assert!((shown - value).abs() < 0.0005, "{shown} vs {value}");
    assert!(row.contains(&kwh(value)), "{row}");

    // An open alert's title is listed.
    let alerts = store
        .list_alerts(AlertFilter { status: Some(AlertStatus::Active), ..AlertFilter::default() })
        .await
        .unwrap();
    let alert = alerts.first().expect("the simulator's accounts have open alerts");
    assert!(section.contains(&format!(
        "<th scope=\"row\" class=\"alert-title\">{}</th>",
        escape(&alert.title)
    )));
    assert!(section.contains("<svg"), "the 30-day chart is drawn");
    assert!(!dom.contains(&agent.token), "the admin token is never in a page");
    assert!(!dom.contains("<script"), "no script");

    // The plant page, through a login of its own (the session cookie ends with the browser).
    let url = format!("{}&next=/plants/{plant}", login_url(&sandbox));
    let page = chromium(profile.path(), 1280, 900, "--dump-dom".into(), url).await;
    let shown = text_after(&page, "data-energy=\"today\"");
    assert_eq!(shown, kwh(value));
    assert!(page.contains("portal history (backfill)"), "the legend marks the sources");
    assert!(page.contains("4,322 kWh (portal history)"), "yesterday's bar is the portal's figure");
    assert!(page.contains("Power today"));
    // Today's power curve has a point per sample of the plant-local today.
    let named = store.history_plants(HistoryScope::Plant(plant), fallback).await.unwrap();
    let zone = named[0].zone;
    let today = zone.local_date(&Timestamp::now());
    let (start, end) =
        (zone.end_of_day(today.pred_opt().unwrap()).unwrap(), zone.end_of_day(today).unwrap());
    let samples = store.power_samples(plant, start, end).await.unwrap();
    assert!(!samples.is_empty(), "the sync stored a power sample of the plant");
    assert_eq!(page.matches("<circle").count(), samples.len(), "one point per sample");
    assert!(page.contains("<polyline"));

    // Screenshots: the desktop width and a phone's.
    let shots = tempfile::tempdir().unwrap();
    for (name, width, height) in [("dashboard.png", 1280, 900), ("dashboard-phone.png", 360, 1400)]
    {
        let file = shots.path().join(name);
        let mode = format!("--screenshot={}", file.display());
        chromium(profile.path(), width, height, mode, login_url(&sandbox)).await;
        assert_eq!(png_size(&file), (width, height), "{name}");
        if let Some(dir) = std::env::var_os("PLANTSYNC_DASHBOARD_SCREENSHOT") {
            std::fs::copy(&file, Path::new(&dir).join(name)).unwrap();
        }
    }
    // The 360 px page rendered the dashboard itself, not the 401 page.
    let phone = chromium(profile.path(), 360, 1400, "--dump-dom".into(), login_url(&sandbox)).await;
    assert!(phone.contains("data-energy=\"today\""), "{phone}");
    drop(agent);
}

fn text_between<'a>(text: &'a str, from: &str, to: &str) -> &'a str {
    let start = text.find(from).unwrap_or_else(|| panic!("no {from} in {text}")) + from.len();
    let end = text[start..].find(to).unwrap();
    &text[start..start + end]
}

/// HTML's escaping of text, as the page writes it.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A form's body, as a browser sends it (the values here need no more escaping than `/`).
fn form_body(fields: &[(&str, String)]) -> String {
    let fields: Vec<String> =
        fields.iter().map(|(k, v)| format!("{k}={}", v.replace('/', "%2F"))).collect();
    fields.join("&")
}

/// A raw HTTP/1.1 request to `api` (any `Host`): the status line and the rest.
fn raw(api: &str, request: &str) -> String {
    let mut stream = std::net::TcpStream::connect(api).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_need_a_session_a_code_works_once_and_sync_needs_the_csrf_token() {
    let sim = simulator().await;
    let (sandbox, org, _) = seeded(&sim).await;
    let agent = start_agent(&sandbox).await;
    let (api, token) = (agent.api.clone(), agent.token.clone());
    let http = client();
    let mut pages = Vec::new();

    // No cookie: 401, saying what to run.
    let answer = http.get(format!("http://{api}/")).send().await.unwrap();
    assert_eq!(answer.status(), 401);
    let body = answer.text().await.unwrap();
    assert!(body.contains("plantsync dashboard"), "{body}");
    pages.push(body);
    let answer = http.get(format!("http://{api}/plants/1")).send().await.unwrap();
    assert_eq!(answer.status(), 401);

    // A wrong Host is refused for the pages too.
    let answer = raw(&api, "GET / HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    let answer = raw(
        &api,
        "GET /login?code=x HTTP/1.1\r\nHost: dashboard.evil.example:80\r\nConnection: close\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");

    // The login code needs the admin token, and the JSON API keeps refusing any Origin.
    let code_url = format!("http://{api}/api/dashboard/login-code");
    assert_eq!(http.post(&code_url).send().await.unwrap().status(), 401);
    let from_page = http
        .post(&code_url)
        .bearer_auth(&token)
        .header("Origin", format!("http://{api}"))
        .send()
        .await
        .unwrap();
    assert_eq!(from_page.status(), 403, "the JSON API takes no Origin, not even the API's own");
    let code: Value =
        http.post(&code_url).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    let code = code["code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 64);

    // The code logs in once: a 303 to / with the session cookie, exactly so.
    let login = format!("http://{api}/login?code={code}");
    let answer = http.get(&login).send().await.unwrap();
    assert_eq!(answer.status(), 303);
    assert_eq!(answer.headers()["location"], "/");
    let set_cookie = answer.headers()["set-cookie"].to_str().unwrap().to_owned();
    let session = text_between(&set_cookie, "plantsync_session=", ";").to_owned();
    assert_eq!(session.len(), 64, "{set_cookie}");
    assert!(session.chars().all(|c| c.is_ascii_hexdigit()), "{set_cookie}");
    assert_eq!(
        set_cookie,
        format!("plantsync_session={session}; HttpOnly; SameSite=Strict; Path=/")
    );
    let again = http.get(&login).send().await.unwrap();
    assert_eq!(again.status(), 403, "a spent code is refused");
    assert!(again.headers().get("set-cookie").is_none());
    let body = again.text().await.unwrap();
    assert!(body.contains("already used"), "{body}");
    pages.push(body);

    // With the cookie: the page, its CSRF token in the forms.
    let cookie = format!("plantsync_session={session}");
    let answer = http.get(format!("http://{api}/")).header("Cookie", &cookie).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["cache-control"], "no-store");
    let page = answer.text().await.unwrap();
    let csrf = text_between(&page, "name=\"csrf\" value=\"", "\"").to_owned();
    assert!(page.contains("(before this agent started)"), "the CLI's runs are the last ones");
    assert_eq!(csrf.len(), 64);
    pages.push(page);

    let runs =
        || sqlite3(&sandbox.db(), "SELECT count(*) FROM sync_runs").trim().parse::<i64>().unwrap();
    let before = runs();
    let sync = format!("http://{api}/sync");
    let post = |form: Vec<(&'static str, String)>, origin: String| {
        http.post(&sync)
            .header("Cookie", &cookie)
            .header("Origin", origin)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form_body(&form))
            .send()
    };
    let own = format!("http://{api}");
    let org_field = ("org", org.to_string());
    for form in [
        vec![org_field.clone()],
        vec![org_field.clone(), ("csrf", "0".repeat(64))],
        vec![org_field.clone(), ("csrf", String::new())],
    ] {
        let answer = post(form, own.clone()).await.unwrap();
        assert_eq!(answer.status(), 403);
        pages.push(answer.text().await.unwrap());
    }
    let foreign =
        post(vec![org_field.clone(), ("csrf", csrf.clone())], "http://evil.example".into());
    assert_eq!(foreign.await.unwrap().status(), 403, "another site's form is refused");
    // Without the cookie the token alone does nothing.
    let bare = http
        .post(&sync)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form_body(&[("csrf", csrf.clone())]))
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), 403);
    let get = http.get(&sync).header("Cookie", &cookie).send().await.unwrap();
    assert_eq!(get.status(), 405, "a sync is a POST");
    let junk = post(vec![("org", "not-a-number".into()), ("csrf", csrf.clone())], own.clone());
    assert_eq!(junk.await.unwrap().status(), 400);
    assert_eq!(runs(), before, "no refused form ran a sync");

    let answer = post(vec![org_field, ("csrf", csrf.clone()), ("back", "/".into())], own.clone())
        .await
        .unwrap();
    assert_eq!(answer.status(), 303);
    assert_eq!(answer.headers()["location"], "/");
    assert_eq!(runs(), before + 2, "a plants run and an alerts run were recorded");
    let sources = sqlite3(
        &sandbox.db(),
        "SELECT group_concat(source) FROM (SELECT source FROM sync_runs ORDER BY id DESC LIMIT 2)",
    );
    assert_eq!(sources.trim(), "api,api");
    let page = http
        .get(format!("http://{api}/"))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Plants sync: ok"), "the flash says what ran");
    let schedule = &page[page.find("id=\"schedule\"").unwrap()..];
    let last = text_between(schedule, "Plant syncs: last run</dt><dd>", "</dd>");
    assert!(last.ends_with(" (ok)") && !last.contains("before"), "the agent's own run: {last}");
    pages.push(page);

    for page in &pages {
        assert!(!page.contains(&token), "the admin token is never in a page");
    }
    assert!(!sandbox.logs().contains(&session), "the session id is never logged");
    assert!(!sandbox.logs().contains(&code), "the code is never logged");

    // Sessions live in the agent's memory: a restarted agent knows none.
    drop(agent);
    assert!(!sandbox.data_dir().join("agent.json").exists(), "the stopped agent unpublished");
    let agent = start_agent(&sandbox).await;
    let answer =
        http.get(format!("http://{}/", agent.api)).header("Cookie", &cookie).send().await.unwrap();
    assert_eq!(answer.status(), 401, "a restart logs out");
    drop(agent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_opens_the_browser_or_prints_the_login_url() {
    let sim = simulator().await;
    let (sandbox, _, _) = seeded(&sim).await;
    let agent = start_agent(&sandbox).await;
    let output = sandbox.cmd().arg("dashboard").env("PATH", "/nonexistent").output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let out = String::from_utf8(output.stdout).unwrap();
    assert!(out.contains("no browser could be started"), "{out}");
    let url = out.lines().last().unwrap();
    assert!(url.starts_with(&format!("http://{}/login?code=", agent.api)), "{out}");
    // The printed link works (once).
    let answer = client().get(url).send().await.unwrap();
    assert_eq!(answer.status(), 303);
    // With a browser opener (a stand-in `xdg-open` that notes its argument): it gets the
    // link, and the command does not print it.
    let bin = sandbox.dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let noted = sandbox.dir.path().join("opened");
    let opener = bin.join("xdg-open");
    std::fs::write(&opener, format!("#!/bin/sh\nprintf '%s' \"$1\" > '{}'\n", noted.display()))
        .unwrap();
    std::fs::set_permissions(&opener, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let output = sandbox.cmd().arg("dashboard").env("PATH", &bin).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let out = String::from_utf8(output.stdout).unwrap();
    assert!(out.contains("opened the dashboard in the browser"), "{out}");
    let opened = std::fs::read_to_string(&noted).unwrap();
    assert!(opened.starts_with(&format!("http://{}/login?code=", agent.api)), "{opened}");
    assert!(!out.contains(&opened), "the link is not printed when a browser opened it");
    assert_eq!(client().get(&opened).send().await.unwrap().status(), 303);
    drop(agent);
    // No agent: said so, exit 2.
    let output = sandbox.cmd().args(["dashboard", "--print-url"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no agent runs"));
}
