//! [`SpatialMemory`]: the bounded 3D cache of everything seen — surfel cells in a sparse hash of
//! chunks, a sky panorama for what lies at infinity, and keyframes for retrieval.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use glam::{IVec3, Vec3, Vec3A};
use reverie_core::{Intrinsics, Pose};
use serde::{Deserialize, Serialize};

use crate::config::{MAX_LEVELS, MemoryConfig, REGION_CHUNKS};
use crate::error::{MemoryError, Result};
use crate::keyframe::{KeyframeMatch, KeyframeStore};
use crate::pin::{MAX_PINS, Pin};
use crate::sky::Sky;
use crate::view::{NO_ID, Splat, View};
use crate::warp::check_sizes;

/// Smallest accepted memory bound.
pub const MIN_BOUND_BYTES: u64 = 16 << 20;

/// Chunks per region edge: the coarse grid the renderer walks to find chunks in view.
const REGION: i32 = REGION_CHUNKS;
/// Position quantisation steps across a chunk.
const POS_STEPS: f32 = 65535.0;
/// Footprint is stored as a multiple of the cell edge, in 1/32 steps.
const FOOTPRINT_STEPS: f32 = 32.0;
/// Splats are depth-tested this many of their footprints behind where they are, so that on one
/// surface the finest cells win and coarser ones only fill what the fine ones leave open.
const DEPTH_BIAS: f32 = 1.5;
/// A rendered surface is carved when the new frame sees this much (relative, plus metres)
/// farther through it.
const CARVE_MARGIN: f32 = 0.1;
const CARVE_MARGIN_M: f32 = 0.1;
/// Splat radius in cell edges: a full grid of cells covers every pixel, and a cell seen from
/// afar (large footprint) does not spill past a silhouette when seen again from close by.
const RADIUS_EDGES: f32 = 0.75;
/// Confidence of pixels only the sky panorama covers.
const SKY_CONFIDENCE: f32 = 0.5;
/// Nothing closer than this to the eye is drawn.
const NEAR_M: f32 = 0.05;

/// One surfel cell: mean position (quantised within its chunk), mean colour, how often and when
/// it was seen, its level and the pixel footprint it was seen with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub(crate) struct Cell {
    pub(crate) pos: [u16; 3],
    pub(crate) rgb: [u8; 3],
    pub(crate) weight: u8,
    pub(crate) level: u8,
    pub(crate) footprint_q: u8,
    pub(crate) last_seen: u32,
}

/// A cube of `chunk_m` edge holding the cells of the levels finer than `coarse_level` that fall
/// inside it, or (`coarse`) a cube of a whole region holding the coarser levels' cells.
#[derive(Clone, Debug)]
pub(crate) struct Chunk {
    /// In units of the chunk's own edge (`chunk_m`, or `chunk_m · REGION_CHUNKS` if coarse).
    pub(crate) coord: IVec3,
    pub(crate) coarse: bool,
    /// Cells by level (the index maps a key to a position in its level's list). Each list is
    /// kept in [`CLASSES`] segments, one per lattice class of the cells' coordinates (see
    /// [`class_of`]), each in random order (a new cell swaps places with a random one of its
    /// class). So any prefix of a list is an even sample of the whole, and a spatially even one:
    /// a quarter of a flat surface's cells is one cell in every 2×2 of them, not a random
    /// quarter with clumps and holes (through which a thinned render showed what lies behind).
    /// A render that needs a fraction of a level's cells reads the first ones, one stream of
    /// memory, instead of every n-th cell, one cache miss each.
    pub(crate) cells: [Vec<Cell>; MAX_LEVELS as usize],
    /// The index key of each cell, parallel to `cells`.
    pub(crate) keys: [Vec<u32>; MAX_LEVELS as usize],
    /// Per level, where each class's segment of the list ends.
    ends: [[u32; CLASSES]; MAX_LEVELS as usize],
    pub(crate) index: HashMap<u32, u32, FastHash>,
    pub(crate) last_seen: u64,
    bytes: usize,
}

impl Chunk {
    pub(crate) fn new(coord: IVec3, coarse: bool) -> Chunk {
        let mut c = Chunk {
            coord,
            coarse,
            cells: Default::default(),
            keys: Default::default(),
            ends: [[0; CLASSES]; MAX_LEVELS as usize],
            index: HashMap::with_hasher(FastHash),
            last_seen: 0,
            bytes: 0,
        };
        c.bytes = c.measure();
        c
    }

    /// Heap and inline bytes (index: hashbrown buckets of 8-byte entries + 1 control byte).
    fn measure(&self) -> usize {
        let cap = self.index.capacity();
        let buckets = if cap == 0 {
            0
        } else {
            (cap * 8 / 7 + 1).next_power_of_two()
        };
        size_of::<Chunk>()
            + self.cells.iter().map(Vec::capacity).sum::<usize>() * size_of::<Cell>()
            + self.keys.iter().map(Vec::capacity).sum::<usize>() * size_of::<u32>()
            + buckets * 9
    }

    /// Appends a cell under a new key at the end of its class's segment (false if the key is
    /// taken); the loader's way, which keeps the saved order.
    pub(crate) fn insert(&mut self, key: u32, cell: Cell) -> bool {
        if self.index.contains_key(&key) {
            return false;
        }
        self.open_slot(key, cell);
        true
    }

    /// Makes room at the end of the segment of `key`'s class and puts the cell there (the cells
    /// of later classes each move one segment's length: the first of each segment goes to its
    /// end). Returns the level and the cell's place.
    fn open_slot(&mut self, key: u32, cell: Cell) -> (usize, usize) {
        let level = cell.level as usize;
        let class = class_of(key);
        let (list, keys, ends) = (
            &mut self.cells[level],
            &mut self.keys[level],
            &mut self.ends[level],
        );
        list.push(cell);
        keys.push(key);
        let mut free = list.len() - 1;
        for c in (class + 1..CLASSES).rev() {
            let start = ends[c - 1] as usize;
            if start < free {
                list[free] = list[start];
                keys[free] = keys[start];
                self.index.insert(keys[free], free as u32);
            }
            free = start;
            ends[c] += 1;
        }
        list[free] = cell;
        keys[free] = key;
        ends[class] += 1;
        self.index.insert(key, free as u32);
        (level, free)
    }

    /// Adds a cell under a key known to be new, at a random place in its class's segment (the
    /// cell there moves to the segment's end): an "inside-out" shuffle step, which keeps each
    /// segment a uniformly random order of its cells. The place comes from the key and the
    /// segment's length, so the same writes give the same memory.
    fn insert_shuffled(&mut self, key: u32, cell: Cell) {
        let (level, at) = self.open_slot(key, cell);
        let class = class_of(key);
        let start = if class == 0 {
            0
        } else {
            self.ends[level][class - 1] as usize
        };
        let n = at - start;
        let mut h = FastHasher(0);
        h.write_u32(key);
        h.write_u32(n as u32);
        let j = start + (((h.finish() >> 32) * (n as u64 + 1)) >> 32) as usize;
        if j < at {
            let (list, keys) = (&mut self.cells[level], &mut self.keys[level]);
            list.swap(j, at);
            keys.swap(j, at);
            self.index.insert(keys[at], at as u32);
            self.index.insert(key, j as u32);
        }
    }

    /// Removes the cell at `ci` of `level`: the last cell of its class's segment takes its
    /// place, and each later segment's last cell moves to the front of the hole left (which
    /// keeps every segment in random order). False if there is no such cell.
    fn remove(&mut self, level: usize, ci: usize) -> bool {
        let Some(list) = self.cells.get_mut(level) else {
            return false;
        };
        if ci >= list.len() {
            return false;
        }
        let (keys, ends) = (&mut self.keys[level], &mut self.ends[level]);
        let class = class_of(keys[ci]);
        self.index.remove(&keys[ci]);
        let mut hole = ci;
        for c in class..CLASSES {
            let last = ends[c] as usize - 1;
            if hole < last {
                list[hole] = list[last];
                keys[hole] = keys[last];
                self.index.insert(keys[hole], hole as u32);
            }
            hole = last;
            ends[c] -= 1;
        }
        list.pop();
        keys.pop();
        true
    }

    /// Merges the cells of `level` into `level + 1` (edge `1 / inv_edge_up`, `across_up` cells
    /// per chunk edge; positions `q` steps per metre): each goes into the coarser cell holding
    /// its position (see [`Chunk::absorb`]). Returns how many cells fewer the chunk holds.
    fn coarsen(
        &mut self,
        level: usize,
        q: f32,
        inv_edge_up: f32,
        across_up: u32,
        max_weight: u8,
    ) -> usize {
        let cells = std::mem::take(&mut self.cells[level]);
        let keys = std::mem::take(&mut self.keys[level]);
        self.ends[level] = [0; CLASSES];
        let before = self.index.len();
        for key in &keys {
            self.index.remove(key);
        }
        let inv_q = 1.0 / q;
        for c in cells {
            let local = Vec3A::new(c.pos[0] as f32, c.pos[1] as f32, c.pos[2] as f32) * inv_q;
            let key = cell_key(local, inv_edge_up, across_up, level + 1);
            self.absorb(
                key,
                Cell {
                    level: (level + 1) as u8,
                    footprint_q: (c.footprint_q / 2).max(1),
                    ..c
                },
                max_weight,
            );
        }
        self.index.shrink_to_fit();
        self.bytes = self.measure();
        before - self.index.len()
    }

