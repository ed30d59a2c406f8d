//! How many per-plant calls of one account may be in flight at once, per portal.
//!
//! # Design
//!
//! A listing is one call a page, but readings and alerts are often one call per plant or
//! station: done one at a time, a Solarman account of 250 plants behind 200 ms round trips
//! takes 50 s a sync. Those calls run concurrently (through [`crate::vendors::Session`]'s
//! fan-out), up to a limit per portal defined here and nowhere else, read from the
//! vendors' [`crate::vendors::HttpSettings`]. Each portal also has a hard ceiling that no
//! setting can pass, where its documented limits leave no choice, and the two portals that
//! limit per source IP (SolarEdge, Growatt) have a cap over every account of the process,
//! defined here and enforced in their clients. The limit in force for one account is
//! adaptive (`session/limit.rs`): it halves at the portal's first rate-limit signal and
//! recovers slowly up to the value set here.

use crate::domain::VendorKind;

/// SolarEdge refuses a fourth concurrent call from one source IP with HTTP 429
/// (vendor-apis.md §3.2). The limit is shared by every SolarEdge account of the process
/// (the places of [`crate::vendors::Http::source_permit`], one set per process), so no
/// account may have more in flight either.
pub const SOLAREDGE_MAX_CONCURRENT: usize = 3;

/// Growatt calls in flight at once over every Growatt account of the process (the places
/// of [`crate::vendors::Http::source_permit`]), listing pages included.
///
/// Growatt's limits count per source IP as much as per token: hammering has led to IP
/// blocks lasting days (vendor-apis.md §5.4), and a block stops every account behind that
/// address, not only the one that hammered. Per account the limit is 4, but with 16
/// vendors synced at once 16 Growatt accounts would put 64 calls in flight from one IP.
/// Eight is two accounts' worth: at 200 ms round trips it still makes 40 calls a second,
/// so a first sync of 16 accounts of 250 plants (8,000 details and data calls) takes under
/// four minutes and a later one (4,000 data calls) under two, inside any sync interval,
/// while the portal never sees more from this address than two busy accounts would send.
/// No account may have more in flight either, so it is also Growatt's per-account ceiling.
pub const GROWATT_MAX_CONCURRENT: usize = 8;

/// The most per-plant calls any account may have in flight, whatever the settings: more
/// buys little against a portal's own pace and looks like hammering to it.
pub const MAX_CONCURRENT: usize = 32;

/// Per-plant calls in flight at once for one account, per portal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortalConcurrency {
    /// Solarman: `station/v1.0/realTime` per station, and the alert fan-out (device list
    /// and alert lists) per station.
    pub solarman: usize,
    /// Sungrow: its station list carries the readings and its fault list is account-wide,
    /// so nothing fans out today; kept so a per-plant call added later has its limit.
    pub sungrow: usize,
    /// SolarEdge: bulk overview calls (100 sites each). Never above
    /// [`SOLAREDGE_MAX_CONCURRENT`].
    pub solaredge: usize,
    /// Huawei FusionSolar: always 1. Its minimum intervals between identical calls and the
    /// one-second spacing between calls of an endpoint (vendor-apis.md §4.5) make parallel
    /// calls pointless: they would only wait for each other.
    pub huawei: usize,
    /// Growatt: `plant/details` and `plant/data` per plant. Never above
    /// [`GROWATT_MAX_CONCURRENT`], which every Growatt account of the process shares.
    pub growatt: usize,
}

impl Default for PortalConcurrency {
    fn default() -> Self {
        Self {
            // Neither portal publishes a concurrency limit; 8 keeps a 250-plant account
            // under 10 s a sync at 200 ms round trips, well inside what their own web apps
            // send when a user opens a plant list.
            solarman: 8,
            sungrow: 8,
            solaredge: SOLAREDGE_MAX_CONCURRENT,
            huawei: 1,
            // vendor-apis.md §5.4: Growatt refuses identical requests repeated within a few
            // seconds and integrators report about a minute between detail calls before
            // `10012` clears; hammering has led to IP blocks lasting days. Per-plant calls
            // are distinct requests, so they are not refused as repeats, but the cost of
            // being wrong is days, not a retry: half of Solarman's and Sungrow's 8, and the
            // adaptive limit halves again at the first 10012. Four still takes a 250-plant
            // account's readings in about 13 s at 200 ms round trips, against 50 s one at
            // a time.
            growatt: 4,
        }
    }
}

impl PortalConcurrency {
    /// The limit for `kind`: the setting, at least 1 and at most the portal's ceiling.
    pub fn get(&self, kind: VendorKind) -> usize {
        let set = match kind {
            VendorKind::Solarman => self.solarman,
            VendorKind::Sungrow => self.sungrow,
            VendorKind::SolarEdge => self.solaredge,
            VendorKind::Huawei => self.huawei,
            VendorKind::Growatt => self.growatt,
        };
        set.clamp(1, Self::ceiling(kind))
    }

    /// The same settings with `kind`'s limit set to `limit` (clamped by [`Self::get`]).
    pub fn with(mut self, kind: VendorKind, limit: usize) -> Self {
        match kind {
            VendorKind::Solarman => self.solarman = limit,
            VendorKind::Sungrow => self.sungrow = limit,
            VendorKind::SolarEdge => self.solaredge = limit,
            VendorKind::Huawei => self.huawei = limit,
            VendorKind::Growatt => self.growatt = limit,
        }
        self
    }

    /// The most `kind` may ever have in flight per account.
    pub const fn ceiling(kind: VendorKind) -> usize {
        match kind {
            VendorKind::SolarEdge => SOLAREDGE_MAX_CONCURRENT,
            VendorKind::Growatt => GROWATT_MAX_CONCURRENT,
            VendorKind::Huawei => 1,
            VendorKind::Solarman | VendorKind::Sungrow => MAX_CONCURRENT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_ceilings() {
        let defaults = PortalConcurrency::default();
        let got: Vec<usize> = VendorKind::ALL.iter().map(|&k| defaults.get(k)).collect();
        let want: Vec<usize> = VendorKind::ALL
            .iter()
            .map(|k| match k {
                VendorKind::Solarman | VendorKind::Sungrow => 8,
                VendorKind::SolarEdge => 3,
                VendorKind::Huawei => 1,
                VendorKind::Growatt => 4,
            })
            .collect();
        assert_eq!(got, want);
        let raised = defaults.with(VendorKind::SolarEdge, 10).with(VendorKind::Huawei, 4);
        assert_eq!(raised.get(VendorKind::SolarEdge), 3, "never above SolarEdge's 3 per IP");
        assert_eq!(raised.get(VendorKind::Huawei), 1, "FusionSolar stays sequential");
        assert_eq!(defaults.with(VendorKind::Solarman, 0).get(VendorKind::Solarman), 1);
        assert_eq!(defaults.with(VendorKind::Solarman, 1000).get(VendorKind::Solarman), 32);
        assert_eq!(defaults.with(VendorKind::Growatt, 1000).get(VendorKind::Growatt), 8);
    }
}
