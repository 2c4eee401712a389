//! A local file read with positioned reads: no shared cursor, so any number of threads read at once.

use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use crate::source::checked_range;
use crate::{IoError, RangeSource, Version};

/// A regular file, read by range with `pread` (`FileExt::read_exact_at`).
///
/// The version pinned at open is the size, the modification time and the inode. A read that comes up short
/// (the file was truncated) and [`check`](RangeSource::check) compare them with the file as it is now and
/// report [`IoError::Changed`]. Directories, FIFOs, sockets and devices are refused at open with
/// [`IoError::NotRegularFile`], before anything could block on them.
#[derive(Debug)]
pub struct LocalFile {
    path: PathBuf,
    location: String,
    file: File,
    version: Version,
}

impl LocalFile {
    /// Opens `path`, which must be a regular file (symbolic links are followed).
    pub fn open(path: impl AsRef<Path>) -> Result<LocalFile, IoError> {
        let path = path.as_ref().to_path_buf();
        let location = path.display().to_string();
        // Look before opening: opening a FIFO for reading blocks until a writer appears.
        let meta = std::fs::metadata(&path).map_err(|e| IoError::io(&location, e))?;
        regular(&location, &meta)?;
        let file = open_nonblocking(&path).map_err(|e| IoError::io(&location, e))?;
        // And look again at what was opened, in case the path was swapped in between.
        let meta = file.metadata().map_err(|e| IoError::io(&location, e))?;
        regular(&location, &meta)?;
        let version = version_of(&meta);
        Ok(LocalFile { path, location, file, version })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open file.
    pub fn file(&self) -> &File {
        &self.file
    }

    fn changed_or(&self, e: io::Error) -> IoError {
        match self.check() {
            Err(changed) => changed,
            Ok(()) if e.kind() == io::ErrorKind::UnexpectedEof => IoError::Changed {
                location: self.location.clone(),
                detail: format!("the file is shorter than the {} bytes it had at open", self.version.size),
            },
            Ok(()) => IoError::io(&self.location, e),
        }
    }
}

impl RangeSource for LocalFile {
    fn location(&self) -> &str {
        &self.location
    }

    fn version(&self) -> &Version {
        &self.version
    }

    fn read_into(&self, offset: u64, buf: &mut [u8]) -> Result<(), IoError> {
        let end = offset.saturating_add(buf.len() as u64);
        checked_range(self, &(offset..end))?;
        read_exact_at(&self.file, buf, offset).map_err(|e| self.changed_or(e))
    }

    fn check(&self) -> Result<(), IoError> {
        let meta = self.file.metadata().map_err(|e| IoError::io(&self.location, e))?;
        match self.version.differs(&version_of(&meta)) {
            Some(detail) => Err(IoError::Changed { location: self.location.clone(), detail }),
            None => Ok(()),
        }
    }
}

fn regular(location: &str, meta: &Metadata) -> Result<(), IoError> {
    if meta.is_file() {
        return Ok(());
    }
    Err(IoError::NotRegularFile { location: location.to_string(), kind: kind_of(meta) })
}

fn kind_of(meta: &Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        return "directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "FIFO";
        }
        if t.is_socket() {
            return "socket";
        }
        if t.is_block_device() {
            return "block device";
        }
        if t.is_char_device() {
            return "character device";
        }
    }
    "special file"
}

fn version_of(meta: &Metadata) -> Version {
    let modified = meta.modified().ok();
    let nanos = modified.and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(meta);
    #[cfg(not(unix))]
    let inode = 0u64;
    Version { size: meta.len(), etag: Some(format!("{inode:x}-{nanos:x}")), modified, version: None }
}

#[cfg(unix)]
fn open_nonblocking(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    // Non-blocking, so that a FIFO swapped in after the check cannot block the open; regular files ignore it.
    OpenOptions::new().read(true).custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32).open(path)
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).open(path)
}

#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(windows)]
fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match file.seek_read(buf, offset) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
