//! The CPU ray caster: RGB + planar metric depth for any pose, resolution and field of view.
//!
//! Rays walk the resident window with a two-level 2D DDA over columns (Amanatides & Woo, "A Fast
//! Voxel Traversal Algorithm", 1987): 4×4-column cells whose tallest column is below the ray are
//! skipped whole; inside a column only the few blocks the ray crosses are read. Shading: procedural
//! mipmapped textures, per-face sun light with shadow rays, smooth per-vertex ambient occlusion,
//! a sky gradient with sun and clouds, water with a Fresnel sky reflection, and distance fog.

use std::ops::Range;

use glam::Vec3;
use rayon::prelude::*;
use reverie_core::{Frame, Intrinsics, Pose};

use crate::block::{BLOCK_KINDS, Block};
use crate::spec::{MAX_VIEW_DISTANCE, WorldSpec};
use crate::terrain::HEIGHT;
use crate::texture::{FaceGroup, Textures};
use crate::world::{BLOCKS_LEN, COARSE, World, chunk_slot, coarse_index, col_index, index};

/// Height of the cloud layer, in blocks.
const CLOUD_HEIGHT: f32 = 110.0;
/// Cloud texture side (texels) and blocks per texel.
const CLOUD_TEX: usize = 128;
const CLOUD_SCALE: f32 = 3.0;
/// Longest shadow ray, in blocks.
const SHADOW_DISTANCE: f32 = 48.0;
const COARSE_SHIFT: i32 = 2;
const CHUNK_SHIFT: i32 = 4;
const _: () = assert!(1 << COARSE_SHIFT == COARSE);

/// Which face of a block a ray hit (its outward normal).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Face {
    /// Normal +x.
    PosX,
    /// Normal -x.
    NegX,
    /// Normal +y (a top).
    PosY,
    /// Normal -y (an underside).
    NegY,
    /// Normal +z.
    PosZ,
    /// Normal -z.
    NegZ,
}

impl Face {
    /// The outward unit normal.
    pub fn normal(self) -> Vec3 {
        match self {
            Face::PosX => Vec3::X,
            Face::NegX => Vec3::NEG_X,
            Face::PosY => Vec3::Y,
            Face::NegY => Vec3::NEG_Y,
            Face::PosZ => Vec3::Z,
            Face::NegZ => Vec3::NEG_Z,
        }
    }
}

/// What a ray hit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hit {
    /// Distance along the (unit) ray.
    pub t: f32,
    /// Block id.
    pub block: u8,
    /// The face hit.
    pub face: Face,
    /// The block's coordinates.
    pub voxel: [i32; 3],
}

/// A ray caster configured for one world spec (textures, sky, sun, fog).
#[derive(Clone, Debug)]
pub struct Renderer {
    textures: Textures,
    emissive: [bool; BLOCK_KINDS],
    zenith: Vec3,
    horizon: Vec3,
    fog: Vec3,
    fog_start: f32,
    fog_end: f32,
    sun_dir: Vec3,
    sun: Vec3,
    sun_glow: Vec3,
    ambient: Vec3,
    shadows: bool,
    cloud_cover: f32,
    clouds: Vec<f32>,
    supersample: u32,
}

/// Rays per pixel edge by default: 2×2 rays per pixel, box-filtered (antialiased edges and
/// textures, so the same surface looks the same from nearby viewpoints).
pub const DEFAULT_SUPERSAMPLE: u32 = 2;

/// Most rays per pixel edge accepted by [`Renderer::with_supersample`].
pub const MAX_SUPERSAMPLE: u32 = 4;

