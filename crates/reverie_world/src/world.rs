//! A world instance: the generator plus the resident window of chunks around the camera.
//!
//! The window is a toroidal 256 × 256 × 64 block array (16 × 16 chunks) addressed by
//! `(x & 255, z & 255, y)`, with a per-column top height and a per-4×4-cell top height that let
//! rays skip empty air. Moving the centre only generates the chunks that came into range.
//! Edits (`set_block`) are kept and re-applied when a chunk is generated again.

use std::collections::BTreeMap;
use std::sync::Arc;

use glam::Vec3;

use crate::block::Block;
use crate::spec::{MAX_VIEW_DISTANCE, WorldSpec};
use crate::terrain::{CHUNK, ChunkBlocks, Generator, HEIGHT};

/// Chunks per side of the resident window.
pub const WINDOW_CHUNKS: i32 = 16;
/// Blocks per side of the resident window.
pub const WINDOW: i32 = WINDOW_CHUNKS * CHUNK;
const MASK: i32 = WINDOW - 1;
/// Side of a coarse cell (for empty-space skipping), in blocks.
pub const COARSE: i32 = 4;
const COARSE_SIDE: i32 = WINDOW / COARSE;

/// A world: spec, generator and the resident blocks around one centre.
#[derive(Debug)]
pub struct World {
    spec: Arc<WorldSpec>,
    generator: Generator,
    blocks: Box<[u8; BLOCKS_LEN]>,
    /// Per column: one above the highest solid block (0 if none).
    col_top: Box<[u8; COLUMNS_LEN]>,
    /// Per 4×4 coarse cell: max of `col_top`.
    coarse_top: Box<[u8; COARSE_LEN]>,
    /// Per chunk slot: max of `col_top` over the chunk.
    chunk_top: Box<[u8; CHUNKS_LEN]>,
    /// Which chunk each of the 16×16 slots holds.
    slots: Vec<Option<(i32, i32)>>,
    /// Chunk the window is centred on.
    center: Option<(i32, i32)>,
    /// Max of `coarse_top` over the window: rays rising above it can stop.
    max_top: u8,
    edits: BTreeMap<(i32, i32, i32), Block>,
    chunks_generated: u64,
}

impl World {
    /// A world with nothing resident yet.
    pub fn new(spec: Arc<WorldSpec>) -> World {
        let generator = Generator::new(&spec.generator);
        World {
            spec,
            generator,
            blocks: zeroed(),
            col_top: zeroed(),
            coarse_top: zeroed(),
            chunk_top: zeroed(),
            slots: vec![None; (WINDOW_CHUNKS * WINDOW_CHUNKS) as usize],
            center: None,
            max_top: 0,
            edits: BTreeMap::new(),
            chunks_generated: 0,
        }
    }

    /// The spec.
    pub fn spec(&self) -> &WorldSpec {
        &self.spec
    }

    /// The shared spec.
    pub fn spec_arc(&self) -> &Arc<WorldSpec> {
        &self.spec
    }

    /// The generator.
    pub fn generator(&self) -> &Generator {
        &self.generator
    }

    /// How many chunks have been generated so far (a cost counter).
    pub fn chunks_generated(&self) -> u64 {
        self.chunks_generated
    }

    /// Makes every chunk within the view distance of `position` resident.
    pub fn ensure_loaded(&mut self, position: Vec3) {
        let c = (chunk_of(position.x), chunk_of(position.z));
        if self.center == Some(c) {
            return;
        }
        // Window: chunks c-7 ..= c+8 on each axis; the camera's chunk is at least 7 chunks
        // (112 blocks > MAX_VIEW_DISTANCE) from either edge.
        for cz in c.1 - 7..=c.1 + 8 {
            for cx in c.0 - 7..=c.0 + 8 {
                let slot = slot_of(cx, cz);
                if self.slots[slot] != Some((cx, cz)) {
                    self.load_chunk(cx, cz);
                }
            }
        }
        self.center = Some(c);
        self.max_top = self.coarse_top.iter().copied().max().unwrap_or(0);
    }

    /// Whether a ray of [`MAX_VIEW_DISTANCE`] from `position` stays inside resident chunks (the
    /// window is centred on its chunk, so every edge is at least 112 blocks away).
    pub fn covers(&self, position: Vec3) -> bool {
        self.center == Some((chunk_of(position.x), chunk_of(position.z)))
    }

