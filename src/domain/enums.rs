//! The closed sets of values stored as text: vendor kinds, severities, statuses, run kinds.
//!
//! Each has one spelling in the database, in JSON and on the command line (`as_str`), and a
//! `FromStr` that accepts any case and surrounding spaces, because vendors and users pad them.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A value that is not one of an enum's spellings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} '{value}' (expected one of: {expected})")]
pub struct ParseEnumError {
    what: &'static str,
    value: String,
    expected: String,
}

macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident, $what:literal, $case:literal, { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = $case)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The one spelling used in the database, JSON and the CLI.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = ParseEnumError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let wanted = s.trim();
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str().eq_ignore_ascii_case(wanted))
                    .ok_or_else(|| ParseEnumError {
                        what: $what,
                        value: s.to_owned(),
                        expected: Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", "),
                    })
            }
        }
    };
}

text_enum!(
    /// The monitoring portal a vendor account belongs to.
    VendorKind, "vendor kind", "lowercase", {
        /// Solarman OpenAPI (also Deye, Sofar loggers).
        Solarman => "solarman",
        /// Sungrow iSolarCloud.
        Sungrow => "sungrow",
        /// SolarEdge Monitoring API.
        SolarEdge => "solaredge",
        /// Huawei FusionSolar Northbound (thirdData).
        Huawei => "huawei",
        /// Growatt OpenAPI v1.
        Growatt => "growatt",
    }
);

impl VendorKind {
    /// The portal's product name, for people.
    pub const fn display_name(self) -> &'static str {
        match self {
            Self::Solarman => "Solarman",
            Self::Sungrow => "Sungrow iSolarCloud",
            Self::SolarEdge => "SolarEdge",
            Self::Huawei => "Huawei FusionSolar",
            Self::Growatt => "Growatt",
        }
    }
}

text_enum!(
    /// How bad an alert is, mapped from each vendor's own levels.
    Severity, "severity", "UPPERCASE", {
        /// Informational.
        Low => "LOW",
        /// A warning.
        Medium => "MEDIUM",
        /// An error that affects production.
        High => "HIGH",
        /// Safety or total loss of production.
        Critical => "CRITICAL",
    }
);

text_enum!(
    /// Lifecycle of one alert occurrence.
    AlertStatus, "alert status", "UPPERCASE", {
        /// Still open at the vendor.
        Active => "ACTIVE",
        /// The vendor reported an end time.
        Resolved => "RESOLVED",
        /// A person acknowledged it.
        Acknowledged => "ACKNOWLEDGED",
    }
);

text_enum!(
    /// A plant's state in one vocabulary for every portal, stored beside the vendor's own
    /// word (`network_status`) so one filter, one listing column and one metric cover all
    /// five. Each adapter maps its portal's codes in its `convert` module; the table per
    /// portal is in the README ("Plant status").
    PlantStatus, "plant status", "lowercase", {
        /// Every device reports.
        Online => "online",
        /// Some devices report, some do not.
        Partial => "partial",
        /// Nothing reports.
        Offline => "offline",
        /// The portal reports a fault at the plant.
        Fault => "fault",
        /// The portal gave no connectivity state, or one plantsync does not know.
        Unknown => "unknown",
    }
);

text_enum!(
    /// What a sync run synchronises.
    RunKind, "run kind", "lowercase", {
        /// Plant listings and readings.
        Plants => "plants",
        /// Alerts and faults.
        Alerts => "alerts",
    }
);

text_enum!(
    /// Who started something: the `[SOURCE]` of the log line and of a sync run.
    RunSource, "source", "lowercase", {
        /// A person at the CLI.
        User => "user",
        /// The schedule.
        Cron => "cron",
        /// plantsync itself (start-up, recovery, maintenance).
        System => "system",
        /// The loopback HTTP API.
        Api => "api",
        /// The tray menu.
        Tray => "tray",
    }
);

text_enum!(
    /// Outcome of a sync run.
    RunStatus, "run status", "lowercase", {
        /// Still going (or the process died; start-up marks those `interrupted`).
        Running => "running",
        /// Every vendor succeeded and stored every row it listed.
        Ok => "ok",
        /// Some vendors failed, some succeeded; or all succeeded but rows they listed could
        /// not be read (`SyncSummary::status`).
        Partial => "partial",
        /// Every vendor failed, or the run itself failed.
        Failed => "failed",
        /// Nothing ran (restricted window, nothing due, paused).
        Skipped => "skipped",
        /// The process stopped before the run finished.
        Interrupted => "interrupted",
    }
);

impl RunStatus {
    /// The outcome of a finished run from its vendors' results: every vendor succeeded (or
    /// there were none), none did, or some did.
    pub const fn of_vendors(successful: u64, failed: u64) -> Self {
        match (successful, failed) {
            (_, 0) => Self::Ok,
            (0, _) => Self::Failed,
            _ => Self::Partial,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_is_lenient_about_case_and_padding() {
        assert_eq!(" SolarEdge ".parse::<VendorKind>(), Ok(VendorKind::SolarEdge));
        assert_eq!("critical".parse::<Severity>(), Ok(Severity::Critical));
        assert_eq!("Resolved".parse::<AlertStatus>(), Ok(AlertStatus::Resolved));
        assert_eq!(" OFFLINE".parse::<PlantStatus>(), Ok(PlantStatus::Offline));
        assert!("ALL_OFFLINE".parse::<PlantStatus>().is_err(), "a vendor word is not a status");
    }

    #[test]
    fn unknown_value_names_itself_and_the_choices() {
        let err = "enphase".parse::<VendorKind>().unwrap_err().to_string();
        assert!(err.contains("'enphase'"), "{err}");
        assert!(err.contains("solarman, sungrow, solaredge, huawei, growatt"), "{err}");
    }

    #[test]
    fn serde_matches_as_str() {
        for kind in VendorKind::ALL {
            let json = serde_json::to_string(kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
        assert_eq!(serde_json::to_string(&Severity::High).unwrap(), "\"HIGH\"");
        assert_eq!(serde_json::to_string(&RunStatus::Interrupted).unwrap(), "\"interrupted\"");
    }
}

text_enum!(
    /// Where a day's energy in the history came from.
    DaySource, "day source", "lowercase", {
        /// The syncs' own readings (today's energy as each plant sync saw it).
        Live => "live",
        /// The portal's daily-history endpoint, asked for a day the syncs missed or did
        /// not see to its end.
        Backfill => "backfill",
    }
);

text_enum!(
    /// Why a past day has no value from the portal's history (yet).
    GapState, "gap state", "snake_case", {
        /// The portal answered for the day without a value (no data for that day): asked
        /// again a day later, a few times, because late uploads fill past days.
        NoData => "no_data",
        /// The portal has no usable history endpoint for this account: the day cannot be
        /// filled, and is not asked again until the reason is looked at again.
        Unfillable => "unfillable",
    }
);