    /// Adds `cell` (a coarser cell made of finer ones, its level, position and footprint
    /// already the coarser cell's) under `key`: as a new cell, or into the one there as an
    /// observation weighted by its count, so a coarser cell is the weighted mean of what it
    /// held and what it took in, last seen when the latest of them was. True if it was new.
    fn absorb(&mut self, key: u32, cell: Cell, max_weight: u8) -> bool {
        let Some(&ci) = self.index.get(&key) else {
            self.insert_shuffled(key, cell);
            return true;
        };
        let p = &mut self.cells[cell.level as usize][ci as usize];
        let (wp, wc) = (u32::from(p.weight), u32::from(cell.weight));
        let total = wp + wc;
        let mix = |a: u16, b: u16| -> u16 {
            ((u32::from(a) * wp + u32::from(b) * wc + total / 2) / total) as u16
        };
        p.pos = std::array::from_fn(|i| mix(p.pos[i], cell.pos[i]));
        p.rgb = std::array::from_fn(|i| mix(p.rgb[i].into(), cell.rgb[i].into()) as u8);
        p.footprint_q = mix(p.footprint_q.into(), cell.footprint_q.into()) as u8;
        p.weight = total.min(u32::from(max_weight)) as u8;
        p.last_seen = p.last_seen.max(cell.last_seen);
        false
    }

    /// Cells per level.
    fn counts(&self) -> [u32; MAX_LEVELS as usize] {
        std::array::from_fn(|l| self.cells[l].len() as u32)
    }

    /// Number of cells.
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }
}

/// How many chunks ahead a render fetches a chunk's slot, and its cells.
const FETCH_SLOT: usize = 16;
const FETCH_CELLS: usize = 8;

/// Asks the CPU to bring the cache line holding `p` in (a hint: no effect on the program's
/// meaning; nothing on targets without one).
#[inline(always)]
#[allow(unsafe_code)]
fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE is part of every x86_64 target, and a prefetch reads nothing the program
    // sees: any address is allowed (an invalid one is ignored by the CPU).
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Where in a chunk's slot (`Option<Chunk>`) the bytes a render reads lie: from the slot's
/// start (its tag) to the end of the cell lists' headers.
#[derive(Clone, Copy)]
struct ChunkLayout {
    end: usize,
}

impl ChunkLayout {
    fn get() -> ChunkLayout {
        static END: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
        let end = *END.get_or_init(|| {
            let probe = Some(Chunk::new(IVec3::ZERO, false));
            let inner = probe.as_ref().map_or(0, |c| {
                (c as *const Chunk as usize) - (&probe as *const Option<Chunk> as usize)
            });
            inner
                + std::mem::offset_of!(Chunk, cells)
                + size_of::<[Vec<Cell>; MAX_LEVELS as usize]>()
        });
        ChunkLayout { end }
    }

    /// Fetches the lines of `slots[s]` a render reads.
    #[inline(always)]
    fn prefetch(self, slots: &[Option<Chunk>], s: usize) {
        let start = slots.as_ptr().wrapping_add(s).cast::<u8>();
        let mut at = 0;
        while at < self.end {
            prefetch(start.wrapping_add(at));
            at += 64;
        }
        prefetch(start.wrapping_add(self.end - 1));
    }
}

/// The index key of the cell at `level` (edge `1 / inv_edge`, `across` cells per chunk edge)
/// holding chunk-local position `local`.
#[inline(always)]
fn cell_key(local: Vec3A, inv_edge: f32, across: u32, level: usize) -> u32 {
    let n = across - 1;
    let ix = ((local.x * inv_edge) as u32).min(n);
    let iy = ((local.y * inv_edge) as u32).min(n);
    let iz = ((local.z * inv_edge) as u32).min(n);
    ix | iy << 9 | iz << 18 | (level as u32) << 27
}

/// Lattice classes a level's cells are ordered by (see [`Chunk::cells`]).
pub(crate) const CLASSES: usize = 8;

/// The class of the cell with index key `key`: the parities of its coordinates, in an order
/// that spreads every prefix evenly over a flat axis-aligned surface of any orientation: of
/// its cells, the first quarter is one in each 2×2 and the first half a checkerboard.
#[inline(always)]
pub(crate) fn class_of(key: u32) -> usize {
    const RANK: [u8; 8] = {
        // Parities (x | y << 1 | z << 2) in the order the classes come.
        const ORDER: [u8; 8] = [0b000, 0b101, 0b011, 0b110, 0b111, 0b010, 0b100, 0b001];
        let mut rank = [0u8; 8];
        let mut i = 0;
        while i < 8 {
            rank[ORDER[i] as usize] = i as u8;
            i += 1;
        }
        rank
    };
    let parity = (key & 1) | (key >> 9 & 1) << 1 | (key >> 18 & 1) << 2;
    RANK[parity as usize] as usize
}

/// Multiply-rotate hashing for small integer keys (cells, chunk coordinates).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FastHash;

#[derive(Debug, Default)]
pub(crate) struct FastHasher(u64);

impl BuildHasher for FastHash {
    type Hasher = FastHasher;
    fn build_hasher(&self) -> FastHasher {
        FastHasher(0)
    }
}

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        let h = self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        h ^ (h >> 31)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u32(b as u32);
        }
    }
    fn write_u32(&mut self, x: u32) {
        self.0 = (self.0.rotate_left(23) ^ x as u64).wrapping_mul(0xA076_1D64_78BD_642F);
    }
    fn write_i32(&mut self, x: i32) {
        self.write_u32(x as u32);
    }
}

/// Counters and sizes; `hit_rate` is the share of rendered pixels the memory covered.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryStats {
    /// Surfel cells resident.
    pub cells: u64,
    /// Chunks resident.
    pub chunks: u64,
    /// Resident bytes (cells, indices, bookkeeping, sky panorama, keyframes).
    pub bytes: u64,
    /// The configured bound.
    pub bound_bytes: u64,
    /// Keyframes kept.
    pub keyframes: u64,
    /// Points written (pixels with a surface in range).
    pub points_written: u64,
    /// Points that landed in an existing cell.
    pub write_hits: u64,
    /// Pixels rendered.
    pub render_pixels: u64,
    /// Rendered pixels the memory covered.
    pub render_hits: u64,
    /// `render_hits / render_pixels`.
    pub hit_rate: f64,
    /// Chunks evicted so far.
    pub evicted_chunks: u64,
    /// Eviction passes so far.
    pub eviction_passes: u64,
    /// Cells dropped by free-space carving so far.
    pub carved_cells: u64,
    /// Cells merged into coarser ones to stay in the bound (see
    /// [`MemoryConfig::coarsen_level_age_s`]) since this memory was made or loaded.
    pub coarsened_cells: u64,
    /// Views whose free space is pinned ([`SpatialMemory::pin_free_space`]).
    #[serde(default)]
    pub pinned_views: u64,
    /// Points refused because they lay in pinned free space, since this memory was made or
    /// loaded.
    #[serde(default)]
    pub pinned_points: u64,
}

/// The bounded 3D cache. See the crate docs for the design.
#[derive(Debug)]
pub struct SpatialMemory {
    pub(crate) config: MemoryConfig,
    levels: u32,
    edge: [f32; MAX_LEVELS as usize],
    /// Cells across a chunk per level, in a chunk and in a coarse (region) chunk.
    across: [u32; MAX_LEVELS as usize],
    across_coarse: [u32; MAX_LEVELS as usize],
    /// The first level kept in coarse chunks (`levels` if none is).
    coarse_from: usize,
    pub(crate) slots: Vec<Option<Chunk>>,
    /// Whether the chunk in each slot is a coarse one (what a render needs to place it).
    coarse_slot: Vec<bool>,
    /// Cells per level of the chunk in each slot (zeros for a free slot): what a render needs
    /// to plan a chunk without touching it (a chunk's bookkeeping is a cache miss of its own).
    counts: Vec<[u32; MAX_LEVELS as usize]>,
    free: Vec<u32>,
    chunks: HashMap<IVec3, u32, FastHash>,
    /// Coarse chunks by region coordinate.
    coarse_chunks: HashMap<IVec3, u32, FastHash>,
    /// Chunks (coordinate, slot) by region of `REGION`³ chunks, the region's coarse chunk
    /// among them (under the region's coordinate).
    regions: HashMap<IVec3, Vec<(IVec3, u32)>, FastHash>,
    pub(crate) sky: Sky,
    pub(crate) keyframes: KeyframeStore,
    /// Views whose free space no write may fill ([`SpatialMemory::pin_free_space`]).
    pub(crate) pins: Vec<Pin>,
    cell_bytes: usize,
    cells: u64,
    pub(crate) tick: u64,
    pub(crate) counters: Counters,
    render_pixels: AtomicU64,
    render_hits: AtomicU64,
    /// Which memory this is (unique in the process) and how often it changed: a rendered view
    /// records both, so carving only trusts views of the current state.
    instance: u64,
    generation: u64,
    /// Cells merged away by coarsening since this memory was made or loaded (not saved).
    coarsened_cells: u64,
    /// Points refused by pins since this memory was made or loaded (not saved).
    pinned_points: u64,
}

/// Source of [`SpatialMemory`] instance numbers.
static INSTANCES: AtomicU64 = AtomicU64::new(1);

/// Persistent counters (saved with the memory).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counters {
    pub(crate) points_written: u64,
    pub(crate) write_hits: u64,
    pub(crate) evicted_chunks: u64,
    pub(crate) eviction_passes: u64,
    pub(crate) carved: u64,
}

