//! The daily log file: `logs/plantsync.YYYY-MM-DD.log`, named by the date its lines carry.
//!
//! # One rule for the date
//!
//! Every line starts with its timestamp in the configured zone (`[2026-11-29T19:05:03.123+05:30]`),
//! and a line goes to the file of the date it starts with. So a file holds exactly one
//! local day, whatever the zone: a line written at 02:00 in Kolkata is in that day's file
//! although it is still the previous day in UTC (tracing-appender's own rolling names files
//! by the UTC date, which split a local day over two files). A write that does not start
//! with a timestamp goes to the file of the current date in the zone.
//!
//! Files are created owner-only (0600) in a directory created 0700, and at every new file
//! the oldest are removed so that `retention` files remain.

use chrono_tz::Tz;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Appends lines to the day's file, switching files when the day of the lines changes.
#[derive(Debug)]
pub struct DailyFile {
    dir: PathBuf,
    prefix: &'static str,
    timezone: Tz,
    retention: usize,
    current: Option<(String, File)>,
}

impl DailyFile {
    /// Creates `dir` if needed and opens today's file, so a problem shows at start-up.
    pub fn open(
        dir: &Path,
        prefix: &'static str,
        timezone: Tz,
        retention: usize,
    ) -> io::Result<Self> {
        crate::datadir::dir::create_private_dir(dir)?;
        let mut file = Self {
            dir: dir.to_path_buf(),
            prefix,
            timezone,
            retention: retention.max(1),
            current: None,
        };
        let today = file.today();
        file.switch_to(today)?;
        Ok(file)
    }

    /// The file name of `date` (`YYYY-MM-DD`).
    pub fn file_name(prefix: &str, date: &str) -> String {
        format!("{prefix}.{date}.log")
    }

    fn today(&self) -> String {
        chrono::Utc::now().with_timezone(&self.timezone).format("%Y-%m-%d").to_string()
    }

    fn switch_to(&mut self, date: String) -> io::Result<()> {
        let path = self.dir.join(Self::file_name(self.prefix, &date));
        let file =
            crate::datadir::dir::private_file_options().create(true).append(true).open(&path)?;
        // A file an older plantsync created world-readable.
        let _ = crate::datadir::dir::restrict(&path);
        self.current = Some((date, file));
        self.prune();
        Ok(())
    }

    /// Removes the oldest files beyond `retention` (names sort by date).
    fn prune(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return };
        let start = format!("{}.", self.prefix);
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|entry| entry.file_name().into_string().ok())
            .filter(|name| {
                name.strip_prefix(&start)
                    .and_then(|rest| rest.strip_suffix(".log"))
                    .is_some_and(is_date)
            })
            .collect();
        names.sort();
        let excess = names.len().saturating_sub(self.retention);
        for name in &names[..excess] {
            let _ = std::fs::remove_file(self.dir.join(name));
        }
    }
}

/// `YYYY-MM-DD` as text.
fn is_date(text: &str) -> bool {
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok() && text.len() == 10
}

/// The date a line starts with (`[2026-11-29T...`), when it does.
fn line_date(line: &[u8]) -> Option<&str> {
    let date = std::str::from_utf8(line.get(1..11)?).ok()?;
    (line.first() == Some(&b'[') && is_date(date)).then_some(date)
}

impl Write for DailyFile {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        let date = match line_date(line) {
            Some(date) => date.to_owned(),
            None => self.today(),
        };
        if self.current.as_ref().is_none_or(|(current, _)| *current != date) {
            self.switch_to(date)?;
        }
        match &mut self.current {
            Some((_, file)) => file.write_all(line).map(|()| line.len()),
            None => Err(io::Error::other("no log file")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.current {
            Some((_, file)) => file.flush(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_line_goes_to_the_file_of_the_date_it_starts_with() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("logs");
        let mut file = DailyFile::open(&dir, "plantsync", chrono_tz::Asia::Kolkata, 14).unwrap();
        // 01:30 in Kolkata on the 30th is still the 29th in UTC: the local date names it.
        file.write_all(b"[2026-11-30T01:30:00.000+05:30] [SYSTEM] late\n").unwrap();
        file.write_all(b"[2026-11-29T23:59:59.999+05:30] [SYSTEM] earlier\n").unwrap();
        let late = std::fs::read_to_string(dir.join("plantsync.2026-11-30.log")).unwrap();
        assert_eq!(late, "[2026-11-30T01:30:00.000+05:30] [SYSTEM] late\n");
        let earlier = std::fs::read_to_string(dir.join("plantsync.2026-11-29.log")).unwrap();
        assert_eq!(earlier, "[2026-11-29T23:59:59.999+05:30] [SYSTEM] earlier\n");
    }

    #[test]
    fn only_the_newest_files_are_kept() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("logs");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("notes.txt"), "mine").unwrap();
        let mut file = DailyFile::open(&dir, "plantsync", chrono_tz::UTC, 2).unwrap();
        for day in ["2030-01-01", "2030-01-02", "2030-01-03"] {
            file.write_all(format!("[{day}T00:00:00.000+00:00] x\n").as_bytes()).unwrap();
        }
        assert_eq!(
            names(&dir),
            ["notes.txt", "plantsync.2030-01-02.log", "plantsync.2030-01-03.log"]
        );
    }

    #[cfg(unix)]
    #[test]
    fn the_directory_and_files_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("logs");
        let mut file = DailyFile::open(&dir, "plantsync", chrono_tz::UTC, 3).unwrap();
        file.write_all(b"[2030-01-01T00:00:00.000+00:00] x\n").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("plantsync.2030-01-01.log")), 0o600);
    }
}
