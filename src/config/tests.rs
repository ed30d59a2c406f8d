use super::*;

struct Fixture {
    dir: tempfile::TempDir,
    inputs: Inputs,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let inputs = Inputs {
            default_config_path: Some(dir.path().join("absent.toml")),
            default_data_dir: Some(dir.path().join("data")),
            ..Default::default()
        };
        Self { dir, inputs }
    }

    fn file(mut self, toml: &str) -> Self {
        let path = self.dir.path().join("config.toml");
        std::fs::write(&path, toml).unwrap();
        self.inputs.config_flag = Some(path);
        self
    }

    fn env(mut self, var: &str, value: &str) -> Self {
        self.inputs.env.insert(var.into(), value.into());
        self
    }

    fn flag(mut self, key: &Key, value: &str) -> Self {
        self.inputs.flags.set(key, Some(value.into()));
        self
    }

    fn resolve(&self) -> Result<Settings, ConfigError> {
        Settings::resolve(&self.inputs)
    }
}

const FILE: &str = r#"
data_dir = "/from/file"
timezone = "Europe/Berlin"
[log]
level = "debug"
[sync]
window_start = "20:00"
concurrency = 2
"#;

#[test]
fn defaults_when_nothing_is_given() {
    let s = Fixture::new().resolve().unwrap();
    assert_eq!(s.timezone.value, chrono_tz::Asia::Kolkata);
    assert_eq!(s.window_start.value.to_string(), "19:00");
    assert_eq!(s.window_end.value.to_string(), "06:00");
    assert_eq!(s.sync_schedule.value.to_string(), "*/15 * * * *");
    assert!(s.sync_enabled.value);
    assert_eq!(s.sync_concurrency.value, 16);
    assert!(s.cron_secret.value.is_none());
    assert_eq!(s.timezone.source, Source::Default);
    assert!(s.config_file.is_none());
}

/// Each row: a key, then the value expected with the file, file+env, file+env+flag.
#[test]
fn each_layer_overrides_the_one_below() {
    let file_only = Fixture::new().file(FILE);
    let s = file_only.resolve().unwrap();
    assert_eq!(s.data_dir.value, PathBuf::from("/from/file"));
    assert_eq!(s.timezone.value, chrono_tz::Europe::Berlin);
    assert_eq!(s.log_level.value, "debug");
    assert_eq!(s.window_start.value.to_string(), "20:00");
    assert_eq!(s.sync_concurrency.value, 2);
    assert!(matches!(s.timezone.source, Source::File { key: "timezone", .. }));

    let with_env = Fixture::new()
        .file(FILE)
        .env("PLANTSYNC_DATA_DIR", "/from/env")
        .env("PLANTSYNC_TIMEZONE", "UTC")
        .env("PLANTSYNC_LOG", "warn")
        .env("SYNC_WINDOW_START", "21:30")
        .env("PLANTSYNC_SYNC_CONCURRENCY", "3");
    let s = with_env.resolve().unwrap();
    assert_eq!(s.data_dir.value, PathBuf::from("/from/env"));
    assert_eq!(s.timezone.value, chrono_tz::UTC);
    assert_eq!(s.log_level.value, "warn");
    assert_eq!(s.window_start.value.to_string(), "21:30");
    assert_eq!(s.sync_concurrency.value, 3);
    assert_eq!(s.window_start.source, Source::Env { var: "SYNC_WINDOW_START" });

    let with_flags = with_env
        .flag(&keys::DATA_DIR, "/from/flag")
        .flag(&keys::TIMEZONE, "America/New_York")
        .flag(&keys::LOG_LEVEL, "error");
    let s = with_flags.resolve().unwrap();
    assert_eq!(s.data_dir.value, PathBuf::from("/from/flag"));
    assert_eq!(s.timezone.value, chrono_tz::America::New_York);
    assert_eq!(s.log_level.value, "error");
    assert_eq!(s.data_dir.source, Source::Flag { flag: "--data-dir" });
    // Keys without a flag keep the environment's value.
    assert_eq!(s.window_start.value.to_string(), "21:30");
}

