//! Reverie's world model: the network that generates frames, in candle.
//!
//! - [`conv`]: a fast channels-last convolution (im2col + GEMM, with its own backward) — candle's
//!   CPU `conv2d` is an order of magnitude slower than its matmul on our machines.
//! - [`model`]: [`WorldModel`], the geometry-aware recurrent model: ego-motion from state + action,
//!   then the next frame and its depth from the warped previous frame and the memory render.
//! - [`ops`]: fused CPU activations (a vectorised SiLU).
//! - [`threads`]: how many threads candle's CPU kernels use (one for interactive work).
//! - [`config`]: [`ModelConfig`] (`model.json`), [`checkpoint`]: save and load with clear errors.
//!
//! The crate never touches the oracle: it sees frames, depths and actions as plain data, and
//! whoever calls it decides where they come from (the honesty rule is enforced in the runtime and
//! evaluation, which only hand it the prompt and its own outputs).

pub mod checkpoint;
pub mod compose;
pub mod config;
pub mod conv;
pub mod error;
pub mod model;
pub mod ops;
pub mod threads;

pub use config::ModelConfig;
pub use error::{ModelError, Result};
pub use model::{Guide, MotionInputs, State, StepOutput, WorldModel};

pub use candle_core;
pub use candle_nn;
