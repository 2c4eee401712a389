//! `seqinfo.ini`: the MOTChallenge sequence description (frame rate, length, image size). No I/O here.

use serde::Serialize;

use crate::SeqInfoError;

/// The `[Sequence]` section of a MOTChallenge `seqinfo.ini`; every key is optional.
///
/// ```
/// let info = dpc_mot::SeqInfo::parse("[Sequence]\nname=MOT17-02\nframeRate=30\nseqLength=600\nimWidth=1920\nimHeight=1080\n")?;
/// assert_eq!((info.frame_rate, info.length, info.width), (Some(30.0), Some(600), Some(1920)));
/// # Ok::<(), dpc_mot::SeqInfoError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct SeqInfo {
    /// `name`.
    pub name: Option<String>,
    /// `imDir`: the image directory.
    pub image_dir: Option<String>,
    /// `frameRate`, frames per second.
    pub frame_rate: Option<f64>,
    /// `seqLength`: the number of frames; frames `1..=length` exist even when they have no rows.
    pub length: Option<u64>,
    /// `imWidth`, pixels.
    pub width: Option<u32>,
    /// `imHeight`, pixels.
    pub height: Option<u32>,
    /// `imExt`, for example `.jpg`.
    pub image_ext: Option<String>,
}

impl SeqInfo {
    /// Parses the text of a `seqinfo.ini`. Keys are matched case-insensitively; unknown keys and sections are
    /// ignored; `;` and `#` start comment lines.
    pub fn parse(text: &str) -> Result<SeqInfo, SeqInfoError> {
        let mut info = SeqInfo::default();
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut in_sequence = true;
        for (i, raw) in text.lines().enumerate() {
            let line_no = i + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
                continue;
            }
            if let Some(section) = line.strip_prefix('[') {
                let Some(section) = section.strip_suffix(']') else {
                    return Err(SeqInfoError { line: line_no, message: format!("unclosed section header {line:?}") });
                };
                in_sequence = section.trim().eq_ignore_ascii_case("sequence");
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                return Err(SeqInfoError { line: line_no, message: format!("expected key=value, found {line:?}") });
            };
            if !in_sequence {
                continue;
            }
            let (key, value) = (key.trim(), value.trim());
            let bad = |what: &str| SeqInfoError { line: line_no, message: format!("{key}={value:?} is not {what}") };
            match key.to_ascii_lowercase().as_str() {
                "name" => info.name = Some(value.to_string()),
                "imdir" => info.image_dir = Some(value.to_string()),
                "imext" => info.image_ext = Some(value.to_string()),
                "framerate" => {
                    let v: f64 = value.parse().map_err(|_| bad("a number"))?;
                    if !(v.is_finite() && v > 0.0) {
                        return Err(bad("a positive number"));
                    }
                    info.frame_rate = Some(v);
                }
                "seqlength" => info.length = Some(value.parse().map_err(|_| bad("a non-negative integer"))?),
                "imwidth" => info.width = Some(value.parse().map_err(|_| bad("a non-negative integer"))?),
                "imheight" => info.height = Some(value.parse().map_err(|_| bad("a non-negative integer"))?),
                _ => {}
            }
        }
        Ok(info)
    }
}