impl SpatialMemory {
    /// An empty memory (fails on an invalid config, naming the field).
    pub fn new(config: MemoryConfig) -> Result<SpatialMemory> {
        config.validate()?;
        let levels = config.levels();
        let mut edge = [0.0; MAX_LEVELS as usize];
        let mut across = [1; MAX_LEVELS as usize];
        let mut across_coarse = [1; MAX_LEVELS as usize];
        for l in 0..levels as usize {
            edge[l] = config.min_cell_m * (1u32 << l) as f32;
            across[l] = ((config.chunk_m / edge[l]).ceil() as u32).clamp(1, 512);
            across_coarse[l] =
                ((config.chunk_m * REGION as f32 / edge[l]).ceil() as u32).clamp(1, 512);
        }
        let coarse_from = match config.coarse_level {
            0 => levels as usize,
            l => (l as usize).min(levels as usize),
        };
        Ok(SpatialMemory {
            levels,
            edge,
            across,
            across_coarse,
            coarse_from,
            slots: Vec::new(),
            coarse_slot: Vec::new(),
            counts: Vec::new(),
            free: Vec::new(),
            chunks: HashMap::with_hasher(FastHash),
            coarse_chunks: HashMap::with_hasher(FastHash),
            regions: HashMap::with_hasher(FastHash),
            sky: Sky::new(config.sky_texels_per_degree),
            keyframes: KeyframeStore::new(config.keyframes),
            pins: Vec::new(),
            cell_bytes: 0,
            cells: 0,
            tick: 0,
            counters: Counters::default(),
            render_pixels: AtomicU64::new(0),
            render_hits: AtomicU64::new(0),
            instance: INSTANCES.fetch_add(1, Ordering::Relaxed),
            generation: 0,
            coarsened_cells: 0,
            pinned_points: 0,
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &MemoryConfig {
        &self.config
    }

    /// Sets [`MemoryConfig::render_splats_per_pixel`] (a render-time setting: a memory loaded
    /// from a file can get the budget of the runtime that uses it).
    pub fn set_render_budget(&mut self, splats_per_pixel: f32) -> Result<()> {
        let config = MemoryConfig {
            render_splats_per_pixel: splats_per_pixel,
            ..self.config.clone()
        };
        config.validate()?;
        self.config = config;
        Ok(())
    }

    /// The latest tick written.
    pub fn tick(&self) -> u64 {
        self.tick
    }

    /// Resident bytes: cells and their indices, chunk bookkeeping, sky panorama, keyframes.
    pub fn bytes(&self) -> usize {
        self.cell_bytes
            + self.slots.capacity() * size_of::<Option<Chunk>>()
            + self.counts.capacity() * size_of::<[u32; MAX_LEVELS as usize]>()
            + self.coarse_slot.capacity()
            + self.free.capacity() * 4
            + (self.chunks.capacity() + self.coarse_chunks.capacity()) * 8 / 7
                * (size_of::<(IVec3, u32)>() + 1)
            + self.regions.capacity() * 8 / 7 * (size_of::<(IVec3, Vec<(IVec3, u32)>)>() + 1)
            + self
                .regions
                .values()
                .map(|v| v.capacity() * size_of::<(IVec3, u32)>())
                .sum::<usize>()
            + self.sky.bytes()
            + self.keyframes.bytes()
            + self.pins.iter().map(Pin::bytes).sum::<usize>()
    }

    /// The horizontal (x, z) coordinates of the chunks held, each once, sorted (a top-down map:
    /// chunk `[x, z]` covers `x·chunk_m ..< (x+1)·chunk_m` along x, and likewise along z). The
    /// coarse chunks (surfaces only seen from afar) are not among them.
    pub fn chunk_columns(&self) -> Vec<[i32; 2]> {
        let mut cols: Vec<[i32; 2]> = self.chunks.keys().map(|c| [c.x, c.z]).collect();
        cols.sort_unstable();
        cols.dedup();
        cols
    }

    /// Sizes and counters.
    pub fn stats(&self) -> MemoryStats {
        let render_pixels = self.render_pixels.load(Ordering::Relaxed);
        let render_hits = self.render_hits.load(Ordering::Relaxed);
        MemoryStats {
            cells: self.cells,
            chunks: self.chunks.len() as u64,
            bytes: self.bytes() as u64,
            bound_bytes: self.config.bound_bytes,
            keyframes: self.keyframes.len() as u64,
            points_written: self.counters.points_written,
            write_hits: self.counters.write_hits,
            render_pixels,
            render_hits,
            hit_rate: if render_pixels > 0 {
                render_hits as f64 / render_pixels as f64
            } else {
                0.0
            },
            evicted_chunks: self.counters.evicted_chunks,
            eviction_passes: self.counters.eviction_passes,
            carved_cells: self.counters.carved,
            coarsened_cells: self.coarsened_cells,
            pinned_views: self.pins.len() as u64,
            pinned_points: self.pinned_points,
        }
    }

    /// Stores a frame: every pixel with a surface within `max_depth_m` goes into the cell of its
    /// level (by pixel footprint) in its chunk; sky pixels go into the sky panorama; the frame
    /// may become a keyframe. Then least-recently-seen chunks are evicted to stay in the bound.
    pub fn write(
        &mut self,
        k: &Intrinsics,
        rgb: &[u8],
        depth: &[f32],
        pose: &Pose,
        tick: u64,
    ) -> Result<()> {
        self.write_frame(k, rgb, depth, pose, tick, None)
    }

    /// Pins the free space of a trusted view — a session's prompt, its one frame from the truth,
    /// usually written just before: from now on no write puts a surface clearly in front of
    /// what this view saw (by more than 10 % of its depth and 0.2 m, against the nearest depth
    /// around each pixel), nor anywhere along a ray on which it saw sky. A model that later
    /// imagines something where the session started cannot cover the start view with it.
    /// Pixels of unknown depth (NaN, ≤ 0) pin nothing. At most [`crate::MAX_PINS`] views;
    /// saved with the memory.
    pub fn pin_free_space(&mut self, k: &Intrinsics, depth: &[f32], pose: &Pose) -> Result<()> {
        self.pin(k, None, depth, pose)
    }

    /// [`SpatialMemory::pin_free_space`], and the view itself kept whole: every
    /// [`SpatialMemory::render`] draws it, warped into the render's pose, over the cells
    /// wherever it shows a surface and they show none clearly in front of it (or sky where they show none). A
    /// session's memory may hold many cells around its start, written from the walk's own
    /// frames, a little off every time; with the render budget the start's cells are thinned
    /// among them. A trusted view stays as it was seen. Saved with the memory (format 5).
    pub fn pin_view(
        &mut self,
        k: &Intrinsics,
        rgb: &[u8],
        depth: &[f32],
        pose: &Pose,
    ) -> Result<()> {
        check_sizes(k, rgb, depth)?;
        self.pin(k, Some(rgb), depth, pose)
    }

    fn pin(
        &mut self,
        k: &Intrinsics,
        rgb: Option<&[u8]>,
        depth: &[f32],
        pose: &Pose,
    ) -> Result<()> {
        if depth.len() != k.pixels() {
            return Err(MemoryError::Size {
                what: "depth",
                got: depth.len(),
                expected: k.pixels(),
                width: k.width,
                height: k.height,
            });
        }
        if self.pins.len() >= MAX_PINS {
            return Err(MemoryError::Pins { max: MAX_PINS });
        }
        let mut pin = Pin::new(k, depth, pose);
        if let Some(rgb) = rgb {
            pin.rgb = rgb.to_vec();
            pin.depth_m = depth.to_vec();
        }
        self.pins.push(pin);
        Ok(())
    }

    /// Stores what a frame adds to `shown`, this memory's [`SpatialMemory::render`] at the
    /// frame's pose (before [`SpatialMemory::carve`] with the frame): pixels where the memory
    /// already showed the same surface (depth within [`MemoryConfig::known_margin`] +
    /// [`MemoryConfig::known_margin_m`]) are skipped — unless the frame sees
    /// it [`MemoryConfig::refine_levels`] levels of detail finer — and everything else is
    /// written as by [`SpatialMemory::write`]. A model's
    /// frames differ a little from tick to tick (depth noise, resampling): written in full,
    /// every frame would add new cells for surfaces the memory already holds, and a session
    /// that stays in one area would fill it with ever more cells to render. What is known stays
    /// as first seen, which is also what keeps a revisited place as it was.
    pub fn write_new(
        &mut self,
        k: &Intrinsics,
        rgb: &[u8],
        depth: &[f32],
        pose: &Pose,
        tick: u64,
        shown: &View,
    ) -> Result<()> {
        let shown = (shown.ids.len() == depth.len()).then_some(shown);
        self.write_frame(k, rgb, depth, pose, tick, shown)
    }

    fn write_frame(
        &mut self,
        k: &Intrinsics,
        rgb: &[u8],
        depth: &[f32],
        pose: &Pose,
        tick: u64,
        shown: Option<&View>,
    ) -> Result<()> {
        check_sizes(k, rgb, depth)?;
        self.generation += 1;
        // Leave room for what one frame can add, so the bound also holds during the write.
        let headroom = k.pixels() * 48;
        let bound = self.config.bound_bytes as usize;
        self.enforce_bound(bound.saturating_sub(headroom).max(bound / 2));
        self.tick = tick;
        let m = pose.world_from_camera();
        let (rot, t) = (m.matrix3, m.translation);
        let (fx, fy, cx, cy) = (k.fx, k.fy, k.cx, k.cy);
        let w = k.width as usize;
        // Per kind of chunk (0 = fine, 1 = coarse): edge, its inverse and position steps.
        let edge_m = [self.config.chunk_m, self.config.chunk_m * REGION as f32];
        let inv_edge_m = edge_m.map(|e| 1.0 / e);
        let q = edge_m.map(|e| POS_STEPS / e);
        let (across, coarse_from) = ([self.across, self.across_coarse], self.coarse_from);
        let max_depth = self.config.max_depth_m;
        let max_weight = self.config.max_weight;
        let recency = self.config.recency;
        let refine = self.config.refine_levels as usize;
        let (known_rel, known_m) = (self.config.known_margin, self.config.known_margin_m);
        let inv_min = 1.0 / self.config.min_cell_m;
        let top = self.levels as i32 - 1;
        let mut last: Option<(IVec3, bool, u32)> = None;
        let mut touched: Vec<u32> = Vec::new();
        let mut points = 0u64;
        let mut hits = 0u64;
        let mut pinned = 0u64;
        for (i, &z) in depth.iter().enumerate() {
            if z.is_nan() || z <= 0.0 {
                continue;
            }
            let (x, y) = ((i % w) as f32 + 0.5, (i / w) as f32 + 0.5);
            let ray = Vec3A::new((x - cx) / fx, (y - cy) / fy, 1.0);
            let colour = [rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]];
            if z.is_infinite() {
                self.sky.write(Vec3::from(rot * ray).normalize(), colour);
                continue;
            }
            if z > max_depth {
                continue;
            }
            let p = rot * (ray * z) + t;
            if self.pins.iter().any(|pin| pin.forbids(p)) {
                pinned += 1;
                continue;
            }
            // Spacing between neighbouring pixels' points across the ray picks the level; the
            // planar spacing (one pixel at depth z) sizes the splat, so that it is exactly one
            // pixel when seen again from the same pose.
            let footprint = z / fx;
            let ratio = footprint * ray.length() * inv_min;
            let level = (((ratio.to_bits() >> 23) as i32) - 127).clamp(0, top) as usize;
            if let Some(v) = shown {
                let (id, z0) = (v.ids[i], v.depth_m[i]);
                let shown_level = (id >> 28 & 0xF) as usize;
                if id != NO_ID
                    && (refine == 0 || shown_level < level + refine)
                    && (z - z0).abs() <= known_rel * z0 + known_m
                {
                    continue; // already known at this detail
                }
            }
            let coarse = level >= coarse_from;
            let kind = coarse as usize;
            let coord = (p * inv_edge_m[kind]).floor();
            let coord = IVec3::new(coord.x as i32, coord.y as i32, coord.z as i32);
            let slot = match last {
                Some((c, k, s)) if c == coord && k == coarse => s,
                _ => {
                    let s = self.slot_for(coord, coarse);
                    if !touched.contains(&s) {
                        touched.push(s);
                    }
                    last = Some((coord, coarse, s));
                    s
                }
            };
            let local = p - Vec3A::from(coord.as_vec3()) * edge_m[kind];
            let pos = [
                (local.x * q[kind]).round().clamp(0.0, POS_STEPS) as u16,
                (local.y * q[kind]).round().clamp(0.0, POS_STEPS) as u16,
                (local.z * q[kind]).round().clamp(0.0, POS_STEPS) as u16,
            ];
            // A retry one level finer stays in the same kind of chunk.
            let finest = if coarse { coarse_from } else { 0 };
            points += 1;
            let Some(chunk) = self.slots[slot as usize].as_mut() else {
                continue;
            };
            chunk.last_seen = tick;
            let mut level = level;
            let mut retried = false;
            loop {
                let inv_edge = 1.0 / self.edge[level];
                let key = cell_key(local, inv_edge, across[kind][level], level);
                let fq = (footprint * inv_edge * FOOTPRINT_STEPS)
                    .round()
                    .clamp(1.0, 255.0) as u8;
                match chunk.index.get(&key) {
                    Some(&ci) => {
                        let c = &mut chunk.cells[level][ci as usize];
                        if c.last_seen == tick as u32 && level > finest && !retried {
                            // Another pixel of this frame is in the cell already: keep both,
                            // one level finer.
                            retried = true;
                            level -= 1;
                            continue;
                        }
                        hits += 1;
                        let wgt = c.weight.saturating_add(1).min(max_weight);
                        c.weight = wgt;
                        // Fixed-point share of the new observation (1/256 steps).
                        let a = ((recency.max(1.0 / wgt as f32)) * 256.0).round() as i32;
                        let mix = |old: i32, new: i32| -> i32 {
                            old + ((new - old) * a + 128).div_euclid(256)
                        };
                        c.pos = [
                            mix(c.pos[0] as i32, pos[0] as i32) as u16,
                            mix(c.pos[1] as i32, pos[1] as i32) as u16,
                            mix(c.pos[2] as i32, pos[2] as i32) as u16,
                        ];
                        c.rgb = [
                            mix(c.rgb[0] as i32, colour[0] as i32).clamp(0, 255) as u8,
                            mix(c.rgb[1] as i32, colour[1] as i32).clamp(0, 255) as u8,
                            mix(c.rgb[2] as i32, colour[2] as i32).clamp(0, 255) as u8,
                        ];
                        c.footprint_q = mix(c.footprint_q as i32, fq as i32).clamp(1, 255) as u8;
                        c.last_seen = tick as u32;
                    }
                    None => {
                        chunk.insert_shuffled(
                            key,
                            Cell {
                                pos,
                                rgb: colour,
                                weight: 1,
                                level: level as u8,
                                footprint_q: fq,
                                last_seen: tick as u32,
                            },
                        );
                        self.cells += 1;
                    }
                }
                break;
            }
        }
        for s in touched {
            if let Some(chunk) = self.slots[s as usize].as_mut() {
                let b = chunk.measure();
                self.cell_bytes = self.cell_bytes + b - chunk.bytes;
                chunk.bytes = b;
                self.counts[s as usize] = chunk.counts();
            }
        }
        self.counters.points_written += points;
        self.pinned_points += pinned;
        self.counters.write_hits += hits;
        if self.config.keyframes > 0 {
            self.keyframes.consider(
                k,
                rgb,
                depth,
                pose,
                tick,
                self.config.keyframe_novelty,
                self.config.keyframes,
            );
        }
        self.enforce_bound(bound);
        Ok(())
    }

    /// The slot of the chunk (or, if `coarse`, of the coarse chunk) at `coord`, created if
    /// missing.
    fn slot_for(&mut self, coord: IVec3, coarse: bool) -> u32 {
        let map = if coarse {
            &self.coarse_chunks
        } else {
            &self.chunks
        };
        if let Some(&s) = map.get(&coord) {
            return s;
        }
        let chunk = Chunk::new(coord, coarse);
        self.cell_bytes += chunk.bytes;
        let s = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = Some(chunk);
                self.counts[s as usize] = [0; MAX_LEVELS as usize];
                self.coarse_slot[s as usize] = coarse;
                s
            }
            None => {
                self.slots.push(Some(chunk));
                self.counts.push([0; MAX_LEVELS as usize]);
                self.coarse_slot.push(coarse);
                (self.slots.len() - 1) as u32
            }
        };
        let region = if coarse {
            self.coarse_chunks.insert(coord, s);
            coord
        } else {
            self.chunks.insert(coord, s);
            coord.div_euclid(IVec3::splat(REGION))
        };
        self.regions.entry(region).or_default().push((coord, s));
        s
    }

