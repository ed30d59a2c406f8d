//! Reading secrets: a no-echo prompt on a terminal, otherwise one line per secret from
//! stdin. Never from a flag, so they stay out of shell history and `ps`.

use std::io::{BufRead, IsTerminal};

/// Reads secrets in order, one for each label.
pub struct SecretReader {
    interactive: bool,
    lines: std::io::Lines<std::io::StdinLock<'static>>,
}

impl SecretReader {
    /// Reads from the terminal when stdin is one, else from stdin's lines.
    pub fn from_stdin() -> Self {
        let stdin = std::io::stdin();
        Self { interactive: stdin.is_terminal(), lines: stdin.lock().lines() }
    }

    /// The next secret, described to the user as `label`.
    pub fn read(&mut self, label: &str) -> anyhow::Result<String> {
        let value = if self.interactive {
            rpassword::prompt_password(format!("{label}: "))?
        } else {
            match self.lines.next() {
                Some(line) => line?,
                None => anyhow::bail!(
                    "expected the {label} on standard input (one secret per line), found end of input"
                ),
            }
        };
        let value = value.trim_end_matches(['\r', '\n']).to_owned();
        if value.is_empty() {
            anyhow::bail!("the {label} is empty");
        }
        Ok(value)
    }
}