    fn load_chunk(&mut self, cx: i32, cz: i32) {
        let chunk = self.generator.chunk(cx, cz);
        self.chunks_generated += 1;
        let (x0, z0) = (cx * CHUNK, cz * CHUNK);
        for lz in 0..CHUNK {
            let z = z0 + lz;
            let dst = index(x0, 0, z);
            let src = ChunkBlocks::index(0, 0, lz);
            let n = (CHUNK * HEIGHT) as usize;
            self.blocks[dst..dst + n].copy_from_slice(&chunk.data[src..src + n]);
        }
        self.slots[slot_of(cx, cz)] = Some((cx, cz));
        // Re-apply edits that fall in this chunk.
        let edits: Vec<_> = self
            .edits
            .range((x0, i32::MIN, i32::MIN)..(x0 + CHUNK, i32::MIN, i32::MIN))
            .filter(|((_, _, z), _)| (z0..z0 + CHUNK).contains(z))
            .map(|(k, v)| (*k, *v))
            .collect();
        for ((x, y, z), b) in edits {
            self.blocks[index(x, y, z)] = b.id();
        }
        for lz in 0..CHUNK {
            for lx in 0..CHUNK {
                self.update_column(x0 + lx, z0 + lz);
            }
        }
        for qz in 0..CHUNK / COARSE {
            for qx in 0..CHUNK / COARSE {
                self.update_coarse(x0 + qx * COARSE, z0 + qz * COARSE);
            }
        }
        self.update_chunk_top(cx, cz);
    }

    fn update_chunk_top(&mut self, cx: i32, cz: i32) {
        let mut m = 0;
        for qz in 0..CHUNK / COARSE {
            for qx in 0..CHUNK / COARSE {
                m = m.max(
                    self.coarse_top
                        [coarse_index(cx * CHUNK + qx * COARSE, cz * CHUNK + qz * COARSE)],
                );
            }
        }
        self.chunk_top[slot_of(cx, cz)] = m;
    }

    fn update_column(&mut self, x: i32, z: i32) {
        let base = index(x, 0, z);
        let col = &self.blocks[base..base + HEIGHT as usize];
        let top = col.iter().rposition(|&b| b != 0).map_or(0, |y| y + 1);
        self.col_top[col_index(x, z)] = top as u8;
    }

    fn update_coarse(&mut self, x: i32, z: i32) {
        let (qx, qz) = (x.div_euclid(COARSE) * COARSE, z.div_euclid(COARSE) * COARSE);
        let mut m = 0;
        for dz in 0..COARSE {
            for dx in 0..COARSE {
                m = m.max(self.col_top[col_index(qx + dx, qz + dz)]);
            }
        }
        self.coarse_top[coarse_index(x, z)] = m;
    }

    /// Whether the chunk holding (x, z) is resident.
    #[inline]
    pub fn is_resident(&self, x: i32, z: i32) -> bool {
        let (cx, cz) = (x.div_euclid(CHUNK), z.div_euclid(CHUNK));
        self.slots[slot_of(cx, cz)] == Some((cx, cz))
    }

    /// The block at (x, y, z): air above the world, stone below it and stone where the chunk is not
    /// resident (so that nothing falls out of the loaded area).
    pub fn block(&self, x: i32, y: i32, z: i32) -> Block {
        if y >= HEIGHT {
            return Block::Air;
        }
        if y < 0 || !self.is_resident(x, z) {
            return Block::Stone;
        }
        Block::from_id(self.blocks[index(x, y, z)]).unwrap_or(Block::Stone)
    }

    /// Whether (x, y, z) blocks movement.
    #[inline]
    pub fn is_solid(&self, x: i32, y: i32, z: i32) -> bool {
        self.block(x, y, z).is_solid()
    }

    /// Changes one block (kept across chunk reloads). Out-of-height positions are ignored.
    pub fn set_block(&mut self, x: i32, y: i32, z: i32, b: Block) {
        if !(0..HEIGHT).contains(&y) {
            return;
        }
        self.edits.insert((x, y, z), b);
        if self.is_resident(x, z) {
            self.blocks[index(x, y, z)] = b.id();
            self.update_column(x, z);
            self.update_coarse(x, z);
            self.update_chunk_top(x.div_euclid(CHUNK), z.div_euclid(CHUNK));
            self.max_top = self.max_top.max(self.col_top[col_index(x, z)]);
        }
    }

