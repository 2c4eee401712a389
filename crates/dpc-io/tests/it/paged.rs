use std::sync::Arc;

use dpc_core::{DataProvider, Lookahead, PrefetchCache};
use dpc_io::{IoError, LocalFile, PagedProvider, RangeSource};

use crate::{pattern, temp_file};

#[test]
fn fixed_pages_cover_the_file_and_stop_at_its_end() {
    let data = pattern(10_000);
    let (_dir, path) = temp_file(&data);
    let p = PagedProvider::fixed(LocalFile::open(&path).unwrap(), 4096).unwrap();
    assert_eq!(p.page_count(), 3);
    assert_eq!(p.page_range(2), Some(8192..10_000));
    assert_eq!(p.page_range(3), None);
    assert_eq!(p.page_of(8191), Some(1));
    assert_eq!(p.page_of(10_000), None);
    assert_eq!(p.load(&0).unwrap(), &data[..4096]);
    assert_eq!(p.load(&2).unwrap(), &data[8192..]);
    assert!(p.contains(&2) && !p.contains(&3) && !p.contains(&u64::MAX));
    assert!(matches!(p.load(&3), Err(IoError::OutOfRange { .. })));
    assert!(matches!(p.load(&u64::MAX), Err(IoError::OutOfRange { .. })));
    assert_eq!(p.load_many(&[2, 0]).unwrap(), vec![data[8192..].to_vec(), data[..4096].to_vec()]);
}

#[test]
fn chunk_boundaries_given_by_the_caller() {
    let data = pattern(1000);
    let (_dir, path) = temp_file(&data);
    let source: Arc<dyn RangeSource> = Arc::new(LocalFile::open(&path).unwrap());
    let p = PagedProvider::with_starts(Arc::clone(&source), &[0, 10, 500]).unwrap();
    assert_eq!(p.page_count(), 3);
    assert_eq!(p.load(&1).unwrap(), &data[10..500]);
    assert_eq!(p.load(&2).unwrap(), &data[500..]);
    assert_eq!(p.page_of(499), Some(1));
    assert_eq!(p.page_of(500), Some(2));
    for (starts, want) in [
        (vec![1, 10], "start at byte 0"),
        (vec![0, 10, 10], "increase strictly"),
        (vec![0, 1000], "at or past the end"),
        (vec![], "start at byte 0"),
    ] {
        match PagedProvider::with_starts(Arc::clone(&source), &starts) {
            Err(e @ IoError::InvalidPages { .. }) => assert!(e.to_string().contains(want), "{e}"),
            other => panic!("{starts:?}: {other:?}"),
        }
    }
    assert!(matches!(PagedProvider::fixed_arc(source, 0), Err(IoError::InvalidPages { .. })));
}

#[test]
fn an_empty_file_has_no_pages() {
    let (_dir, path) = temp_file(b"");
    let source: Arc<dyn RangeSource> = Arc::new(LocalFile::open(&path).unwrap());
    let p = PagedProvider::fixed_arc(Arc::clone(&source), 4096).unwrap();
    assert_eq!(p.page_count(), 0);
    assert!(!p.contains(&0));
    assert_eq!(PagedProvider::with_starts(source, &[]).unwrap().page_count(), 0);
}

#[test]
fn a_prefetch_cache_over_pages_prefetches_inside_the_file_only() {
    let data = pattern(64 * 1024);
    let (_dir, path) = temp_file(&data);
    let p = PagedProvider::fixed(LocalFile::open(&path).unwrap(), 1024).unwrap();
    let cache = PrefetchCache::builder(p).predictor(Lookahead::new(8)).build().unwrap();
    for page in 0..64u64 {
        let got = cache.get(&page).unwrap();
        assert_eq!(&got[..], &data[page as usize * 1024..(page as usize + 1) * 1024]);
        // Let the predicted pages load before the next request (the provider is instant, so without this
        // every request could win the race against its prefetch).
        cache.quiesce();
    }
    let stats = cache.stats();
    assert!(stats.prefetch_used > 0, "{stats:?}");
    // Pages past the end were never loaded: no failed prefetch.
    assert_eq!(stats.prefetch_failed, 0, "{stats:?}");
}

#[test]
fn a_truncated_file_fails_its_page_load_as_changed() {
    let (_dir, path) = temp_file(&pattern(8192));
    let p = PagedProvider::fixed(LocalFile::open(&path).unwrap(), 4096).unwrap();
    std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(4096).unwrap();
    assert!(p.load(&0).is_ok());
    assert!(p.load(&1).unwrap_err().is_changed());
}
