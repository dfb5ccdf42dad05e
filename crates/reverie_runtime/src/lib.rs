//! Reverie's runtime: [`Engine`], the synchronous tick that owns a session's state (latent
//! state, pose, memory, last frame, tick), with session files ([`Engine::save_session`],
//! [`Engine::load_session`], [`Engine::fork`]); and [`RuntimeHandle`], the engine on its own
//! thread paced by one 24 Hz clock, with deadline-aware [`Quality`] control, HDR-histogram
//! [`MetricsSnapshot`]s and an optional Chrome trace.
//!
//! **Honesty rule, by construction:** an [`Engine`] is built from a [`Prompt`] (one frame, an
//! optional depth, a pose) and afterwards only ever receives [`reverie_core::Action`]s. It holds
//! no world, no oracle and no dataset; every later frame, depth and pose comes from the model and
//! from the memory it filled itself.

mod engine;
mod handle;
pub mod metrics;
mod quality;
mod session;
mod trace;

pub use engine::{
    Engine, EngineOptions, FrameDeadline, Generated, Lift, MAX_DEPTH_MEDIAN_RADIUS,
    MAX_FALL_WINDOW_TICKS, MAX_HORIZONTAL_DEADBAND_M, MAX_VERTICAL_DEADBAND_M, Prompt, Refine,
    RuntimeError, StageTimes, median_depth, parse_depth_median, parse_depth_temperature,
    parse_fall_window, parse_horizontal_deadband, parse_source_temperature,
    parse_vertical_deadband,
};
pub use handle::{
    DEFAULT_FRAME_DEADLINE_MS, FrameOut, MemoryInfo, RuntimeConfig, RuntimeHandle,
    parse_frame_deadline_ms,
};
pub use metrics::{MetricsSnapshot, Percentiles};
pub use quality::{Quality, QualityController};
pub use session::SESSION_FORMAT_VERSION;