    /// Height of the ground (first free y above the highest solid block) at (x, z), if resident.
    pub fn column_top(&self, x: i32, z: i32) -> Option<i32> {
        self.is_resident(x, z)
            .then(|| i32::from(self.col_top[col_index(x, z)]))
    }

    /// Raw access for the ray caster: block ids and the column, coarse-cell and chunk tops.
    #[inline]
    pub(crate) fn raw(&self) -> Raw<'_> {
        Raw {
            blocks: &self.blocks,
            col_top: &self.col_top,
            coarse_top: &self.coarse_top,
            chunk_top: &self.chunk_top,
        }
    }

    /// One above the highest solid block anywhere in the window.
    #[inline]
    pub(crate) fn max_top(&self) -> i32 {
        i32::from(self.max_top)
    }

    /// Finds a spawn point (feet position, standing on solid ground with two free blocks above)
    /// near a random spot within the spec's spawn radius; deterministic in `seed`.
    pub fn find_spawn(&self, seed: u64) -> Vec3 {
        use crate::noise::{hash2, unit};
        let radius = self.spec.spawn.radius;
        for attempt in 0..256 {
            let h = hash2(seed, attempt, 0x5a);
            let angle = unit(h) * std::f32::consts::TAU;
            let r = radius * unit(hash2(seed, attempt, 0x5b)).sqrt();
            let (x, z) = (
                (angle.cos() * r).floor() as i32,
                (angle.sin() * r).floor() as i32,
            );
            if let Some(p) = self.spawn_at(x, z) {
                return p;
            }
        }
        // Nothing suitable found: stand on top of whatever is at the origin.
        let chunk = self.generator.chunk(0, 0);
        let top = (0..HEIGHT)
            .rev()
            .find(|&y| chunk.get(0, y, 0).is_some_and(Block::is_solid))
            .unwrap_or(0);
        Vec3::new(0.5, (top + 1) as f32, 0.5)
    }

    fn spawn_at(&self, x: i32, z: i32) -> Option<Vec3> {
        let chunk = self
            .generator
            .chunk(x.div_euclid(CHUNK), z.div_euclid(CHUNK));
        let at = |y: i32| chunk.get(x, y, z).unwrap_or(Block::Air);
        let top = (0..HEIGHT).rev().find(|&y| at(y).is_solid())?;
        let ground = at(top);
        if self.spec.spawn.avoid_water && matches!(ground, Block::Water | Block::Ice) {
            return None;
        }
        if matches!(
            ground,
            Block::Leaves | Block::PineLeaves | Block::Cactus | Block::Roof | Block::Lantern
        ) || top + 3 >= HEIGHT
        {
            return None;
        }
        // Room to stand (the whole 3×3 around must be free at head height, so we don't start in a wall).
        for dz in -1..=1 {
            for dx in -1..=1 {
                for dy in 1..=2 {
                    if chunk
                        .get(x + dx, top + dy, z + dz)
                        .is_some_and(Block::is_solid)
                    {
                        return None;
                    }
                }
            }
        }
        Some(Vec3::new(x as f32 + 0.5, (top + 1) as f32, z as f32 + 0.5))
    }
}

pub(crate) const BLOCKS_LEN: usize = (WINDOW * WINDOW * HEIGHT) as usize;
const COLUMNS_LEN: usize = (WINDOW * WINDOW) as usize;
const COARSE_LEN: usize = (COARSE_SIDE * COARSE_SIDE) as usize;
const CHUNKS_LEN: usize = (WINDOW_CHUNKS * WINDOW_CHUNKS) as usize;

/// A zeroed fixed-size array on the heap. Fixed sizes let the compiler see that masked indices are
/// in bounds, so the ray caster's inner loops carry no bounds checks.
fn zeroed<const N: usize>() -> Box<[u8; N]> {
    match vec![0u8; N].into_boxed_slice().try_into() {
        Ok(b) => b,
        Err(_) => unreachable!("a vec of N bytes is N bytes"),
    }
}

