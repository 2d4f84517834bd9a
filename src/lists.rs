//! The long lists of a status (sub-accounts, customers, packages, static IPs,
//! alerts) cut to a window: `?q=` keeps the entries whose name holds a text
//! (case-insensitive), `limit` and `offset` choose the slice, and each list's
//! total says how many matched. A target with 100,000 sub-accounts thus never
//! puts 100,000 rows on the front page or in one `/api/v1/status` answer.

/// The longest `q` kept, in characters; the rest is ignored.
pub const MAX_QUERY_CHARS: usize = 100;
/// The largest `limit` taken; a larger one is cut to this.
pub const MAX_LIMIT: usize = 1000;
/// How many entries the sub-account and alert lists hold without `limit`.
pub const LONG_LIST_LENGTH: usize = 100;

/// Which entries of each long list a status holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListWindow {
    /// Lowercased; `None`: every entry.
    query: Option<String>,
    /// `None`: each list's own default length.
    limit: Option<usize>,
    offset: usize,
}

impl ListWindow {
    /// A window from the request's parameters: `q` (empty means none), `limit`
    /// (at most [`MAX_LIMIT`]) and `offset`.
    pub fn new(q: Option<&str>, limit: Option<usize>, offset: usize) -> ListWindow {
        let query = q
            .map(|q| q.trim().chars().take(MAX_QUERY_CHARS).collect::<String>())
            .filter(|q| !q.is_empty())
            .map(|q| q.to_lowercase());
        ListWindow {
            query,
            limit: limit.map(|l| l.min(MAX_LIMIT)),
            offset,
        }
    }

    /// `limit`, `offset` and `q` read from a URL's query string; a value that
    /// is not a number is an error naming the parameter.
    pub fn from_query(query: Option<&str>) -> Result<ListWindow, String> {
        let (mut q, mut limit, mut offset) = (None, None, 0);
        for (key, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            let number = || {
                value
                    .parse::<usize>()
                    .map_err(|_| format!("{key} must be a whole number, not {value:?}"))
            };
            match key.as_ref() {
                "q" => q = Some(value.to_string()),
                "limit" => limit = Some(number()?),
                "offset" => offset = number()?,
                _ => {}
            }
        }
        Ok(ListWindow::new(q.as_deref(), limit, offset))
    }

    /// The text searched for, lowercased.
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    /// Whether `name` holds the searched text (always, without one).
    pub fn matches(&self, name: &str) -> bool {
        match &self.query {
            None => true,
            Some(q) if name.is_ascii() && q.is_ascii() => name
                .as_bytes()
                .windows(q.len())
                .any(|w| w.eq_ignore_ascii_case(q.as_bytes())),
            Some(q) => name.to_lowercase().contains(q.as_str()),
        }
    }

    /// The slice of `items` (already filtered and sorted) this window holds,
    /// `default` long without a `limit`, and how many there were.
    pub fn cut<T>(&self, items: Vec<T>, default: usize) -> (Vec<T>, usize) {
        let total = items.len();
        let length = self.limit.unwrap_or(default).min(MAX_LIMIT);
        let kept = items.into_iter().skip(self.offset).take(length).collect();
        (kept, total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_matches_names_whatever_their_case() {
        let w = ListWindow::new(Some(" User0 "), None, 0);
        assert!(w.matches("USER042"));
        assert!(w.matches("team-user0"));
        assert!(!w.matches("use"));
        let w = ListWindow::new(Some("Ünï"), None, 0);
        assert!(w.matches("ÜNÏCODE"));
        assert!(ListWindow::new(Some("  "), None, 0).matches("anything"));
    }

    #[test]
    fn the_window_cuts_after_the_offset_and_counts_everything() {
        let w = ListWindow::new(None, Some(3), 4);
        assert_eq!(w.cut((0..10).collect(), 5), (vec![4, 5, 6], 10));
        let w = ListWindow::new(None, None, 8);
        assert_eq!(w.cut((0..10).collect(), 5), (vec![8, 9], 10));
        let w = ListWindow::new(None, Some(usize::MAX), 0);
        assert_eq!(w.cut((0..5000).collect(), 5).0.len(), MAX_LIMIT);
    }

    #[test]
    fn parameters_are_read_from_the_query_string() {
        let w = ListWindow::from_query(Some("q=Ab%20c&limit=5&offset=10&x=1")).unwrap();
        assert_eq!(w, ListWindow::new(Some("ab c"), Some(5), 10));
        assert!(ListWindow::from_query(Some("limit=-1"))
            .unwrap_err()
            .contains("limit"));
        assert_eq!(ListWindow::from_query(None).unwrap(), ListWindow::default());
    }
}
