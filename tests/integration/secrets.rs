//! No password, app secret, API key or CRON_SECRET in any output or log file.

use crate::support::Sandbox;

const SECRETS: [&str; 4] =
    ["secret-key-xyz", "password-abc", "edge-api-key-123", "cron-secret-789"];

#[test]
fn secrets_never_reach_output_or_logs() {
    let sandbox = Sandbox::new();
    let mut seen = String::new();
    let mut run = |args: &[&str], stdin: &str| {
        let output = sandbox
            .cmd()
            .env("CRON_SECRET", "cron-secret-789")
            .args(["--log-level", "trace"])
            .args(args)
            .write_stdin(stdin)
            .output()
            .unwrap();
        assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        seen.push_str(&String::from_utf8_lossy(&output.stdout));
        seen.push_str(&String::from_utf8_lossy(&output.stderr));
    };
    run(&["org", "add", "Alpha"], "");
    run(
        &[
            "vendor",
            "add",
            "--name",
            "Roof",
            "--kind",
            "sungrow",
            "--org",
            "Alpha",
            "--app-id",
            "K",
            "--username",
            "u",
        ],
        "secret-key-xyz\npassword-abc\n",
    );
    run(&["vendor", "add", "--name", "Edge", "--kind", "solaredge"], "edge-api-key-123\n");
    run(&["vendor", "set", "Roof", "--password"], "password-abc\n");
    for args in [
        &["config", "show"][..],
        &["config", "show", "--format", "json"],
        &["vendor", "list", "--format", "json"],
        &["vendor", "list", "--format", "csv"],
        &["vendor", "show", "Roof", "--format", "json"],
        &["vendor", "show", "Roof"],
        &["status"],
        &["status", "--format", "json"],
    ] {
        run(args, "");
    }
    seen.push_str(&sandbox.logs());
    assert!(seen.contains("**REDACTED**"), "config show should show the secret as redacted");
    for secret in SECRETS {
        assert!(!seen.contains(secret), "secret {secret:?} leaked:\n{seen}");
    }
    // The credentials are really stored (the database file is the one place they live).
    let stored = crate::support::sqlite3(
        &sandbox.db(),
        "SELECT password FROM vendor_credentials WHERE vendor_id = 1",
    );
    assert_eq!(stored, "password-abc\n");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(sandbox.db()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the database holds credentials: owner-only");
    }
}
