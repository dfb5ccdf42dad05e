//! Terrain generation: deterministic from the seed, lazily, one 16×16×64 chunk at a time.
//!
//! Each generator kind is a column function (ground height, surface, water; pure in `(x, z)`) plus
//! features (trees, boulders, houses, wells...) placed on a jittered grid of cells. A chunk stamps
//! every feature whose cell can reach it, so features cross chunk borders seamlessly and any chunk
//! can be generated alone, in any order, with the same result.

use crate::block::Block;
use crate::noise::{fbm, hash2, unit};
use crate::spec::{GeneratorKind, GeneratorSpec};
use reverie_core::seed::mix64;

/// Side of a chunk in blocks.
pub const CHUNK: i32 = 16;
/// World height in blocks (y in 0..HEIGHT).
pub const HEIGHT: i32 = 64;
/// Blocks in one chunk.
pub const CHUNK_VOLUME: usize = (CHUNK * CHUNK * HEIGHT) as usize;

/// Side of a village plot (a road of [`ROAD`] blocks runs along two of its edges).
const PLOT: i32 = 24;
const ROAD: i32 = 3;

/// A chunk's blocks, indexed `((lz * 16 + lx) * 64 + y)`.
#[derive(Clone, Debug)]
pub struct ChunkBlocks {
    /// Chunk coordinates (blocks / 16).
    pub cx: i32,
    /// Chunk coordinates (blocks / 16).
    pub cz: i32,
    /// Block ids.
    pub data: Vec<u8>,
}

impl ChunkBlocks {
    fn empty(cx: i32, cz: i32) -> ChunkBlocks {
        ChunkBlocks {
            cx,
            cz,
            data: vec![0; CHUNK_VOLUME],
        }
    }

    /// Index of local block (lx, y, lz).
    #[inline]
    pub fn index(lx: i32, y: i32, lz: i32) -> usize {
        (((lz * CHUNK + lx) * HEIGHT) + y) as usize
    }

    /// The block at world (x, y, z), if inside this chunk.
    pub fn get(&self, x: i32, y: i32, z: i32) -> Option<Block> {
        let (lx, lz) = (x - self.cx * CHUNK, z - self.cz * CHUNK);
        if !(0..CHUNK).contains(&lx) || !(0..CHUNK).contains(&lz) || !(0..HEIGHT).contains(&y) {
            return None;
        }
        Block::from_id(self.data[ChunkBlocks::index(lx, y, lz)])
    }

    #[inline]
    fn put(&mut self, x: i32, y: i32, z: i32, b: Block, only_air: bool) {
        let (lx, lz) = (x - self.cx * CHUNK, z - self.cz * CHUNK);
        if (0..CHUNK).contains(&lx) && (0..CHUNK).contains(&lz) && (0..HEIGHT).contains(&y) {
            let i = ChunkBlocks::index(lx, y, lz);
            if !only_air || self.data[i] == 0 {
                self.data[i] = b.id();
            }
        }
    }

    fn set(&mut self, x: i32, y: i32, z: i32, b: Block) {
        self.put(x, y, z, b, false);
    }

    fn set_if_air(&mut self, x: i32, y: i32, z: i32, b: Block) {
        self.put(x, y, z, b, true);
    }

    /// Fills the box [x0, x1] × [y0, y1] × [z0, z1] (inclusive).
    fn fill(&mut self, (x0, y0, z0): (i32, i32, i32), (x1, y1, z1): (i32, i32, i32), b: Block) {
        let (lx0, lx1) = (
            (x0 - self.cx * CHUNK).max(0),
            (x1 - self.cx * CHUNK).min(CHUNK - 1),
        );
        let (lz0, lz1) = (
            (z0 - self.cz * CHUNK).max(0),
            (z1 - self.cz * CHUNK).min(CHUNK - 1),
        );
        for lz in lz0..=lz1 {
            for lx in lx0..=lx1 {
                for y in y0.max(0)..=y1.min(HEIGHT - 1) {
                    self.data[ChunkBlocks::index(lx, y, lz)] = b.id();
                }
            }
        }
    }
}

