//! Training (and, with it, the data pipeline and losses) for Reverie's world model.
//!
//! - [`config`]: `train.toml`, validated with errors that name the field.
//! - [`data`]: oracle episodes (datagen format) and the memory renders beside them.
//! - [`train`]: the loop — autoregressive sequences with self-forcing, losses, AdamW, resumable
//!   checkpoints, metrics CSV/JSON and a loss-curve PNG.
//! - [`tune`]: the ego-motion head alone, tuned on the runtime sessions it drives (DAgger).
//! - [`loss`], [`optim`], [`plot`]: the pieces.
//!
//! Training reads the oracle freely (that is what data is); the honesty rule binds play and
//! evaluation, which live elsewhere and only hand the model its prompt and its own outputs.

pub mod config;
pub mod data;
pub mod error;
pub mod eval;
pub mod loss;
pub mod optim;
pub mod plot;
pub mod train;
pub mod tune;

pub use config::TrainConfig;
pub use error::{Result, TrainError};
