//! Memory configuration: cell sizes, chunk size, the byte bound, splatting and keyframe policy.

use serde::{Deserialize, Serialize};

use crate::error::{MemoryError, Result};

/// How the memory stores and renders what it sees. All lengths in metres (= blocks).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MemoryConfig {
    /// Edge of the finest cell. Each observed point goes into the cell level whose edge is at
    /// most half its pixel footprint (so neighbouring pixels land in different cells), never
    /// finer than this.
    pub min_cell_m: f32,
    /// Edge of a chunk, the unit of culling and eviction. At most 512 finest cells across.
    pub chunk_m: f32,
    /// Cells of this level and coarser (edge `min_cell_m · 2^coarse_level`; surfaces seen from
    /// afar) are kept in chunks [`REGION_CHUNKS`] times wider than `chunk_m`, one per region, so
    /// the far field of a long session costs a render one chunk per region instead of hundreds
    /// of small chunks holding a cell or two each. 0 = off (every level in `chunk_m` chunks, as
    /// memories saved before format 3 were).
    pub coarse_level: u32,
    /// Upper bound on resident bytes (cells, indices, sky panorama, keyframes). Least-recently
    /// seen chunks are evicted to stay under it.
    pub bound_bytes: u64,
    /// Over the bound, coarsen before forgetting: a chunk's finest cells merge (2×2×2 into
    /// one of the next level: a quarter of a surface's cells; a chunk down to its last level
    /// goes into its region's coarse chunk) before anything is evicted. Each level a chunk has
    /// lost counts as this many seconds of recency, so the least-recently-seen chunk loses
    /// detail first, and a chunk unseen for long is coarser by a level per this many seconds
    /// than one seen just now: a long session keeps the places it left long ago, blurred,
    /// instead of holes. 0 (the default) = evict whole least-recently-seen chunks only.
    ///
    /// Measured with 60 (session 17, `reverie memory-eval`, meadow, seed 1,000,000): the memory
    /// render at the return from the 60 s loop 26.4 → 27.1 dB (coverage 97.0 → 99.1 %), from
    /// the 300 s loop 22.9 → 23.1 dB with 4 590 chunks kept instead of 1 832; but an aged
    /// memory costs more per tick (more surfaces in view; a coarsening pass costs more than an
    /// eviction): `memory-bench`'s minute 61 beside a fresh minute 1, at the runtime's
    /// settings, 1.137 against 0.945 evicting only.
    pub coarsen_level_age_s: f32,
    /// Points farther than this (planar depth) are not stored, and chunks farther than this
    /// are not rendered.
    pub max_depth_m: f32,
    /// Memory render: splat (tent) radius as a multiple of ¾ of a cell's edge (never under ~0.71
    /// pixel). 1 (the default) makes a full grid of cells cover every pixel; less leaves gaps
    /// between the cores of cells seen from closer than they were written (session 13: with
    /// 0.71 the default model walked through forest's wall in `reverie eval`, with 1 it
    /// stopped); more closes bigger gaps and blurs.
    pub splat_scale: f32,
    /// Warp: splat radius as a multiple of the footprint of a pixel of the warped frame (never
    /// under ~0.71 pixel, so that a splat reaches a pixel centre wherever it lands). 1
    /// interpolates between neighbouring pixels like bilinear filtering, and so blurs a little
    /// at every warp: a session warps its last generated frame into the next pose every tick,
    /// and at 1 the blur of 24 warps took ⅔ of the detail out of a second of frames. 0.71 (the
    /// default) draws each pixel about one pixel across.
    pub warp_splat_scale: f32,
    /// A sample's colour weight (warp and memory render) is its tent weight (1 at its centre,
    /// 0 at its radius) to this power: 2 blends neighbouring samples softly; 8 (the default)
    /// lets the sample nearest the pixel centre decide, with the others only evening out the
    /// seams — sharp, like a nearest-sample resampling that leaves no gaps.
    pub blend_power: f32,
    /// Largest splat half-width in pixels (points right in front of the camera).
    pub max_splat_px: f32,
    /// Render budget, splats per output pixel: when the cells in view (after level-of-detail
    /// thinning) are more than this many per pixel, every chunk draws the same fraction f of
    /// them (an even sample), 1/√f wider, so a render costs about this much however crowded the
    /// memory became (a long session in one area, a model's noisy depth). 0 = no budget (every cell
    /// the level of detail keeps is drawn: the sharpest revisits).
    pub render_splats_per_pixel: f32,
    /// Observation count at which a cell's confidence saturates (and its running mean becomes a
    /// moving average).
    pub max_weight: u8,
    /// Share of a new observation in a cell's position and colour (at least 1/count, so 0 is a
    /// running mean and 1 keeps the latest observation; frames from a model are noisier than the
    /// oracle's, and want less).
    pub recency: f32,
    /// [`crate::SpatialMemory::write_new`] adds a frame's cells to a surface the memory already
    /// shows (see `known_margin`) only where the frame sees it at least this many levels of
    /// detail finer than the memory drew it; 0 = never (a known surface stays as first seen).
    /// 1 refines a surface each time a frame comes a level nearer: with a model's frames, the
    /// walk's own views, a little off every time, then cover what the start of a session
    /// showed (closed-loop revisits, 60 s loops: ~1.4 dB worse than 0, session 19).
    pub refine_levels: u32,
    /// [`crate::SpatialMemory::write_new`] takes a frame's depth within this share of the
    /// depth the memory shows at a pixel, plus `known_margin_m`, for the surface it shows (and
    /// skips the pixel); farther off, the pixel is a new surface. A model's depth wanders by
    /// more than the memory's own same-surface margin (6 %): its frames, written as new
    /// surfaces a little in front, covered what the session first showed (closed-loop
    /// revisits, 60 s loops, ~1.8 dB worse at 6 % + 0 m than at 10 % + 0.2 m, the margins
    /// of the pinned prompt).
    pub known_margin: f32,
    /// Metres added to `known_margin`.
    pub known_margin_m: f32,
    /// Sky panorama resolution, texels per degree of azimuth and elevation.
    pub sky_texels_per_degree: f32,
    /// Keyframes kept for retrieval (0 turns keyframes off).
    pub keyframes: usize,
    /// A frame becomes a keyframe when its best view overlap with the kept ones is below this.
    pub keyframe_novelty: f32,
    /// Retrieval score penalty per minute of keyframe age.
    pub age_penalty_per_min: f32,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        MemoryConfig {
            min_cell_m: 1.0 / 128.0,
            chunk_m: 4.0,
            coarse_level: 6,
            bound_bytes: 256 << 20,
            coarsen_level_age_s: 0.0,
            max_depth_m: 128.0,
            splat_scale: 1.0,
            warp_splat_scale: 0.71,
            blend_power: 8.0,
            max_splat_px: 12.0,
            render_splats_per_pixel: 0.0,
            max_weight: 16,
            recency: 1.0,
            refine_levels: 0,
            known_margin: 0.1,
            known_margin_m: 0.2,
            sky_texels_per_degree: 1.5,
            keyframes: 32,
            keyframe_novelty: 0.6,
            age_penalty_per_min: 0.05,
        }
    }
}

