//! Reading paged lists: one page loop, one set of stop rules, for every list of every
//! portal (plant listings, and the device, alert and fault lists under them).
//!
//! # Design
//!
//! Portals page their lists differently (a page number, a record offset, a page count) and
//! misbehave in the same few ways (vendor-apis.md §6.6): a short page that is not the end,
//! a total that is never reached, and a portal or proxy that ignores the paging parameter
//! and answers the same page forever. [`PageRules`] is the pure state machine that decides
//! after each page: a short page or the total reached ends the list complete, a page that
//! adds nothing new ends it incomplete, and a hard cap of [`MAX_PAGES`] ends a runaway
//! list. [`read_pages`] is the one loop that drives it, given how to fetch a page and how
//! to take its rows (which says how many were new, and how many count toward the
//! vendor's total: [`Added`]). Rows are de-duplicated by key, but a key cannot always tell
//! two occurrences apart (two rows of one page with the same key are two rows the vendor
//! counted): such rows count toward the total, so the list can still complete, while the
//! repeated-page guard looks at new keys only. A row repeating an earlier page's key does
//! not count toward the total, but it did fill a place of its page: when a row is added
//! ahead of the pages read (a new plant at the top of the list), every later row moves one
//! place down, the next page starts with the last row of the one before, and the total
//! grows by one. The list then ends (a short page, or the last page by count) with fewer
//! distinct rows than the total, yet every place up to the total was read: such a list is
//! complete, and its repeats are reported, not failed. Repeats are credited only up to how
//! much the total grew while the list was read: a repeat while the total stayed the same
//! (a plant renamed in a list sorted by name moves from one page to the next, and
//! another row moves the other way, unread) is no place of a new row, so it covers no
//! missing one, and a list whose only "growth" is a repeat stays short of its total. A total
//! that moved while the list was read in a way its repeats do not explain
//! ([`PageRules::total_moved`]) says the list moved under the pages: a row deleted among
//! the pages already read moves the first row of the next page onto a page already read,
//! unseen, and the smaller total is still reached, or, with rows added further on, even a
//! larger one. Such a plant listing is stored but names perhaps not every plant. The one
//! move that is known to miss nothing is a row added among the pages read: it repeats a row
//! at the next page's top, so a total that grew by exactly as many rows as were repeated
//! (rows added at the top of a newest-first list) leaves the list whole. [`PlantPages`] builds a plant listing
//! on top of it: rows decoded one at a time, de-duplicated by id, a failed later page kept
//! as an incomplete listing. A list that did not read to its end says so ([`End`]), so a
//! caller never takes a partial list for the whole (a Sungrow fault list read short would
//! resolve alerts that are still open).

use super::{PlantListing, VendorError};
use crate::domain::{VendorAlert, VendorPlant};
use serde::de::DeserializeOwned;
use std::collections::HashSet;
use std::future::Future;

/// Decodes one raw row as the wire type `W` and converts it with `convert` (which also gets
/// the raw text, to keep it). Rows are decoded one at a time from their own text, so one
/// bad row fails alone and never its page; the error is the reason, for the report.
pub fn decode_row<W: DeserializeOwned, T>(
    text: &str,
    convert: impl FnOnce(W, &str) -> Result<T, String>,
) -> Result<T, String> {
    serde_json::from_str::<W>(text)
        .map_err(|e| crate::domain::text::json_error(&e))
        .and_then(|row| convert(row, text))
}

/// One fetched page of a list: its rows, and what the vendor says of the whole (its total;
/// the page count, for portals that give one).
#[derive(Debug)]
pub struct Page<R> {
    /// The rows.
    pub rows: Vec<R>,
    /// The number of rows the vendor reports in the whole list.
    pub total: Option<i64>,
    /// The number of pages the vendor reports (FusionSolar's `pageCount`).
    pub page_count: Option<i64>,
}

impl<R> Page<R> {
    /// A page whose end is decided by its length and the vendor's `total`.
    pub fn new(rows: Vec<R>, total: Option<i64>) -> Self {
        Self { rows, total, page_count: None }
    }
}

/// A plant-list page whose rows are still raw, so each decodes on its own.
pub type RawPage = Page<Box<serde_json::value::RawValue>>;

/// Hard cap of pages per list (at 100 rows a page: 50,000 plants per account).
pub const MAX_PAGES: u32 = 500;

/// How a list ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// Every page was read: a short page, the vendor's total or its page count said so.
    Complete,
    /// The list stopped before its end, for this reason; what was read is all there is.
    Incomplete(String),
}

/// A page that could not be fetched; the earlier pages were taken.
#[derive(Debug, Clone, PartialEq)]
pub struct PageFailure {
    /// The page (1-based).
    pub page: u32,
    /// Why.
    pub error: VendorError,
}

/// What one page's rows added to a list, as the `take` of [`read_pages`] counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Added {
    /// Rows new to the list (by key). A page of rows without one only repeated earlier
    /// pages.
    pub new: usize,
    /// Rows that count toward the vendor's total: the new ones, and those repeating a key
    /// already seen on the same page (the vendor listed them apart; the key cannot tell
    /// them apart). A row repeating an earlier page does not count: that page was counted.
    pub listed: usize,
}

