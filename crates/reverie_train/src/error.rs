//! Errors of the training crate; each names the file, field or tensor involved.

use std::path::{Path, PathBuf};

/// What went wrong in training or evaluation.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A file (config, dataset, checkpoint, output) could not be used.
    #[error("{}: {message}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The model failed.
    #[error(transparent)]
    Model(#[from] reverie_model::ModelError),
    /// A dataset failed.
    #[error(transparent)]
    Dataset(#[from] reverie_world::dataset::DatasetError),
    /// The memory failed.
    #[error(transparent)]
    Memory(#[from] reverie_memory::MemoryError),
    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

impl TrainError {
    /// An error about `path`.
    pub fn file(path: &Path, message: impl std::fmt::Display) -> TrainError {
        TrainError::File {
            path: path.to_path_buf(),
            message: message.to_string(),
        }
    }
}

/// The training crate's result.
pub type Result<T> = std::result::Result<T, TrainError>;