    /// Adds a whole chunk (used by the loader). Returns false if the coordinate is taken.
    pub(crate) fn insert_chunk(&mut self, mut chunk: Chunk) -> bool {
        let map = if chunk.coarse {
            &self.coarse_chunks
        } else {
            &self.chunks
        };
        if map.contains_key(&chunk.coord) {
            return false;
        }
        let s = self.slot_for(chunk.coord, chunk.coarse);
        self.cell_bytes -= size_of::<Chunk>(); // slot_for counted an empty chunk
        chunk.bytes = chunk.measure();
        self.cell_bytes += chunk.bytes;
        self.cells += chunk.len() as u64;
        self.counts[s as usize] = chunk.counts();
        self.slots[s as usize] = Some(chunk);
        true
    }

    /// Frees slot `s` (counted as an eviction if `evicted`).
    fn remove_slot(&mut self, s: u32, evicted: bool) {
        let Some(chunk) = self.slots[s as usize].take() else {
            return;
        };
        self.counts[s as usize] = [0; MAX_LEVELS as usize];
        let region = if chunk.coarse {
            self.coarse_chunks.remove(&chunk.coord);
            chunk.coord
        } else {
            self.chunks.remove(&chunk.coord);
            chunk.coord.div_euclid(IVec3::splat(REGION))
        };
        if let Some(list) = self.regions.get_mut(&region) {
            list.retain(|&(_, x)| x != s);
            if list.is_empty() {
                self.regions.remove(&region);
            }
        }
        self.cell_bytes -= chunk.bytes;
        self.cells -= chunk.len() as u64;
        self.free.push(s);
        self.counters.evicted_chunks += u64::from(evicted);
    }

    /// Evicts least-recently-seen chunks (or, with [`MemoryConfig::coarsen_level_age_s`],
    /// coarsens the least valuable ones first) until resident bytes are at most 90 % of
    /// `target` (when over `target`; the slack makes passes rare).
    fn enforce_bound(&mut self, target: usize) {
        if self.bytes() <= target {
            return;
        }
        self.counters.eviction_passes += 1;
        let goal = target - target / 10;
        if self.config.coarsen_level_age_s > 0.0 {
            // Least valuable first: the oldest, a lost level counting as `coarsen_level_age_s`
            // of recency. Coarsen it, or if it has no detail left to lose, evict it.
            let per_level = (f64::from(self.config.coarsen_level_age_s)
                * f64::from(reverie_core::TICK_HZ)) as u64;
            let mut heap: std::collections::BinaryHeap<std::cmp::Reverse<(u64, u32)>> = self
                .slots
                .iter()
                .enumerate()
                .filter_map(|(s, c)| {
                    let c = c.as_ref()?;
                    Some(std::cmp::Reverse((
                        c.last_seen + per_level * self.detail_lost(s as u32) as u64,
                        s as u32,
                    )))
                })
                .collect();
            while let Some(std::cmp::Reverse((_, s))) = heap.pop() {
                if self.bytes() <= goal {
                    break;
                }
                if self.coarsen_slot(s) {
                    let last_seen = self.slots[s as usize].as_ref().map_or(0, |c| c.last_seen);
                    heap.push(std::cmp::Reverse((
                        last_seen + per_level * self.detail_lost(s) as u64,
                        s,
                    )));
                } else {
                    self.remove_slot(s, true);
                }
            }
        } else {
            let mut order: Vec<(u64, u32)> = self
                .slots
                .iter()
                .enumerate()
                .filter_map(|(s, c)| c.as_ref().map(|c| (c.last_seen, s as u32)))
                .collect();
            order.sort_unstable();
            for (_, s) in order {
                if self.bytes() <= goal {
                    break;
                }
                self.remove_slot(s, true);
            }
        }
        self.regions.shrink_to_fit();
    }

