//! Reverie's runtime. Today: [`Engine`], the synchronous tick that owns a session's state.
//! (The threaded `RuntimeHandle` with pacing and quality control builds on it.)
//!
//! **Honesty rule, by construction:** an [`Engine`] is built from a [`Prompt`] (one frame, an
//! optional depth, a pose) and afterwards only ever receives [`reverie_core::Action`]s. It holds
//! no world, no oracle and no dataset; every later frame, depth and pose comes from the model and
//! from the memory it filled itself.

mod engine;

pub use engine::{Engine, EngineOptions, Generated, Prompt, Refine, RuntimeError, StageTimes};
