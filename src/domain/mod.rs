//! Plain types shared by every layer: ids, kinds, records, the sync summary, secrets.
//!
//! Nothing here performs I/O. The store maps these to rows, the CLI and the API serialize
//! them, the vendors produce the `Vendor*` observation types and the sync engine moves them
//! between the two.

mod credentials;
mod cron;
mod enums;
mod ids;
pub mod plausible;
mod records;
mod run;
mod secret;
mod summary;
pub mod text;
mod time;
mod token;

pub use credentials::{CredentialField, Credentials};
pub use cron::CronSchedule;
pub use enums::{
    AlertStatus, DaySource, GapState, ParseEnumError, PlantStatus, RunKind, RunSource, RunStatus,
    Severity, VendorKind,
};
pub use ids::{AlertId, OrgId, PlantId, RunId, VendorId};
pub use records::{
    Alert, NewOrganization, NewVendor, Organization, Plant, SyncRun, SyncRunVendor, Vendor,
    VendorAlert, VendorPlant,
};
pub use run::{ProgressSnapshot, RunReport, RunRequest, SkipReason};
pub use secret::{REDACTED, Secret};
pub use summary::{SyncSummary, VendorResult};
pub use time::{ParseTimestampError, ParseZoneError, PlantZone, TimeOfDay, Timestamp};
pub use token::{MAX_TOKEN_BYTES, TOKEN_REUSE_MARGIN_SECONDS, Token};