/// One column of terrain before features.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Column {
    /// Number of solid ground blocks: the surface block is at `ground - 1`.
    pub ground: i32,
    /// The top ground block.
    pub surface: Block,
    /// The few blocks under the surface.
    pub subsoil: Block,
    /// Water (or ice) fills `ground..water_top`.
    pub water_top: i32,
    /// Whether the top of the water is frozen.
    pub frozen: bool,
    /// Canyon strata offset (0 elsewhere).
    pub strata: i32,
    /// Whether this column is on a village road (or a mesa top in the canyon).
    pub marked: bool,
}

impl Column {
    /// The block at height `y` of this column, before features.
    pub fn block_at(&self, y: i32, kind: GeneratorKind) -> Block {
        if y < self.ground {
            if y == self.ground - 1 {
                return self.surface;
            }
            if kind == GeneratorKind::Canyon && y >= self.ground - 24 {
                return strata_block(y + self.strata);
            }
            if y >= self.ground - 4 {
                return self.subsoil;
            }
            return Block::Stone;
        }
        if y < self.water_top {
            return if self.frozen && y == self.water_top - 1 {
                Block::Ice
            } else {
                Block::Water
            };
        }
        Block::Air
    }

    /// Height of the top of the water or ground: the lowest y a walker can stand at.
    pub fn top(&self) -> i32 {
        self.ground.max(self.water_top)
    }
}

fn strata_block(y: i32) -> Block {
    const BANDS: [Block; 8] = [
        Block::Terracotta,
        Block::TerracottaLight,
        Block::Terracotta,
        Block::Sandstone,
        Block::TerracottaDark,
        Block::Terracotta,
        Block::TerracottaLight,
        Block::RedSand,
    ];
    BANDS[(y.rem_euclid(16) / 2) as usize]
}

/// The terrain generator of one world.
#[derive(Clone, Debug)]
pub struct Generator {
    spec: GeneratorSpec,
    seeds: [u64; 8],
}

impl Generator {
    /// A generator for a validated spec.
    pub fn new(spec: &GeneratorSpec) -> Generator {
        let mut seeds = [0; 8];
        for (i, s) in seeds.iter_mut().enumerate() {
            *s = mix64(spec.seed ^ (i as u64 + 1).wrapping_mul(0xA076_1D64_78BD_642F));
        }
        Generator {
            spec: spec.clone(),
            seeds,
        }
    }

    /// The spec this generator follows.
    pub fn spec(&self) -> &GeneratorSpec {
        &self.spec
    }

    fn out_of_bounds(&self, x: i32, z: i32) -> bool {
        let half = (self.spec.size / 2) as i32;
        self.spec.size != 0 && (x < -half || x >= half || z < -half || z >= half)
    }