impl Renderer {
    /// A renderer for `spec`.
    pub fn new(spec: &WorldSpec) -> Renderer {
        let v = |c: crate::spec::Rgb| Vec3::from_array(c.to_f32());
        let mut emissive = [false; BLOCK_KINDS];
        for b in Block::ALL {
            emissive[b as usize] = b.material().emissive;
        }
        let zenith = v(spec.sky.zenith);
        let seed = spec.generator.seed ^ 0xC10D;
        let mut clouds = vec![0.0; CLOUD_TEX * CLOUD_TEX];
        for (i, c) in clouds.iter_mut().enumerate() {
            let (x, z) = ((i % CLOUD_TEX) as f32, (i / CLOUD_TEX) as f32);
            // Tileable: blend the noise with its own wrapped copies.
            let n = |x: f32, z: f32| crate::noise::fbm(seed, x, z, 18.0, 4);
            let (wx, wz) = (x / CLOUD_TEX as f32, z / CLOUD_TEX as f32);
            let s = CLOUD_TEX as f32;
            *c = n(x, z) * (1.0 - wx) * (1.0 - wz)
                + n(x - s, z) * wx * (1.0 - wz)
                + n(x, z - s) * (1.0 - wx) * wz
                + n(x - s, z - s) * wx * wz;
        }
        Renderer {
            textures: Textures::new(spec),
            emissive,
            zenith,
            horizon: v(spec.sky.horizon),
            fog: v(spec.fog_color()),
            fog_start: spec.fog.start,
            fog_end: spec.fog.end.min(MAX_VIEW_DISTANCE),
            sun_dir: spec.sun_direction(),
            sun: v(spec.sun.color) * spec.sun.strength,
            sun_glow: v(spec.sun.color).normalize_or_zero() * 1.4,
            ambient: (zenith * 0.35 + Vec3::splat(0.65)) * spec.sun.ambient * 1.25,
            shadows: spec.sun.shadows,
            cloud_cover: spec.sky.clouds,
            clouds,
            supersample: DEFAULT_SUPERSAMPLE,
        }
    }

    /// The same renderer with `n`×`n` rays per pixel (clamped to 1..=[`MAX_SUPERSAMPLE`]):
    /// colours are averaged, depth is the nearest sample's.
    pub fn with_supersample(mut self, n: u32) -> Renderer {
        self.supersample = n.clamp(1, MAX_SUPERSAMPLE);
        self
    }

    /// Rays per pixel edge.
    pub fn supersample(&self) -> u32 {
        self.supersample
    }

    /// Renders a new frame (loads the chunks around the camera first).
    pub fn render_frame(
        &self,
        world: &mut World,
        pose: &Pose,
        intrinsics: &Intrinsics,
        tick: u64,
    ) -> Frame {
        let mut frame = Frame::new(intrinsics.width, intrinsics.height, *pose, tick);
        self.render_into(world, intrinsics, &mut frame);
        frame
    }

    /// Renders into `frame` at `frame.pose` on this thread, resizing its buffers if needed.
    pub fn render_into(&self, world: &mut World, intrinsics: &Intrinsics, frame: &mut Frame) {
        world.ensure_loaded(frame.pose.position);
        prepare(frame, intrinsics);
        let pose = frame.pose;
        self.render_rows(
            world,
            &pose,
            intrinsics,
            0..intrinsics.height,
            &mut frame.rgb,
            &mut frame.depth_m,
        );
    }

    /// Like [`Renderer::render_into`], splitting rows across rayon's threads.
    pub fn render_into_parallel(
        &self,
        world: &mut World,
        intrinsics: &Intrinsics,
        frame: &mut Frame,
    ) {
        world.ensure_loaded(frame.pose.position);
        prepare(frame, intrinsics);
        let pose = frame.pose;
        let w = intrinsics.width as usize;
        let band = 8usize;
        let world = &*world;
        frame
            .rgb
            .par_chunks_mut(3 * w * band)
            .zip(frame.depth_m.par_chunks_mut(w * band))
            .enumerate()
            .for_each(|(i, (rgb, depth))| {
                let y0 = (i * band) as u32;
                let y1 = (y0 + band as u32).min(intrinsics.height);
                self.render_rows(world, &pose, intrinsics, y0..y1, rgb, depth);
            });
    }