/// How [`crate::warp`] draws the pixels it moves (from [`MemoryConfig::splatting`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Splatting {
    /// Tent radius as a multiple of a pixel's footprint ([`MemoryConfig::warp_splat_scale`]).
    pub scale: f32,
    /// Exponent of the tent weight in colour blending ([`MemoryConfig::blend_power`]).
    pub blend_power: f32,
}

impl Splatting {
    /// Bilinear-like tents with soft blending: how sessions warped before session 13 (and how
    /// stage 1 of the default checkpoint's training guides were made).
    pub const SOFT: Splatting = Splatting {
        scale: 1.0,
        blend_power: 2.0,
    };
}

/// Coarsest number of cell levels (level `l` has edge `min_cell_m · 2^l`).
pub const MAX_LEVELS: u32 = 10;

/// A region (the unit of the render's first culling step, and a coarse chunk) is this many
/// chunks across.
pub const REGION_CHUNKS: i32 = 8;

impl MemoryConfig {
    /// Checks every field, naming the first bad one.
    pub fn validate(&self) -> Result<()> {
        fn bad(field: &'static str, value: impl ToString, expected: &str) -> MemoryError {
            MemoryError::Config {
                field,
                value: value.to_string(),
                expected: expected.to_string(),
            }
        }
        let finite_in = |x: f32, lo: f32, hi: f32| x.is_finite() && x >= lo && x <= hi;
        if !finite_in(self.min_cell_m, 1e-3, 1.0) {
            return Err(bad("min_cell_m", self.min_cell_m, "expected 0.001 to 1 m"));
        }
        if !finite_in(self.chunk_m, 0.5, 64.0) {
            return Err(bad("chunk_m", self.chunk_m, "expected 0.5 to 64 m"));
        }
        let across = self.chunk_m / self.min_cell_m;
        if !(2.0..=512.0).contains(&across) {
            return Err(bad(
                "chunk_m",
                self.chunk_m,
                &format!(
                    "expected 2 to 512 finest cells across a chunk, got {across:.0} (min_cell_m = {})",
                    self.min_cell_m
                ),
            ));
        }
        if self.coarse_level != 0 {
            let across = REGION_CHUNKS as f32 * self.chunk_m
                / (self.min_cell_m * (1u64 << self.coarse_level.min(31)) as f32);
            if self.coarse_level >= MAX_LEVELS || across > 512.0 {
                return Err(bad(
                    "coarse_level",
                    self.coarse_level,
                    &format!(
                        "expected 0 (off) or a level below {MAX_LEVELS} whose cells are at most 512 across a region of {} m (min_cell_m = {})",
                        REGION_CHUNKS as f32 * self.chunk_m,
                        self.min_cell_m
                    ),
                ));
            }
        }
        if self.bound_bytes < crate::memory::MIN_BOUND_BYTES {
            return Err(bad(
                "bound_bytes",
                self.bound_bytes,
                &format!("expected at least {} bytes", crate::memory::MIN_BOUND_BYTES),
            ));
        }
        if !finite_in(self.coarsen_level_age_s, 0.0, 86_400.0) {
            return Err(bad(
                "coarsen_level_age_s",
                self.coarsen_level_age_s,
                "expected 0 (evict only) to 86400 seconds",
            ));
        }
        if !finite_in(self.max_depth_m, 1.0, 4096.0) {
            return Err(bad("max_depth_m", self.max_depth_m, "expected 1 to 4096 m"));
        }
        for (field, value, lo, hi) in [
            ("splat_scale", self.splat_scale, 0.5, 4.0),
            ("warp_splat_scale", self.warp_splat_scale, 0.5, 4.0),
            ("blend_power", self.blend_power, 1.0, 16.0),
        ] {
            if !finite_in(value, lo, hi) {
                return Err(bad(field, value, &format!("expected {lo} to {hi}")));
            }
        }
        if !finite_in(self.max_splat_px, 1.0, 64.0) {
            return Err(bad(
                "max_splat_px",
                self.max_splat_px,
                "expected 1 to 64 pixels",
            ));
        }
        if !(self.render_splats_per_pixel == 0.0
            || finite_in(self.render_splats_per_pixel, 1.0, 1024.0))
        {
            return Err(bad(
                "render_splats_per_pixel",
                self.render_splats_per_pixel,
                "expected 0 (no budget) or 1 to 1024",
            ));
        }
        if self.max_weight == 0 {
            return Err(bad("max_weight", self.max_weight, "expected 1 to 255"));
        }
        if !finite_in(self.recency, 0.0, 1.0) {
            return Err(bad("recency", self.recency, "expected 0 to 1"));
        }
        if self.refine_levels > MAX_LEVELS {
            return Err(bad(
                "refine_levels",
                self.refine_levels,
                &format!("expected 0 to {MAX_LEVELS}"),
            ));
        }
        if !finite_in(self.known_margin, 0.0, 1.0) {
            return Err(bad("known_margin", self.known_margin, "expected 0 to 1"));
        }
        if !finite_in(self.known_margin_m, 0.0, 10.0) {
            return Err(bad(
                "known_margin_m",
                self.known_margin_m,
                "expected 0 to 10 m",
            ));
        }
        if !finite_in(self.sky_texels_per_degree, 0.1, 8.0) {
            return Err(bad(
                "sky_texels_per_degree",
                self.sky_texels_per_degree,
                "expected 0.1 to 8",
            ));
        }
        if self.keyframes > 4096 {
            return Err(bad("keyframes", self.keyframes, "expected at most 4096"));
        }
        if !finite_in(self.keyframe_novelty, 0.0, 1.0) {
            return Err(bad(
                "keyframe_novelty",
                self.keyframe_novelty,
                "expected 0 to 1",
            ));
        }
        if !finite_in(self.age_penalty_per_min, 0.0, 100.0) {
            return Err(bad(
                "age_penalty_per_min",
                self.age_penalty_per_min,
                "expected 0 to 100",
            ));
        }
        Ok(())
    }

