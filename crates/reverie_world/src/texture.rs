//! Procedural block textures: 16×16 texels per face group (top, side, bottom), with mipmaps.

use crate::block::{BLOCK_KINDS, Block, Pattern};
use crate::noise::{hash3, unit};
use crate::spec::WorldSpec;

/// Texels per side at mip level 0.
pub const TEX: usize = 16;
/// Mip levels: 16, 8, 4, 2, 1 texels.
pub const MIPS: usize = 5;
const MIP_OFFSET: [usize; MIPS] = [0, 256, 320, 336, 340];
const PER_FACE: usize = 341;

/// Face groups of a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaceGroup {
    /// +y.
    Top = 0,
    /// ±x, ±z.
    Side = 1,
    /// -y.
    Bottom = 2,
}

/// Every block's textures, as linear-ish RGB in 0..1.
#[derive(Clone, Debug)]
pub struct Textures {
    texels: Vec<[f32; 3]>,
}

impl Textures {
    /// Builds every block's textures with the spec's palette.
    pub fn new(spec: &WorldSpec) -> Textures {
        let mut texels = vec![[0.0; 3]; BLOCK_KINDS * 3 * PER_FACE];
        for block in Block::ALL.iter().copied().skip(1) {
            let m = spec.material(block);
            for (g, base, pattern) in [
                (0usize, m.top, m.top_pattern),
                (1, m.side, m.side_pattern),
                (2, m.bottom, m.side_pattern),
            ] {
                let pattern = if g == 2 && pattern == Pattern::Fringe {
                    Pattern::Blotchy
                } else {
                    pattern
                };
                let off = (block as usize * 3 + g) * PER_FACE;
                let seed = (block as u64) << 8 | g as u64;
                for y in 0..TEX {
                    for x in 0..TEX {
                        texels[off + y * TEX + x] = texel(
                            pattern,
                            base.to_f32(),
                            m.top.to_f32(),
                            g == 0,
                            seed,
                            x as i32,
                            y as i32,
                        );
                    }
                }
                // Box-filtered mips.
                for level in 1..MIPS {
                    let (s, ps) = (TEX >> level, TEX >> (level - 1));
                    for y in 0..s {
                        for x in 0..s {
                            let mut acc = [0.0; 3];
                            for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                                let p = texels
                                    [off + MIP_OFFSET[level - 1] + (2 * y + dy) * ps + 2 * x + dx];
                                for c in 0..3 {
                                    acc[c] += 0.25 * p[c];
                                }
                            }
                            texels[off + MIP_OFFSET[level] + y * s + x] = acc;
                        }
                    }
                }
            }
        }
        Textures { texels }
    }

    /// The texel of `block`'s `group` at mip `level` for face coordinates (u, v) in [0, 1).
    #[inline]
    pub fn sample(&self, block: u8, group: FaceGroup, level: usize, u: f32, v: f32) -> [f32; 3] {
        let level = level.min(MIPS - 1);
        let s = TEX >> level;
        let x = ((u * s as f32) as usize).min(s - 1);
        let y = ((v * s as f32) as usize).min(s - 1);
        let i = (block as usize * 3 + group as usize) * PER_FACE + MIP_OFFSET[level] + y * s + x;
        self.texels.get(i).copied().unwrap_or([1.0, 0.0, 1.0])
    }
}

fn scale(c: [f32; 3], k: f32) -> [f32; 3] {
    c.map(|v| (v * k).clamp(0.0, 1.0))
}

