//! Collecting a paged plant listing: de-duplication by id, skipped rows, the stop rule.
//!
//! A listing stops at a short page or once the count reached the vendor's total, with a hard
//! page cap so a vendor that keeps answering full pages cannot loop us forever.

use super::{PlantListing, VendorError};
use crate::domain::VendorPlant;
use serde::de::DeserializeOwned;
use std::collections::HashSet;

/// Decodes one raw row as the wire type `W` and converts it with `convert` (which also gets
/// the raw text, to keep it). Rows are decoded one at a time from their own text, so one
/// bad row fails alone and never its page; the error is the reason, for the report.
pub fn decode_row<W: DeserializeOwned, T>(
    text: &str,
    convert: impl FnOnce(W, &str) -> Result<T, String>,
) -> Result<T, String> {
    serde_json::from_str::<W>(text).map_err(|e| e.to_string()).and_then(|row| convert(row, text))
}

/// One fetched page of a plant listing: its rows, still raw so each decodes on its own, and
/// what the vendor says of the whole (its total; the page count, for portals that give one).
#[derive(Debug, Default)]
pub struct RawPage {
    /// The rows.
    pub rows: Vec<Box<serde_json::value::RawValue>>,
    /// The number of plants the vendor reports.
    pub total: Option<i64>,
    /// The number of pages the vendor reports (FusionSolar's `pageCount`).
    pub page_count: Option<i64>,
}

/// Hard cap of pages per listing (at 100 rows a page: 50,000 plants per account).
pub const MAX_PAGES: u32 = 500;

/// Accumulates pages of one listing.
#[derive(Debug, Default)]
pub struct PlantPages {
    seen: HashSet<String>,
    listing: PlantListing,
    /// Rows of the current page that were not seen before.
    new_on_page: usize,
    /// Distinct rows listed so far (plants, and unreadable rows by id or without one).
    listed: u64,
    /// A page was refused for a rate limit or a spent quota: optional calls must wait too.
    throttled: bool,
}

/// What to do after a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Fetch the next page.
    Continue,
    /// The listing is over.
    Stop,
}

impl PlantPages {
    /// Adds one decoded row (or the reason it did not decode).
    fn push(&mut self, row: Result<VendorPlant, (Option<String>, String)>) {
        match row {
            Ok(plant) => {
                if self.seen.insert(plant.vendor_plant_id.clone()) {
                    self.listing.plants.push(plant);
                    self.new_on_page += 1;
                }
            }
            Err((id, reason)) => {
                // Listed but unreadable: it still exists, so it must not be deactivated.
                // A repeated one is neither reported nor counted again.
                if id.as_ref().is_none_or(|id| self.seen.insert(id.clone())) {
                    self.listing.skipped.push((id, reason));
                    self.new_on_page += 1;
                }
            }
        }
    }

    /// Decodes one listed row (see [`decode_row`]) and adds it. When it does not decode,
    /// `id_of` reads just its id from the text, so the plant is reported by id and, being
    /// listed, not marked inactive.
    fn push_raw<W: DeserializeOwned>(
        &mut self,
        text: &str,
        convert: impl FnOnce(W, &str) -> Result<VendorPlant, String>,
        id_of: impl FnOnce(&str) -> Option<String>,
    ) {
        let decoded = decode_row(text, convert);
        self.push(decoded.map_err(|reason| (id_of(text), reason)));
    }

