//! Reading secrets: a no-echo prompt on a terminal, otherwise one line per secret from
//! stdin. Never from a flag, so they stay out of shell history and `ps`.

use crate::cli::commands::UsageError;
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

    /// The next secret, described to the user as `label`. A secret that is missing or
    /// empty is the caller's to give: a [`UsageError`] (exit 2); only a failing terminal or
    /// stdin is a runtime error.
    pub fn read(&mut self, label: &str) -> anyhow::Result<String> {
        let value = if self.interactive {
            rpassword::prompt_password(format!("{label}: "))?
        } else {
            match self.lines.next() {
                Some(line) => line?,
                None => {
                    return Err(UsageError(format!(
                        "expected the {label} on standard input (one secret per line), found \
                         end of input"
                    ))
                    .into());
                }
            }
        };
        let value = value.trim_end_matches(['\r', '\n']).to_owned();
        if value.is_empty() {
            return Err(UsageError(format!("the {label} is empty")).into());
        }
        Ok(value)
    }
}
