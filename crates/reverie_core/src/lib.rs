//! The shared vocabulary of Reverie: what every other crate speaks.
//!
//! - [`Action`]: one tick of player input (movement keys, jump, sprint, interact, look delta).
//! - [`Pose`] and [`Intrinsics`]: where the camera is and how it projects (units: blocks = metres,
//!   radians inside; degrees only at the edges).
//! - [`Frame`]: an RGB image with metric depth, the pose it was seen from and its tick.
//! - [`script`]: the JSONL action-script format (parse with line-numbered errors, write).
//! - [`seed`]: deterministic seed derivation.
//! - [`metrics`]: image comparison (masked PSNR, coverage).
//!
//! Conventions (used by the oracle, the memory and the model alike):
//! - World frame: right-handed, **y up**, one unit = one block = one metre.
//! - Yaw 0 looks along **-z**; positive yaw turns right (clockwise seen from above), so yaw π/2
//!   looks along +x. Positive pitch looks up.
//! - Camera frame (OpenCV): x right, y down, z forward. Depth is **planar**: the z coordinate of the
//!   point in the camera frame, in metres. `f32::INFINITY` marks sky (no surface within range).
//! - The simulation runs at [`TICK_HZ`] ticks per second.

pub mod action;
pub mod error;
pub mod frame;
pub mod metrics;
pub mod pose;
pub mod probe;
pub mod script;
pub mod seed;

pub use action::{Action, Keys};
pub use error::{Error, Result};
pub use frame::Frame;
pub use glam;
pub use pose::{EgoMotion, Intrinsics, Pose};
pub use probe::GroundProbe;

/// Simulation and generation rate: one tick is one generated frame.
pub const TICK_HZ: u32 = 24;

/// Seconds per tick.
pub const TICK_SECS: f32 = 1.0 / TICK_HZ as f32;