impl From<usize> for Added {
    /// `new` rows, each counted toward the total.
    fn from(new: usize) -> Self {
        Self { new, listed: new }
    }
}

/// The stop rules of one paged list, decided after each page.
#[derive(Debug)]
pub struct PageRules {
    /// What the rows are, for the reasons ("plants", "alerts").
    noun: &'static str,
    /// Distinct rows listed so far.
    listed: u64,
    /// Rows that repeated a row of an earlier page: they filled places of their pages.
    repeated: u64,
    /// The vendor's total on the first page that gave one: how much it grew since bounds
    /// how many repeats are places of rows added ahead of the pages read.
    first_total: Option<u64>,
    /// The largest total any page gave so far.
    max_total: Option<u64>,
    /// A page's total was below an earlier page's: a row was deleted while the list was
    /// read.
    total_fell: bool,
}

impl PageRules {
    /// Rules for a list of `noun` (plural, for the reasons).
    pub fn new(noun: &'static str) -> Self {
        Self { noun, listed: 0, repeated: 0, first_total: None, max_total: None, total_fell: false }
    }

    /// Whether the vendor's total moved while the list was read in a way the repeats do not
    /// explain: it fell at some page, or it grew by more rows than repeated across pages. A
    /// row deleted among the pages already read moves the row after the boundary onto a
    /// page already read, so it is never seen, and rows added further on can hide that in a
    /// larger total: such a list, even complete by the rules, may lack a row that still
    /// exists and must not count as naming every row. Growth matched by as many repeats is
    /// rows added among the pages read, which miss nothing (see the module).
    pub fn total_moved(&self) -> bool {
        let grew = match (self.first_total, self.max_total) {
            (Some(first), Some(max)) => max.saturating_sub(first),
            _ => 0,
        };
        self.total_fell || grew > self.repeated
    }

    /// Whether the list, ending here, fell short of the vendor's `total`: fewer places read
    /// than the total. Distinct rows alone may be fewer when rows were added ahead of the
    /// pages read (see the module), so repeats count too, but only as many as the total
    /// grew since the first page: a repeat while the total did not grow is a row that moved
    /// (renamed, in a list sorted by name), and a row moved the other way was never read.
    fn short_of(&self, total: u64) -> bool {
        let grew = total.saturating_sub(self.first_total.unwrap_or(total));
        self.listed.saturating_add(self.repeated.min(grew)) < total
    }

    /// Decides after page `page` (1-based), asked with `size`, that held `rows` rows of
    /// which `added` were new to the list (or counted toward its total, see [`Added`]),
    /// given the vendor's `total` and `page_count` when it reports them. `None`: fetch the
    /// next page. A page count, where the portal gives one, decides: not the length of a
    /// page.
    pub fn after(
        &mut self,
        page: u32,
        rows: usize,
        added: impl Into<Added>,
        size: usize,
        total: Option<i64>,
        page_count: Option<i64>,
    ) -> Option<End> {
        let added = added.into();
        let total = total.map(|t| t.max(0) as u64);
        self.first_total = self.first_total.or(total);
        if let Some(total) = total {
            self.total_fell |= self.max_total.is_some_and(|max| total < max);
            self.max_total = Some(self.max_total.map_or(total, |max| max.max(total)));
        }
        // The rows that did not count toward the total repeated an earlier page's rows.
        self.repeated += rows.saturating_sub(added.listed) as u64;
        match page_count {
            Some(count) => self.after_numbered_page(page, added, count.max(0) as u64, total),
            None => self.after_page(page, rows, added, size, total),
        }
    }

    /// After a page of a list whose end is known by a short page or the total.
    fn after_page(
        &mut self,
        page: u32,
        rows: usize,
        added: Added,
        size: usize,
        total: Option<u64>,
    ) -> Option<End> {
        self.listed += added.listed as u64;
        // Unreadable rows count too: the vendor listed them.
        let counted = self.listed;
        let noun = self.noun;
        if rows > 0 && added.new == 0 {
            // A portal that ignores the paging parameter answers the same page forever;
            // on a daily quota, following it would spend the day.
            return Some(End::Incomplete(format!(
                "page {page} only repeated {noun} already listed (is the paging parameter ignored?)"
            )));
        }
        if let Some(total) = total
            && counted >= total
        {
            return Some(End::Complete);
        }
        if rows == 0 && page == 1 && total.is_none() {
            // An empty answer that does not even say "0 plants" proves nothing: treating it
            // as complete would mark every stored plant inactive.
            return Some(End::Incomplete(format!(
                "the vendor returned no {noun} and no total on the first page"
            )));
        }
        let short_of_total = |total: u64| {
            End::Incomplete(format!(
                "the vendor reported {total} {noun} but its pages ended after {counted}"
            ))
        };
        if rows < size {
            return Some(match total {
                Some(total) if self.short_of(total) => short_of_total(total),
                _ => End::Complete,
            });
        }
        if let Some(total) = total
            && u64::from(page) > total.div_ceil(size.max(1) as u64)
        {
            return Some(short_of_total(total));
        }
        Self::below_cap(page)
    }

