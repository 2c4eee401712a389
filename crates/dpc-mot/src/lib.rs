//! # dpc-mot: MOTChallenge annotation files, indexed and served frame by frame
//!
//! MOT files list one box per line, `frame,id,left,top,width,height[,conf[,class[,visibility]]]`
//! (or the MOT15 layout `frame,id,left,top,width,height,conf,x,y,z`).
//! This crate parses them, builds a frame → byte-range index in one streaming pass, and serves frames through
//! [`MotProvider`], a [`dpc_core::DataProvider`] whose keys are frame numbers, so a
//! [`dpc_core::PrefetchCache`] can load the frames a user is about to look at.
//!
//! ```
//! use dpc_core::{Lookahead, PrefetchCache};
//! use dpc_mot::MotProvider;
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("gt.txt");
//! // Sorted by track id, as official ground truth is; frame 2 has no rows.
//! std::fs::write(&path, "1,1,10,20,30,40,1,1,1\n3,1,12,20,30,40,1,1,0.5\n1,2,50,60,30,40,1,1,1\n")?;
//!
//! let provider = MotProvider::open(&path)?;
//! assert_eq!(provider.range(), Some((1, 3)));
//! let cache = PrefetchCache::builder(provider).predictor(Lookahead::new(4)).build()?;
//! assert_eq!(cache.get(&1)?.len(), 2);
//! assert!(cache.get(&2)?.is_empty());
//! assert_eq!(cache.get(&3)?.detections()[0].visibility, 0.5);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! | piece | what it does |
//! |---|---|
//! | [`parse()`], [`parse_line`] | bytes → [`Detection`]s; comma (with optional spaces) or whitespace, CRLF, BOM, blank lines, 6 to 10 columns, `-1` sentinels, integral floats for integer columns; no I/O |
//! | [`Mode`] | strict: the first bad line is a [`LineError`] with line number, byte offset and text; lenient: bad lines are skipped and reported |
//! | [`scan()`] | a full streaming parse of a stream of any size in constant memory, with column counts and diagnostics |
//! | [`FrameIndex`] | one streaming pass (1 MiB blocks, `memchr`, only the frame column parsed) → byte ranges per frame, for sorted and unsorted files |
//! | [`MotProvider`] | reads only a frame's bytes (positioned reads, no lock; a block cache for files sorted by track id), keeps parsed frames in an LRU, [`MotStats`]; strict or lenient, optionally validating every line at open |
//! | [`SeqInfo`] | the `seqinfo.ini` beside the file: frame rate, length (which extends the frame range), image size |
//! | [`write_detection`], [`quantize`] | the fast writer the generator in `dpc-gen` uses, and the value a parser reads back |

mod detection;
mod error;
mod index;
mod parse;
mod provider;
mod scan;
mod seqinfo;
mod write;

pub use detection::{Detection, Frame, UNKNOWN};
pub use error::{COLUMN_NAMES, LineError, LineErrorKind, MotError, SeqInfoError};
pub use index::{FrameIndex, IndexError, IndexSummary, Run, SavedIndexError};
pub use parse::{MAX_LINE_BYTES, Mode, Parsed, bom_len, frame_of, is_blank, parse, parse_line};
pub use provider::{IndexCache, MotProvider, MotProviderBuilder, MotStats};
pub use scan::{Scan, scan};
pub use seqinfo::SeqInfo;
pub use write::{Separator, WriteFormat, quantize, write_detection};
