//! The parsed values: one detection per line, one frame per key.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// The value MOTChallenge files write for "unknown"; optional columns that a file leaves out take it too.
pub const UNKNOWN: f64 = -1.0;

/// One line of a MOT file: `frame,id,left,top,width,height[,conf[,class[,visibility[,x,y,z]]]]`.
///
/// Columns the line does not have are [`UNKNOWN`] (`-1`), the value MOTChallenge itself writes for "not given",
/// so a 6-column detection and a 10-column one with `-1` sentinels compare equal.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// Frame number (MOTChallenge counts from 1).
    pub frame: u64,
    /// Track id; `-1` in detection files that have no identities.
    pub id: i64,
    /// Left edge of the box, in pixels.
    pub left: f64,
    /// Top edge of the box, in pixels.
    pub top: f64,
    /// Box width, in pixels.
    pub width: f64,
    /// Box height, in pixels.
    pub height: f64,
    /// Detection confidence, or the ground truth's "consider" flag (0 or 1); `-1` when absent.
    pub conf: f64,
    /// Object class; `-1` when absent.
    pub class: i64,
    /// Visibility ratio in `[0, 1]`; `-1` when absent.
    pub visibility: f64,
    /// World x coordinate (3D challenges); `-1` when absent.
    pub x: f64,
    /// World y coordinate; `-1` when absent.
    pub y: f64,
    /// World z coordinate; `-1` when absent.
    pub z: f64,
}

impl Detection {
    /// A detection with the six mandatory columns and every optional one unknown.
    pub fn new(frame: u64, id: i64, left: f64, top: f64, width: f64, height: f64) -> Self {
        Detection {
            frame,
            id,
            left,
            top,
            width,
            height,
            conf: UNKNOWN,
            class: -1,
            visibility: UNKNOWN,
            x: UNKNOWN,
            y: UNKNOWN,
            z: UNKNOWN,
        }
    }
}

/// The detections of one frame, in file order. Cheap to clone: the rows are shared.
///
/// A frame inside the file's range that has no rows is a valid, empty frame.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    number: u64,
    // An `Arc<Vec>` rather than `Arc<[T]>`: wrapping the parsed Vec moves it instead of copying every row.
    detections: Arc<Vec<Detection>>,
}

impl Frame {
    /// A frame holding `detections`.
    pub fn new(number: u64, detections: Vec<Detection>) -> Self {
        Frame { number, detections: Arc::new(detections) }
    }

    /// The frame number.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// The detections, in the order the file lists them.
    pub fn detections(&self) -> &[Detection] {
        &self.detections
    }

    /// How many detections the frame holds.
    pub fn len(&self) -> usize {
        self.detections.len()
    }

    /// Whether the frame has no detections.
    pub fn is_empty(&self) -> bool {
        self.detections.is_empty()
    }

    /// Approximate heap bytes held, for a byte-bounded cache's weigher.
    pub fn weight(&self) -> u64 {
        (std::mem::size_of::<Self>()
            + std::mem::size_of::<Vec<Detection>>()
            + std::mem::size_of::<Detection>() * self.detections.capacity()) as u64
    }
}

impl Serialize for Frame {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Frame", 2)?;
        st.serialize_field("frame", &self.number)?;
        st.serialize_field("detections", self.detections.as_slice())?;
        st.end()
    }
}
