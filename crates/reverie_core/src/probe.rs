//! [`GroundProbe`]: the ground around the player's feet, as recent frames' depth showed it.
//!
//! A world model that walks has to know whether the next step meets a ledge, a wall or a drop.
//! What is under and just ahead of the feet is out of view (the camera sees the ground from
//! ~2.3 m ahead at a level gaze), but it was in view a few frames earlier. The probe keeps the
//! world points of the last [`GroundProbe::FRAMES`] frames near the camera and answers, for a
//! square grid of cells around the player in its heading frame, the highest point in each cell
//! relative to the eye. It holds only what it is given: a generated session gives it its own
//! frames and predicted poses (never the oracle's).

use std::collections::VecDeque;

use glam::Vec3;

use crate::error::{Error, Result};
use crate::pose::{Intrinsics, Pose};

/// The recent ground around the camera; see the module docs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GroundProbe {
    /// World points of each remembered frame, oldest first.
    frames: VecDeque<Vec<Vec3>>,
}

/// Heights of the points over one place, in 5 cm bands from [`GroundProbe::BELOW_EYE_M`] below
/// the eye to [`GroundProbe::ABOVE_EYE_M`] above it, with the highest point in each band.
#[derive(Clone, Debug)]
struct Heights {
    count: u32,
    bands: [u16; HEIGHT_BANDS],
    highest: [f32; HEIGHT_BANDS],
}

/// Edge of a height band (metres).
const BAND_M: f32 = 0.05;
/// Bands from [`GroundProbe::BELOW_EYE_M`] below the eye to [`GroundProbe::ABOVE_EYE_M`] above it.
const HEIGHT_BANDS: usize =
    ((GroundProbe::BELOW_EYE_M + GroundProbe::ABOVE_EYE_M) / BAND_M).round() as usize;

impl Default for Heights {
    fn default() -> Heights {
        Heights {
            count: 0,
            bands: [0; HEIGHT_BANDS],
            highest: [f32::NEG_INFINITY; HEIGHT_BANDS],
        }
    }
}

impl Heights {
    /// The band holding height `y` (clamped to the bands).
    fn band_of(y: f32) -> usize {
        (((y + GroundProbe::BELOW_EYE_M) / BAND_M).max(0.0) as usize).min(HEIGHT_BANDS - 1)
    }

    fn add(&mut self, y: f32) {
        let b = Self::band_of(y);
        self.count += 1;
        self.bands[b] = self.bands[b].saturating_add(1);
        self.highest[b] = self.highest[b].max(y);
    }

    /// The highest point of the highest band holding enough of the points (see
    /// [`GroundProbe::TOP_SUPPORT`]); −∞ where there are none.
    fn top(&self) -> f32 {
        if self.count == 0 {
            return f32::NEG_INFINITY;
        }
        let need = ((self.count as f32 * GroundProbe::TOP_SUPPORT).ceil() as u32)
            .max(GroundProbe::TOP_MIN_POINTS)
            .min(self.count);
        let band = (0..HEIGHT_BANDS)
            .rev()
            .find(|&b| u32::from(self.bands[b]) >= need)
            .unwrap_or_else(|| {
                (0..HEIGHT_BANDS)
                    .max_by_key(|&b| (self.bands[b], b))
                    .unwrap_or(0)
            });
        self.highest[band]
    }

    /// Points at or above `y` (to the band's resolution: whole bands from the one holding `y`).
    fn at_or_above(&self, y: f32) -> u32 {
        if !y.is_finite() {
            return 0;
        }
        self.bands[Self::band_of(y)..]
            .iter()
            .map(|&n| u32::from(n))
            .sum()
    }
}