    /// Levels of detail the chunk in slot `s` has lost: how much coarser its finest cells are
    /// than the finest level a chunk of its kind holds.
    fn detail_lost(&self, s: u32) -> usize {
        let first = if self.coarse_slot[s as usize] {
            self.coarse_from
        } else {
            0
        };
        let counts = &self.counts[s as usize];
        (first..MAX_LEVELS as usize)
            .find(|&l| counts[l] > 0)
            .map_or(0, |l| l - first)
    }

    /// Merges the finest level of the chunk in slot `s` into the next (see
    /// [`MemoryConfig::coarsen_level_age_s`]): within the chunk, or, for a chunk holding only
    /// the last level a (fine) chunk holds, into the first level of its region's coarse chunk,
    /// which takes its place. False, changing nothing, if its cells are all of the last level.
    fn coarsen_slot(&mut self, s: u32) -> bool {
        let si = s as usize;
        let coarse = self.coarse_slot[si];
        let (first, end) = if coarse {
            (self.coarse_from, self.levels as usize)
        } else {
            (0, self.coarse_from)
        };
        let counts = self.counts[si];
        let Some(level) = (first..end).find(|&l| counts[l] > 0) else {
            return false;
        };
        let max_weight = self.config.max_weight;
        if level + 1 == end {
            return !coarse && end < self.levels as usize && self.merge_into_region(s, level);
        }
        let edge_m = self.config.chunk_m * if coarse { REGION as f32 } else { 1.0 };
        let across = if coarse {
            self.across_coarse
        } else {
            self.across
        };
        let inv_edge_up = 1.0 / self.edge[level + 1];
        let Some(chunk) = self.slots[si].as_mut() else {
            return false;
        };
        let old_bytes = chunk.bytes;
        let merged = chunk.coarsen(
            level,
            POS_STEPS / edge_m,
            inv_edge_up,
            across[level + 1],
            max_weight,
        );
        self.cell_bytes = self.cell_bytes + chunk.bytes - old_bytes;
        self.counts[si] = chunk.counts();
        self.cells -= merged as u64;
        self.coarsened_cells += merged as u64;
        self.generation += 1;
        true
    }

    /// Moves the cells of the fine chunk in slot `s` (all of `level`, the last fine level) into
    /// the next level of its region's coarse chunk, and frees the slot.
    fn merge_into_region(&mut self, s: u32, level: usize) -> bool {
        let Some(chunk) = self.slots[s as usize].as_mut() else {
            return false;
        };
        let (coord, last_seen) = (chunk.coord, chunk.last_seen);
        // Taken out: the slot is freed next, and its accounting (index, stored bytes) is
        // untouched by that.
        let cells = std::mem::take(&mut chunk.cells[level]);
        let region = coord.div_euclid(IVec3::splat(REGION));
        let chunk_m = self.config.chunk_m;
        // Chunk-local position steps → the region chunk's, through the offset between them.
        let q_fine = POS_STEPS / chunk_m;
        let q_coarse = POS_STEPS / (chunk_m * REGION as f32);
        let offset = (coord - region * REGION).as_vec3() * chunk_m;
        let up = level + 1;
        let (inv_edge_up, across_up) = (1.0 / self.edge[up], self.across_coarse[up]);
        let max_weight = self.config.max_weight;
        self.remove_slot(s, false);
        let cs = self.slot_for(region, true);
        let Some(target) = self.slots[cs as usize].as_mut() else {
            return false;
        };
        let old_bytes = target.bytes;
        let mut added = 0u64;
        for c in &cells {
            let local = Vec3A::from(offset)
                + Vec3A::new(c.pos[0] as f32, c.pos[1] as f32, c.pos[2] as f32) / q_fine;
            let key = cell_key(local, inv_edge_up, across_up, up);
            let pos = (local * q_coarse)
                .round()
                .clamp(Vec3A::ZERO, Vec3A::splat(POS_STEPS));
            let cell = Cell {
                pos: [pos.x as u16, pos.y as u16, pos.z as u16],
                level: up as u8,
                footprint_q: (c.footprint_q / 2).max(1),
                ..*c
            };
            added += u64::from(target.absorb(key, cell, max_weight));
        }
        target.last_seen = target.last_seen.max(last_seen);
        target.bytes = target.measure();
        self.cell_bytes = self.cell_bytes + target.bytes - old_bytes;
        self.counts[cs as usize] = target.counts();
        self.cells += added;
        self.coarsened_cells += cells.len() as u64 - added;
        self.generation += 1;
        true
    }

    /// Renders the memory into `pose`: tent-weighted splats of the cells in view (chunks culled
    /// against the frustum, found through a coarse region grid, so the cost follows what is in
    /// view and not the memory's size), see-through to the sky panorama where thin.
    ///
    /// Level of detail: in a chunk whose nearest point is at distance `d`, a pixel spans about
    /// `d / fx` metres; levels finer than that are thinned (a quarter, a sixteenth, ... of their
    /// cells, drawn 2×, 4×, ... wider), so far-away detail seen from close up costs what its
    /// pixels are worth; and a chunk holding more than two cells per pixel of the view after
    /// that (a surface seen from many nearby poses, or a model's noisy depth close to the
    /// camera) draws 1/n of its cells, √n wider, so no chunk costs more than its pixels need.
    /// A fraction of a level is the first cells of its list (kept in random order: an even
    /// sample, read as one stream). Chunks are drawn near to far, and chunks and splats wholly
    /// hidden behind what is already drawn are skipped (occlusion culling that leaves the image
    /// unchanged).
    pub fn render(&self, pose: &Pose, k: &Intrinsics, out: &mut View) {
        self.render_culled(pose, k, out, true);
    }