#[test]
fn plantsync_variable_beats_the_original_name() {
    let s = Fixture::new()
        .env("ENABLE_PLANT_SYNC_CRON", "false")
        .env("PLANT_SYNC_CRON_SCHEDULE", "*/5 * * * *")
        .resolve()
        .unwrap();
    assert!(!s.sync_enabled.value);
    assert_eq!(s.sync_schedule.value.to_string(), "*/5 * * * *");
    let s = Fixture::new()
        .env("ENABLE_PLANT_SYNC_CRON", "false")
        .env("PLANTSYNC_SYNC_ENABLED", "true")
        .resolve()
        .unwrap();
    assert!(s.sync_enabled.value);
    assert_eq!(s.sync_enabled.source, Source::Env { var: "PLANTSYNC_SYNC_ENABLED" });
}

fn error_of(fixture: &Fixture) -> String {
    fixture.resolve().unwrap_err().to_string()
}

#[test]
fn bad_values_name_value_key_and_source() {
    let cases: Vec<(Fixture, &[&str])> = vec![
        (
            Fixture::new().env("SYNC_WINDOW_START", "25:00"),
            &["'25:00'", "sync.window_start", "environment variable SYNC_WINDOW_START", "hour 25"],
        ),
        (
            Fixture::new().file("timezone = \"Mars/Olympus\""),
            &["'Mars/Olympus'", "timezone", "config file", "key timezone", "IANA"],
        ),
        (
            Fixture::new().env("PLANT_SYNC_CRON_SCHEDULE", "every 15 minutes"),
            &["'every 15 minutes'", "sync.schedule", "PLANT_SYNC_CRON_SCHEDULE", "cron"],
        ),
        (
            Fixture::new().file("[sync]\ndefault_interval_minutes = -5"),
            &[
                "'-5'",
                "sync.default_interval_minutes",
                "key sync.default_interval_minutes",
                "1 to 1440",
            ],
        ),
        (
            Fixture::new().flag(&keys::TIMEZONE, "Nowhere"),
            &["'Nowhere'", "command-line flag --timezone"],
        ),
        (
            Fixture::new().env("ENABLE_PLANT_SYNC_CRON", "maybe"),
            &["'maybe'", "ENABLE_PLANT_SYNC_CRON", "true or false"],
        ),
        (
            Fixture::new().file("[sync]\nwindow_strat = \"19:00\""),
            &["unknown key 'sync.window_strat'"],
        ),
        (Fixture::new().file("timezone = "), &["not valid TOML"]),
    ];
    for (fixture, needles) in cases {
        let message = error_of(&fixture);
        for needle in needles {
            assert!(message.contains(needle), "{message:?} lacks {needle:?}");
        }
    }
}

#[test]
fn missing_explicit_config_file_is_an_error() {
    let mut fixture = Fixture::new();
    fixture.inputs.config_flag = Some(fixture.dir.path().join("nope.toml"));
    assert!(error_of(&fixture).contains("cannot read config file"));
}

#[test]
fn empty_variables_count_as_unset() {
    let s = Fixture::new()
        .env("PLANTSYNC_CRON_SECRET", "")
        .env("CRON_SECRET", "the-real-one")
        .env("PLANTSYNC_DATA_DIR", " ")
        .resolve()
        .unwrap();
    assert_eq!(s.cron_secret.value.as_ref().map(Secret::expose), Some("the-real-one"));
    assert_eq!(s.data_dir.source, Source::Default);
}

#[test]
fn secrets_are_redacted_in_debug_and_show() {
    let s = Fixture::new().env("CRON_SECRET", "cron-secret-value-123").resolve().unwrap();
    assert_eq!(s.cron_secret.value.as_ref().map(Secret::expose), Some("cron-secret-value-123"));
    assert!(!format!("{s:?}").contains("cron-secret-value-123"));
    let shown =
        s.entries().iter().map(|(k, v, src)| format!("{k}={v} ({src})")).collect::<String>();
    assert!(!shown.contains("cron-secret-value-123"), "{shown}");
    assert!(shown.contains("api.cron_secret=**REDACTED** (environment variable CRON_SECRET)"));
}

