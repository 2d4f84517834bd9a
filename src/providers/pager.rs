//! The one pager behind every paged list the exporter reads: the gateway
//! family's package, static IP and order lists, IPWeb's customer report and a
//! custom target's lists (by page number or by next-page link). It says
//! which page to ask for next, where a list ends, and when the answers mean that
//! the API ignores paging. The rules, which docs/providers.md ("Paging") gives
//! to users in the same order:
//!
//! 1. an empty page ends the list;
//! 2. if the page advertises a page count, the list ends after that page;
//! 3. else, if it advertises an item total, the list ends once that many items
//!    have been read;
//! 4. else, for a list that ends at a short page ([`End::ShortPage`]), a page
//!    with fewer items than asked for ends it; otherwise only rule 1 does;
//! 5. a page whose items are those of the page before ends the list if the
//!    advertised item total has been read by then (a server that answers a page
//!    past the end with the last page again); otherwise it is a decode error
//!    (an API that ignores the page number must not be asked forever);
//! 6. more than [`MAX_PAGES`] pages are a decode error.
//!
//! A list whose pages link to the next one (a custom provider's `next` paging)
//! also ends at a page without a link.
//!
//! A page count is `total_page` or `total_pages`, an item total `total_count` or
//! `total`, each beside the items or in a nested `pagination` object. When an
//! answer gives several of one kind, the largest is taken: an overstated figure
//! costs one more request, ended by rule 1 or 5, while an understated one would
//! drop items. Only a 64-bit hash of the previous page's items is kept.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::http::{PollError, Reason};
use crate::units::{optional_number, Number};

/// A list with more pages than this is treated as a broken upstream: 100,000
/// packages or static IPs at 100 a page, 2,000,000 customers at 2,000.
pub(crate) const MAX_PAGES: usize = 1_000;

/// The key under `data` that holds a page's items.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Items {
    /// `list`, as in the gateway family.
    List,
    /// `rows`, as in IPWeb.
    Rows,
}

/// How a list without any advertised total ends (rule 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// Only at an empty page: the server may cap the page size below ours.
    EmptyPage,
    /// At a page shorter than the page size asked for.
    ShortPage,
}

/// The state of reading one list, page by page. Ask [`Pager::next_page`] for the
/// page to fetch, hand its `data` to [`Pager::read`], and repeat until
/// `next_page` answers `None`.
pub(crate) struct Pager {
    /// The list's request path, for error messages.
    list: &'static str,
    items: Items,
    page_size: usize,
    end: End,
    pages_read: usize,
    items_read: u64,
    previous_items: Option<u64>,
    hasher: RandomState,
    done: bool,
    /// More items than this fail the list with reason `limit` (the target's
    /// `sample_limit`: every item of a paged list is at least one series).
    item_limit: u64,
}

impl Pager {
    /// A pager for the list at `list`, asking `page_size` items a page.
    pub fn new(list: &'static str, items: Items, page_size: usize, end: End) -> Self {
        Pager {
            list,
            items,
            page_size,
            end,
            pages_read: 0,
            items_read: 0,
            previous_items: None,
            hasher: RandomState::new(),
            done: false,
            item_limit: u64::MAX,
        }
    }

    /// The same pager, failing with reason `limit` once the list holds more than
    /// `items` items, so that a huge list is not read into memory first.
    pub fn with_item_limit(mut self, items: usize) -> Self {
        self.item_limit = items as u64;
        self
    }

    /// The page size to ask for.
    pub fn page_size(&self) -> usize {
        self.page_size
    }

    /// The number (from 1) of the page to fetch next, `None` once the list is
    /// complete, or a decode error beyond [`MAX_PAGES`].
    pub fn next_page(&self) -> Result<Option<usize>, PollError> {
        if self.done {
            Ok(None)
        } else if self.pages_read >= MAX_PAGES {
            Err(PollError::decode(format!(
                "{}: more than {MAX_PAGES} pages",
                self.list
            )))
        } else {
            Ok(Some(self.pages_read + 1))
        }
    }

    /// Reads the `data` of the page [`Pager::next_page`] asked for (fetched from
    /// `path`) and returns its items. A repeated page that ends the list gives
    /// no items.
    pub fn read<'a, T: Deserialize<'a>>(
        &mut self,
        path: &str,
        data: &'a RawValue,
    ) -> Result<Vec<T>, PollError> {
        let unexpected = |e: &dyn std::fmt::Display| {
            PollError::decode(format!("GET {path}: unexpected data: {e}"))
        };
        let page: RawPage = serde_json::from_str(data.get()).map_err(|e| unexpected(&e))?;
        let (key, items) = match self.items {
            Items::List => ("list", page.list),
            Items::Rows => ("rows", page.rows),
        };
        let items = items.ok_or_else(|| unexpected(&format_args!("no `{key}` array")))?;
        let (page_count, item_total) = page.totals();
        let parsed: Vec<T> = serde_json::from_str(items.get()).map_err(|e| unexpected(&e))?;
        let fresh = self.take(Page {
            items_text: items.get(),
            items: parsed.len(),
            page_count,
            item_total,
            last: false,
        })?;
        Ok(if fresh { parsed } else { Vec::new() })
    }