    /// How [`crate::warp`] draws: [`MemoryConfig::warp_splat_scale`] and
    /// [`MemoryConfig::blend_power`].
    pub fn splatting(&self) -> Splatting {
        Splatting {
            scale: self.warp_splat_scale,
            blend_power: self.blend_power,
        }
    }

    /// Number of cell levels: the finest doubles until a cell fills a chunk (at most [`MAX_LEVELS`]).
    pub fn levels(&self) -> u32 {
        let across = (self.chunk_m / self.min_cell_m).max(1.0);
        (across.log2().floor() as u32 + 1).clamp(1, MAX_LEVELS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_fields_are_named() {
        MemoryConfig::default().validate().unwrap();
        assert_eq!(MemoryConfig::default().levels(), 10);
        let bad = MemoryConfig {
            chunk_m: 16.0,
            ..MemoryConfig::default()
        };
        let e = bad.validate().unwrap_err().to_string();
        assert!(e.contains("chunk_m") && e.contains("2048"), "{e}");
        let bad = MemoryConfig {
            splat_scale: f32::NAN,
            ..MemoryConfig::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("splat_scale")
        );
        for v in [-1.0, f32::INFINITY] {
            let bad = MemoryConfig {
                coarsen_level_age_s: v,
                ..MemoryConfig::default()
            };
            let e = bad.validate().unwrap_err().to_string();
            assert!(
                e.contains("coarsen_level_age_s") && e.contains("86400"),
                "{e}"
            );
        }
        let bad = MemoryConfig {
            blend_power: 0.5,
            ..MemoryConfig::default()
        };
        let e = bad.validate().unwrap_err().to_string();
        assert!(e.contains("blend_power") && e.contains("1 to 16"), "{e}");
        let bad = MemoryConfig {
            coarse_level: 2,
            ..MemoryConfig::default()
        };
        let e = bad.validate().unwrap_err().to_string();
        assert!(e.contains("coarse_level") && e.contains("32 m"), "{e}");
        let bad = MemoryConfig {
            bound_bytes: 10,
            ..MemoryConfig::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("bound_bytes")
        );
    }
}
