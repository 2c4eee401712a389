//! Output files that are replaced whole or not at all.
//!
//! A generator writes into a temporary file beside the target and renames it into place only once every
//! byte is written and synced, so a failed or interrupted run never destroys what the target held (an
//! interrupted run may leave the temporary file, named `.NAME.XXXXXX.dpc-tmp`, behind).
//! A target that exists and is not a regular file (`/dev/null`, a FIFO, a terminal) is written directly.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// A file being written; nothing reaches the target path before [`commit`](Self::commit).
#[derive(Debug)]
pub struct OutFile {
    path: PathBuf,
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Temp(BufWriter<tempfile::NamedTempFile>),
    Direct(BufWriter<File>),
}

impl OutFile {
    /// Prepares writing `path`: a temporary file in the same directory, or `path` itself when it exists
    /// and is not a regular file.
    pub fn create(path: &Path) -> Result<OutFile, String> {
        let named = |e: io::Error| format!("{}: {e}", path.display());
        let existing = std::fs::metadata(path).ok();
        if let Some(meta) = &existing {
            if meta.is_dir() {
                return Err(format!("{}: is a directory", path.display()));
            }
            if !meta.is_file() {
                let file = File::options().write(true).open(path).map_err(named)?;
                return Ok(OutFile { path: path.to_path_buf(), inner: Inner::Direct(BufWriter::new(file)) });
            }
        }
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let prefix = format!(".{name}.");
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".dpc-tmp");
        // The new file gets the permissions the old one had, or those a plain create would give.
        if let Some(meta) = &existing {
            builder.permissions(meta.permissions());
        } else {
            #[cfg(unix)]
            builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
        }
        let tmp =
            builder.tempfile_in(dir).map_err(|e| format!("{}: cannot create a file beside it: {e}", path.display()))?;
        Ok(OutFile { path: path.to_path_buf(), inner: Inner::Temp(BufWriter::with_capacity(1 << 16, tmp)) })
    }

    /// The target path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes, syncs and renames the temporary file over the target.
    pub fn commit(self) -> Result<(), String> {
        let named = |e: io::Error| format!("{}: {e}", self.path.display());
        match self.inner {
            Inner::Direct(w) => w.into_inner().map_err(|e| named(e.into_error()))?.flush().map_err(named),
            Inner::Temp(w) => {
                let tmp = w.into_inner().map_err(|e| named(e.into_error()))?;
                tmp.as_file().sync_all().map_err(named)?;
                tmp.persist(&self.path).map_err(|e| named(e.error))?;
                Ok(())
            }
        }
    }
}

impl Write for OutFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.inner {
            Inner::Temp(w) => w.write(buf),
            Inner::Direct(w) => w.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match &mut self.inner {
            Inner::Temp(w) => w.write_all(buf),
            Inner::Direct(w) => w.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.inner {
            Inner::Temp(w) => w.flush(),
            Inner::Direct(w) => w.flush(),
        }
    }
}
