//! `PagedProvider`: any source as a `DataProvider` of pages, the general file provider.

use std::ops::Range;
use std::sync::Arc;

use dpc_core::DataProvider;

use crate::{IoError, RangeSource};

/// A [`RangeSource`] cut into pages, served as a [`DataProvider`]: key = page index, value = the page's bytes.
///
/// Pages are fixed-size (the last one may be shorter) or given by the caller's chunk boundaries (record
/// starts, keyframes). [`contains`](DataProvider::contains) is false past the last page, so a
/// [`PrefetchCache`](dpc_core::PrefetchCache) never prefetches there. Every load checks the source's pinned
/// version: a replaced object is [`IoError::Changed`].
///
/// ```
/// use dpc_core::{Lookahead, PrefetchCache};
/// use dpc_io::{LocalFile, PagedProvider};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("data.bin");
/// std::fs::write(&path, (0..=255u8).cycle().take(10_000).collect::<Vec<u8>>())?;
/// let pages = PagedProvider::fixed(LocalFile::open(&path)?, 4096)?;
/// assert_eq!(pages.page_count(), 3);
/// let cache = PrefetchCache::builder(pages).predictor(Lookahead::new(2)).build()?;
/// assert_eq!(cache.get(&2)?.len(), 10_000 - 2 * 4096);
/// assert_eq!(cache.get(&1)?[0], (4096 % 256) as u8);
/// assert!(cache.get(&3).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct PagedProvider<S: ?Sized = dyn RangeSource> {
    pages: Pages,
    source: Arc<S>,
}

#[derive(Clone, Debug)]
enum Pages {
    Fixed {
        size: u64,
        count: u64,
    },
    /// Page `i` is `starts[i]..starts[i + 1]`; the last entry is the source's length.
    Bounds(Vec<u64>),
}

impl<S: RangeSource + ?Sized> PagedProvider<S> {
    /// Pages of `page_size` bytes (at least 1).
    pub fn fixed(source: S, page_size: u64) -> Result<Self, IoError>
    where
        S: Sized,
    {
        Self::fixed_arc(Arc::new(source), page_size)
    }

    /// Pages of `page_size` bytes of a shared source (for example the result of
    /// [`open_source`](crate::open_source)).
    pub fn fixed_arc(source: Arc<S>, page_size: u64) -> Result<Self, IoError> {
        if page_size == 0 {
            return Err(IoError::InvalidPages {
                location: source.location().to_string(),
                reason: "the page size must be at least 1 byte".to_string(),
            });
        }
        let count = source.len().div_ceil(page_size);
        Ok(PagedProvider { pages: Pages::Fixed { size: page_size, count }, source })
    }

    /// Pages that start at the given offsets: `starts` must begin at 0 and increase strictly, each below the
    /// source's length; page `i` runs to the next start (the last page to the end).
    pub fn with_starts(source: Arc<S>, starts: &[u64]) -> Result<Self, IoError> {
        let bad = |reason: String| IoError::InvalidPages { location: source.location().to_string(), reason };
        let len = source.len();
        if len == 0 {
            if !starts.is_empty() {
                return Err(bad("the source is empty: it has no pages".to_string()));
            }
            return Ok(PagedProvider { pages: Pages::Bounds(vec![0]), source });
        }
        if starts.first() != Some(&0) {
            return Err(bad("the first page must start at byte 0".to_string()));
        }
        if let Some(w) = starts.windows(2).find(|w| w[0] >= w[1]) {
            return Err(bad(format!("page starts must increase strictly ({} then {})", w[0], w[1])));
        }
        if let Some(&last) = starts.last().filter(|&&s| s >= len) {
            return Err(bad(format!("a page starts at {last}, at or past the end ({len} bytes)")));
        }
        let mut bounds = starts.to_vec();
        bounds.push(len);
        Ok(PagedProvider { pages: Pages::Bounds(bounds), source })
    }

    /// How many pages there are.
    pub fn page_count(&self) -> u64 {
        match &self.pages {
            Pages::Fixed { count, .. } => *count,
            Pages::Bounds(b) => b.len() as u64 - 1,
        }
    }

    /// The byte range of page `page`, or `None` past the last page.
    pub fn page_range(&self, page: u64) -> Option<Range<u64>> {
        match &self.pages {
            Pages::Fixed { size, count } => {
                (page < *count).then(|| page * size..((page + 1) * size).min(self.source.len()))
            }
            Pages::Bounds(b) => {
                let i = usize::try_from(page).ok()?;
                Some(*b.get(i)?..*b.get(i + 1)?)
            }
        }
    }

    /// The page that holds byte `offset`, or `None` past the end.
    pub fn page_of(&self, offset: u64) -> Option<u64> {
        if offset >= self.source.len() {
            return None;
        }
        match &self.pages {
            Pages::Fixed { size, .. } => Some(offset / size),
            Pages::Bounds(b) => Some(b.partition_point(|&s| s <= offset) as u64 - 1),
        }
    }

    /// The source.
    pub fn source(&self) -> &Arc<S> {
        &self.source
    }

    /// Reads pages `pages` (any order) with coalesced reads: adjacent pages cost one request.
    pub fn load_many(&self, pages: &[u64]) -> Result<Vec<Vec<u8>>, IoError> {
        let ranges = pages.iter().map(|&p| self.range_or_err(p)).collect::<Result<Vec<_>, _>>()?;
        self.source.read_ranges(&ranges)
    }

    fn range_or_err(&self, page: u64) -> Result<Range<u64>, IoError> {
        self.page_range(page).ok_or_else(|| IoError::OutOfRange {
            location: self.source.location().to_string(),
            range: match &self.pages {
                Pages::Fixed { size, .. } => page.saturating_mul(*size)..page.saturating_add(1).saturating_mul(*size),
                Pages::Bounds(_) => self.source.len()..self.source.len(),
            },
            len: self.source.len(),
        })
    }
}

impl<S: RangeSource + ?Sized + 'static> DataProvider for PagedProvider<S> {
    type Key = u64;
    type Value = Vec<u8>;
    type Error = IoError;

    fn load(&self, page: &u64) -> Result<Vec<u8>, IoError> {
        let range = self.range_or_err(*page)?;
        self.source.read_range(range)
    }

    fn contains(&self, page: &u64) -> bool {
        *page < self.page_count()
    }
}