/// Borrowed window arrays for the ray caster.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Raw<'a> {
    /// Block ids, [`index`].
    pub blocks: &'a [u8; BLOCKS_LEN],
    /// Per column, [`col_index`]: one above the highest solid block.
    pub col_top: &'a [u8; COLUMNS_LEN],
    /// Per 4×4 cell, [`coarse_index`].
    pub coarse_top: &'a [u8; COARSE_LEN],
    /// Per chunk slot, [`chunk_slot`].
    pub chunk_top: &'a [u8; CHUNKS_LEN],
}

/// Slot of the chunk holding block column (x, z).
#[inline]
pub(crate) fn chunk_slot(x: i32, z: i32) -> usize {
    // Same as slot_of(x >> 4, z >> 4) for WINDOW_CHUNKS = 16, with masks instead of rem_euclid.
    ((((z >> 4) & 15) << 4) | ((x >> 4) & 15)) as usize
}

#[inline]
fn chunk_of(v: f32) -> i32 {
    (v.floor() as i32).div_euclid(CHUNK)
}

const _: () = assert!(WINDOW_CHUNKS == 16 && CHUNK == 16);
// The camera's chunk is at least 7 chunks from either edge of the window: rays must end before.
const _: () = assert!((7 * CHUNK) as f32 > MAX_VIEW_DISTANCE);

#[inline]
fn slot_of(cx: i32, cz: i32) -> usize {
    (cz.rem_euclid(WINDOW_CHUNKS) * WINDOW_CHUNKS + cx.rem_euclid(WINDOW_CHUNKS)) as usize
}

/// Index into the window's block array.
#[inline]
pub(crate) fn index(x: i32, y: i32, z: i32) -> usize {
    // Callers keep 0 <= y < HEIGHT; the mask makes the bound visible to the compiler.
    ((((z & MASK) << 8) | (x & MASK)) as usize) << 6 | (y & (HEIGHT - 1)) as usize
}

/// Index into the window's per-column array.
#[inline]
pub(crate) fn col_index(x: i32, z: i32) -> usize {
    (((z & MASK) << 8) | (x & MASK)) as usize
}

/// Index into the window's per-coarse-cell array, for block coordinates.
#[inline]
pub(crate) fn coarse_index(x: i32, z: i32) -> usize {
    let (qx, qz) = ((x & MASK) / COARSE, (z & MASK) / COARSE);
    (qz * COARSE_SIDE + qx) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::WorldSpec;
    use std::path::Path;

    pub(crate) fn flat_world() -> World {
        let text = "schema_version = 1\nname = \"flat\"\n[generator]\nkind = \"flat\"\nseed = 1\nbase_height = 20\n";
        World::new(Arc::new(
            WorldSpec::parse(text, Path::new("flat.toml")).expect("valid"),
        ))
    }

    #[test]
    fn window_moves_and_edits_persist() {
        let mut w = flat_world();
        w.ensure_loaded(Vec3::new(0.0, 30.0, 0.0));
        assert_eq!(w.block(3, 19, 3), Block::Grass);
        assert_eq!(w.block(3, 20, 3), Block::Air);
        w.set_block(3, 20, 3, Block::Planks);
        assert_eq!(w.column_top(3, 3), Some(21));
        // Move far away and back: the chunk is regenerated, the edit re-applied.
        w.ensure_loaded(Vec3::new(2000.0, 30.0, 0.0));
        assert!(!w.is_resident(3, 3));
        assert_eq!(
            w.block(3, 20, 3),
            Block::Stone,
            "non-resident reads as stone"
        );
        w.ensure_loaded(Vec3::new(0.0, 30.0, 0.0));
        assert_eq!(w.block(3, 20, 3), Block::Planks);
    }

    #[test]
    fn spawn_is_free_and_deterministic() {
        let mut w = flat_world();
        let p = w.find_spawn(42);
        assert_eq!(p, w.find_spawn(42));
        w.ensure_loaded(p);
        let (x, y, z) = (p.x.floor() as i32, p.y as i32, p.z.floor() as i32);
        assert!(w.is_solid(x, y - 1, z) && !w.is_solid(x, y, z) && !w.is_solid(x, y + 1, z));
    }
}