    /// [`SpatialMemory::render`], with or without occlusion culling (which must not change
    /// the image: tested).
    fn render_culled(&self, pose: &Pose, k: &Intrinsics, out: &mut View, cull: bool) {
        out.reset(k);
        let cam = pose.camera_from_world();
        let (rot, t) = (cam.matrix3, cam.translation);
        let chunk_m = self.config.chunk_m;
        let max_depth = self.config.max_depth_m;
        let max_r = self.config.max_splat_px;
        let (fx, fy, cx, cy) = (k.fx, k.fy, k.cx, k.cy);
        let (wf, hf) = (k.width as f32, k.height as f32);
        // Side planes of the frustum in the camera frame (inside: n · p >= 0).
        let planes = [
            Vec3A::new(fx, 0.0, cx).normalize(),
            Vec3A::new(-fx, 0.0, wf - cx).normalize(),
            Vec3A::new(0.0, fy, cy).normalize(),
            Vec3A::new(0.0, -fy, hf - cy).normalize(),
        ];
        // Per kind of chunk (0 = fine, 1 = coarse): edge and bounding-sphere radius.
        let edge_m = [chunk_m, chunk_m * REGION as f32];
        let radius = edge_m.map(|e| e * 0.5 * 3f32.sqrt());
        let mut radius_px = [0.0f32; MAX_LEVELS as usize];
        let mut footprint_m = [0.0f32; MAX_LEVELS as usize];
        for l in 0..self.levels as usize {
            radius_px[l] = self.config.splat_scale * RADIUS_EDGES * fx * self.edge[l];
            footprint_m[l] = DEPTH_BIAS * self.edge[l] / FOOTPRINT_STEPS;
        }
        let mut conf_of = [0.0f32; 256];
        for (wgt, c) in conf_of.iter_mut().enumerate().skip(1) {
            *c = 1.0 - 0.5f32.powi(wgt as i32);
        }
        // Fresh samples outweigh older ones where they overlap (the world may have changed, and
        // the latest view is the sharpest record of what is in front of the camera).
        let newest = self.tick as u32;
        let mut gain_of = [0.0f32; 16];
        for (age, g) in gain_of.iter_mut().enumerate() {
            *g = (1.0 / (1.0 + age as f32 * 0.5)).max(0.25);
        }
        let rot_q = edge_m.map(|e| rot * (e / POS_STEPS));
        let inv_min_fx = 1.0 / (self.config.min_cell_m * fx);
        let top = self.levels as i32 - 1;
        let max_cells = 2 * k.pixels().max(1);
        // The chunks in view: the level a point at the chunk's nearest distance would be
        // written at, and how crowded the chunk is.
        let mut visible: Vec<(f32, u32, i32, usize, IVec3)> = Vec::new();
        let mut total = 0usize;
        // A sphere (camera-frame centre, radius) that may be in view.
        let in_view = |centre: Vec3A, radius: f32| {
            centre.z >= -radius
                && centre.z - radius <= max_depth
                && planes.iter().all(|n| n.dot(centre) >= -radius)
        };
        let mut consider = |slot: u32, coord: IVec3| {
            let kind = self.coarse_slot[slot as usize] as usize;
            let origin = Vec3A::from(coord.as_vec3()) * edge_m[kind];
            let centre = rot * (origin + Vec3A::splat(0.5 * edge_m[kind])) + t;
            if !in_view(centre, radius[kind]) {
                return;
            }
            let counts = &self.counts[slot as usize];
            // The level a point at the chunk's nearest distance would be written at.
            let near = (centre.length() - radius[kind]).max(NEAR_M);
            let ratio = near * inv_min_fx;
            let needed = ((ratio.to_bits() >> 23) as i32 - 127).clamp(0, top);
            // A chunk never needs more than two splats per pixel of the view: over that (a
            // surface seen from many nearby poses, a model's noisy depth near the camera),
            // 1/n of its cells are drawn, √n wider, so a crowded chunk costs what its pixels do.
            let lod: usize = counts
                .iter()
                .enumerate()
                .map(|(level, &n)| n as usize >> (2 * (needed - level as i32).max(0)))
                .sum();
            let crowd = lod.div_ceil(max_cells).max(1);
            total += lod / crowd;
            visible.push((near, slot, needed, crowd, coord));
        };
        // Regions the frustum's bounding box touches (or all regions, if that is fewer), each
        // tested against the frustum before its chunks are.
        let wfc = pose.world_from_camera();
        let mut lo = Vec3::from(wfc.translation);
        let mut hi = lo;
        for (u, v) in [(0.0, 0.0), (wf, 0.0), (0.0, hf), (wf, hf)] {
            let corner = wfc.transform_point3(Vec3::new(
                (u - cx) / fx * max_depth,
                (v - cy) / fy * max_depth,
                max_depth,
            ));
            lo = lo.min(corner);
            hi = hi.max(corner);
        }
        let region_m = chunk_m * REGION as f32;
        let region_radius = region_m * 0.5 * 3f32.sqrt();
        let rlo = (lo / region_m).floor().as_ivec3();
        let rhi = (hi / region_m).floor().as_ivec3();
        let span = (rhi - rlo + IVec3::ONE).as_i64vec3();
        let volume = span.x * span.y * span.z;
        let mut draw_region = |key: IVec3, list: &Vec<(IVec3, u32)>| {
            let centre = rot * (Vec3A::from(key.as_vec3()) + 0.5) * region_m + t;
            if in_view(centre, region_radius) {
                for &(coord, s) in list {
                    consider(s, coord);
                }
            }
        };
        if volume > self.regions.len() as i64 {
            for (&key, list) in &self.regions {
                if key.cmpge(rlo).all() && key.cmple(rhi).all() {
                    draw_region(key, list);
                }
            }
        } else {
            for z in rlo.z..=rhi.z {
                for y in rlo.y..=rhi.y {
                    for x in rlo.x..=rhi.x {
                        let key = IVec3::new(x, y, z);
                        if let Some(list) = self.regions.get(&key) {
                            draw_region(key, list);
                        }
                    }
                }
            }
        }
        // The whole render within its budget (`render_splats_per_pixel`), if it has one: over
        // it, every chunk keeps the same fraction of the cells it would draw (an even sample),
        // each drawn 1/√fraction wider, so the render draws about the budget — its cost stays
        // flat however crowded the memory around the camera becomes.
        let budget = f64::from(self.config.render_splats_per_pixel) * k.pixels() as f64;
        let keep = if budget > 0.0 && total as f64 > budget {
            budget / total as f64
        } else {
            1.0
        };
        let widen = (1.0 / keep.sqrt()) as f32;
        // Near to far, with occlusion culling: every so often the splats collected so far get
        // their depth pass, and a chunk or splat wholly behind what is drawn where it would
        // land (by more than the same-surface margin) is skipped — it could not change a pixel.
        visible.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        let corners: [[Vec3A; 8]; 2] = edge_m.map(|e| {
            std::array::from_fn(|i| {
                rot * (Vec3A::new((i & 1) as f32, (i >> 1 & 1) as f32, (i >> 2) as f32) * e)
            })
        });
        let mut next_pass = 1024;
        out.chunks.0 = visible.len();
        // How many of each level's cells to draw: the list's first 1/stride (in random order,
        // an even sample), rounded up or down at random (by chunk and level, so the same each
        // frame) — rounding up would give every tiny chunk a splat per level, far over the
        // budget, each one drawn as wide as if it stood for its share. Chunks that draw nothing
        // are left out here, so the loop below can fetch ahead the chunks it will read.
        let mut plan: Vec<(u32, i32, usize, IVec3, [u32; MAX_LEVELS as usize])> =
            Vec::with_capacity(visible.len());
        for &(_, slot, needed, crowd, coord) in &visible {
            let mut picks = [0u32; MAX_LEVELS as usize];
            for (level, (pick, &n)) in picks
                .iter_mut()
                .zip(&self.counts[slot as usize])
                .enumerate()
            {
                if n == 0 {
                    continue;
                }
                let thin = (needed - level as i32).max(0) as u32;
                let stride = ((1usize << (2 * thin)) * crowd) as f64 / keep;
                let mut h = FastHasher(0);
                h.write_i32(coord.x);
                h.write_i32(coord.y);
                h.write_i32(coord.z);
                h.write_u32(level as u32);
                let dither = (h.finish() >> 11) as f64 / (1u64 << 53) as f64;
                *pick = ((n as f64 / stride + dither) as u32).min(n);
            }
            if picks.iter().any(|&p| p > 0) {
                plan.push((slot, needed, crowd, coord, picks));
            }
        }
        // Each chunk is a cache miss (its slot) and another per level it draws from (the
        // level's list): with thousands of small far chunks in view that is much of a render's
        // time, so the slots of the chunks `FETCH_SLOT` ahead and the first cells of those
        // `FETCH_CELLS` ahead are fetched early, and the misses overlap.
        let slot_lines = ChunkLayout::get();
        for (i, &(slot, needed, crowd, coord, picks)) in plan.iter().enumerate() {
            if let Some(&(s, ..)) = plan.get(i + FETCH_SLOT) {
                slot_lines.prefetch(&self.slots, s as usize);
            }
            if let Some((s, .., p)) = plan.get(i + FETCH_CELLS)
                && let Some(chunk) = &self.slots[*s as usize]
            {
                for (cells, &n) in chunk.cells.iter().zip(p) {
                    if n > 0 {
                        prefetch(cells.as_ptr());
                    }
                }
            }
            let kind = self.coarse_slot[slot as usize] as usize;
            let b = rot * (Vec3A::from(coord.as_vec3()) * edge_m[kind]) + t;
            if out.splats.len() >= next_pass {
                out.depth_pass();
                out.refresh_tiles();
                next_pass = out.splats.len() + out.splats.len().max(1024) / 2;
            }
            // The chunk's box on screen (grown by the widest splat) and its nearest depth.
            let (mut u0, mut u1, mut v0, mut v1, mut z0) =
                (f32::MAX, f32::MIN, f32::MAX, f32::MIN, f32::MAX);
            for c in corners[kind] {
                let p = b + c;
                z0 = z0.min(p.z);
                let inv = 1.0 / p.z;
                let (u, v) = (fx * p.x * inv + cx, fy * p.y * inv + cy);
                (u0, u1, v0, v1) = (u0.min(u), u1.max(u), v0.min(v), v1.max(v));
            }
            if cull && z0 > NEAR_M && out.hidden(u0 - max_r, u1 + max_r, v0 - max_r, v1 + max_r, z0)
            {
                continue;
            }
            let Some(chunk) = self.slots[slot as usize].as_ref() else {
                continue;
            };
            out.chunks.1 += 1;
            for (level, cells) in chunk.cells.iter().enumerate() {
                let picked = (picks[level] as usize).min(cells.len());
                if picked == 0 {
                    continue;
                }
                let thin = (needed - level as i32).max(0) as u32;
                let grow = (1u32 << thin) as f32 * (crowd as f32).sqrt() * widen;
                let r_px = radius_px[level] * grow;
                let fp_m = footprint_m[level];
                let level_id = (slot as u64) << 32 | (level as u64) << 28;
                for (ci, c) in cells[..picked].iter().enumerate() {
                    if c.weight == 0 {
                        continue; // carved (in a file from before carving removed cells)
                    }
                    let p = rot_q[kind]
                        * Vec3A::new(c.pos[0] as f32, c.pos[1] as f32, c.pos[2] as f32)
                        + b;
                    if p.z < NEAR_M {
                        continue;
                    }
                    let inv = 1.0 / p.z;
                    let r = (r_px * inv).min(max_r);
                    let (u, v) = (fx * p.x * inv + cx, fy * p.y * inv + cy);
                    if cull && out.hidden(u - r, u + r, v - r, v + r, p.z) {
                        continue;
                    }
                    let area = 1.0 / r.max(1.0);
                    let mut s = Splat::new(
                        u,
                        v,
                        p.z,
                        fp_m * c.footprint_q as f32,
                        r,
                        gain_of[(newest.wrapping_sub(c.last_seen) as usize).min(15)] * area * area,
                        c.rgb,
                        conf_of[c.weight as usize],
                    );
                    s.id = level_id | ci as u64;
                    out.splats.push(s);
                }
            }
        }
        out.draw(self.config.blend_power);
        // The sky behind wherever the surfaces drawn are thin or absent.
        let w = k.width as usize;
        for i in 0..out.confidence.len() {
            if out.solid(i) {
                continue;
            }
            let (x, y) = ((i % w) as f32 + 0.5, (i / w) as f32 + 0.5);
            let d = wfc
                .matrix3
                .mul_vec3(Vec3::new((x - cx) / fx, (y - cy) / fy, 1.0))
                .normalize();
            if let Some(c) = self.sky.read(d) {
                out.add_sky(i, c, 1.0);
            }
        }
        out.resolve(SKY_CONFIDENCE);
        if self.pins.iter().any(Pin::has_view) {
            let mut scratch = View::new(k);
            for pin in &self.pins {
                pin.draw_over(pose, self.config.splatting(), &mut scratch, out);
            }
        }
        out.rendered_by = Some((self.instance, self.generation));
        let hits = out.confidence.iter().filter(|&&c| c > 0.0).count() as u64;
        self.render_pixels
            .fetch_add(out.confidence.len() as u64, Ordering::Relaxed);
        self.render_hits.fetch_add(hits, Ordering::Relaxed);
    }

    /// Free-space carving: `view` is this memory's [`SpatialMemory::render`] at the pose of a new
    /// frame whose planar depth is `depth`; wherever the memory showed a surface clearly in front
    /// of what the frame sees (or the frame sees sky), the cell that surface came from is known
    /// to be wrong (stale, or a coarse cell spilling past a silhouette) and is dropped. Call it
    /// before [`SpatialMemory::write`] with that frame. Returns the cells dropped; a view of
    /// another memory, of an earlier state of this one, or a warp is ignored (0).
    pub fn carve(&mut self, view: &View, depth: &[f32]) -> usize {
        if view.rendered_by != Some((self.instance, self.generation))
            || depth.len() != view.ids.len()
        {
            return 0;
        }
        self.generation += 1;
        let mut wrong: Vec<u64> = Vec::new();
        for (i, &id) in view.ids.iter().enumerate() {
            if id == NO_ID {
                continue;
            }
            let (shown, seen) = (view.depth_m[i], depth[i]);
            if shown.is_finite() && seen > shown * (1.0 + CARVE_MARGIN) + CARVE_MARGIN_M {
                wrong.push(id);
            }
        }
        // Highest positions first: a removal moves a list's last cell into the freed place, and
        // every cell after it that is to go has gone already.
        wrong.sort_unstable_by(|a, b| b.cmp(a));
        wrong.dedup();
        let mut dropped = 0;
        for id in wrong {
            let (slot, level, ci) = (
                (id >> 32) as usize,
                (id >> 28 & 0xF) as usize,
                (id & 0x0FFF_FFFF) as usize,
            );
            if let Some(Some(chunk)) = self.slots.get_mut(slot)
                && chunk.remove(level, ci)
            {
                self.counts[slot][level] -= 1;
                dropped += 1;
            }
        }
        self.cells -= dropped as u64;
        self.counters.carved += dropped as u64;
        dropped
    }

