//! Reverie: an interactive world-model engine.
//!
//! This facade re-exports the workspace crates so that examples, cross-crate tests and benchmarks at
//! the repository root can use them through one name. See `ARCHITECTURE.md` for the crate map.

pub use reverie_core as core;
pub use reverie_memory as memory;
pub use reverie_model as model;
pub use reverie_runtime as runtime;
pub use reverie_train as train;
pub use reverie_world as world;