impl GroundProbe {
    /// Frames remembered (two seconds at 24 Hz: the ground underfoot was seen ~2.3 m earlier,
    /// and a walk that turns as it goes saw it from further back).
    pub const FRAMES: usize = 48;
    /// Cells along each side of the grid.
    pub const GRID: usize = 8;
    /// Edge of a cell (metres); the grid spans ±`GRID`·`CELL_M`/2 around the camera.
    pub const CELL_M: f32 = 0.2;
    /// Numbers [`GroundProbe::features`] returns after the grid's: height and seen-flag of the
    /// body's footprint now, after the intended step, and after two; then the flatness of each
    /// of the three tops (the share of the footprint's points within 5 cm of its top: a block's
    /// top is a dense surface, a plant's a few points).
    pub const BOX_FEATURES: usize = 9;
    /// Numbers [`GroundProbe::features`] returns: per cell the height, then per cell whether
    /// anything was seen there, then [`GroundProbe::BOX_FEATURES`].
    pub const FEATURES: usize = 2 * Self::GRID * Self::GRID + Self::BOX_FEATURES;
    /// Points kept: at most this far from the camera on the ground plane …
    pub const REACH_M: f32 = 4.5;
    /// … no higher than this above the eye (what is above the head does not block a step) …
    pub const ABOVE_EYE_M: f32 = 0.3;
    /// … and no lower than this below it.
    pub const BELOW_EYE_M: f32 = 4.0;
    /// The top of a cell or footprint is the highest 5 cm band of height that holds at least
    /// this share of its points (and at least [`GroundProbe::TOP_MIN_POINTS`]; the fullest band
    /// where none does), not its highest point: a generated frame's depth has stray near
    /// pixels, and a session whose probe took the highest point saw ground at eye level under
    /// its feet and climbed (session 15). A ledge's top is a dense band; a stray pixel is not.
    pub const TOP_SUPPORT: f32 = 0.03;
    /// See [`GroundProbe::TOP_SUPPORT`].
    pub const TOP_MIN_POINTS: u32 = 3;
    /// Every `STRIDE`-th pixel along each axis is read.
    const STRIDE: usize = 2;

    /// An empty probe.
    pub fn new() -> GroundProbe {
        GroundProbe::default()
    }

    /// Forgets every frame.
    pub fn clear(&mut self) {
        self.frames.clear();
    }

    /// Frames held (at most [`GroundProbe::FRAMES`]).
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether no frame is held.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Adds a frame seen from `pose` (planar depth in metres, `+inf` = sky), forgetting the
    /// oldest beyond [`GroundProbe::FRAMES`]. Non-finite depths are skipped.
    pub fn push(&mut self, k: &Intrinsics, depth_m: &[f32], pose: &Pose) -> Result<()> {
        let (w, h) = (k.width as usize, k.height as usize);
        if depth_m.len() != w * h {
            return Err(Error::OutOfRange {
                field: "ground probe depth (values)".into(),
                value: depth_m.len().to_string(),
                expected: format!("{} for a {w}×{h} frame", w * h),
            });
        }
        let to_world = pose.world_from_camera();
        let eye = pose.position;
        let mut points = Vec::new();
        for y in (0..h).step_by(Self::STRIDE) {
            for x in (0..w).step_by(Self::STRIDE) {
                let d = depth_m[y * w + x];
                if !d.is_finite() || d <= 0.0 {
                    continue;
                }
                let p = to_world.transform_point3(k.unproject(x as f32 + 0.5, y as f32 + 0.5, d));
                let rel = p - eye;
                if rel.y <= Self::ABOVE_EYE_M
                    && rel.y >= -Self::BELOW_EYE_M
                    && rel.x * rel.x + rel.z * rel.z <= Self::REACH_M * Self::REACH_M
                {
                    points.push(p);
                }
            }
        }
        self.push_points(points);
        Ok(())
    }

    /// Adds a frame's world points as they are (a saved probe being restored).
    pub fn push_points(&mut self, points: Vec<Vec3>) {
        if self.frames.len() == Self::FRAMES {
            self.frames.pop_front();
        }
        self.frames.push_back(points);
    }

    /// The world points of each frame held, oldest first.
    pub fn frames(&self) -> impl Iterator<Item = &[Vec3]> {
        self.frames.iter().map(Vec::as_slice)
    }

