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
//! Files are created owner-only (0600) in a directory created 0700 (again, if it was
//! deleted while the process runs), and at every new file those dated `retention` days or
//! more before today are removed; the file being written never is.

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

    /// Opens the file of `date`. The directory is created again first (someone may have
    /// deleted `logs/` while the process runs: without this every later switch would fail
    /// and every line be lost). On failure the current file, if any, stays in use.
    fn switch_to(&mut self, date: String) -> io::Result<()> {
        crate::datadir::dir::create_private_dir(&self.dir)?;
        let path = self.dir.join(Self::file_name(self.prefix, &date));
        let file =
            crate::datadir::dir::private_file_options().create(true).append(true).open(&path)?;
        // A file an older plantsync created world-readable.
        let _ = crate::datadir::dir::restrict(&path);
        self.current = Some((date, file));
        if let Ok(today) = chrono::NaiveDate::parse_from_str(&self.today(), "%Y-%m-%d") {
            self.prune(today);
        }
        Ok(())
    }

    /// Removes the files dated `retention` days or more before `today`. The date, not the
    /// count, decides: a file dated in the future (a clock set wrong once) takes no place of
    /// today's, and the file being written is never removed whatever its date.
    fn prune(&self, today: chrono::NaiveDate) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return };
        let Some(oldest_kept) =
            today.checked_sub_days(chrono::Days::new(self.retention as u64 - 1))
        else {
            return;
        };
        let start = format!("{}.", self.prefix);
        let current = self.current.as_ref().map(|(date, _)| date.as_str());
        for name in entries.flatten().filter_map(|entry| entry.file_name().into_string().ok()) {
            let Some(date) = name.strip_prefix(&start).and_then(|rest| rest.strip_suffix(".log"))
            else {
                continue;
            };
            let Ok(day) = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d") else { continue };
            if is_date(date) && day < oldest_kept && Some(date) != current {
                let _ = std::fs::remove_file(self.dir.join(&name));
            }
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
            // A line is better in the previous day's file than lost.
            if let Err(e) = self.switch_to(date)
                && self.current.is_none()
            {
                return Err(e);
            }
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

    fn day(offset: i64) -> String {
        (chrono::Utc::now().date_naive() + chrono::TimeDelta::days(offset))
            .format("%Y-%m-%d")
            .to_string()
    }

    fn line(date: &str) -> Vec<u8> {
        format!("[{date}T00:00:00.000+00:00] x\n").into_bytes()
    }

    #[test]
    fn files_older_than_the_retention_are_removed_by_date() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("logs");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("notes.txt"), "mine").unwrap();
        // A file from a clock set years ahead once, and two old ones.
        for date in ["2999-01-01", &day(-2), &day(-5)] {
            std::fs::write(dir.join(DailyFile::file_name("plantsync", date)), "old").unwrap();
        }
        let _file = DailyFile::open(&dir, "plantsync", chrono_tz::UTC, 2).unwrap();
        let mut expected = vec![
            "notes.txt".to_owned(),
            DailyFile::file_name("plantsync", "2999-01-01"),
            DailyFile::file_name("plantsync", &day(0)),
        ];
        expected.sort();
        assert_eq!(names(&dir), expected, "the future file takes no place of today's");
    }

    #[test]
    fn the_file_being_written_is_never_removed() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("logs");
        let mut file = DailyFile::open(&dir, "plantsync", chrono_tz::UTC, 1).unwrap();
        // Lines dated long ago (a replayed timestamp): their file is the current one.
        file.write_all(&line(&day(-30))).unwrap();
        file.write_all(&line(&day(-30))).unwrap();
        let old = dir.join(DailyFile::file_name("plantsync", &day(-30)));
        assert_eq!(std::fs::read(&old).unwrap(), [line(&day(-30)), line(&day(-30))].concat());
    }

    #[test]
    fn a_deleted_log_dir_is_created_again_and_no_line_is_lost() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("logs");
        let mut file = DailyFile::open(&dir, "plantsync", chrono_tz::UTC, 3).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        file.write_all(&line(&day(1))).unwrap();
        let tomorrow = dir.join(DailyFile::file_name("plantsync", &day(1)));
        assert_eq!(std::fs::read(&tomorrow).unwrap(), line(&day(1)));

        // When the new file cannot be made, the line goes to the current one.
        std::fs::create_dir(dir.join(DailyFile::file_name("plantsync", &day(2)))).unwrap();
        file.write_all(&line(&day(2))).unwrap();
        assert_eq!(std::fs::read(&tomorrow).unwrap(), [line(&day(1)), line(&day(2))].concat());
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
