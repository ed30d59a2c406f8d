//! Row ids as newtypes, so an organization id can never be passed where a vendor id belongs.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.trim().parse().map(Self)
            }
        }
    };
}

id_type!(
    /// Id of a row of `organizations`.
    OrgId
);
id_type!(
    /// Id of a row of `vendors` (one monitoring-portal account).
    VendorId
);
id_type!(
    /// Id of a row of `plants` (plantsync's own id, not the vendor's).
    PlantId
);
id_type!(
    /// Id of a row of `alerts`.
    AlertId
);
id_type!(
    /// Id of a row of `sync_runs`.
    RunId
);