    /// The column at (x, z), before features.
    pub fn column(&self, x: i32, z: i32) -> Column {
        let g = &self.spec;
        let (xf, zf) = (x as f32, z as f32);
        let s = &self.seeds;
        let mut c = Column {
            ground: g.base_height,
            surface: Block::Grass,
            subsoil: Block::Dirt,
            water_top: 0,
            frozen: false,
            strata: 0,
            marked: false,
        };
        if self.out_of_bounds(x, z) {
            c.ground = HEIGHT - 4;
            c.surface = Block::Stone;
            c.subsoil = Block::Stone;
            return c;
        }
        let hill = g.hill_height as f32;
        match g.kind {
            GeneratorKind::Flat => {}
            GeneratorKind::Meadow => {
                let mut h = g.base_height as f32
                    + hill * fbm(s[0], xf, zf, g.hill_scale, 4)
                    + 1.5 * fbm(s[1], xf, zf, 14.0, 2);
                let pond = fbm(s[2], xf, zf, 44.0, 3);
                if pond > 0.28 {
                    h = h.min(g.base_height as f32) - (pond - 0.28) * 45.0;
                }
                c.ground = (h.round() as i32)
                    .clamp(g.water_level - 4, HEIGHT - 16)
                    .max(1);
                if c.ground <= g.water_level {
                    c.water_top = g.water_level;
                    c.surface = if c.ground >= g.water_level - 1 {
                        Block::Sand
                    } else {
                        Block::Dirt
                    };
                    c.subsoil = Block::Sand;
                } else if c.ground <= g.water_level + 1 {
                    c.surface = Block::Sand;
                    c.subsoil = Block::Sand;
                }
            }
            GeneratorKind::Canyon => {
                let h = g.base_height as f32 + 1.6 * fbm(s[1], xf, zf, 26.0, 2);
                let m = fbm(s[0], xf, zf, g.hill_scale * 1.4, 4);
                c.strata = (2.5 * fbm(s[3], xf, zf, 60.0, 2)).round() as i32;
                let step = (g.hill_height / 3).max(3);
                if m > 0.16 {
                    let level = (((m - 0.16) / 0.08) as i32).min(3) + 1;
                    c.ground = g.base_height + 2 + level * step;
                    c.surface = Block::RedSand;
                    c.subsoil = Block::Terracotta;
                    c.marked = true;
                } else {
                    c.ground = h.round() as i32;
                    let sand = fbm(s[2], xf, zf, 30.0, 2) > 0.1;
                    c.surface = if sand { Block::Sand } else { Block::RedSand };
                    c.subsoil = Block::Sandstone;
                }
                c.ground = c.ground.clamp(1, HEIGHT - 16);
                if c.ground <= g.water_level {
                    c.water_top = g.water_level;
                    c.surface = Block::Sand;
                }
            }
            GeneratorKind::Forest => {
                let mut h = g.base_height as f32
                    + hill * fbm(s[0], xf, zf, g.hill_scale, 4)
                    + 2.0 * fbm(s[1], xf, zf, 12.0, 2);
                let rock = fbm(s[2], xf, zf, 22.0, 2);
                c.surface = Block::Snow;
                if rock > 0.3 {
                    h += (rock - 0.3) * 14.0;
                    c.surface = Block::Stone;
                    c.subsoil = Block::Stone;
                }
                c.ground = (h.round() as i32).clamp(1, HEIGHT - 18);
                if c.ground <= g.water_level {
                    c.water_top = g.water_level;
                    c.frozen = true;
                    c.surface = Block::Gravel;
                }
            }
            GeneratorKind::Village => {
                let (px, pz) = (x.div_euclid(PLOT), z.div_euclid(PLOT));
                let (cx, cz) = (px * PLOT + PLOT / 2, pz * PLOT + PLOT / 2);
                let h = g.base_height as f32
                    + 0.3 * hill * fbm(s[0], cx as f32, cz as f32, g.hill_scale, 3);
                c.ground = (h.round() as i32).clamp(1, HEIGHT - 20);
                let (lx, lz) = (x - px * PLOT, z - pz * PLOT);
                if lx < ROAD || lz < ROAD {
                    c.surface = Block::Gravel;
                    c.marked = true;
                }
                if c.ground <= g.water_level {
                    c.water_top = g.water_level;
                    c.surface = Block::Sand;
                }
            }
        }
        c
    }

    /// Generates chunk (cx, cz): terrain, then every feature that reaches it.
    pub fn chunk(&self, cx: i32, cz: i32) -> ChunkBlocks {
        let mut out = ChunkBlocks::empty(cx, cz);
        let kind = self.spec.kind;
        for lz in 0..CHUNK {
            for lx in 0..CHUNK {
                let col = self.column(cx * CHUNK + lx, cz * CHUNK + lz);
                let base = ChunkBlocks::index(lx, 0, lz);
                for y in 0..col.top().min(HEIGHT) {
                    out.data[base + y as usize] = col.block_at(y, kind).id();
                }
            }
        }
        match kind {
            GeneratorKind::Flat => {}
            GeneratorKind::Meadow => {
                self.scatter(&mut out, 7, 3, 0.42, 4, |g, o, x, z, h| g.oak(o, x, z, h));
                self.scatter(&mut out, 23, 2, 0.30, 5, |g, o, x, z, h| {
                    g.boulder(o, x, z, h)
                });
            }
            GeneratorKind::Canyon => {
                self.scatter(&mut out, 9, 1, 0.30, 4, |g, o, x, z, h| {
                    g.cactus(o, x, z, h)
                });
                self.scatter(&mut out, 29, 2, 0.35, 5, |g, o, x, z, h| {
                    g.boulder(o, x, z, h)
                });
            }
            GeneratorKind::Forest => {
                self.scatter(&mut out, 5, 3, 0.55, 4, |g, o, x, z, h| g.pine(o, x, z, h));
                self.scatter(&mut out, 31, 2, 0.25, 5, |g, o, x, z, h| {
                    g.boulder(o, x, z, h)
                });
            }
            GeneratorKind::Village => self.village(&mut out),
        }
        out
    }