    /// After page `page` of a portal that says how many pages there are (FusionSolar's
    /// `pageCount`): its word decides, whatever the page's length.
    fn after_numbered_page(
        &mut self,
        page: u32,
        added: Added,
        page_count: u64,
        total: Option<u64>,
    ) -> Option<End> {
        self.listed += added.listed as u64;
        let counted = self.listed;
        let noun = self.noun;
        if u64::from(page) < page_count {
            if page > 1 && added.new == 0 && total.is_none_or(|total| counted < total) {
                // Page after page with nothing new: the paging parameter is ignored.
                return Some(End::Incomplete(format!(
                    "page {page} of {page_count} only repeated {noun} already listed"
                )));
            }
            return Self::below_cap(page);
        }
        if counted == 0 && total.is_none() {
            // As for unnumbered pages: an empty answer without a total proves nothing.
            return Some(End::Incomplete(format!("the vendor returned no {noun} and no total")));
        }
        Some(match total {
            Some(total) if self.short_of(total) => End::Incomplete(format!(
                "the vendor reported {total} {noun} but its {page_count} pages held {counted}"
            )),
            _ => End::Complete,
        })
    }

    fn below_cap(page: u32) -> Option<End> {
        (page >= MAX_PAGES)
            .then(|| End::Incomplete(format!("stopped at the cap of {MAX_PAGES} pages")))
    }
}

/// The one page loop of every paged list: fetches page 1, 2, … with `fetch`, hands each
/// page's rows to `take` (which answers how many of them were new to the list: a count,
/// or an [`Added`] where rows can repeat a key within a page) and stops where
/// [`PageRules`] say, with how the list ended. A failed fetch ends the loop with the page
/// and its error; the rows of earlier pages were taken.
pub async fn read_pages<R, F, Fut, A>(
    noun: &'static str,
    size: usize,
    fetch: F,
    take: impl FnMut(Vec<R>) -> A,
) -> Result<End, PageFailure>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<Page<R>, VendorError>>,
    A: Into<Added>,
{
    let mut rules = PageRules::new(noun);
    let end = read_pages_by(&mut rules, size, fetch, take).await?;
    // A total that moved while the list was read means rows may have moved past a page
    // boundary unread: what was read is kept, but it is not the whole list (a fault list
    // taken for whole would resolve the faults it missed).
    Ok(match end {
        End::Complete if rules.total_moved() => {
            End::Incomplete(format!("the number of {noun} changed while they were read"))
        }
        end => end,
    })
}

/// [`read_pages`] by the caller's `rules`, so it can ask them afterwards (whether the
/// total moved while the list was read).
async fn read_pages_by<R, F, Fut, A>(
    rules: &mut PageRules,
    size: usize,
    mut fetch: F,
    mut take: impl FnMut(Vec<R>) -> A,
) -> Result<End, PageFailure>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<Page<R>, VendorError>>,
    A: Into<Added>,
{
    let mut page = 1;
    loop {
        let Page { rows, total, page_count } =
            fetch(page).await.map_err(|error| PageFailure { page, error })?;
        let count = rows.len();
        let added = take(rows);
        if let Some(end) = rules.after(page, count, added, size, total, page_count) {
            return Ok(end);
        }
        page += 1;
    }
}

/// The alert rows of one paged alert list, de-duplicated by occurrence key (an unreadable
/// row by its text), so a page that repeats earlier ones adds nothing new. Rows of one page
/// that share a key are kept once but each counts toward the vendor's total ([`Added`]).
#[derive(Debug, Default)]
pub struct AlertRows {
    seen: HashSet<String>,
    /// The alerts, in listing order.
    pub alerts: Vec<VendorAlert>,
    /// Why rows did not decode.
    pub skipped: Vec<String>,
}

impl AlertRows {
    /// Decodes each row as `W` and converts it (see [`decode_row`]); answers what the page
    /// added, for [`read_pages`].
    pub fn take<W: DeserializeOwned>(
        &mut self,
        rows: Vec<Box<serde_json::value::RawValue>>,
        convert: impl Fn(W, &str) -> Result<VendorAlert, String>,
    ) -> Added {
        let mut added = Added::default();
        // The keys this page brought: a row repeating one of them is another row the
        // vendor listed, not a repeat of an earlier page.
        let mut new_here = HashSet::new();
        for row in rows {
            let (key, decoded) = match decode_row(row.get(), &convert) {
                Ok(alert) => (alert.vendor_alert_key.clone(), Ok(alert)),
                Err(reason) => (row.get().to_owned(), Err(reason)),
            };
            if self.seen.insert(key.clone()) {
                added.new += 1;
                added.listed += 1;
                new_here.insert(key);
                match decoded {
                    Ok(alert) => self.alerts.push(alert),
                    Err(reason) => self.skipped.push(reason),
                }
            } else if new_here.contains(&key) {
                added.listed += 1;
            }
        }
        added
    }
}

/// Accumulates the pages of one plant listing.
#[derive(Debug, Default)]
pub struct PlantPages {
    seen: HashSet<String>,
    listing: PlantListing,
    /// A page was refused for a rate limit or a spent quota: optional calls must wait too.
    throttled: bool,
}