    /// Renders rows `rows` into `rgb` (3 bytes per pixel) and `depth_m`, which hold exactly those
    /// rows. The world must already cover the pose ([`World::ensure_loaded`]); rows of a pose it does
    /// not cover are drawn as sky.
    pub fn render_rows(
        &self,
        world: &World,
        pose: &Pose,
        k: &Intrinsics,
        rows: Range<u32>,
        rgb: &mut [u8],
        depth_m: &mut [f32],
    ) {
        let w = k.width as usize;
        let rot = pose.world_from_camera();
        let forward = pose.forward();
        let covered = world.covers(pose.position);
        let o = pose.position;
        let n = self.supersample.max(1);
        // Texture level of detail follows the spacing of the rays, not of the pixels.
        let pixel_angle = 1.0 / (k.fy * n as f32);
        let mut faces = FaceCache::new();
        // Sub-pixel ray offsets from the pixel centre, on an n×n grid.
        let step = 1.0 / n as f32;
        let offsets: Vec<f32> = (0..n).map(|i| (i as f32 + 0.5) * step - 0.5).collect();
        let inv_samples = 1.0 / (n * n) as f32;
        // Camera rays are affine in the pixel column: step the unnormalised direction along a row.
        let du = rot.transform_vector3(Vec3::new(1.0 / k.fx, 0.0, 0.0));
        let mut starts = Vec::with_capacity(n as usize);
        for (row, v) in rows.enumerate() {
            starts.clear();
            starts.extend(
                offsets
                    .iter()
                    .map(|&oy| rot.transform_vector3(k.ray_camera(0.0, v as f32 + oy))),
            );
            for u in 0..k.width {
                let (color, depth) = if n == 1 {
                    let d = (starts[0] + du * u as f32).normalize();
                    let (c, z) =
                        self.sample(world, &mut faces, covered, o, d, forward, pixel_angle);
                    (tone(c), z)
                } else {
                    let mut sum = Vec3::ZERO;
                    let (mut near, mut far, mut inv_sum) = (f32::INFINITY, 0.0f32, 0.0f32);
                    for start in &starts {
                        for &ox in &offsets {
                            let d = (*start + du * (u as f32 + ox)).normalize();
                            let (c, z) =
                                self.sample(world, &mut faces, covered, o, d, forward, pixel_angle);
                            sum += tone(c);
                            near = fmin(near, z);
                            far = if z > far { z } else { far };
                            inv_sum += 1.0 / z;
                        }
                    }
                    // One surface under the pixel: the centre ray's depth (1/z is affine across
                    // a plane, so the symmetric samples' mean of 1/z is exactly the centre's).
                    // Across an edge: the nearest surface.
                    let depth = if far <= near * 1.05 {
                        1.0 / (inv_sum * inv_samples)
                    } else {
                        near
                    };
                    (sum * inv_samples, depth)
                };
                let i = row * w + u as usize;
                if let (Some(px), Some(dm)) = (rgb.get_mut(3 * i..3 * i + 3), depth_m.get_mut(i)) {
                    px[0] = to_u8(color.x);
                    px[1] = to_u8(color.y);
                    px[2] = to_u8(color.z);
                    *dm = depth;
                }
            }
        }
    }