    /// Places features on a jittered grid of `cell`-sized cells (one candidate each, with
    /// probability `p × feature_density`) whose footprint (radius `reach`) can touch the chunk.
    fn scatter(
        &self,
        out: &mut ChunkBlocks,
        cell: i32,
        reach: i32,
        p: f32,
        stream: usize,
        place: impl Fn(&Generator, &mut ChunkBlocks, i32, i32, u64),
    ) {
        let (x0, z0) = (out.cx * CHUNK - reach, out.cz * CHUNK - reach);
        let (x1, z1) = (
            out.cx * CHUNK + CHUNK - 1 + reach,
            out.cz * CHUNK + CHUNK - 1 + reach,
        );
        let seed = self.seeds[stream];
        for gz in z0.div_euclid(cell)..=z1.div_euclid(cell) {
            for gx in x0.div_euclid(cell)..=x1.div_euclid(cell) {
                let h = hash2(seed, gx, gz);
                if unit(h) >= p * self.spec.feature_density {
                    continue;
                }
                let span = (cell - 2).max(1) as u64;
                let x = gx * cell + 1 + ((h >> 8) % span) as i32;
                let z = gz * cell + 1 + ((h >> 20) % span) as i32;
                if x < x0 || x > x1 || z < z0 || z > z1 || self.out_of_bounds(x, z) {
                    continue;
                }
                place(self, out, x, z, mix64(h));
            }
        }
    }

    fn oak(&self, o: &mut ChunkBlocks, x: i32, z: i32, h: u64) {
        let c = self.column(x, z);
        if c.surface != Block::Grass || c.water_top > c.ground {
            return;
        }
        let g = c.ground;
        let top = g + 4 + (h % 3) as i32;
        for dy in -2..=1 {
            let r: i32 = if dy >= 0 { 1 } else { 2 };
            for dz in -r..=r {
                for dx in -r..=r {
                    let corner = dx.abs() == r && dz.abs() == r;
                    if corner && (r == 1 || unit(hash2(h, dx, dz * 7 + dy)) < 0.6) {
                        continue;
                    }
                    o.set_if_air(x + dx, top + dy, z + dz, Block::Leaves);
                }
            }
        }
        o.fill((x, g, z), (x, top - 1, z), Block::Log);
    }

    fn pine(&self, o: &mut ChunkBlocks, x: i32, z: i32, h: u64) {
        let c = self.column(x, z);
        if c.surface != Block::Snow || c.water_top > c.ground {
            return;
        }
        let g = c.ground;
        let height = 6 + (h % 5) as i32;
        let top = g + height;
        o.set_if_air(x, top + 1, z, Block::PineLeaves);
        for y in (g + 2..=top).rev() {
            let depth = top - y;
            let r = ((depth + 1) / 2).min(3) - i32::from(depth % 2 == 1 && depth > 2);
            for dz in -r..=r {
                for dx in -r..=r {
                    if dx * dx + dz * dz <= r * r + 1 {
                        o.set_if_air(x + dx, y, z + dz, Block::PineLeaves);
                    }
                }
            }
        }
        o.fill((x, g, z), (x, top - 1, z), Block::PineLog);
    }

    fn cactus(&self, o: &mut ChunkBlocks, x: i32, z: i32, h: u64) {
        let c = self.column(x, z);
        if c.marked || !matches!(c.surface, Block::Sand | Block::RedSand) {
            return;
        }
        o.fill(
            (x, c.ground, z),
            (x, c.ground + 1 + (h % 3) as i32, z),
            Block::Cactus,
        );
    }

    fn boulder(&self, o: &mut ChunkBlocks, x: i32, z: i32, h: u64) {
        let c = self.column(x, z);
        if c.water_top > c.ground || c.marked {
            return;
        }
        let b = match self.spec.kind {
            GeneratorKind::Canyon => Block::Sandstone,
            _ if h & 1 == 0 => Block::Cobblestone,
            _ => Block::Stone,
        };
        let r = 1 + ((h >> 3) % 2) as i32;
        for dy in 0..=r {
            for dz in -r..=r {
                for dx in -r..=r {
                    if dx * dx + dz * dz + dy * dy * 2 <= r * r + 1 {
                        o.set(x + dx, c.ground - 1 + dy, z + dz, b);
                    }
                }
            }
        }
    }