impl PlantPages {
    /// Reads a whole plant listing of `size` rows a page with `fetch` (page number to
    /// page): every row is decoded as `W` on its own and converted (a row that does not is
    /// reported by the id `id_of` reads, and not deactivated); a failed page after the
    /// first ends the listing as incomplete, keeping the earlier pages. The one listing
    /// loop of every adapter.
    pub async fn collect<W, F, Fut>(
        size: usize,
        fetch: F,
        convert: impl Fn(W, &str) -> Result<VendorPlant, String>,
        id_of: impl Fn(&str) -> Option<String>,
    ) -> Result<PlantPages, VendorError>
    where
        W: DeserializeOwned,
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<RawPage, VendorError>>,
    {
        let mut pages = PlantPages::default();
        let take = |rows: Vec<Box<serde_json::value::RawValue>>| {
            rows.iter().filter(|row| pages.push_raw(row.get(), &convert, &id_of)).count()
        };
        let mut rules = PageRules::new("plants");
        let end = read_pages_by(&mut rules, size, fetch, take).await;
        pages.listing.total_moved = rules.total_moved();
        match end {
            Ok(End::Complete) => pages.listing.complete = true,
            Ok(End::Incomplete(reason)) => pages.listing.incomplete_reason = Some(reason),
            Err(PageFailure { page, error }) => pages.fail_page(page, error)?,
        }
        Ok(pages)
    }

    /// Adds one decoded row (or the reason it did not decode); whether it was new.
    fn push(&mut self, row: Result<VendorPlant, (Option<String>, String)>) -> bool {
        let new = match row {
            Ok(plant) => {
                let new = self.seen.insert(plant.vendor_plant_id.clone());
                if new {
                    self.listing.plants.push(plant);
                }
                new
            }
            Err((id, reason)) => {
                // Listed but unreadable: it still exists, so it must not be deactivated.
                // A repeated one is neither reported nor counted again.
                let new = id.as_ref().is_none_or(|id| self.seen.insert(id.clone()));
                if new {
                    self.listing.skipped.push((id, reason));
                }
                new
            }
        };
        if !new {
            // Stored once; counted, so the run can say the portal repeated rows.
            self.listing.duplicates += 1;
        }
        new
    }