    /// One ray: the surface's colour and planar depth, or the sky where the world is not loaded.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn sample(
        &self,
        world: &World,
        faces: &mut FaceCache,
        covered: bool,
        o: Vec3,
        d: Vec3,
        forward: Vec3,
        pixel_angle: f32,
    ) -> (Vec3, f32) {
        if covered {
            self.shade_ray(world, faces, o, d, forward, pixel_angle)
        } else {
            (self.sky(o, d), f32::INFINITY)
        }
    }

    /// Colour and planar depth seen along unit ray `d` from `o`.
    fn shade_ray(
        &self,
        world: &World,
        faces: &mut FaceCache,
        o: Vec3,
        d: Vec3,
        forward: Vec3,
        pixel_angle: f32,
    ) -> (Vec3, f32) {
        let Some(hit) = trace(world, o, d, self.fog_end) else {
            return (self.sky(o, d), f32::INFINITY);
        };
        let depth = hit.t * d.dot(forward);
        let fog = ((hit.t - self.fog_start) / (self.fog_end - self.fog_start)).clamp(0.0, 1.0);
        let fog = fog * fog * (3.0 - 2.0 * fog);
        if fog > 0.995 {
            // Lost in the fog: shading could not change the pixel by more than a level.
            return (self.fog, depth);
        }
        let p = o + d * hit.t;
        let n = hit.face.normal();
        let [vx, vy, vz] = hit.voxel;
        // Face coordinates: (a, b) along the face's tangent axes (for AO), (u, v) for the texture.
        let unit = |v: f32| fmin(if v > 0.0 { v } else { 0.0 }, 1.0);
        let (fx, fy, fz) = (
            unit(p.x - vx as f32),
            unit(p.y - vy as f32),
            unit(p.z - vz as f32),
        );
        let (group, u, v, a, b) = match hit.face {
            Face::PosX | Face::NegX => (FaceGroup::Side, fz, 1.0 - fy, fz, fy),
            Face::PosZ | Face::NegZ => (FaceGroup::Side, fx, 1.0 - fy, fx, fy),
            Face::PosY => (FaceGroup::Top, fx, fz, fx, fz),
            Face::NegY => (FaceGroup::Bottom, fx, fz, fx, fz),
        };
        let cos = d.dot(n).abs().max(0.2);
        let texels_per_pixel = hit.t * pixel_angle * 16.0 / cos;
        let level = if texels_per_pixel < 1.5 {
            0
        } else if texels_per_pixel < 3.0 {
            1
        } else if texels_per_pixel < 6.0 {
            2
        } else if texels_per_pixel < 12.0 {
            3
        } else {
            4
        };
        let tex = Vec3::from_array(self.textures.sample(hit.block, group, level, u, v));
        let mut color = if self
            .emissive
            .get(hit.block as usize)
            .copied()
            .unwrap_or(false)
        {
            tex * 1.15
        } else {
            let face = faces.get(world, hit);
            let ndl = n.dot(self.sun_dir);
            // Shadows are sampled at the centres of a 4×4 grid on each face (a quarter block, four
            // texels), once per frame: neighbouring pixels on the same face share the ray.
            let lit =
                ndl > 0.0 && (!self.shadows || face.sun_visible(world, hit, self.sun_dir, a, b));
            let direct = if lit { self.sun * ndl } else { Vec3::ZERO };
            let face_light = match hit.face {
                Face::PosY => 1.0,
                Face::NegY => 0.55,
                Face::PosX | Face::NegX => 0.82,
                Face::PosZ | Face::NegZ => 0.7,
            };
            let [c00, c10, c01, c11] = face.ao;
            let bottom = c00 + (c10 - c00) * a;
            let top = c01 + (c11 - c01) * a;
            let ao = bottom + (top - bottom) * b;
            tex * (self.ambient * (ao * face_light) + direct)
        };
        if hit.block == Block::Water as u8 && hit.face == Face::PosY {
            let fresnel = 0.08 + 0.8 * (1.0 - d.y.abs()).powi(4);
            let sky = self.sky(p, Vec3::new(d.x, -d.y, d.z));
            color = color.lerp(sky, fresnel);
        }
        (color.lerp(self.fog, fog), depth)
    }

    /// Sky colour along unit ray `d` from `o`: gradient, sun, clouds.
    fn sky(&self, o: Vec3, d: Vec3) -> Vec3 {
        let up = d.y.max(0.0);
        let mut c = self.horizon.lerp(self.zenith, up.sqrt().min(1.0));
        if d.y < 0.0 {
            c = self.horizon.lerp(self.fog, (-d.y * 4.0).min(1.0));
        }
        let sd = d.dot(self.sun_dir);
        if sd > 0.0 {
            let sd2 = sd * sd;
            let sd6 = sd2 * sd2 * sd2;
            let sd64 = (sd6 * sd2).powi(8);
            c += self.sun_glow * (0.35 * sd64 + 0.08 * sd6);
            if sd > 0.9993 {
                c = Vec3::new(1.0, 0.98, 0.9);
            }
        }
        if self.cloud_cover > 0.0 && d.y > 0.02 {
            let t = (CLOUD_HEIGHT - o.y) / d.y;
            let (x, z) = ((o.x + d.x * t) / CLOUD_SCALE, (o.z + d.z * t) / CLOUD_SCALE);
            let density = self.cloud_at(x, z);
            let threshold = 0.35 - 0.7 * self.cloud_cover;
            let a =
                ((density - threshold) / 0.25).clamp(0.0, 1.0) * (1.0 - t / 900.0).clamp(0.0, 1.0);
            c = c.lerp(
                Vec3::new(0.97, 0.97, 0.98) * (0.8 + 0.2 * self.sun_dir.y),
                a * 0.9,
            );
        }
        c
    }

    fn cloud_at(&self, x: f32, z: f32) -> f32 {
        let (ix, iz) = (ffloor(x), ffloor(z));
        let (fx, fz) = (x - ix as f32, z - iz as f32);
        let m = CLOUD_TEX as i32 - 1;
        let at =
            |ix: i32, iz: i32| self.clouds[((iz & m) as usize) * CLOUD_TEX + (ix & m) as usize];
        let a = at(ix, iz) + (at(ix + 1, iz) - at(ix, iz)) * fx;
        let b = at(ix, iz + 1) + (at(ix + 1, iz + 1) - at(ix, iz + 1)) * fx;
        a + (b - a) * fz
    }
}

fn prepare(frame: &mut Frame, k: &Intrinsics) {
    frame.width = k.width;
    frame.height = k.height;
    frame.rgb.resize(3 * k.pixels(), 0);
    frame.depth_m.resize(k.pixels(), f32::INFINITY);
}

/// A gentle tone curve that keeps highlights from clipping flat (samples are averaged after it).
#[inline]
fn tone(c: Vec3) -> Vec3 {
    let c = c.max(Vec3::ZERO);
    c / (Vec3::ONE + 0.12 * c)
}