fn mix(a: [f32; 3], b: [f32; 3], t: f32) -> [f32; 3] {
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

fn texel(
    pattern: Pattern,
    c: [f32; 3],
    top: [f32; 3],
    is_top: bool,
    seed: u64,
    x: i32,
    y: i32,
) -> [f32; 3] {
    let r = |sx: i32, sy: i32, k: i32| unit(hash3(seed, sx, sy, k));
    let grain = 1.0 + 0.16 * (r(x, y, 0) - 0.5);
    match pattern {
        Pattern::Grain => scale(c, grain),
        Pattern::Blotchy => {
            let blotch = 0.5 * (r(x / 4, y / 4, 1) + r((x + 2) / 4, (y + 2) / 4, 2));
            scale(c, grain * (0.86 + 0.22 * blotch))
        }
        Pattern::Fringe => {
            let edge = 2 + (r(x, 0, 3) * 4.0) as i32;
            if y < edge {
                scale(top, grain * 0.95)
            } else {
                scale(c, grain * (0.9 + 0.15 * r(x / 3, y / 3, 4)))
            }
        }
        Pattern::Bark => {
            let streak = r(x, 0, 5);
            let dark = if streak < 0.25 {
                0.72
            } else {
                0.92 + 0.12 * streak
            };
            scale(c, dark * (1.0 + 0.08 * (r(x, y / 3, 6) - 0.5)))
        }
        Pattern::Rings => {
            let (dx, dy) = (x as f32 - 7.5, y as f32 - 7.5);
            let d = (dx * dx + dy * dy).sqrt();
            if d > 6.6 {
                scale(c, 0.6 * grain)
            } else {
                scale(c, grain * if (d as i32) % 3 == 0 { 0.82 } else { 1.0 })
            }
        }
        Pattern::Speckle => {
            let v = r(x, y, 7);
            // Tops mix in the top colour (snow on pine needles); sides only a few flecks of it.
            let share = if is_top { 0.55 } else { 0.1 };
            let base = if top != c && v < share { top } else { c };
            if v > 0.88 {
                scale(base, 0.55)
            } else {
                scale(base, 0.8 + 0.35 * r(x, y, 8))
            }
        }
        Pattern::Bricks => {
            let row = y / 4;
            let bx = (x + if row % 2 == 1 { 4 } else { 0 }) % 8;
            if y % 4 == 3 || bx == 7 {
                scale(c, 1.22)
            } else {
                scale(c, grain * (0.88 + 0.2 * r((x + 4 * (row % 2)) / 8, row, 9)))
            }
        }
        Pattern::Boards => {
            let row = y / 4;
            if y % 4 == 3 {
                scale(c, 0.7)
            } else {
                let tone = 0.9 + 0.18 * r(row, 0, 10);
                scale(
                    c,
                    tone * (1.0 + 0.1 * (r(x / 2, y, 11) - 0.5))
                        * if (x + 5 * row) % 16 == 0 { 0.8 } else { 1.0 },
                )
            }
        }
        Pattern::Cobbles => {
            let (mut d1, mut d2, mut id) = (f32::MAX, f32::MAX, 0);
            for k in 0..7 {
                let (px, py) = (r(k, 0, 12) * 16.0, r(k, 1, 12) * 16.0);
                for (ox, oy) in [
                    (0.0, 0.0),
                    (16.0, 0.0),
                    (-16.0, 0.0),
                    (0.0, 16.0),
                    (0.0, -16.0),
                ] {
                    let (dx, dy) = (x as f32 + 0.5 - px - ox, y as f32 + 0.5 - py - oy);
                    let d = (dx * dx + dy * dy).sqrt();
                    if d < d1 {
                        d2 = d1;
                        d1 = d;
                        id = k;
                    } else if d < d2 {
                        d2 = d;
                    }
                }
            }
            if d2 - d1 < 1.1 {
                scale(c, 0.62)
            } else {
                scale(c, grain * (0.85 + 0.3 * r(id, 2, 13)))
            }
        }
        Pattern::Pane => {
            if x == 0 || y == 0 || x == 15 || y == 15 {
                [0.42, 0.34, 0.26]
            } else if (x + y) % 11 < 2 && x > 2 && y > 2 {
                mix(c, [1.0; 3], 0.6)
            } else {
                scale(c, 0.92 + 0.08 * (y as f32 / 16.0))
            }
        }
        Pattern::Ripples => {
            let w = ((x as f32) * 0.8 + (y as f32 * 0.45).sin() * 2.2).sin();
            scale(c, 0.93 + 0.07 * w + 0.04 * (r(x, y, 14) - 0.5))
        }
        Pattern::Bands => scale(c, grain * if (y / 3) % 2 == 0 { 1.0 } else { 0.9 }),
        Pattern::Ribs => {
            if x % 4 == 0 {
                scale(c, 0.72)
            } else if x % 4 == 2 && y % 5 == 1 {
                mix(c, [0.95, 0.92, 0.7], 0.7)
            } else {
                scale(c, grain)
            }
        }
        Pattern::Tiles => {
            let row = y / 4;
            let bx = (x + if row % 2 == 1 { 2 } else { 0 }) % 4;
            if y % 4 == 3 || bx == 3 {
                scale(c, 0.7)
            } else {
                scale(c, grain * (0.92 + 0.16 * r(x / 4, row, 15)))
            }
        }
        Pattern::Glow => {
            let edge = x.min(y).min(15 - x).min(15 - y);
            if edge < 2 {
                [0.22, 0.18, 0.14]
            } else {
                let (dx, dy) = (x as f32 - 7.5, y as f32 - 7.5);
                scale(c, 1.15 - 0.03 * (dx * dx + dy * dy).sqrt())
            }
        }
        Pattern::Books => {
            if !(2..=13).contains(&y) || y == 7 || y == 8 {
                scale(top, grain * 0.9)
            } else {
                const COVERS: [[f32; 3]; 5] = [
                    [0.55, 0.16, 0.14],
                    [0.18, 0.26, 0.52],
                    [0.2, 0.42, 0.2],
                    [0.5, 0.36, 0.2],
                    [0.62, 0.55, 0.38],
                ];
                let book = COVERS[(r(x, y / 8, 16) * 5.0) as usize % 5];
                scale(book, 0.9 + 0.15 * r(x, y, 17))
            }
        }
        Pattern::Rows => {
            if x % 4 < 2 {
                scale(c, grain * (0.9 + 0.25 * r(x, y / 2, 18)))
            } else {
                scale([0.42, 0.3, 0.2], grain)
            }
        }
    }
}