    /// Takes page `page` (1-based) of a listing of `size` rows a page, and says whether to
    /// fetch the next: every row is decoded as `W` on its own and converted (a row that does
    /// not is reported by the id `id_of` reads, and not deactivated); a failed page after
    /// the first ends the listing as incomplete, keeping the earlier pages. The one loop
    /// body of every adapter's listing.
    pub fn take_page<W: DeserializeOwned>(
        &mut self,
        page: u32,
        fetched: Result<RawPage, VendorError>,
        size: usize,
        convert: impl Fn(W, &str) -> Result<VendorPlant, String>,
        id_of: impl Fn(&str) -> Option<String>,
    ) -> Result<Next, VendorError> {
        let RawPage { rows, total, page_count } = match fetched {
            Ok(fetched) => fetched,
            Err(error) => {
                self.fail_page(page, error)?;
                return Ok(Next::Stop);
            }
        };
        let count = rows.len();
        for row in rows {
            self.push_raw(row.get(), &convert, &id_of);
        }
        let total = total.map(|t| t.max(0) as u64);
        // A page count, where the portal gives one, decides: not the length of a page.
        Ok(match page_count {
            Some(page_count) => self.after_numbered_page(page, page_count.max(0) as u64, total),
            None => self.after_page(page, count, size, total),
        })
    }

    /// Decides after page `page` (1-based) that held `rows` rows, asked with `size`, given
    /// the vendor's `total` when it reports one.
    fn after_page(&mut self, page: u32, rows: usize, size: usize, total: Option<u64>) -> Next {
        let added = std::mem::take(&mut self.new_on_page);
        self.listed += added as u64;
        // Skipped rows count too: the vendor listed them.
        let counted = self.listed;
        if rows > 0 && added == 0 {
            // A portal that ignores the paging parameter answers the same page forever;
            // on a daily quota, following it would spend the day.
            self.listing.incomplete_reason = Some(format!(
                "page {page} only repeated plants already listed (is the paging parameter ignored?)"
            ));
            return Next::Stop;
        }
        if let Some(total) = total
            && counted >= total
        {
            self.listing.complete = true;
            return Next::Stop;
        }
        if rows == 0 && page == 1 && total.is_none() {
            // An empty answer that does not even say "0 plants" proves nothing: treating it
            // as complete would mark every stored plant inactive.
            self.listing.incomplete_reason =
                Some("the vendor returned no plants and no total on the first page".into());
            return Next::Stop;
        }
        if rows < size {
            match total {
                Some(total) if counted < total => {
                    self.listing.incomplete_reason = Some(format!(
                        "the vendor reported {total} plants but its pages ended after {counted}"
                    ));
                }
                _ => self.listing.complete = true,
            }
            return Next::Stop;
        }
        if let Some(total) = total
            && u64::from(page) > total.div_ceil(size.max(1) as u64)
        {
            self.listing.incomplete_reason = Some(format!(
                "the vendor reported {total} plants but its pages ended after {counted}"
            ));
            return Next::Stop;
        }
        self.continue_below_cap(page)
    }

    /// Decides after page `page` of a portal that says how many pages there are
    /// (FusionSolar's `pageCount`): its word decides, whatever the page's length.
    fn after_numbered_page(&mut self, page: u32, page_count: u64, total: Option<u64>) -> Next {
        let added = std::mem::take(&mut self.new_on_page);
        self.listed += added as u64;
        let counted = self.listed;
        if u64::from(page) < page_count {
            if page > 1 && added == 0 && total.is_none_or(|total| counted < total) {
                // Page after page with nothing new: the paging parameter is ignored.
                self.listing.incomplete_reason = Some(format!(
                    "page {page} of {page_count} only repeated plants already listed"
                ));
                return Next::Stop;
            }
            return self.continue_below_cap(page);
        }
        if counted == 0 && total.is_none() {
            // As for unnumbered pages: an empty answer without a total proves nothing.
            self.listing.incomplete_reason =
                Some("the vendor returned no plants and no total".into());
            return Next::Stop;
        }
        match total {
            Some(total) if counted < total => {
                self.listing.incomplete_reason = Some(format!(
                    "the vendor reported {total} plants but its {page_count} pages held {counted}"
                ));
            }
            _ => self.listing.complete = true,
        }
        Next::Stop
    }

    fn continue_below_cap(&mut self, page: u32) -> Next {
        if page >= MAX_PAGES {
            self.listing.incomplete_reason =
                Some(format!("stopped at the cap of {MAX_PAGES} pages"));
            return Next::Stop;
        }
        Next::Continue
    }