    /// Village plots: a road along two edges, then a house, a field, a well or a tree; a lamp post
    /// at every crossroads.
    fn village(&self, o: &mut ChunkBlocks) {
        let (x0, z0) = (o.cx * CHUNK, o.cz * CHUNK);
        for pz in (z0 - 1).div_euclid(PLOT)..=(z0 + CHUNK).div_euclid(PLOT) {
            for px in (x0 - 1).div_euclid(PLOT)..=(x0 + CHUNK).div_euclid(PLOT) {
                let (bx, bz) = (px * PLOT, pz * PLOT);
                if self.out_of_bounds(bx, bz) || self.out_of_bounds(bx + PLOT - 1, bz + PLOT - 1) {
                    continue;
                }
                let c = self.column(bx + PLOT / 2, bz + PLOT / 2);
                if c.water_top > c.ground {
                    continue;
                }
                let g = c.ground;
                let h = hash2(self.seeds[6], px, pz);
                // Lamp post at the crossroads.
                o.fill((bx + 1, g, bz + 1), (bx + 1, g + 2, bz + 1), Block::Log);
                o.set(bx + 1, g + 3, bz + 1, Block::Lantern);
                let r = unit(h);
                let d = self.spec.feature_density;
                if r < 0.6 * d.min(1.6) {
                    self.house(o, bx, bz, g, mix64(h));
                } else if r < 0.6 * d.min(1.6) + 0.18 {
                    // Field of crops in rows.
                    for z in bz + 5..bz + PLOT - 2 {
                        for x in bx + 5..bx + PLOT - 2 {
                            if (x - bx) % 3 == 0 {
                                o.set(x, g - 1, z, Block::Water);
                            } else {
                                o.set(x, g - 1, z, Block::Dirt);
                                o.set(x, g, z, Block::Crops);
                            }
                        }
                    }
                } else if r < 0.6 * d.min(1.6) + 0.3 {
                    self.well(o, bx + PLOT / 2, bz + PLOT / 2, g);
                } else {
                    self.oak(
                        o,
                        bx + 8 + ((h >> 30) % 8) as i32,
                        bz + 8 + ((h >> 40) % 8) as i32,
                        h,
                    );
                }
            }
        }
    }

    fn well(&self, o: &mut ChunkBlocks, x: i32, z: i32, g: i32) {
        o.fill((x - 1, g - 2, z - 1), (x + 1, g, z + 1), Block::Cobblestone);
        o.fill((x, g - 2, z), (x, g - 1, z), Block::Water);
        o.set(x, g, z, Block::Air);
        for (dx, dz) in [(-1, -1), (1, -1), (-1, 1), (1, 1)] {
            o.fill((x + dx, g + 1, z + dz), (x + dx, g + 2, z + dz), Block::Log);
        }
        o.fill((x - 1, g + 3, z - 1), (x + 1, g + 3, z + 1), Block::Planks);
    }