    /// The grid around `pose` (cells along the heading, then across it to the right; the
    /// camera's ground position is the centre of the grid): first, per cell, the height of the
    /// top of the points held there relative to the eye (metres, 0 where nothing was seen; the
    /// top is the highest height enough of them share, see [`GroundProbe::TOP_SUPPORT`]), then,
    /// per cell, 1 where something was seen and 0 where not. Then, for a body of half-width
    /// `half_width_m` (its footprint a square aligned with the world's x and z axes, as the
    /// walker's collision box is) standing at `pose`, at `pose` moved by `walk` (metres to the right and
    /// forward) and at `pose` moved by twice that: the top of its footprint relative
    /// to the eye and whether anything was seen there, then the flatness of those three tops
    /// ([`GroundProbe::BOX_FEATURES`]).
    pub fn features(&self, pose: &Pose, walk: [f32; 2], half_width_m: f32) -> Vec<f32> {
        let g = Self::GRID;
        let half = g as f32 * Self::CELL_M / 2.0;
        let (heading, right) = (pose.heading(), pose.right());
        // Every point not above the head: its height relative to the eye, and its place
        // along the heading and to the right of the camera's ground position.
        let points = self.frames.iter().flatten().filter_map(|p| {
            let rel = *p - pose.position;
            (rel.y <= Self::ABOVE_EYE_M).then(|| (rel, rel.dot(heading), rel.dot(right)))
        });
        // The walk on the ground plane, in world axes.
        let step = right * walk[0] + heading * walk[1];
        // Whether a place is in footprint k (0: now, 1: after the step, 2: after two): a
        // square aligned with the world's axes, as the walker's collision box is (a square
        // turned with the heading reaches ledges the body does not touch: at 45° its corners
        // stand 0.12 m out, and in the training data half the steps it showed were not taken).
        let in_box = |k: usize, rel: Vec3| {
            let c = step * k as f32;
            (rel.x - c.x).abs() <= half_width_m && (rel.z - c.z).abs() <= half_width_m
        };
        let mut cells = vec![Heights::default(); g * g];
        let mut box_heights: [Heights; 3] = Default::default();
        for (rel, f, r) in points {
            let y = rel.y;
            for (k, b) in box_heights.iter_mut().enumerate() {
                if in_box(k, rel) {
                    b.add(y);
                }
            }
            let (f, r) = (f + half, r + half);
            if !(0.0..2.0 * half).contains(&f) || !(0.0..2.0 * half).contains(&r) {
                continue;
            }
            let i = ((f / Self::CELL_M) as usize).min(g - 1);
            let j = ((r / Self::CELL_M) as usize).min(g - 1);
            cells[i * g + j].add(y);
        }
        let top: Vec<f32> = cells.iter().map(Heights::top).collect();
        let boxes: [f32; 3] = std::array::from_fn(|k| box_heights[k].top());
        // How many of each footprint's points lie within 5 cm of its top, or above it.
        let counts: [(u32, u32); 3] = std::array::from_fn(|k| {
            (
                box_heights[k].count,
                box_heights[k].at_or_above(boxes[k] - 0.05),
            )
        });
        let value = |t: f32| if t.is_finite() { t } else { 0.0 };
        let seen = |t: f32| f32::from(u8::from(t.is_finite()));
        let mut out = Vec::with_capacity(Self::FEATURES);
        out.extend(top.iter().map(|&t| value(t)));
        out.extend(top.iter().map(|&t| seen(t)));
        for b in boxes {
            out.extend([value(b), seen(b)]);
        }
        out.extend(counts.map(|(all, top)| top as f32 / all.max(1) as f32));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Planar depth of a frame looking at the plane y = `ground` (and sky above the horizon).
    fn ground_depth(k: &Intrinsics, pose: &Pose, ground: impl Fn(f32, f32) -> f32) -> Vec<f32> {
        let to_world = pose.world_from_camera();
        let mut out = Vec::new();
        for y in 0..k.height {
            for x in 0..k.width {
                let ray = to_world.transform_vector3(k.ray_camera(x as f32, y as f32));
                // March the ray (planar depth = ray parameter, since ray.z = 1 in camera).
                let mut d = f32::INFINITY;
                let mut t = 0.05;
                while t < 30.0 {
                    let p = pose.position + ray * t;
                    if p.y <= ground(p.x, p.z) {
                        d = t;
                        break;
                    }
                    t += 0.01;
                }
                out.push(d);
            }
        }
        out
    }

    #[test]
    fn flat_ground_seen_ahead_fills_the_cells_it_reached_when_the_player_walks_on() {
        let k = Intrinsics::from_vfov_deg(64, 64, 70.0).unwrap();
        let mut probe = GroundProbe::new();
        assert!(
            probe
                .features(&Pose::default(), [0.0, 0.2], 0.3)
                .iter()
                .all(|&v| v == 0.0)
        );
        // Eye at 1.62 m over y = 0, looking along -z; walk 2.5 m in 0.18 m steps.
        let mut pose = Pose::new(Vec3::new(0.0, 1.62, 0.0), 0.0, 0.0);
        for _ in 0..14 {
            let depth = ground_depth(&k, &pose, |_, _| 0.0);
            probe.push(&k, &depth, &pose).unwrap();
            pose.position.z -= 0.18;
        }
        assert_eq!(probe.len(), 14);
        let f = probe.features(&pose, [0.0, 0.0], 0.3);
        let g = GroundProbe::GRID;
        // Ground comes into view 2.3 m ahead (35° down from 1.62 m): after 2.5 m of walking,
        // everything from 0.2 m behind the camera onwards has been seen (rows 3..8).
        let seen: Vec<f32> = f[g * g..2 * g * g].to_vec();
        assert!(seen[3 * g..].iter().all(|&v| v == 1.0), "{seen:?}");
        for (h, s) in f[..g * g].iter().zip(&f[g * g..2 * g * g]) {
            if *s == 1.0 {
                assert!((h + 1.62).abs() < 0.05, "ground at {h} m below the eye");
            }
        }
    }

    /// Points every 2 cm over the square ±`half` m around the origin, at height `y(x)`.
    fn points_every_2cm(half: f32, y: impl Fn(f32) -> f32) -> Vec<Vec3> {
        let n = (2.0 * half / 0.02).round() as usize;
        (0..n)
            .flat_map(|i| (0..n).map(move |j| (i, j)))
            .map(|(i, j)| {
                let (x, z) = (
                    -half + 0.02 * i as f32 + 0.01,
                    -half + 0.02 * j as f32 + 0.01,
                );
                Vec3::new(x, y(x), z)
            })
            .collect()
    }

    #[test]
    fn the_footprint_is_square_to_the_world_like_the_body_whatever_the_heading() {
        // Flat ground 1.62 m below the eye, and a 1 m ledge whose edge runs along x = 0.35.
        let mut probe = GroundProbe::new();
        probe.push_points(points_every_2cm(0.6, |x| if x >= 0.35 { 1.0 } else { 0.0 }));
        let at = 2 * GroundProbe::GRID * GroundProbe::GRID;
        // Facing 45° off the axes, a square turned with the heading would reach 0.42 m along x
        // and take in the ledge; the body's footprint (0.3 m each way along x and z) does not.
        for yaw in [0.0, std::f32::consts::FRAC_PI_4, 1.0] {
            let pose = Pose::new(Vec3::new(0.0, 1.62, 0.0), yaw, 0.0);
            let f = probe.features(&pose, [0.0, 0.0], 0.3);
            assert!((f[at] + 1.62).abs() < 0.05, "yaw {yaw}: top {}", f[at]);
            // A step of 0.1 m towards +x brings the ledge into the footprint.
            let walk = [pose.right().x * 0.1, pose.heading().x * 0.1];
            let f = probe.features(&pose, walk, 0.3);
            assert!(
                (f[at + 2] + 0.62).abs() < 0.05,
                "yaw {yaw}: top {}",
                f[at + 2]
            );
        }
    }

    #[test]
    fn stray_points_do_not_raise_a_top_but_a_surface_does() {
        // Flat ground 1.62 m below the eye all around the feet, 100 points per 0.2 m cell.
        let ground = points_every_2cm(0.8, |_| 0.0);
        let mut probe = GroundProbe::new();
        probe.push_points(ground);
        // A model's frame with a few stray near pixels just under the eye, over the feet.
        probe.push_points(vec![
            Vec3::new(0.05, 1.5, 0.05),
            Vec3::new(-0.1, 1.4, 0.1),
            Vec3::new(0.1, 1.55, -0.05),
        ]);
        let at = Pose::new(Vec3::new(0.0, 1.62, 0.0), 0.0, 0.0);
        let g = GroundProbe::GRID;
        let f = probe.features(&at, [0.0, 0.18], 0.3);
        let b = &f[2 * g * g..];
        assert!((b[0] + 1.62).abs() < 0.05 && b[1] == 1.0, "{b:?}");
        assert!(f[..g * g].iter().all(|h| (h + 1.62).abs() < 0.05), "{f:?}");
        // A block's top (0.5 m up, a surface's worth of points) over the step ahead is its top.
        let mut block = Vec::new();
        for i in 0..30 {
            for j in 0..10 {
                block.push(Vec3::new(
                    -0.3 + 0.02 * i as f32,
                    0.5,
                    -0.2 - 0.02 * j as f32,
                ));
            }
        }
        probe.push_points(block);
        let b = probe.features(&at, [0.0, 0.18], 0.3)[2 * g * g..].to_vec();
        assert!((b[2] + 1.12).abs() < 0.05 && b[3] == 1.0, "{b:?}");
    }

    #[test]
    fn a_ledge_ahead_is_in_the_front_cells_and_turns_with_the_player() {
        let k = Intrinsics::from_vfov_deg(64, 64, 70.0).unwrap();
        let ledge = |_: f32, z: f32| if z < -0.4 { 1.0 } else { 0.0 };
        let mut probe = GroundProbe::new();
        // Walking from 4.4 m to 2.2 m before the spot: the ground under the spot comes into
        // view 2.3 m ahead, the ledge (0.4 m beyond the spot) from afar.
        for i in 0..12 {
            let pose = Pose::new(Vec3::new(0.0, 1.62, 4.4 - 0.2 * i as f32), 0.0, 0.0);
            probe
                .push(&k, &ground_depth(&k, &pose, ledge), &pose)
                .unwrap();
        }
        let g = GroundProbe::GRID;
        let at = Pose::new(Vec3::new(0.0, 1.62, 0.0), 0.0, 0.0);
        let f = probe.features(&at, [0.0, 0.18], 0.3);
        // Standing 0.4 m from the ledge's face, the body's footprint is on the ground (1.62 m
        // below the eye), one step of 0.18 m further it reaches the ledge top (0.62 m below).
        let b = &f[2 * g * g..];
        assert!((b[0] + 1.62).abs() < 0.05 && b[1] == 1.0, "{b:?}");
        assert!((b[2] + 0.62).abs() < 0.05 && b[3] == 1.0, "{b:?}");
        // Flat ground: its top is the whole footprint; the ledge's top only part of it.
        assert!(b[6] > 0.9 && b[7] > 0.0 && b[7] < b[6], "{b:?}");
        // The front rows (forward > 0.4 m) hold the ledge top (0.62 m below the eye).
        let front = &f[(g - 1) * g..g * g];
        assert!(
            front.iter().all(|h| (h + 0.62).abs() < 0.05),
            "front row {front:?}"
        );
        // Turned a quarter to the left, the ledge is on the right-hand columns.
        let left = Pose::new(at.position, -std::f32::consts::FRAC_PI_2, 0.0);
        let f = probe.features(&left, [0.0, 0.0], 0.3);
        for i in 1..g - 1 {
            assert!(
                (f[i * g + g - 1] + 0.62).abs() < 0.05,
                "{:?}",
                &f[i * g..i * g + g]
            );
        }
        // Only the last FRAMES frames are kept.
        for _ in 0..GroundProbe::FRAMES + 3 {
            probe.push(&k, &vec![f32::INFINITY; 64 * 64], &at).unwrap();
        }
        assert_eq!(probe.len(), GroundProbe::FRAMES);
        assert!(
            probe
                .features(&at, [0.0, 0.18], 0.3)
                .iter()
                .all(|&v| v == 0.0)
        );
        assert!(probe.push(&k, &[1.0; 7], &at).is_err());
    }
}