    /// Ends the listing at page `page`, whose fetch failed with `error`. Later pages count
    /// for nothing: the plants of the earlier ones are kept (stored, and being an
    /// incomplete listing, nothing is deactivated), and the error is the listing's reason.
    /// A failure of the first page has nothing to keep, and rejected credentials must reach
    /// the user as such: both are returned as the error.
    fn fail_page(&mut self, page: u32, error: VendorError) -> Result<(), VendorError> {
        if page <= 1 || error.needs_user_action() {
            return Err(error);
        }
        self.throttled =
            matches!(error, VendorError::RateLimited { .. } | VendorError::QuotaSpent(_));
        self.listing.incomplete_reason = Some(format!("page {page} failed: {error}"));
        Ok(())
    }

    /// Whether the portal throttled the listing: per-plant calls are then not made this run
    /// (more calls to a portal that just said "too many" would only make it worse).
    pub fn throttled(&self) -> bool {
        self.throttled
    }

    /// Notes a warning about one plant (e.g. its energy call failed).
    pub fn warn(&mut self, warning: String) {
        self.listing.warnings.push(warning);
    }

    /// The plants collected so far.
    pub fn plants(&self) -> &[VendorPlant] {
        &self.listing.plants
    }

    /// Mutable access to the plants collected so far (for enrichment).
    pub fn plants_mut(&mut self) -> &mut [VendorPlant] {
        &mut self.listing.plants
    }