    /// Takes what a page of any shape says about itself (for a provider that
    /// finds the items and totals itself) and applies the stop rules: `true`
    /// when its items belong to the list, `false` when it repeats the page
    /// before at the end of the list, which is then complete.
    pub fn take(&mut self, page: Page) -> Result<bool, PollError> {
        let page_number = self.pages_read + 1;
        let hash = self.hasher.hash_one(page.items_text);
        if self.previous_items == Some(hash) {
            if page
                .item_total
                .is_some_and(|total| self.items_read as i64 >= total)
            {
                tracing::debug!(
                    list = self.list,
                    page = page_number,
                    "a page past the advertised total repeats the last one: end of the list"
                );
                self.done = true;
                return Ok(false);
            }
            return Err(PollError::decode(format!(
                "{}: page {page_number} repeats page {} before the advertised end: the API ignores paging",
                self.list,
                page_number - 1
            )));
        }
        self.pages_read = page_number;
        self.items_read += page.items as u64;
        if self.items_read > self.item_limit {
            return Err(PollError::new(
                Reason::Limit,
                format!(
                    "{}: {} items by page {page_number}, over the target's sample_limit {} by {}; reading stopped",
                    self.list,
                    self.items_read,
                    self.item_limit,
                    self.items_read - self.item_limit
                ),
            ));
        }
        self.previous_items = Some(hash);
        self.done = page.last
            || page.items == 0
            || match (page.page_count, page.item_total) {
                (Some(pages), _) => page_number as i64 >= pages,
                (None, Some(total)) => self.items_read as i64 >= total,
                (None, None) => self.end == End::ShortPage && page.items < self.page_size,
            };
        Ok(true)
    }
}

/// What a page says about itself, whatever the API's shape.
pub(crate) struct Page<'t> {
    /// The items' JSON text, which tells a repeated page.
    pub items_text: &'t str,
    /// How many items the page holds.
    pub items: usize,
    /// The page count it advertises, if any.
    pub page_count: Option<i64>,
    /// The item total it advertises, if any.
    pub item_total: Option<i64>,
    /// The API says no page follows (a next-page link that is null).
    pub last: bool,
}

/// A page's `data`: its items, still unparsed, and whatever totals it gives.
/// Fields not named here are skipped without being kept.
#[derive(Deserialize)]
struct RawPage<'a> {
    #[serde(borrow, default)]
    list: Option<&'a RawValue>,
    #[serde(borrow, default)]
    rows: Option<&'a RawValue>,
    #[serde(default, deserialize_with = "optional_number")]
    total_page: Option<Number>,
    #[serde(default, deserialize_with = "optional_number")]
    total_pages: Option<Number>,
    #[serde(default, deserialize_with = "optional_number")]
    total_count: Option<Number>,
    #[serde(default, deserialize_with = "optional_number")]
    total: Option<Number>,
    #[serde(default)]
    pagination: Option<Pagination>,
}

/// The documents' Pagination schema (`total`, `page_no`, `page_size`,
/// `total_pages`), also read under the package list's names.
#[derive(Deserialize)]
struct Pagination {
    #[serde(default, deserialize_with = "optional_number")]
    total_page: Option<Number>,
    #[serde(default, deserialize_with = "optional_number")]
    total_pages: Option<Number>,
    #[serde(default, deserialize_with = "optional_number")]
    total_count: Option<Number>,
    #[serde(default, deserialize_with = "optional_number")]
    total: Option<Number>,
}

