//! Query locators: the rest of a result, served page by page under `/query/<locator>-<offset>`.
//!
//! A cursor keeps the matching rows (row numbers, not JSON) and the query text; each page is
//! shaped when it is asked for. Cursors expire after 15 minutes, and at most [`MAX_CURSORS`] are
//! kept (the oldest is dropped first), so an abandoned query never holds memory for long.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use callforce_types::{Id, KeyPrefix};
use parking_lot::Mutex;
use serde_json::Value as J;

use crate::store::RowId;

/// How many cursors are kept at most.
pub const MAX_CURSORS: usize = 1_000;
const TTL: Duration = Duration::from_secs(15 * 60);

/// What remains to be served of one query.
#[derive(Debug, Clone)]
pub enum Rest {
    /// Rows of a table, shaped on demand by re-compiling `text`.
    Rows {
        /// The table's position.
        table: usize,
        /// Every row of the result, in order.
        rows: Vec<RowId>,
    },
    /// Records already shaped (aggregate results).
    Shaped(Vec<J>),
}

impl Rest {
    /// How many records the whole result has.
    pub fn len(&self) -> usize {
        match self {
            Rest::Rows { rows, .. } => rows.len(),
            Rest::Shaped(v) => v.len(),
        }
    }

    /// Whether the result is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One open cursor.
#[derive(Debug, Clone)]
pub struct Cursor {
    /// The query text.
    pub text: String,
    /// Whether it was a `queryAll`.
    pub all_rows: bool,
    /// The page size it was opened with.
    pub batch: usize,
    /// The whole result.
    pub rest: Rest,
    created: Instant,
}

/// The open cursors of an org.
#[derive(Default)]
pub struct Cursors {
    open: Mutex<HashMap<String, Cursor>>,
    counter: AtomicU64,
}

impl Cursors {
    /// Opens a cursor and returns its locator id (an `01g...` id).
    pub fn open(&self, text: String, all_rows: bool, batch: usize, rest: Rest) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed) + 1;
        let id = KeyPrefix::new("01g")
            .map(|p| Id::mint(p, n).to_string())
            .unwrap_or_default();
        let mut open = self.open.lock();
        open.retain(|_, c| c.created.elapsed() < TTL);
        if open.len() >= MAX_CURSORS
            && let Some(oldest) = open
                .iter()
                .min_by_key(|(_, c)| c.created)
                .map(|(k, _)| k.clone())
        {
            open.remove(&oldest);
        }
        open.insert(
            id.clone(),
            Cursor {
                text,
                all_rows,
                batch,
                rest,
                created: Instant::now(),
            },
        );
        id
    }

    /// The cursor behind a locator id, if it is still open.
    pub fn get(&self, id: &str) -> Option<Cursor> {
        let open = self.open.lock();
        open.get(id).filter(|c| c.created.elapsed() < TTL).cloned()
    }

    /// Closes a cursor once its last page was served.
    pub fn close(&self, id: &str) {
        self.open.lock().remove(id);
    }
}

/// Splits a locator `01gxx...-2000` into its id and offset.
pub fn parse_locator(s: &str) -> Option<(&str, usize)> {
    let (id, offset) = s.rsplit_once('-')?;
    Some((id, offset.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locators() {
        assert_eq!(
            parse_locator("01g0D0000000001AAA-2000"),
            Some(("01g0D0000000001AAA", 2000))
        );
        assert_eq!(parse_locator("01g0D0000000001AAA"), None);
        assert_eq!(parse_locator("x-y"), None);
    }

    #[test]
    fn oldest_cursor_is_dropped_past_the_cap() {
        let c = Cursors::default();
        let first = c.open("q".into(), false, 2000, Rest::Shaped(vec![]));
        for _ in 0..MAX_CURSORS {
            c.open("q".into(), false, 2000, Rest::Shaped(vec![]));
        }
        assert!(c.get(&first).is_none());
        assert_eq!(c.open.lock().len(), MAX_CURSORS);
    }
}