    /// The finished listing.
    pub fn finish(self) -> PlantListing {
        self.listing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plant(id: &str) -> Result<VendorPlant, (Option<String>, String)> {
        Ok(VendorPlant { vendor_plant_id: id.into(), name: Some(id.into()), ..Default::default() })
    }

    #[test]
    fn duplicates_are_dropped_and_total_ends_the_listing() {
        let mut pages = PlantPages::default();
        pages.push(plant("1"));
        pages.push(plant("2"));
        assert_eq!(pages.after_page(1, 2, 2, Some(3)), Next::Continue);
        pages.push(plant("2"));
        pages.push(plant("3"));
        assert_eq!(pages.after_page(2, 2, 2, Some(3)), Next::Stop);
        let listing = pages.finish();
        assert!(listing.complete);
        assert_eq!(listing.plants.len(), 3);
    }

    #[test]
    fn empty_page_before_the_total_is_incomplete() {
        let mut pages = PlantPages::default();
        pages.push(plant("1"));
        assert_eq!(pages.after_page(1, 1, 1, Some(5)), Next::Continue);
        assert_eq!(pages.after_page(2, 0, 1, Some(5)), Next::Stop);
        let listing = pages.finish();
        assert!(!listing.complete);
        assert!(listing.incomplete_reason.unwrap().contains("reported 5 plants"));
    }

    #[test]
    fn short_page_without_total_completes() {
        let mut pages = PlantPages::default();
        pages.push(plant("1"));
        assert_eq!(pages.after_page(1, 1, 100, None), Next::Stop);
        assert!(pages.finish().complete);
    }

    #[test]
    fn empty_first_page_is_complete_only_with_a_zero_total() {
        let mut pages = PlantPages::default();
        assert_eq!(pages.after_page(1, 0, 100, None), Next::Stop);
        assert!(!pages.finish().complete);
        let mut pages = PlantPages::default();
        assert_eq!(pages.after_page(1, 0, 100, Some(0)), Next::Stop);
        assert!(pages.finish().complete);
    }

    #[test]
    fn page_cap_stops_a_runaway_listing() {
        let mut pages = PlantPages::default();
        pages.push(plant("1"));
        assert_eq!(pages.after_page(MAX_PAGES, 1, 1, None), Next::Stop);
        assert!(!pages.finish().complete);
    }

    #[test]
    fn a_repeated_page_stops_the_listing() {
        let mut pages = PlantPages::default();
        pages.push(plant("1"));
        pages.push(plant("2"));
        assert_eq!(pages.after_page(1, 2, 2, None), Next::Continue);
        // The portal ignored the offset and sent page 1 again.
        pages.push(plant("1"));
        pages.push(plant("2"));
        assert_eq!(pages.after_page(2, 2, 2, None), Next::Stop);
        let listing = pages.finish();
        assert!(!listing.complete);
        assert!(listing.incomplete_reason.unwrap().contains("repeated"));
    }

    #[test]
    fn pages_beyond_the_total_stop_the_listing() {
        let mut pages = PlantPages::default();
        // Total 6 at 2 a page is 3 pages; pages that keep repeating one plant beside a new
        // one never reach the total, and a fourth page is as far as it is followed.
        for page in 1..=4u32 {
            pages.push(plant(&format!("{page}a")));
            pages.push(plant("repeated"));
            let next = pages.after_page(page, 2, 2, Some(6));
            assert_eq!(next, if page < 4 { Next::Continue } else { Next::Stop }, "page {page}");
        }
        assert!(!pages.finish().complete);
    }

    #[test]
    fn repeated_unreadable_rows_never_complete_a_listing() {
        // A portal that ignores paging: total 3, page of 2 (one unreadable) sent twice.
        let mut pages = PlantPages::default();
        pages.push(plant("1"));
        pages.push(Err((Some("2".into()), "bad".into())));
        assert_eq!(pages.after_page(1, 2, 2, Some(3)), Next::Continue);
        pages.push(plant("1"));
        pages.push(Err((Some("2".into()), "bad".into())));
        assert_eq!(pages.after_page(2, 2, 2, Some(3)), Next::Stop);
        let listing = pages.finish();
        assert!(!listing.complete, "plant 3 was never listed");
        assert_eq!(listing.skipped.len(), 1, "the repeated bad row is reported once");
    }

    #[test]
    fn a_failed_later_page_keeps_the_earlier_ones() {
        let limited = || VendorError::RateLimited { message: "407".into(), retry_after: None };
        let mut pages = PlantPages::default();
        assert_eq!(pages.fail_page(1, limited()), Err(limited()), "nothing to keep");
        pages.push(plant("1"));
        assert_eq!(pages.after_page(1, 1, 1, Some(2)), Next::Continue);
        assert_eq!(pages.fail_page(2, limited()), Ok(()));
        assert!(pages.throttled());
        let rejected = VendorError::CredentialsRejected("10011".into());
        assert_eq!(pages.fail_page(2, rejected.clone()), Err(rejected), "the user must act");
        let listing = pages.finish();
        assert!(!listing.complete);
        assert_eq!(listing.plants.len(), 1);
        assert!(listing.incomplete_reason.unwrap().starts_with("page 2 failed: rate limited"));
    }

    #[test]
    fn numbered_pages_follow_the_page_count() {
        let mut pages = PlantPages::default();
        pages.push(plant("1"));
        // A short page is not the end when the portal says there are more.
        assert_eq!(pages.after_numbered_page(1, 2, Some(2)), Next::Continue);
        pages.push(plant("2"));
        assert_eq!(pages.after_numbered_page(2, 2, Some(2)), Next::Stop);
        assert!(pages.finish().complete);
        let mut short = PlantPages::default();
        short.push(plant("1"));
        assert_eq!(short.after_numbered_page(1, 1, Some(5)), Next::Stop);
        assert!(!short.finish().complete);
        let mut empty = PlantPages::default();
        assert_eq!(empty.after_numbered_page(1, 1, None), Next::Stop);
        assert!(!empty.finish().complete, "an empty page without a total proves nothing");
        let mut none = PlantPages::default();
        assert_eq!(none.after_numbered_page(1, 0, Some(0)), Next::Stop);
        assert!(none.finish().complete, "a total of 0 does");
    }
}
