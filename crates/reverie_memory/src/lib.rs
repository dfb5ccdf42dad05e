//! The spatial memory: what was seen, stored in 3D, so it can be shown again from any pose.
//!
//! - [`SpatialMemory::write`] unprojects a frame's pixels (RGB + planar depth + pose) into surfel
//!   **cells** in a sparse hash of **chunks** (cubes of `chunk_m`). Each point goes to the cell
//!   level whose edge is at most half the point's pixel footprint (levels double from
//!   `min_cell_m`), so near surfaces are stored finely and far ones coarsely, and neighbouring
//!   pixels land in different cells. A cell keeps a running mean position (quantised in its
//!   chunk), mean colour, observation count (confidence), the footprint it was seen with and when
//!   it was last seen. Sky pixels go into a direction-indexed **sky panorama**. The coarse
//!   levels (`coarse_level` and up: surfaces seen from afar) live in **coarse chunks**, one per
//!   region of 8³ chunks, so the far field a long session accumulates costs a render one chunk
//!   per region instead of thousands of chunks holding a cell or two each.
//! - [`SpatialMemory::render`] draws the cells in view as tent splats (radius ¾ of the cell
//!   edge), culling chunks against the frustum through a coarse region grid (cost follows what
//!   is in view, not the memory's size), in two order-independent passes: the visible depth per
//!   pixel from the splats' cores, then the colours of the splats on that surface (a coarse cell
//!   over finer cells of the same surface blends in with a small weight: splat weight falls with
//!   its area). The sky panorama fills what no surface covers.
//! - [`SpatialMemory::carve`]: free-space carving — where a new frame sees through a surface the
//!   memory rendered at its pose, the cell that surface came from is dropped.
//! - [`warp`] forward-reprojects the previous frame into a new pose (the same two-pass splats):
//!   the short-term path.
//! - [`SpatialMemory::retrieve_keyframes`] ranks kept frames by view overlap minus age.
//! - A byte bound: over it, the least-recently-seen chunks are evicted, or, with
//!   [`MemoryConfig::coarsen_level_age_s`], first lose detail (their finest cells merge into the
//!   next level) and are evicted only when they have none left to lose; [`SpatialMemory::stats`].
//! - [`SpatialMemory::pin_free_space`]: what a trusted view (a session's prompt) saw through stays
//!   empty — no later write puts a surface there; [`SpatialMemory::pin_view`] also keeps the
//!   view whole and draws it, warped into each render's pose, over the cells.
//! - [`SpatialMemory::save`] / [`SpatialMemory::load`]: one versioned, checksummed file.
//!
//! No candle, no Bevy: this crate depends on `reverie_core` only.

pub mod config;
pub mod error;
pub mod keyframe;
pub mod memory;
pub mod persist;
mod pin;
mod sky;
pub mod view;
pub mod warp;

pub use config::{MemoryConfig, Splatting};
pub use error::{MemoryError, Result};
pub use keyframe::{Keyframe, KeyframeMatch};
pub use memory::{MemoryStats, SpatialMemory};
pub use pin::MAX_PINS;
pub use view::{SAME_SURFACE, View};
pub use warp::warp;
