//! The oracle: procedural voxel worlds that exist only to make training data, be the ground truth
//! of evaluations and be shown side by side with the model. Not the product's renderer.
//!
//! - [`spec`]: `worlds/*.toml` world specs, validated with errors naming file, line and field.
//! - [`terrain`]: deterministic lazy chunk generation (meadow, canyon, forest, village, flat).
//! - [`world`]: the resident window of chunks around the camera, block queries and edits.
//! - [`render`]: the CPU ray caster (RGB + planar metric depth).
//! - [`physics`]: walking physics at 24 Hz (walk, strafe, turn, look, jump, sprint, collisions).
//! - [`policy`]: exploration policies that make datasets (random walk, wall-following,
//!   look-around, loop-and-return, script replay).
//! - [`episode`]: runs a policy in a world and renders what it sees.
//! - [`dataset`]: the on-disk dataset format, its writer and a random-access reader.
//! - [`imageio`]: PNG and GIF writing.

pub mod block;
pub mod datagen;
pub mod dataset;
pub mod episode;
pub mod imageio;
pub mod noise;
pub mod physics;
pub mod policy;
pub mod render;
pub mod spec;
pub mod terrain;
pub mod texture;
pub mod world;

pub use block::Block;
pub use render::Renderer;
pub use spec::{SpecError, WorldSpec};
pub use world::World;