    /// A house with a door facing a road, windows, a stepped gable roof and furnished inside.
    fn house(&self, o: &mut ChunkBlocks, bx: i32, bz: i32, g: i32, h: u64) {
        let w = 7 + (h % 5) as i32; // along x
        let d = 7 + ((h >> 4) % 4) as i32; // along z
        let x0 = bx + ROAD + 2 + ((h >> 8) % (PLOT - ROAD - 4 - w) as u64) as i32;
        let z0 = bz + ROAD + 2 + ((h >> 16) % (PLOT - ROAD - 4 - d) as u64) as i32;
        let (x1, z1) = (x0 + w - 1, z0 + d - 1);
        let wall =
            [Block::StoneBrick, Block::Cobblestone, Block::Plaster][((h >> 24) % 3) as usize];
        let top = g + 3; // walls span g..=top
        // Foundation and floor.
        o.fill((x0, g - 3, z0), (x1, g - 2, z1), Block::Cobblestone);
        o.fill((x0, g - 1, z0), (x1, g - 1, z1), Block::Planks);
        // Walls, with log corners.
        o.fill((x0, g, z0), (x1, top, z1), wall);
        o.fill((x0 + 1, g, z0 + 1), (x1 - 1, top, z1 - 1), Block::Air);
        for (cx, cz) in [(x0, z0), (x1, z0), (x0, z1), (x1, z1)] {
            o.fill((cx, g, cz), (cx, top, cz), Block::Log);
        }
        // Windows every third block along each wall.
        for x in x0 + 2..x1 - 1 {
            if (x - x0) % 3 == 2 {
                o.fill((x, g + 1, z0), (x, g + 2, z0), Block::Glass);
                o.fill((x, g + 1, z1), (x, g + 2, z1), Block::Glass);
            }
        }
        for z in z0 + 2..z1 - 1 {
            if (z - z0) % 3 == 2 {
                o.fill((x0, g + 1, z), (x0, g + 2, z), Block::Glass);
                o.fill((x1, g + 1, z), (x1, g + 2, z), Block::Glass);
            }
        }
        // A door (1 × 2) in the middle of one wall, and a gravel step outside it.
        let (dx, dz, sx, sz) = match (h >> 28) % 4 {
            0 => ((x0 + x1) / 2, z0, 0, -1),
            1 => ((x0 + x1) / 2, z1, 0, 1),
            2 => (x0, (z0 + z1) / 2, -1, 0),
            _ => (x1, (z0 + z1) / 2, 1, 0),
        };
        o.fill((dx, g, dz), (dx, g + 1, dz), Block::Air);
        o.fill((dx + sx, g, dz + sz), (dx + sx, g + 2, dz + sz), Block::Air);
        o.set(dx + sx, g - 1, dz + sz, Block::Gravel);
        // Stepped gable roof along the longer side, overhanging by one block.
        let along_x = w >= d;
        let half = if along_x { (d + 2) / 2 } else { (w + 2) / 2 };
        for k in 0..=half {
            let y = top + 1 + k;
            let (ax0, ax1, az0, az1) = if along_x {
                (x0 - 1, x1 + 1, z0 - 1 + k, z1 + 1 - k)
            } else {
                (x0 - 1 + k, x1 + 1 - k, z0 - 1, z1 + 1)
            };
            if ax0 > ax1 || az0 > az1 {
                break;
            }
            o.fill((ax0, y, az0), (ax1, y, az1), Block::Roof);
        }
        // Furniture: a lantern, a bookshelf along the back, a table.
        o.set(x0 + 1, g, z0 + 1, Block::Lantern);
        o.set(x1 - 1, g, z1 - 1, Block::Lantern);
        let (bsx, bsz) = if dz == z0 {
            (x0 + 2, z1 - 1)
        } else {
            (x0 + 2, z0 + 1)
        };
        if dx != x0 && dx != x1 {
            o.fill((bsx, g, bsz), (bsx + 1, g + 1, bsz), Block::Bookshelf);
        }
        o.set(
            (x0 + x1) / 2,
            g,
            (z0 + z1) / 2 + i32::from(dz == z1) - i32::from(dz == z0),
            Block::Planks,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::GeneratorSpec;

    fn spec(kind: GeneratorKind) -> GeneratorSpec {
        GeneratorSpec {
            kind,
            seed: 9,
            base_height: 24,
            hill_height: 8,
            hill_scale: 64.0,
            water_level: 21,
            feature_density: 1.0,
            size: 0,
        }
    }

    #[test]
    fn chunks_are_deterministic_and_order_free() {
        for kind in [
            GeneratorKind::Meadow,
            GeneratorKind::Canyon,
            GeneratorKind::Forest,
            GeneratorKind::Village,
        ] {
            let g = Generator::new(&spec(kind));
            let a = g.chunk(3, -2);
            let _ = g.chunk(-7, 11);
            let b = Generator::new(&spec(kind)).chunk(3, -2);
            assert_eq!(a.data, b.data, "{kind:?}");
            assert!(a.data.iter().any(|&b| b != 0));
        }
    }

    #[test]
    fn village_has_houses_with_air_inside() {
        let g = Generator::new(&spec(GeneratorKind::Village));
        let mut roofs = 0;
        for cz in -4..4 {
            for cx in -4..4 {
                roofs += g
                    .chunk(cx, cz)
                    .data
                    .iter()
                    .filter(|&&b| b == Block::Roof.id())
                    .count();
            }
        }
        assert!(roofs > 500, "expected houses, found {roofs} roof blocks");
    }
}
