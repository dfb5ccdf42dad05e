//! Errors of the model crate.

use std::path::PathBuf;

/// What went wrong building, running or loading a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A candle operation failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// A configuration value is out of range.
    #[error("model config: field `{field}`: {message}")]
    Config {
        /// The field.
        field: &'static str,
        /// What was expected.
        message: String,
    },
    /// A checkpoint directory or file is missing, unreadable or does not match its config.
    #[error("{}: {message}", path.display())]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What is wrong (names the tensor or field).
        message: String,
    },
    /// Inputs of the wrong size or kind.
    #[error("model input: {0}")]
    Input(String),
}

/// The model crate's result.
pub type Result<T> = std::result::Result<T, ModelError>;