    /// Keyframes ranked by view overlap with `pose` minus an age penalty, best first.
    /// `query_depth` (e.g. from [`SpatialMemory::render`] or [`crate::warp`]) makes the overlap
    /// measure surfaces actually in view; without it the frustum is sampled at 1–64 m.
    pub fn retrieve_keyframes(
        &self,
        pose: &Pose,
        k: &Intrinsics,
        query_depth: Option<&[f32]>,
        max: usize,
    ) -> Vec<KeyframeMatch> {
        self.keyframes.retrieve(
            pose,
            k,
            query_depth,
            self.tick,
            self.config.age_penalty_per_min,
            max,
        )
    }

    /// A kept keyframe by index (from [`SpatialMemory::retrieve_keyframes`]).
    pub fn keyframe(&self, index: usize) -> Option<&crate::Keyframe> {
        self.keyframes.get(index)
    }

    /// Iterates over resident chunks (for persistence).
    pub(crate) fn chunks(&self) -> impl Iterator<Item = &Chunk> {
        self.slots.iter().flatten()
    }

    /// For a chunk (or a coarse chunk) of this memory, for load-time validation: the levels it
    /// may hold and the cells across it per level.
    pub(crate) fn grid(&self, coarse: bool) -> (std::ops::Range<u32>, &[u32]) {
        let from = self.coarse_from as u32;
        if coarse {
            (
                from..self.levels,
                &self.across_coarse[..self.levels as usize],
            )
        } else {
            (0..from, &self.across[..self.levels as usize])
        }
    }