#[test]
fn the_upstream_url_password_is_redacted_in_debug_show_and_errors() {
    let s = Fixture::new()
        .env("PLANTSYNC_UPSTREAM_URL", "postgres://ops:up-pw-987@db.example/central")
        .resolve()
        .unwrap();
    let url = s.upstream_url.value.as_ref().unwrap();
    assert_eq!(url.secret().expose(), "postgres://ops:up-pw-987@db.example/central");
    assert!(!format!("{s:?}").contains("up-pw-987"));
    let shown =
        s.entries().iter().map(|(k, v, src)| format!("{k}={v} ({src})")).collect::<String>();
    assert!(
        shown.contains("upstream.url=postgres://ops:**REDACTED**@db.example/central"),
        "{shown}"
    );
    assert!(!shown.contains("up-pw-987"), "{shown}");
    let err = Fixture::new()
        .env("PLANTSYNC_UPSTREAM_URL", "postgres://ops:up-pw-987@db/c?sslmode=bogus")
        .resolve()
        .unwrap_err()
        .to_string();
    assert!(err.contains("sslmode must be one of disable, prefer, require"), "{err}");
    assert!(!err.contains("up-pw-987"), "{err}");
}

#[test]
fn one_table_drives_the_keys_the_fields_and_config_show() {
    let s = Fixture::new().resolve().unwrap();
    let shown: Vec<&str> = s.entries().iter().map(|(key, _, _)| *key).collect();
    let known: Vec<&str> = keys::ALL.iter().map(|k| k.name).collect();
    assert_eq!(shown, known, "config show lists every key once, in the table's order");
    let mut unique = known.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), known.len(), "no key is defined twice");
}

#[test]
fn every_secret_key_is_redacted_by_config_show() {
    let marker = "plain-text-secret-4711";
    for key in keys::ALL.iter().filter(|k| k.secret) {
        // A value the key accepts, the marker where its secret part goes.
        let value = match key.name {
            "upstream.url" => format!("postgres://ops:{marker}@db.example/central"),
            _ => marker.to_owned(),
        };
        let mut fixture = Fixture::new();
        for var in key.env {
            fixture = fixture.env(var, &value);
        }
        let settings = fixture.resolve().unwrap();
        let shown: Vec<String> = settings.entries().into_iter().map(|(_, v, _)| v).collect();
        assert!(
            shown.iter().all(|v| !v.contains(marker)),
            "{} shown in clear: {shown:?}",
            key.name
        );
        assert!(format!("{settings:?}").find(marker).is_none(), "{} in Debug", key.name);
    }
}

/// Every way a cron expression enters (both schedules, the file and each variable) refuses
/// one that never fires, one finer than a minute and a step past its field, naming the key,
/// where the value came from and why.
#[test]
fn schedules_that_cannot_fire_or_fire_each_second_are_refused_at_every_entry() {
    let bad = [
        ("0 0 31 2 *", "it never fires"),
        ("* * * * * *", "takes no seconds"),
        ("*/61 * * * *", "step 61 in the minute field"),
    ];
    for (value, why) in bad {
        let cases: Vec<(Fixture, &str, &str)> = vec![
            (
                Fixture::new().file(&format!("[sync]\nschedule = \"{value}\"")),
                "sync.schedule",
                "key sync.schedule",
            ),
            (
                Fixture::new().file(&format!("[alerts]\nschedule = \"{value}\"")),
                "alerts.schedule",
                "key alerts.schedule",
            ),
            (
                Fixture::new().env("PLANTSYNC_SYNC_SCHEDULE", value),
                "sync.schedule",
                "environment variable PLANTSYNC_SYNC_SCHEDULE",
            ),
            (
                Fixture::new().env("PLANT_SYNC_CRON_SCHEDULE", value),
                "sync.schedule",
                "environment variable PLANT_SYNC_CRON_SCHEDULE",
            ),
            (
                Fixture::new().env("PLANTSYNC_ALERTS_SCHEDULE", value),
                "alerts.schedule",
                "environment variable PLANTSYNC_ALERTS_SCHEDULE",
            ),
        ];
        for (fixture, key, origin) in cases {
            let message = error_of(&fixture);
            for needle in [&format!("invalid value '{value}' for {key}"), origin, why] {
                assert!(message.contains(needle), "{message:?} lacks {needle:?}");
            }
        }
    }
}