    /// Decodes one listed row (see [`decode_row`]) and adds it; whether it was new. When
    /// it does not decode, `id_of` reads just its id from the text, so the plant is
    /// reported by id and, being listed, not marked inactive.
    fn push_raw<W: DeserializeOwned>(
        &mut self,
        text: &str,
        convert: impl FnOnce(W, &str) -> Result<VendorPlant, String>,
        id_of: impl FnOnce(&str) -> Option<String>,
    ) -> bool {
        let decoded = decode_row(text, convert);
        self.push(decoded.map_err(|reason| (id_of(text), reason)))
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
        self.listing.stopped_by_budget = matches!(error, VendorError::BudgetExhausted(_));
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

    /// A lone surrogate escape (`\ud800`, no valid UTF-16) in one row fails that row alone:
    /// the page's rows stay raw, so the page and its other rows stand.
    #[test]
    fn a_lone_surrogate_in_one_row_fails_that_row_only() {
        #[derive(serde::Deserialize)]
        struct Envelope {
            rows: Vec<Box<serde_json::value::RawValue>>,
        }
        #[derive(serde::Deserialize)]
        struct Row {
            name: String,
        }
        let page = r#"{"rows":[{"name":"a\ud800b"},{"name":"ok"}]}"#;
        let envelope: Envelope = serde_json::from_str(page).unwrap();
        let decode = |row: &serde_json::value::RawValue| {
            decode_row(row.get(), |row: Row, _| Ok::<_, String>(row.name))
        };
        let error = decode(&envelope.rows[0]).unwrap_err();
        assert!(error.contains("escape"), "{error}");
        assert_eq!(decode(&envelope.rows[1]).unwrap(), "ok");
    }
    use serde_json::value::RawValue;

    /// What `rules.after` says of a page of `rows` rows, `added` of them new.
    fn after(
        rules: &mut PageRules,
        page: u32,
        (rows, added): (usize, usize),
        size: usize,
        total: Option<i64>,
    ) -> Option<End> {
        rules.after(page, rows, added, size, total, None)
    }

    fn incomplete(end: Option<End>) -> String {
        match end {
            Some(End::Incomplete(reason)) => reason,
            other => panic!("expected an incomplete end, got {other:?}"),
        }
    }

    // One test per rule of `PageRules`.

    #[test]
    fn rule_total_reached_completes() {
        let mut rules = PageRules::new("plants");
        assert_eq!(after(&mut rules, 1, (2, 2), 2, Some(3)), None);
        assert_eq!(after(&mut rules, 2, (2, 1), 2, Some(3)), Some(End::Complete));
    }

    #[test]
    fn rule_short_page_completes_unless_short_of_the_total() {
        let mut rules = PageRules::new("plants");
        assert_eq!(after(&mut rules, 1, (1, 1), 100, None), Some(End::Complete));
        let mut rules = PageRules::new("alerts");
        assert_eq!(after(&mut rules, 1, (1, 1), 1, Some(5)), None);
        let reason = incomplete(after(&mut rules, 2, (0, 0), 1, Some(5)));
        assert_eq!(reason, "the vendor reported 5 alerts but its pages ended after 1");
    }

    #[test]
    fn rule_empty_first_page_is_complete_only_with_a_zero_total() {
        let reason = incomplete(after(&mut PageRules::new("plants"), 1, (0, 0), 100, None));
        assert!(reason.contains("no plants and no total"), "{reason}");
        assert_eq!(
            after(&mut PageRules::new("plants"), 1, (0, 0), 100, Some(0)),
            Some(End::Complete)
        );
    }

    #[test]
    fn rule_a_page_adding_nothing_new_is_incomplete() {
        let mut rules = PageRules::new("faults");
        assert_eq!(after(&mut rules, 1, (2, 2), 2, Some(10)), None);
        // The portal ignored the page number and sent page 1 again.
        let reason = incomplete(after(&mut rules, 2, (2, 0), 2, Some(10)));
        assert!(reason.contains("page 2 only repeated faults"), "{reason}");
    }

    #[test]
    fn rule_rows_sharing_a_key_within_a_page_count_toward_the_total() {
        // Three rows, two of them with one key: the vendor's total of 3 is reached.
        let mut rules = PageRules::new("faults");
        let added = Added { new: 2, listed: 3 };
        assert_eq!(rules.after(1, 3, added, 100, Some(3), None), Some(End::Complete));
        // A page that brings no new key is still a repeated page, however it counts.
        let mut rules = PageRules::new("faults");
        assert_eq!(rules.after(1, 2, Added { new: 2, listed: 2 }, 2, Some(5), None), None);
        let repeated = rules.after(2, 2, Added { new: 0, listed: 0 }, 2, Some(5), None);
        assert!(incomplete(repeated).contains("only repeated faults"));
    }

    #[test]
    fn rule_rows_repeated_across_pages_fill_their_places_toward_the_total() {
        // 250 plants at 100 a page; after page 1 one is added at the top, so page 2 starts
        // with page 1's last row and the total says 251: 250 distinct rows, 251 places.
        let mut rules = PageRules::new("plants");
        assert_eq!(after(&mut rules, 1, (100, 100), 100, Some(250)), None);
        assert_eq!(after(&mut rules, 2, (100, 99), 100, Some(251)), None);
        assert_eq!(after(&mut rules, 3, (51, 51), 100, Some(251)), Some(End::Complete));
        // The same by page count (FusionSolar).
        let mut numbered = PageRules::new("plants");
        assert_eq!(numbered.after(1, 100, 100, 100, Some(250), Some(3)), None);
        assert_eq!(numbered.after(2, 100, 99, 100, Some(251), Some(3)), None);
        assert_eq!(numbered.after(3, 51, 51, 100, Some(251), Some(3)), Some(End::Complete));
        // Repeats do not cover a real gap: two places short stays short.
        let mut short = PageRules::new("plants");
        assert_eq!(after(&mut short, 1, (100, 100), 100, Some(250)), None);
        assert_eq!(after(&mut short, 2, (100, 99), 100, Some(252)), None);
        let reason = incomplete(after(&mut short, 3, (51, 51), 100, Some(252)));
        assert_eq!(reason, "the vendor reported 252 plants but its pages ended after 250");
    }

    #[test]
    fn rule_a_repeat_while_the_total_did_not_grow_covers_no_missing_row() {
        // 250 plants sorted by name; one is renamed while paging, so page 2 starts with page
        // 1's last row and the renamed plant is never read: 249 distinct rows, one repeat,
        // the total unchanged. That is no complete listing.
        let mut rules = PageRules::new("plants");
        assert_eq!(after(&mut rules, 1, (100, 100), 100, Some(250)), None);
        assert_eq!(after(&mut rules, 2, (100, 99), 100, Some(250)), None);
        let reason = incomplete(after(&mut rules, 3, (50, 50), 100, Some(250)));
        assert_eq!(reason, "the vendor reported 250 plants but its pages ended after 249");
        // The same by page count.
        let mut numbered = PageRules::new("plants");
        assert_eq!(numbered.after(1, 100, 100, 100, Some(250), Some(3)), None);
        assert_eq!(numbered.after(2, 100, 99, 100, Some(250), Some(3)), None);
        assert!(
            incomplete(numbered.after(3, 50, 50, 100, Some(250), Some(3))).contains("held 249")
        );
        // Two repeats while the total grew by one: one of them is a missing row.
        let mut grew = PageRules::new("plants");
        assert_eq!(after(&mut grew, 1, (100, 100), 100, Some(250)), None);
        assert_eq!(after(&mut grew, 2, (100, 98), 100, Some(251)), None);
        let reason = incomplete(after(&mut grew, 3, (51, 51), 100, Some(251)));
        assert_eq!(reason, "the vendor reported 251 plants but its pages ended after 249");
    }

    #[test]
    fn rule_a_total_that_moved_unexplained_while_paging_is_known() {
        // 250 plants, pages of 100; a plant ahead is deleted after page 1: the row at place
        // 101 moves onto page 1, unread; pages 2 and 3 hold 100 and 49 of the new 249.
        let mut shrunk = PageRules::new("plants");
        assert_eq!(after(&mut shrunk, 1, (100, 100), 100, Some(250)), None);
        assert!(!shrunk.total_moved());
        assert_eq!(after(&mut shrunk, 2, (100, 100), 100, Some(249)), None);
        assert_eq!(after(&mut shrunk, 3, (49, 49), 100, Some(249)), Some(End::Complete));
        assert!(shrunk.total_moved(), "249 of 250 places: one row moved unread");
        let mut grown = PageRules::new("plants");
        assert_eq!(after(&mut grown, 1, (100, 100), 100, Some(250)), None);
        assert_eq!(after(&mut grown, 2, (100, 99), 100, Some(251)), None);
        assert_eq!(after(&mut grown, 3, (51, 51), 100, Some(251)), Some(End::Complete));
        assert!(!grown.total_moved(), "a row added among the pages read repeats: nothing missed");
        // Up, then down: a row was deleted after all.
        let mut both = PageRules::new("plants");
        assert_eq!(after(&mut both, 1, (100, 100), 100, Some(250)), None);
        assert_eq!(after(&mut both, 2, (100, 99), 100, Some(251)), None);
        assert_eq!(after(&mut both, 3, (51, 51), 100, Some(250)), Some(End::Complete));
        assert!(both.total_moved(), "complete by count, but the total fell from 251");
        // Row 30 deleted after page 1 (old 101 moves onto page 1, unread) and two rows
        // appended: 251 distinct rows reach the new total 251, yet 101 was never read.
        let mut hidden = PageRules::new("plants");
        assert_eq!(after(&mut hidden, 1, (100, 100), 100, Some(250)), None);
        assert_eq!(after(&mut hidden, 2, (100, 100), 100, Some(251)), None);
        assert_eq!(after(&mut hidden, 3, (51, 51), 100, Some(251)), Some(End::Complete));
        assert!(hidden.total_moved(), "grew by 1 with no repeat: something moved");
        let mut steady = PageRules::new("plants");
        assert_eq!(after(&mut steady, 1, (100, 100), 100, Some(150)), None);
        assert_eq!(after(&mut steady, 2, (50, 50), 100, Some(150)), Some(End::Complete));
        assert!(!steady.total_moved());
    }

    #[test]
    fn rule_pages_beyond_the_total_stop() {
        let mut rules = PageRules::new("plants");
        // Total 6 at 2 a page is 3 pages; pages that keep repeating one row beside a new
        // one never reach the total, and a fourth page is as far as it is followed.
        for page in 1..=3 {
            assert_eq!(after(&mut rules, page, (2, 1), 2, Some(6)), None, "page {page}");
        }
        let reason = incomplete(after(&mut rules, 4, (2, 1), 2, Some(6)));
        assert!(reason.contains("reported 6 plants"), "{reason}");
    }

    #[test]
    fn rule_hard_page_cap() {
        let mut rules = PageRules::new("devices");
        assert_eq!(after(&mut rules, MAX_PAGES - 1, (1, 1), 1, None), None);
        let reason = incomplete(after(&mut rules, MAX_PAGES, (1, 1), 1, None));
        assert!(reason.contains("cap of 500 pages"), "{reason}");
    }

    #[test]
    fn rule_numbered_pages_follow_the_page_count() {
        let mut rules = PageRules::new("plants");
        // A short page is not the end when the portal says there are more.
        assert_eq!(rules.after(1, 1, 1, 100, Some(2), Some(2)), None);
        assert_eq!(rules.after(2, 1, 1, 100, Some(2), Some(2)), Some(End::Complete));
        let mut short = PageRules::new("plants");
        assert!(incomplete(short.after(1, 1, 1, 100, Some(5), Some(1))).contains("held 1"));
        let mut empty = PageRules::new("plants");
        let reason = incomplete(empty.after(1, 0, 0, 100, None, Some(1)));
        assert!(reason.contains("no plants and no total"), "an empty page proves nothing");
        let mut none = PageRules::new("plants");
        assert_eq!(none.after(1, 0, 0, 100, Some(0), Some(0)), Some(End::Complete));
        let mut repeated = PageRules::new("plants");
        assert_eq!(repeated.after(1, 2, 2, 2, None, Some(5)), None);
        assert!(incomplete(repeated.after(2, 2, 0, 2, None, Some(5))).contains("repeated"));
    }

    // The loop.

    /// A fetch that answers `pages` in turn (and fails past them).
    fn scripted<R: Clone>(
        pages: Vec<Result<Page<R>, VendorError>>,
    ) -> impl FnMut(u32) -> std::future::Ready<Result<Page<R>, VendorError>> {
        move |page| {
            let answer = pages.get(page as usize - 1).map(|p| match p {
                Ok(p) => {
                    Ok(Page { rows: p.rows.clone(), total: p.total, page_count: p.page_count })
                }
                Err(e) => Err(e.clone()),
            });
            std::future::ready(
                answer.unwrap_or_else(|| Err(VendorError::Permanent("past the script".into()))),
            )
        }
    }

    #[tokio::test]
    async fn the_loop_takes_every_page_until_the_rules_end_it() {
        let mut seen = HashSet::new();
        let pages = vec![
            Ok(Page::new(vec![1, 2], Some(5))),
            Ok(Page::new(vec![3, 4], Some(5))),
            Ok(Page::new(vec![5], Some(5))),
        ];
        let end = read_pages("rows", 2, scripted(pages), |rows| {
            rows.into_iter().filter(|r| seen.insert(*r)).count()
        })
        .await;
        assert_eq!(end, Ok(End::Complete));
        assert_eq!(seen.len(), 5);
    }

    /// A row deleted ahead of the reader after page 1 moves another row onto page 1 unread:
    /// the total shrinks, and the list that looks complete by count is not the whole list.
    #[tokio::test]
    async fn a_list_whose_total_changed_while_read_is_incomplete() {
        let pages = vec![Ok(Page::new(vec![1, 2], Some(5))), Ok(Page::new(vec![4, 5], Some(4)))];
        let end = read_pages("faults", 2, scripted(pages), |rows| rows.len()).await;
        assert_eq!(
            end,
            Ok(End::Incomplete("the number of faults changed while they were read".into()))
        );
    }

    #[tokio::test]
    async fn the_loop_reports_the_failed_page_after_taking_the_earlier_ones() {
        let mut taken = Vec::new();
        let limited = VendorError::RateLimited { message: "E999".into(), retry_after: None };
        let pages = vec![Ok(Page::new(vec![1, 2], Some(4))), Err(limited.clone())];
        let end = read_pages("rows", 2, scripted(pages), |rows| {
            let n = rows.len();
            taken.extend(rows);
            n
        })
        .await;
        assert_eq!(end, Err(PageFailure { page: 2, error: limited }));
        assert_eq!(taken, [1, 2]);
    }

    #[tokio::test]
    async fn a_portal_answering_full_new_pages_forever_stops_at_the_cap() {
        let mut fetched = 0;
        let fetch = |page: u32| {
            fetched += 1;
            std::future::ready(Ok(Page::new(vec![page], None)))
        };
        let end = read_pages("rows", 1, fetch, |rows| rows.len()).await;
        assert!(matches!(end, Ok(End::Incomplete(reason)) if reason.contains("cap")));
        assert_eq!(fetched, MAX_PAGES);
    }

    #[test]
    fn alert_rows_sharing_a_key_on_one_page_are_kept_once_and_counted_twice() {
        #[derive(serde::Deserialize)]
        struct Row {
            key: String,
        }
        let convert = |row: Row, _: &str| {
            if row.key == "bad" {
                return Err("unreadable".to_owned());
            }
            Ok(VendorAlert {
                vendor_alert_key: row.key,
                vendor_plant_id: None,
                device_sn: None,
                severity: crate::domain::Severity::Medium,
                status: crate::domain::AlertStatus::Active,
                code: None,
                title: String::new(),
                description: None,
                started_at: None,
                ended_at: None,
                raw_json: None,
            })
        };
        let page = |keys: &[&str]| -> Vec<Box<RawValue>> {
            keys.iter().map(|key| raw(&format!("{{\"key\":\"{key}\"}}"))).collect()
        };
        let mut rows = AlertRows::default();
        let first = rows.take(page(&["a", "b", "a", "bad", "bad"]), convert);
        assert_eq!(first, Added { new: 3, listed: 5 });
        // The next page repeats "a" (from page 1) twice and brings "c": only "c" counts.
        let second = rows.take(page(&["a", "c", "a"]), convert);
        assert_eq!(second, Added { new: 1, listed: 1 });
        let keys: Vec<&str> = rows.alerts.iter().map(|a| a.vendor_alert_key.as_str()).collect();
        assert_eq!(keys, ["a", "b", "c"]);
        assert_eq!(rows.skipped, ["unreadable"]);
    }

    // Plant listings on top of the loop.

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    /// A page of rows `{"id": ..}`; a row `"bad:<id>"` does not convert.
    fn plant_page(ids: &[&str], total: Option<i64>) -> Result<RawPage, VendorError> {
        let rows = ids.iter().map(|id| raw(&format!("{{\"id\":\"{id}\"}}"))).collect();
        Ok(Page::new(rows, total))
    }

    #[derive(serde::Deserialize)]
    struct Row {
        id: String,
    }

    fn convert(row: Row, _: &str) -> Result<VendorPlant, String> {
        if row.id.starts_with("bad:") {
            return Err("unreadable".into());
        }
        Ok(VendorPlant { vendor_plant_id: row.id, ..Default::default() })
    }

    fn id_of(text: &str) -> Option<String> {
        serde_json::from_str::<Row>(text).ok().map(|r| r.id.trim_start_matches("bad:").to_owned())
    }

    async fn collect(pages: Vec<Result<RawPage, VendorError>>) -> Result<PlantPages, VendorError> {
        PlantPages::collect(2, scripted_raw(pages), convert, id_of).await
    }

    /// [`scripted`] for raw pages (rows are not `Clone`: re-made from their text).
    fn scripted_raw(
        pages: Vec<Result<RawPage, VendorError>>,
    ) -> impl FnMut(u32) -> std::future::Ready<Result<RawPage, VendorError>> {
        move |page| {
            let answer = match pages.get(page as usize - 1) {
                Some(Ok(p)) => Ok(Page {
                    rows: p.rows.iter().map(|r| raw(r.get())).collect(),
                    total: p.total,
                    page_count: p.page_count,
                }),
                Some(Err(e)) => Err(e.clone()),
                None => Err(VendorError::Permanent("past the script".into())),
            };
            std::future::ready(answer)
        }
    }

    #[tokio::test]
    async fn duplicates_are_dropped_and_the_total_ends_the_listing() {
        let listing =
            collect(vec![plant_page(&["1", "2"], Some(3)), plant_page(&["2", "3"], Some(3))])
                .await
                .unwrap()
                .finish();
        assert!(listing.complete);
        let ids: Vec<&str> = listing.plants.iter().map(|p| p.vendor_plant_id.as_str()).collect();
        assert_eq!(ids, ["1", "2", "3"]);
    }

    #[tokio::test]
    async fn a_row_repeated_while_the_total_grows_completes_and_is_counted() {
        // Page 1 of 2 rows says 3; then a plant is added at the top (on page 1, already
        // read): page 2 repeats "2" and says 4, page 3 is empty. 3 distinct, 4 places.
        let listing = collect(vec![
            plant_page(&["1", "2"], Some(3)),
            plant_page(&["2", "3"], Some(4)),
            plant_page(&[], Some(4)),
        ])
        .await
        .unwrap()
        .finish();
        assert!(listing.complete, "{:?}", listing.incomplete_reason);
        let ids: Vec<&str> = listing.plants.iter().map(|p| p.vendor_plant_id.as_str()).collect();
        assert_eq!(ids, ["1", "2", "3"]);
        assert_eq!(listing.duplicates, 1);
        // Without the repeat, the same end is a listing short of its total.
        let short =
            collect(vec![plant_page(&["1", "2"], Some(4)), plant_page(&["3"], Some(4))]).await;
        assert!(!short.unwrap().finish().complete);
    }

    #[tokio::test]
    async fn a_total_that_moved_while_paging_names_not_every_plant() {
        // Pages of 2, total 5; after page 1 plant "1" is deleted, so "3" moves onto page 1
        // (already read) and is never seen: page 2 is "4", "5"... as the vendor now pages
        // them, and the smaller total 4 is reached. Complete by the rules, but "3" exists.
        let shrunk =
            collect(vec![plant_page(&["1", "2"], Some(5)), plant_page(&["4", "5"], Some(4))])
                .await
                .unwrap()
                .finish();
        assert!(shrunk.complete, "{:?}", shrunk.incomplete_reason);
        assert!(shrunk.total_moved, "the total shrank: not every plant was read");
        // Grown by a row added among the pages read: it repeats one at the next page's top.
        let grown = collect(vec![
            plant_page(&["1", "2"], Some(3)),
            plant_page(&["2", "3"], Some(4)),
            plant_page(&[], Some(4)),
        ])
        .await
        .unwrap()
        .finish();
        assert!(grown.complete && !grown.total_moved);
        let steady =
            collect(vec![plant_page(&["1", "2"], Some(3)), plant_page(&["3"], Some(3))]).await;
        assert!(!steady.unwrap().finish().total_moved);
    }

    #[tokio::test]
    async fn a_repeated_id_within_one_page_covers_no_missing_row() {
        // Total 3, pages of 2: page 1 lists plant 1 twice, page 2 plant 2; plant 3 was never
        // listed, and the total never grew.
        let listing = collect(vec![plant_page(&["1", "1"], Some(3)), plant_page(&["2"], Some(3))])
            .await
            .unwrap()
            .finish();
        assert!(!listing.complete, "plant 3 was never listed");
        assert_eq!(
            listing.incomplete_reason.as_deref(),
            Some("the vendor reported 3 plants but its pages ended after 2")
        );
        assert_eq!(listing.duplicates, 1);
    }

    #[tokio::test]
    async fn repeated_unreadable_rows_never_complete_a_listing() {
        // A portal that ignores paging: total 3, page of 2 (one unreadable) sent twice.
        let page = || plant_page(&["1", "bad:2"], Some(3));
        let listing = collect(vec![page(), page()]).await.unwrap().finish();
        assert!(!listing.complete, "plant 3 was never listed");
        assert!(listing.incomplete_reason.unwrap().contains("repeated plants"));
        assert_eq!(listing.skipped, [(Some("2".to_owned()), "unreadable".to_owned())], "once");
    }

    #[tokio::test]
    async fn a_failed_later_page_keeps_the_earlier_ones() {
        let limited = || VendorError::RateLimited { message: "407".into(), retry_after: None };
        assert_eq!(collect(vec![Err(limited())]).await.err(), Some(limited()), "nothing to keep");
        let pages = collect(vec![plant_page(&["1", "2"], Some(4)), Err(limited())]).await.unwrap();
        assert!(pages.throttled());
        let listing = pages.finish();
        assert!(!listing.complete);
        assert_eq!(listing.plants.len(), 2);
        assert!(listing.incomplete_reason.unwrap().starts_with("page 2 failed: rate limited"));
        // Rejected credentials reach the user as such, whatever the page.
        let rejected = VendorError::CredentialsRejected("10011".into());
        let failed = collect(vec![plant_page(&["1", "2"], Some(4)), Err(rejected.clone())]).await;
        assert_eq!(failed.err(), Some(rejected));
    }
}
