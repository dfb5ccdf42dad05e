//! Errors of the spatial memory.

use std::path::PathBuf;

/// What can go wrong with the memory: bad inputs, bad configs, unreadable or corrupt files.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    /// A configuration value is out of range.
    #[error("memory config: {field} = {value}: {expected}")]
    Config {
        /// The field.
        field: &'static str,
        /// The value given.
        value: String,
        /// What is allowed.
        expected: String,
    },
    /// An image or depth buffer does not match the intrinsics.
    #[error("{what} has {got} elements, expected {expected} for {width}x{height}")]
    Size {
        /// Which buffer.
        what: &'static str,
        /// Its length.
        got: usize,
        /// The length the intrinsics call for.
        expected: usize,
        /// Image width.
        width: u32,
        /// Image height.
        height: u32,
    },
    /// More views pinned than [`crate::MAX_PINS`].
    #[error("cannot pin another view: {max} are pinned already, the most a memory keeps")]
    Pins {
        /// The most a memory pins.
        max: usize,
    },
    /// A memory file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A memory file is not a valid memory file (truncated, corrupt, foreign or a newer version).
    #[error("{}: {message}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
}

/// Result with [`MemoryError`].
pub type Result<T> = std::result::Result<T, MemoryError>;