#[inline]
fn to_u8(v: f32) -> u8 {
    (v.min(1.0) * 255.0 + 0.5) as u8
}

/// Ambient occlusion at the four corners of a hit face (Minecraft-style vertex AO), in the order
/// (a, b) = (0, 0), (1, 0), (0, 1), (1, 1): the 3×3 cells in the plane in front of the face darken
/// the corners they touch. Shading interpolates them bilinearly.
fn ao_corners(world: &World, hit: Hit) -> [f32; 4] {
    let blocks = world.raw().blocks;
    let [vx, vy, vz] = hit.voxel;
    let n = hit.face.normal();
    let (cx, cy, cz) = (vx + n.x as i32, vy + n.y as i32, vz + n.z as i32);
    // occ[j][i]: whether the cell at tangent offsets (i - 1, j - 1) is solid. Tangent axes: U = z,
    // V = y on x faces; U = x, V = y on z faces; U = x, V = z on y faces.
    let solid = |x: i32, y: i32, z: i32| -> u8 {
        if y < 0 {
            1
        } else if y >= HEIGHT {
            0
        } else {
            u8::from(blocks[index(x, y, z)] != 0)
        }
    };
    let mut occ = [[0u8; 3]; 3];
    match hit.face {
        Face::PosY | Face::NegY => {
            if !(0..HEIGHT).contains(&cy) {
                return [1.0; 4];
            }
            for (j, row) in occ.iter_mut().enumerate() {
                let z = (cz + j as i32 - 1) & 255;
                for (i, cell) in row.iter_mut().enumerate() {
                    let x = (cx + i as i32 - 1) & 255;
                    *cell = u8::from(
                        blocks[((((z << 8) | x) as usize) << 6) | (cy & 63) as usize] != 0,
                    );
                }
            }
        }
        Face::PosX | Face::NegX => {
            for (j, row) in occ.iter_mut().enumerate() {
                for (i, cell) in row.iter_mut().enumerate() {
                    *cell = solid(cx, cy + j as i32 - 1, cz + i as i32 - 1);
                }
            }
        }
        Face::PosZ | Face::NegZ => {
            for (j, row) in occ.iter_mut().enumerate() {
                for (i, cell) in row.iter_mut().enumerate() {
                    *cell = solid(cx + i as i32 - 1, cy + j as i32 - 1, cz);
                }
            }
        }
    }
    const LIGHT: [f32; 4] = [1.0, 0.81, 0.62, 0.43];
    let corner = |su: u8, sv: u8, c: u8| -> f32 {
        LIGHT[if su & sv == 1 {
            3
        } else {
            (su + sv + c) as usize
        }]
    };
    let c00 = corner(occ[1][0], occ[0][1], occ[0][0]);
    let c10 = corner(occ[1][2], occ[0][1], occ[0][2]);
    let c01 = corner(occ[1][0], occ[2][1], occ[2][0]);
    let c11 = corner(occ[1][2], occ[2][1], occ[2][2]);
    [c00, c10, c01, c11]
}

/// Per-frame, per-thread memory of the faces hit so far: their corner occlusion and which of their
/// 4×4 shadow samples are known and lit. Every value is a pure function of (block, face, sample),
/// so the picture does not depend on the order pixels are drawn in or on collisions in the table.
struct FaceCache {
    entries: Vec<FaceEntry>,
}

#[derive(Clone, Copy)]
struct FaceEntry {
    key: u32,
    ao: [f32; 4],
    known: u16,
    lit: u16,
}

const FACE_CACHE_BITS: u32 = 11;

impl FaceCache {
    fn new() -> FaceCache {
        FaceCache {
            entries: vec![
                FaceEntry {
                    key: u32::MAX,
                    ao: [1.0; 4],
                    known: 0,
                    lit: 0
                };
                1 << FACE_CACHE_BITS
            ],
        }
    }

    /// The entry of the face `hit` is on, filled in on first use.
    fn get(&mut self, world: &World, hit: Hit) -> &mut FaceEntry {
        let [x, y, z] = hit.voxel;
        // Window-relative coordinates are unique within the view distance.
        let key = (x & 255) as u32
            | ((z & 255) as u32) << 8
            | ((y & 63) as u32) << 16
            | (hit.face as u32) << 22;
        let slot = (key.wrapping_mul(0x9E37_79B1) >> (32 - FACE_CACHE_BITS)) as usize;
        let e = &mut self.entries[slot];
        if e.key != key {
            *e = FaceEntry {
                key,
                ao: ao_corners(world, hit),
                known: 0,
                lit: 0,
            };
        }
        e
    }
}

