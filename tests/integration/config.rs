//! Configuration through the binary: bad values exit 2 before anything is written.

use crate::support::Sandbox;

/// Environment variables, config file text, expected message.
type BadCase = (&'static [(&'static str, &'static str)], Option<&'static str>, &'static str);

#[test]
fn bad_configuration_exits_2_and_writes_nothing() {
    let cases: Vec<BadCase> = vec![
        (
            &[("SYNC_WINDOW_START", "25:00")],
            None,
            "invalid value '25:00' for sync.window_start (from environment variable SYNC_WINDOW_START)",
        ),
        (&[("PLANTSYNC_TIMEZONE", "Mars/Base")], None, "invalid value 'Mars/Base' for timezone"),
        (
            &[("PLANT_SYNC_CRON_SCHEDULE", "*/61 * * * *")],
            None,
            "invalid value '*/61 * * * *' for sync.schedule (from environment variable \
             PLANT_SYNC_CRON_SCHEDULE): step 61 in the minute field",
        ),
        (
            &[("PLANTSYNC_ALERTS_SCHEDULE", "*/5 * * * * *")],
            None,
            "for alerts.schedule (from environment variable PLANTSYNC_ALERTS_SCHEDULE): 6 \
             fields: plantsync schedules to the minute",
        ),
        (
            &[],
            Some("[sync]\nschedule = \"0 0 31 2 *\"\n"),
            "invalid value '0 0 31 2 *' for sync.schedule (from config file",
        ),
        (&[], Some("[alerts]\nschedule = \"0 0 30 2 *\"\n"), "it never fires"),
        (
            &[],
            Some("[sync]\ndefault_interval_minutes = -5\n"),
            "invalid value '-5' for sync.default_interval_minutes (from config file",
        ),
        (&[], Some("[sync]\nwindow_end = \"6am\"\n"), "key sync.window_end"),
    ];
    for (env, file, expected) in cases {
        let sandbox = Sandbox::new();
        let mut cmd = sandbox.cmd();
        if let Some(text) = file {
            std::fs::write(sandbox.config_path(), text).unwrap();
            cmd.arg("--config").arg(sandbox.config_path());
        }
        for (key, value) in env {
            cmd.env(key, value);
        }
        let output = cmd.args(["org", "add", "Alpha"]).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(expected), "{stderr:?} lacks {expected:?}");
        assert!(!sandbox.data_dir().exists(), "nothing may be written on a config error");
    }
}

#[test]
fn config_show_names_sources_and_init_writes_a_valid_example() {
    let sandbox = Sandbox::new();
    let path = sandbox.config_path();
    let path_text = path.to_str().unwrap();
    sandbox.ok(&["init", "--config", path_text]);
    let example = std::fs::read_to_string(&path).unwrap();
    assert!(
        example.contains("# window_start = \"19:00\"") && example.contains("SYNC_WINDOW_START")
    );
    let again = sandbox.cmd().args(["init", "--config", path_text]).output().unwrap();
    assert_eq!(again.status.code(), Some(2), "init must not overwrite silently");

    std::fs::write(&path, "timezone = \"Europe/Berlin\"\n[sync]\nconcurrency = 2\n").unwrap();
    let output = sandbox
        .cmd()
        .args(["--config", path_text, "--log-level", "debug", "config", "show", "--format", "json"])
        .env("SYNC_WINDOW_END", "07:30")
        .output()
        .unwrap();
    assert!(output.status.success());
    let entries: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let find =
        |key: &str| entries.as_array().unwrap().iter().find(|e| e["key"] == key).unwrap().clone();
    assert_eq!(find("timezone")["value"], "Europe/Berlin");
    assert!(find("timezone")["source"].as_str().unwrap().starts_with("config file"));
    assert_eq!(find("sync.window_end")["source"], "environment variable SYNC_WINDOW_END");
    assert_eq!(find("log.level")["source"], "command-line flag --log-level");
    assert_eq!(find("sync.window_start")["source"], "built-in default");
    assert_eq!(find("data_dir")["source"], "command-line flag --data-dir");
    assert!(!sandbox.data_dir().exists(), "config show writes nothing");
}
