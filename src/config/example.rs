//! The commented example config that `plantsync init` writes.

use super::keys;

/// The example file: every key, commented out, with its default, variables and flag.
pub fn example_config() -> String {
    let mut out = String::from(
        "# plantsync configuration (TOML).\n\
         #\n\
         # Precedence, lowest first: built-in defaults < this file < environment variables <\n\
         # command-line flags. Every key below is commented out and shows its default;\n\
         # uncomment a line to change it. `plantsync config show` prints the effective\n\
         # settings and where each one came from.\n",
    );
    let mut section = "";
    for key in keys::ALL {
        let (table, name) = key.name.split_once('.').unwrap_or(("", key.name));
        if table != section {
            out.push_str(&format!("\n[{table}]\n"));
            section = table;
        } else {
            out.push('\n');
        }
        out.push_str(&format!("# {}\n", key.doc));
        let mut via: Vec<String> = key.env.iter().map(|v| format!("env {v}")).collect();
        if let Some(flag) = key.flag {
            via.push(format!("flag {flag}"));
        }
        out.push_str(&format!("# Also: {}\n", via.join(", ")));
        match key.default {
            Some(default) => out.push_str(&format!("# {name} = {default}\n")),
            None if key.secret => {
                out.push_str(&format!("# {name} = \"\"   # prefer the environment for secrets\n"))
            }
            None => out.push_str(&format!("# {name} = \"\"\n")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_parses_and_uncommented_defaults_are_valid() {
        let example = example_config();
        let table: toml::Table = example.parse().expect("commented example is valid TOML");
        assert!(table.keys().all(|k| {
            ["log", "sync", "alerts", "portals", "api", "secrets", "notify", "upstream", "history"]
                .contains(&k.as_str())
        }));
        // Uncommenting every key that has a default must give a valid configuration.
        let uncommented: String = example
            .lines()
            .map(|line| match line.strip_prefix("# ") {
                Some(rest) if rest.contains(" = ") && !rest.contains("\"\"") => rest,
                _ if line.starts_with('[') => line,
                _ => "",
            })
            .collect::<Vec<_>>()
            .join("\n");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, uncommented).unwrap();
        let inputs = crate::config::Inputs {
            config_flag: Some(path),
            default_data_dir: Some(dir.path().to_path_buf()),
            ..Default::default()
        };
        let settings = crate::config::Settings::resolve(&inputs).unwrap();
        assert_eq!(settings.window_start.value.to_string(), "19:00");
        assert!(matches!(settings.window_start.source, crate::config::Source::File { .. }));
    }
}