impl FaceEntry {
    /// Whether the sun is visible from the shadow sample of face coordinates (a, b).
    fn sun_visible(&mut self, world: &World, hit: Hit, sun: Vec3, a: f32, b: f32) -> bool {
        let (sa, sb) = (((a * 4.0) as u32).min(3), ((b * 4.0) as u32).min(3));
        let bit = 1u16 << (sb * 4 + sa);
        if self.known & bit == 0 {
            let [vx, vy, vz] = hit.voxel;
            let (ca, cb) = ((sa as f32 + 0.5) * 0.25, (sb as f32 + 0.5) * 0.25);
            let (x, y, z) = (vx as f32, vy as f32, vz as f32);
            const OUT: f32 = 1e-3;
            let p = match hit.face {
                Face::PosX => Vec3::new(x + 1.0 + OUT, y + cb, z + ca),
                Face::NegX => Vec3::new(x - OUT, y + cb, z + ca),
                Face::PosZ => Vec3::new(x + ca, y + cb, z + 1.0 + OUT),
                Face::NegZ => Vec3::new(x + ca, y + cb, z - OUT),
                Face::PosY => Vec3::new(x + ca, y + 1.0 + OUT, z + cb),
                Face::NegY => Vec3::new(x + ca, y - OUT, z + cb),
            };
            self.known |= bit;
            if trace(world, p, sun, SHADOW_DISTANCE).is_none() {
                self.lit |= bit;
            }
        }
        self.lit & bit != 0
    }
}

/// Casts unit ray `d` from `o` through the resident window up to distance `t_max`.
///
/// Three levels: 16×16 chunks, 4×4 cells and single columns. At each level a cell whose tallest
/// column lies below the ray over the whole stretch the ray spends in it is skipped in one step.
pub fn trace(world: &World, o: Vec3, d: Vec3, t_max: f32) -> Option<Hit> {
    // One copy of the walk for falling rays and one for rising ones: the inner loops then test
    // the right end of each stretch without a per-step choice.
    if d.y < 0.0 {
        trace_dir::<true>(world, o, d, t_max)
    } else {
        trace_dir::<false>(world, o, d, t_max)
    }
}