impl RawPage<'_> {
    /// The advertised page count and item total, each the largest given.
    fn totals(&self) -> (Option<i64>, Option<i64>) {
        let nested = self.pagination.as_ref();
        let largest = |figures: [Option<Number>; 4]| {
            figures
                .into_iter()
                .flatten()
                .filter_map(Number::as_i64)
                .max()
        };
        (
            largest([
                self.total_page,
                self.total_pages,
                nested.and_then(|p| p.total_page),
                nested.and_then(|p| p.total_pages),
            ]),
            largest([
                self.total_count,
                self.total,
                nested.and_then(|p| p.total_count),
                nested.and_then(|p| p.total),
            ]),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// Feeds `data` to the pager as the next page and returns the item count.
    fn read(pager: &mut Pager, data: Value) -> Result<usize, PollError> {
        assert!(pager.next_page()?.is_some(), "the list already ended");
        let raw = RawValue::from_string(data.to_string()).unwrap();
        pager.read::<Value>("/l", &raw).map(|items| items.len())
    }

    fn items(n: usize, offset: usize) -> Vec<Value> {
        (offset..offset + n).map(|i| json!({"id": i})).collect()
    }

    fn gateway() -> Pager {
        Pager::new("l", Items::List, 2, End::EmptyPage)
    }

    #[test]
    fn more_items_than_the_limit_stop_the_reading_with_reason_limit() {
        let mut p = gateway().with_item_limit(3);
        let page = |o| json!({"list": items(2, o), "total_page": 100});
        assert_eq!(read(&mut p, page(0)).unwrap(), 2);
        let error = read(&mut p, page(2)).unwrap_err();
        assert_eq!(error.reason, Reason::Limit);
        assert!(
            error
                .message
                .contains("4 items by page 2, over the target's sample_limit 3 by 1"),
            "{error}"
        );
    }

    #[test]
    fn a_page_count_ends_the_list_and_decides_over_the_item_total() {
        let mut p = gateway();
        let page = |n, o| json!({"list": items(n, o), "total_page": 3, "total_count": 2});
        assert_eq!(read(&mut p, page(2, 0)).unwrap(), 2);
        assert_eq!(read(&mut p, page(2, 2)).unwrap(), 2);
        assert_eq!(read(&mut p, page(1, 4)).unwrap(), 1);
        assert_eq!(p.next_page().unwrap(), None);
        // The documents' example: `total_page: 0` beside one item.
        let mut p = gateway();
        read(
            &mut p,
            json!({"list": items(1, 0), "total_page": 0, "total_count": 0}),
        )
        .unwrap();
        assert_eq!(p.next_page().unwrap(), None);
    }

    #[test]
    fn an_item_total_ends_the_list_without_a_page_count() {
        let mut p = gateway();
        read(&mut p, json!({"list": items(2, 0), "total": "3"})).unwrap();
        assert_eq!(p.next_page().unwrap(), Some(2));
        read(&mut p, json!({"list": items(1, 2), "total": 3})).unwrap();
        assert_eq!(p.next_page().unwrap(), None);
    }

    #[test]
    fn both_spellings_and_a_nested_pagination_are_read_and_the_largest_wins() {
        let text = json!({"list": [], "total": 150, "total_count": 120,
            "total_page": 2, "total_pages": 2})
        .to_string();
        let page: RawPage = serde_json::from_str(&text).unwrap();
        assert_eq!(page.totals(), (Some(2), Some(150)));
        let text = json!({"list": [], "total_count": 10,
            "pagination": {"total": 40, "page_no": 1, "page_size": 20, "total_pages": 4}})
        .to_string();
        let page: RawPage = serde_json::from_str(&text).unwrap();
        assert_eq!(page.totals(), (Some(4), Some(40)));
        let text = json!({"rows": [], "pagination": null}).to_string();
        let page: RawPage = serde_json::from_str(&text).unwrap();
        assert_eq!(page.totals(), (None, None));
    }

    #[test]
    fn without_totals_an_empty_page_or_where_the_rule_a_short_page_ends_the_list() {
        let mut p = gateway();
        read(&mut p, json!({"list": items(1, 0)})).unwrap();
        assert_eq!(p.next_page().unwrap(), Some(2), "a short page goes on");
        read(&mut p, json!({"list": []})).unwrap();
        assert_eq!(p.next_page().unwrap(), None);
        let mut p = Pager::new("r", Items::Rows, 2, End::ShortPage);
        read(&mut p, json!({"rows": items(2, 0)})).unwrap();
        read(&mut p, json!({"rows": items(1, 2)})).unwrap();
        assert_eq!(p.next_page().unwrap(), None);
    }

    #[test]
    fn a_repeated_page_is_the_end_after_the_item_total_and_an_error_before() {
        let mut p = gateway();
        let page = |o| json!({"list": items(2, o), "total_count": 4, "total_page": 9});
        read(&mut p, page(0)).unwrap();
        read(&mut p, page(2)).unwrap();
        assert_eq!(read(&mut p, page(2)).unwrap(), 0, "no item twice");
        assert_eq!(p.next_page().unwrap(), None);

        let mut p = gateway();
        read(&mut p, page(0)).unwrap();
        let err = read(&mut p, page(0)).unwrap_err();
        assert_eq!(err.reason, Reason::Decode);
        assert!(err.message.contains("page 2 repeats page 1"), "{err:?}");
    }

    #[test]
    fn a_repeat_is_told_by_the_items_whatever_else_the_page_says() {
        let mut p = gateway();
        read(&mut p, json!({"list": items(2, 0), "page": 1})).unwrap();
        let err = read(&mut p, json!({"page": 2, "list": items(2, 0)})).unwrap_err();
        assert_eq!(err.reason, Reason::Decode);
    }

    #[test]
    fn more_pages_than_the_cap_are_an_error() {
        let mut p = gateway();
        for page in 0..MAX_PAGES {
            read(&mut p, json!({"list": items(2, 2 * page)})).unwrap();
        }
        let err = p.next_page().unwrap_err();
        assert_eq!(err.reason, Reason::Decode);
        assert!(err.message.contains("more than 1000 pages"), "{err:?}");
    }

    #[test]
    fn a_page_without_its_items_or_with_broken_totals_is_a_decode_error() {
        for data in [
            json!({"rows": []}),
            json!({"list": null}),
            json!({"list": {}}),
            json!({"list": [], "total": null}),
            json!({"list": [], "pagination": {"total_pages": "many"}}),
        ] {
            let err = read(&mut gateway(), data.clone()).unwrap_err();
            assert_eq!(err.reason, Reason::Decode, "{data}");
        }
    }
}
