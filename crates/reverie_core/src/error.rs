//! Errors shared by the crates that read user input.

use std::path::PathBuf;

/// Errors of `reverie_core`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A line of an action script could not be understood.
    #[error("{source_name}:{line}: {message}")]
    Script {
        /// The file (or other source) the script came from.
        source_name: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong, and what was expected.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A value is out of its allowed range.
    #[error("{field} = {value}: {expected}")]
    OutOfRange {
        /// The field or flag.
        field: String,
        /// The value given.
        value: String,
        /// The allowed range.
        expected: String,
    },
}

/// Result with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