#[inline(always)]
fn trace_dir<const FALLING: bool>(world: &World, o: Vec3, d: Vec3, t_max: f32) -> Option<Hit> {
    let raw = world.raw();
    let nudge = |v: f32| {
        if v.abs() < 1e-7 {
            if v < 0.0 { -1e-7 } else { 1e-7 }
        } else {
            v
        }
    };
    let (dx, dy, dz) = (nudge(d.x), nudge(d.y), nudge(d.z));
    let (inv_x, inv_y, inv_z) = (1.0 / dx, 1.0 / dy, 1.0 / dz);
    let h = HEIGHT as f32;
    // A rising ray is done once it is above everything in the window.
    let max_top = world.max_top() as f32;
    let t_max = if dy > 0.0 {
        if o.y >= max_top {
            return None;
        }
        fmin(t_max, (max_top - o.y) * inv_y)
    } else {
        t_max
    };
    let mut t = 0.0f32;
    if o.y >= h {
        if dy >= 0.0 {
            return None;
        }
        t = (h - 1e-3 - o.y) * inv_y;
        if t >= t_max {
            return None;
        }
    }
    let ray = Ray {
        o,
        inv_x,
        inv_z,
        sx: if dx > 0.0 { 1 } else { -1 },
        sz: if dz > 0.0 { 1 } else { -1 },
        ax: i32::from(dx > 0.0),
        az: i32::from(dz > 0.0),
        dx,
        dz,
    };
    let mut ix = ffloor(o.x + dx * t);
    let mut iz = ffloor(o.z + dz * t);
    let mut entered: Option<Face> = None;
    // Whether the ray stays at or above `top` from t until it leaves the cell (or t_max).
    let above = |t: f32, t_exit: f32, top: u8| {
        // For a falling ray the lowest point is at the exit, for a rising one at the entry.
        let t_low = if FALLING { fmin(t_exit, t_max) } else { t };
        o.y + dy * t_low >= f32::from(top)
    };
    // A cell can only be skipped if the ray is above its top where it is now: test that first, and
    // only then work out where the ray leaves the cell.
    let here_above = |t: f32, top: u8| o.y + dy * t >= f32::from(top);
    loop {
        // Level 2: the chunk.
        let top2 = raw.chunk_top[chunk_slot(ix, iz)];
        let exit2 = if here_above(t, top2) {
            Some(ray.cell_exit(ix, iz, CHUNK_SHIFT))
        } else {
            None
        };
        if let Some((t2, x_first)) = exit2
            && above(t, t2, top2)
        {
            if t2 >= t_max {
                return None;
            }
            t = t2;
            entered = Some(ray.step_out(&mut ix, &mut iz, t, x_first, CHUNK_SHIFT));
            continue;
        }
        let (cx2, cz2) = (ix >> CHUNK_SHIFT, iz >> CHUNK_SHIFT);
        'chunk: loop {
            // Level 1: the 4×4 cell.
            let top1 = raw.coarse_top[coarse_index(ix, iz)];
            let exit1 = if here_above(t, top1) {
                Some(ray.cell_exit(ix, iz, COARSE_SHIFT))
            } else {
                None
            };
            if let Some((t1, x_first)) = exit1
                && above(t, t1, top1)
            {
                if t1 >= t_max {
                    return None;
                }
                t = t1;
                entered = Some(ray.step_out(&mut ix, &mut iz, t, x_first, COARSE_SHIFT));
            } else {
                let (qx, qz) = (ix >> COARSE_SHIFT, iz >> COARSE_SHIFT);
                // Level 0: columns.
                let (step_tx, step_tz) = (inv_x.abs(), inv_z.abs());
                let face_x = if ray.sx > 0 { Face::NegX } else { Face::PosX };
                let face_z = if ray.sz > 0 { Face::NegZ } else { Face::PosZ };
                let mut tnx = ((ix + ray.ax) as f32 - o.x) * inv_x;
                let mut tnz = ((iz + ray.az) as f32 - o.z) * inv_z;
                // The first column beyond this cell on each axis.
                let ix_out = if ray.sx > 0 {
                    (qx + 1) << COARSE_SHIFT
                } else {
                    (qx << COARSE_SHIFT) - 1
                };
                let iz_out = if ray.sz > 0 {
                    (qz + 1) << COARSE_SHIFT
                } else {
                    (qz << COARSE_SHIFT) - 1
                };
                loop {
                    let tn = fmin(tnx, tnz);
                    let ci = col_index(ix, iz);
                    let top = raw.col_top[ci];
                    if !above(t, tn, top)
                        && let Some(hit) = column_hit(
                            raw.blocks,
                            ci,
                            i32::from(top),
                            o,
                            dy,
                            inv_y,
                            t,
                            fmin(tn, t_max),
                            entered,
                            [ix, iz],
                        )
                    {
                        return Some(hit);
                    }
                    if tn >= t_max {
                        return None;
                    }
                    t = tn;
                    // Branch-free step (which axis comes next is a coin toss for diagonal rays).
                    let step_x = tnx < tnz;
                    ix += if step_x { ray.sx } else { 0 };
                    iz += if step_x { 0 } else { ray.sz };
                    tnx += if step_x { step_tx } else { 0.0 };
                    tnz += if step_x { 0.0 } else { step_tz };
                    entered = Some(if step_x { face_x } else { face_z });
                    if (ix == ix_out) | (iz == iz_out) {
                        break;
                    }
                }
            }
            if ix >> CHUNK_SHIFT != cx2 || iz >> CHUNK_SHIFT != cz2 {
                break 'chunk;
            }
        }
    }
}

/// A ray's constants for walking cells.
struct Ray {
    o: Vec3,
    dx: f32,
    dz: f32,
    inv_x: f32,
    inv_z: f32,
    sx: i32,
    sz: i32,
    ax: i32,
    az: i32,
}

impl Ray {
    /// When the ray leaves the cell of side `1 << shift` holding column (ix, iz), and whether it
    /// leaves through an x side.
    #[inline(always)]
    fn cell_exit(&self, ix: i32, iz: i32, shift: i32) -> (f32, bool) {
        let tx = ((((ix >> shift) + self.ax) << shift) as f32 - self.o.x) * self.inv_x;
        let tz = ((((iz >> shift) + self.az) << shift) as f32 - self.o.z) * self.inv_z;
        (fmin(tx, tz), tx < tz)
    }