    /// Finishes a load: bookkeeping from the loaded parts, then the bound.
    pub(crate) fn after_load(&mut self) {
        self.enforce_bound(self.config.bound_bytes as usize);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Every list is its classes' segments in order, and the index finds every cell.
    fn check_segments(chunk: &Chunk) {
        for level in 0..MAX_LEVELS as usize {
            let keys = &chunk.keys[level];
            assert_eq!(chunk.ends[level][CLASSES - 1] as usize, keys.len());
            for (i, &key) in keys.iter().enumerate() {
                let c = class_of(key);
                let start = if c == 0 { 0 } else { chunk.ends[level][c - 1] };
                assert!(
                    (start..chunk.ends[level][c]).contains(&(i as u32)),
                    "level {level}: cell {i} of class {c} outside its segment"
                );
                assert_eq!(chunk.index[&key] as usize, i);
            }
        }
        assert_eq!(
            chunk.index.len(),
            chunk.keys.iter().map(Vec::len).sum::<usize>()
        );
    }

    #[test]
    fn a_prefix_of_a_level_is_an_even_lattice_of_a_flat_face_and_stays_so_through_removals() {
        let cell = |level: u8| Cell {
            level,
            weight: 1,
            ..Cell::default()
        };
        for axis in 0..3 {
            for layer in [4u32, 5] {
                let mut chunk = Chunk::new(IVec3::ZERO, false);
                // A 16×16 face at `layer` across the other two axes, in scrambled order.
                let mut keys: Vec<u32> = (0..256u32)
                    .map(|i| {
                        let (a, b) = (i % 16, i / 16);
                        let xyz = match axis {
                            0 => [layer, a, b],
                            1 => [a, layer, b],
                            _ => [a, b, layer],
                        };
                        xyz[0] | xyz[1] << 9 | xyz[2] << 18 | 2 << 27
                    })
                    .collect();
                keys.sort_by_key(|&k| (k.wrapping_mul(2_654_435_761)) >> 7);
                for &k in &keys {
                    chunk.insert_shuffled(k, cell(2));
                }
                check_segments(&chunk);
                // The first quarter: one cell in every 2×2 of the face; the first half: one in
                // every 2×1 and 1×2 (a checkerboard).
                for (share, per_block) in [(64, 1), (128, 2)] {
                    let mut blocks = HashMap::new();
                    for &k in &chunk.keys[2][..share] {
                        let xyz = [k & 511, k >> 9 & 511, k >> 18 & 511];
                        let (a, b) = match axis {
                            0 => (xyz[1], xyz[2]),
                            1 => (xyz[0], xyz[2]),
                            _ => (xyz[0], xyz[1]),
                        };
                        *blocks.entry((a / 2, b / 2)).or_insert(0) += 1;
                    }
                    assert_eq!(blocks.len(), 64, "axis {axis} layer {layer} share {share}");
                    assert!(blocks.values().all(|&n| n == per_block));
                }
                // Removing cells anywhere (and adding them back) keeps the segments.
                for (i, &k) in keys.iter().enumerate().step_by(3) {
                    let at = chunk.index[&k] as usize;
                    assert!(chunk.remove(2, at));
                    if i % 2 == 0 {
                        chunk.insert(k, cell(2));
                    }
                    check_segments(&chunk);
                }
                assert!(!chunk.remove(2, 10_000));
            }
        }
    }

    /// A wall 3 m ahead with a bump pattern in its depth, seen from `pose`.
    fn wall(k: &Intrinsics, phase: f32) -> (Vec<u8>, Vec<f32>) {
        let n = k.pixels();
        let rgb = (0..n).flat_map(|i| [(i % 251) as u8, 90, 40]).collect();
        let depth = (0..n)
            .map(|i| 3.0 + 0.3 * ((i % 64) as f32 * 0.2 + phase).sin())
            .collect();
        (rgb, depth)
    }

    /// Every list position is in the index under its key, and nothing else is.
    fn assert_consistent(mem: &SpatialMemory) {
        let mut cells = 0;
        for chunk in mem.chunks() {
            assert_eq!(chunk.len(), chunk.keys.iter().map(Vec::len).sum::<usize>());
            for (level, (list, keys)) in chunk.cells.iter().zip(&chunk.keys).enumerate() {
                assert_eq!(list.len(), keys.len());
                for (i, (cell, key)) in list.iter().zip(keys).enumerate() {
                    assert_eq!(chunk.index[key], i as u32);
                    assert_eq!((key >> 27) as usize, level);
                    assert_eq!(cell.level as usize, level);
                }
            }
            cells += chunk.len();
        }
        assert_eq!(mem.stats().cells, cells as u64);
    }

    #[test]
    fn writes_and_carves_keep_the_index_and_the_lists_in_step() {
        let k = Intrinsics::from_vfov_deg(64, 64, 70.0).unwrap();
        let mut mem = SpatialMemory::new(MemoryConfig::default()).unwrap();
        let mut view = View::new(&k);
        let mut carved = 0;
        for tick in 0..24u64 {
            let pose = Pose::new(
                Vec3::new(tick as f32 * 0.05, 0.0, 0.0),
                0.02 * tick as f32,
                0.0,
            );
            let (rgb, mut depth) = wall(&k, tick as f32 * 0.4);
            if tick % 3 == 2 {
                // Every third frame sees through the left half: what was there gets carved.
                for (i, z) in depth.iter_mut().enumerate() {
                    if i % 64 < 32 {
                        *z = 9.0;
                    }
                }
            }
            mem.render(&pose, &k, &mut view);
            carved += mem.carve(&view, &depth);
            mem.write(&k, &rgb, &depth, &pose, tick).unwrap();
            assert_consistent(&mem);
        }
        assert!(carved > 1000, "carved {carved}");
        // And a saved copy loads with the same order (so renders are identical).
        let copy = SpatialMemory::from_bytes(&mem.to_bytes()).unwrap();
        assert_consistent(&copy);
        let pose = Pose::new(Vec3::new(0.5, 0.1, -0.5), 0.1, 0.05);
        let mut a = View::new(&k);
        let mut b = View::new(&k);
        mem.render(&pose, &k, &mut a);
        copy.render(&pose, &k, &mut b);
        assert!(a == b);
    }

    #[test]
    fn over_the_bound_old_chunks_lose_detail_before_they_are_forgotten() {
        let k = Intrinsics::from_vfov_deg(64, 64, 70.0).unwrap();
        let n = k.pixels();
        // A wall 1 m ahead (level-1 cells) with 8-pixel squares, seen once.
        let rgb: Vec<u8> = (0..n)
            .flat_map(|i| [((i % 64 / 8 + i / 64 / 8) % 2 * 120 + 60) as u8, 90, 40])
            .collect();
        let depth = vec![1.0f32; n];
        let pose = Pose::new(Vec3::new(0.3, 0.2, 0.1), 0.0, 0.0);
        let surface = |v: &View| v.depth_m.iter().filter(|z| z.is_finite()).count();
        for coarsen in [true, false] {
            let config = MemoryConfig {
                coarsen_level_age_s: if coarsen { 60.0 } else { 0.0 },
                keyframes: 0,
                sky_texels_per_degree: 0.1,
                ..MemoryConfig::default()
            };
            let mut mem = SpatialMemory::new(config).unwrap();
            mem.write(&k, &rgb, &depth, &pose, 0).unwrap();
            let (before, bytes) = (mem.stats(), mem.bytes());
            let mut full = View::new(&k);
            mem.render(&pose, &k, &mut full);
            assert!(surface(&full) > n * 99 / 100);
            // A bound a quarter of the cells' bytes below what is held.
            let target = bytes - mem.cell_bytes / 4;
            mem.enforce_bound(target);
            assert!(mem.bytes() <= target - target / 10);
            assert_consistent(&mem);
            mem.chunks().for_each(check_segments);
            let after = mem.stats();
            let mut view = View::new(&k);
            mem.render(&pose, &k, &mut view);
            if coarsen {
                assert_eq!((after.chunks, after.evicted_chunks), (before.chunks, 0));
                assert!(after.cells < before.cells, "{after:?}");
                assert_eq!(after.coarsened_cells, before.cells - after.cells);
                assert!(mem.chunks().any(|c| c.cells[1].is_empty() && c.len() > 0));
                // All of the wall is still there, blurred at the squares' edges.
                assert!(surface(&view) > n * 99 / 100);
                let se = full
                    .rgb
                    .iter()
                    .zip(&view.rgb)
                    .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
                    .sum::<f64>()
                    / (3 * n) as f64;
                let psnr = 10.0 * (255.0f64.powi(2) / se).log10();
                assert!(psnr > 20.0, "{psnr:.1} dB");
                // A saved copy renders the same.
                let copy = SpatialMemory::from_bytes(&mem.to_bytes()).unwrap();
                let mut again = View::new(&k);
                copy.render(&pose, &k, &mut again);
                assert!(again == view);
                // Coarsened until no fine chunk is left, the wall is in its region's coarse
                // chunk, still there.
                while let Some(s) =
                    (0..mem.slots.len()).find(|&s| mem.slots[s].as_ref().is_some_and(|c| !c.coarse))
                {
                    assert!(mem.coarsen_slot(s as u32));
                    assert_consistent(&mem);
                }
                assert!(mem.chunks().all(|c| c.coarse && c.len() > 0));
                assert_eq!(mem.stats().evicted_chunks, 0);
                mem.render(&pose, &k, &mut view);
                // Nine 0.5 m cells seen from 1 m: most of the wall.
                assert!(mem.stats().cells < 16 && surface(&view) > n * 3 / 4);
            } else {
                assert!(after.evicted_chunks > 0 && after.coarsened_cells == 0);
                assert!(surface(&view) < surface(&full));
            }
            // A bound nothing fits in: coarsening cannot get there, so everything goes.
            mem.enforce_bound(0);
            assert_eq!((mem.stats().cells, mem.stats().chunks), (0, 0));
            assert_consistent(&mem);
        }
    }

    #[test]
    fn occlusion_culling_does_not_change_the_image() {
        // Walls one behind the other (some fully hidden, one seen through a gap), written from
        // several poses, then rendered from others, with and without culling.
        let k = Intrinsics::from_vfov_deg(64, 64, 70.0).unwrap();
        let n = k.pixels();
        let mut mem = SpatialMemory::new(MemoryConfig {
            render_splats_per_pixel: 3.0,
            ..MemoryConfig::default()
        })
        .unwrap();
        let mut tick = 0;
        // (The farthest wall is stored in coarse chunks.)
        for (z, shade) in [
            (70.0f32, 20u8),
            (12.0, 40),
            (8.0, 90),
            (5.0, 140),
            (2.5, 200),
        ] {
            for step in 0..3 {
                let pose = Pose::new(Vec3::new(step as f32 * 0.3, 0.0, 0.0), 0.0, 0.0);
                let rgb: Vec<u8> = (0..n)
                    .flat_map(|i| [shade, (i % 64 * 4) as u8, 60])
                    .collect();
                let depth: Vec<f32> = (0..n)
                    .map(|i| {
                        let gap = z < 3.0 && (20..30).contains(&(i % 64));
                        if gap {
                            f32::INFINITY
                        } else {
                            z + 0.01 * (i % 7) as f32
                        }
                    })
                    .collect();
                mem.write(&k, &rgb, &depth, &pose, tick).unwrap();
                tick += 1;
            }
        }
        assert!(mem.chunks().any(|c| c.coarse) && mem.chunks().any(|c| !c.coarse));
        let (mut culled, mut full) = (View::new(&k), View::new(&k));
        for (x, yaw) in [(0.0, 0.0), (0.4, 0.1), (-0.5, -0.2), (0.2, 0.35)] {
            let pose = Pose::new(Vec3::new(x, 0.1, -0.5), yaw, 0.02);
            mem.render_culled(&pose, &k, &mut culled, true);
            mem.render_culled(&pose, &k, &mut full, false);
            assert!(culled == full, "pose {pose:?}");
            assert_eq!(culled.ids, full.ids);
            assert!(culled.splats_drawn() < full.splats_drawn());
        }
    }

    #[test]
    fn the_first_cells_of_a_level_are_an_even_sample_of_it() {
        // One frame of a flat wall fills the finest level in scanline order; the first quarter
        // of the list must still cover the whole wall about evenly (a 4×4 grid of the image).
        let k = Intrinsics::from_vfov_deg(128, 128, 70.0).unwrap();
        let n = k.pixels();
        let rgb = vec![128u8; 3 * n];
        let mut mem = SpatialMemory::new(MemoryConfig::default()).unwrap();
        // 1 m in front of the middle of a chunk: the wall lies inside it.
        let pose = Pose::new(Vec3::splat(2.0), 0.0, 0.0);
        mem.write(&k, &rgb, &vec![1.0; n], &pose, 0).unwrap();
        let chunk = mem.chunks().max_by_key(|c| c.len()).unwrap();
        let list = chunk.cells.iter().max_by_key(|l| l.len()).unwrap();
        assert!(list.len() > 4000, "{} cells", list.len());
        let quarter = &list[..list.len() / 4];
        let cam = pose.camera_from_world();
        let origin = chunk.coord.as_vec3() * 4.0;
        let mut bins = [0usize; 16];
        for c in quarter {
            let p = origin
                + Vec3::new(c.pos[0] as f32, c.pos[1] as f32, c.pos[2] as f32) * (4.0 / POS_STEPS);
            let q = cam.transform_point3(p);
            let (u, v) = (k.fx * q.x / q.z + k.cx, k.fy * q.y / q.z + k.cy);
            let (bx, by) = ((u / 32.0) as usize, (v / 32.0) as usize);
            if bx < 4 && by < 4 {
                bins[by * 4 + bx] += 1;
            }
        }
        let mean = bins.iter().sum::<usize>() as f64 / 16.0;
        for (i, &b) in bins.iter().enumerate() {
            let share = b as f64 / mean;
            assert!(
                (0.7..1.3).contains(&share),
                "bin {i}: {b} vs mean {mean:.0} ({bins:?})"
            );
        }
    }

    #[test]
    fn far_surfaces_share_one_coarse_chunk_per_region_and_look_the_same() {
        // A slanted wall 40–90 m ahead (cells of level 6 and 7), written from a few poses into
        // a memory with coarse chunks and one without.
        let k = Intrinsics::from_vfov_deg(128, 96, 70.0).unwrap();
        let n = k.pixels();
        let rgb: Vec<u8> = (0..n)
            .flat_map(|i| [(i % 128 * 2) as u8, (i / 128 * 2) as u8, 90])
            .collect();
        let depth: Vec<f32> = (0..n)
            .map(|i| 40.0 + 50.0 * (i % 128) as f32 / 128.0)
            .collect();
        let mut coarse = SpatialMemory::new(MemoryConfig::default()).unwrap();
        let mut fine = SpatialMemory::new(MemoryConfig {
            coarse_level: 0,
            ..MemoryConfig::default()
        })
        .unwrap();
        for (tick, x) in [0.0f32, 0.5, 1.0].into_iter().enumerate() {
            let pose = Pose::new(Vec3::new(x, 0.0, 0.0), 0.0, 0.0);
            coarse.write(&k, &rgb, &depth, &pose, tick as u64).unwrap();
            fine.write(&k, &rgb, &depth, &pose, tick as u64).unwrap();
        }
        assert!(
            coarse
                .chunks()
                .all(|c| c.coarse && c.cells[..6].iter().all(Vec::is_empty))
        );
        assert!(fine.chunks().all(|c| !c.coarse));
        let (nc, nf) = (coarse.stats().chunks, fine.stats().chunks);
        assert!(
            nc <= 16 && nf > 20 * nc,
            "{nc} coarse chunks, {nf} chunks without"
        );
        // Seen again from nearby, both show the wall alike; the coarse memory survives a save
        // and load unchanged.
        let (mut a, mut b) = (View::new(&k), View::new(&k));
        for (x, yaw) in [(0.2, 0.0), (0.8, 0.05), (-0.5, -0.08)] {
            let pose = Pose::new(Vec3::new(x, 0.1, 0.5), yaw, 0.0);
            coarse.render(&pose, &k, &mut a);
            fine.render(&pose, &k, &mut b);
            let both: Vec<usize> = (0..n).filter(|&i| a.covered(i) && b.covered(i)).collect();
            assert!(
                both.len() as f64 > 0.8 * n as f64,
                "{} of {n} covered",
                both.len()
            );
            let err = both
                .iter()
                .flat_map(|&i| (0..3).map(move |c| 3 * i + c))
                .map(|j| (a.rgb[j] as f64 - b.rgb[j] as f64).powi(2))
                .sum::<f64>()
                / (3 * both.len()) as f64;
            let psnr = 10.0 * (255.0f64 * 255.0 / err.max(1e-9)).log10();
            assert!(
                psnr > 30.0,
                "pose {pose:?}: {psnr:.1} dB between the two memories"
            );
            let depth_gap = both
                .iter()
                .map(|&i| (a.depth_m[i] - b.depth_m[i]).abs() / b.depth_m[i])
                .sum::<f32>()
                / both.len() as f32;
            assert!(
                depth_gap < 0.01,
                "mean relative depth difference {depth_gap}"
            );
        }
        let loaded = SpatialMemory::from_bytes(&coarse.to_bytes()).unwrap();
        let pose = Pose::new(Vec3::new(0.3, 0.0, 0.2), 0.02, 0.0);
        coarse.render(&pose, &k, &mut a);
        loaded.render(&pose, &k, &mut b);
        assert!(a == b);
    }
}