    /// Moves (ix, iz) to the first column of the next cell (side `1 << shift`) at distance `t`;
    /// returns the face the ray enters that column through.
    #[inline(always)]
    fn step_out(&self, ix: &mut i32, iz: &mut i32, t: f32, x_first: bool, shift: i32) -> Face {
        let side = 1 << shift;
        let (qx, qz) = (*ix >> shift, *iz >> shift);
        if x_first {
            *ix = if self.sx > 0 {
                (qx + 1) << shift
            } else {
                (qx << shift) - 1
            };
            *iz = ffloor(self.o.z + self.dz * t).clamp(qz << shift, (qz << shift) + side - 1);
            if self.sx > 0 { Face::NegX } else { Face::PosX }
        } else {
            *iz = if self.sz > 0 {
                (qz + 1) << shift
            } else {
                (qz << shift) - 1
            };
            *ix = ffloor(self.o.x + self.dx * t).clamp(qx << shift, (qx << shift) + side - 1);
            if self.sz > 0 { Face::NegZ } else { Face::PosZ }
        }
    }
}

/// `min` without NaN handling (one `minss`; `f32::min` costs several instructions).
#[inline(always)]
fn fmin(a: f32, b: f32) -> f32 {
    if a < b { a } else { b }
}

/// `floor` as an integer, branch-free: `floor` is one instruction on x86-64-v3, and adding
/// 1.5 × 2²³ puts the integer in the low mantissa bits (exact for |v| < 2²²; world coordinates stay
/// far below that, and f32 positions would lose whole blocks long before).
#[inline(always)]
fn ffloor(v: f32) -> i32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5 × 2²³
    ((v.floor() + MAGIC).to_bits() as i32).wrapping_sub(MAGIC.to_bits() as i32)
}

/// The first solid block the ray meets inside column `ci` between t0 and t1.
#[inline]
fn column_hit(
    blocks: &[u8; BLOCKS_LEN],
    ci: usize,
    top: i32,
    o: Vec3,
    dy: f32,
    inv_y: f32,
    t0: f32,
    t1: f32,
    entered: Option<Face>,
    [ix, iz]: [i32; 2],
) -> Option<Hit> {
    let y0 = o.y + dy * t0;
    let y1 = o.y + dy * t1;
    if fmin(y0, y1) >= top as f32 {
        return None;
    }
    let base = (ci & 0xffff) << 6;
    let hit = |t: f32, y: i32, face: Face| {
        Some(Hit {
            t,
            block: blocks[base | (y & 63) as usize],
            face,
            voxel: [ix, y, iz],
        })
    };
    let mut iy = ffloor(y0);
    if dy < 0.0 {
        if iy >= top {
            // Drop through the air above the column to its top face.
            let ty = (top as f32 - o.y) * inv_y;
            if ty >= t1 {
                return None;
            }
            iy = top - 1;
            if iy < 0 {
                return None;
            }
            if blocks[base | (iy & 63) as usize] != 0 {
                return hit(ty, iy, Face::PosY);
            }
        } else if iy >= 0 && blocks[base | (iy & 63) as usize] != 0 {
            return hit(t0, iy, entered.unwrap_or(Face::PosY));
        }
        loop {
            let ty = (iy as f32 - o.y) * inv_y;
            if ty >= t1 {
                return None;
            }
            iy -= 1;
            if iy < 0 {
                return Some(Hit {
                    t: ty,
                    block: Block::Stone as u8,
                    face: Face::PosY,
                    voxel: [ix, 0, iz],
                });
            }
            if blocks[base | (iy & 63) as usize] != 0 {
                return hit(ty, iy, Face::PosY);
            }
        }
    } else {
        if iy >= top {
            return None;
        }
        if iy >= 0 && blocks[base | (iy & 63) as usize] != 0 {
            return hit(t0, iy, entered.unwrap_or(Face::NegY));
        }
        loop {
            iy += 1;
            if iy >= top {
                return None;
            }
            let ty = (iy as f32 - o.y) * inv_y;
            if ty >= t1 {
                return None;
            }
            if iy >= 0 && blocks[base | (iy & 63) as usize] != 0 {
                return hit(ty, iy, Face::NegY);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ffloor_matches_floor() {
        for v in [
            -3.5f32,
            -3.0,
            -2.999,
            -0.5,
            -0.0,
            0.0,
            0.2,
            0.99999,
            1.0,
            63.5,
            255.9,
            -4_000_000.5,
            4_000_000.0,
        ] {
            assert_eq!(ffloor(v), v.floor() as i32, "{v}");
        }
        let mut x = 1u64;
        for _ in 0..100_000 {
            x = reverie_core::seed::mix64(x);
            let v = (x >> 40) as f32 / (1u64 << 24) as f32 * 2.0e5 - 1.0e5;
            assert_eq!(ffloor(v), v.floor() as i32, "{v}");
        }
    }
}
