//! Pinned free space: what a trusted view saw through stays empty.
//!
//! A session's prompt is its one frame from the truth. Everything after it is the model's own
//! output, and a model that loses its way can imagine a wall, a trunk or foliage right where the
//! session started; written into the memory, that phantom then covers the start view when the
//! player comes back. [`crate::SpatialMemory::pin_free_space`] keeps the prompt's depth, and no
//! later write may put a surface clearly in front of it: the start stays as it was first seen.
//! [`crate::SpatialMemory::pin_view`] also keeps the view itself, whole, and every render draws
//! it (warped into the render's pose) over the cells: the cells of a walk that added its own
//! frames around the start are thinned by the render budget among them, and the start view with
//! them (session 22: in meadow's 10 s loop-and-return, the memory's render at the start pose
//! scored 51.6 dB after the prompt alone and 26 dB two seconds of walking later).

use glam::{Affine3A, Vec3A};
use reverie_core::{Intrinsics, Pose};

use crate::view::{NO_ID, View};

/// The most views one memory pins (a prompt has one to four frames).
pub const MAX_PINS: usize = 4;

/// A point is refused when it lies in front of the pinned depth by more than this share of it…
const MARGIN: f32 = 0.1;
/// …plus this many metres (depth noise, and surfaces seen at a grazing angle).
const MARGIN_M: f32 = 0.2;

/// One pinned view: its camera, pose and, per pixel, the depth up to which it saw nothing —
/// the nearest depth in the pixel's 3×3 neighbourhood (so that a silhouette does not pin the
/// space just beside it), `+inf` where it saw sky, 0 where its depth was unknown (nothing is
/// pinned there).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Pin {
    pub(crate) k: Intrinsics,
    pub(crate) pose: Pose,
    pub(crate) free_m: Vec<f32>,
    /// The view itself (RGB, planar depth), drawn over every render; empty = its free space
    /// only ([`crate::SpatialMemory::pin_free_space`], and files of format 4).
    pub(crate) rgb: Vec<u8>,
    pub(crate) depth_m: Vec<f32>,
    camera_from_world: Affine3A,
}

impl Pin {
    /// The pin of a view with planar depth `depth` (`+inf` sky, NaN or ≤ 0 unknown; the caller
    /// checked its size).
    pub(crate) fn new(k: &Intrinsics, depth: &[f32], pose: &Pose) -> Pin {
        let (w, h) = (k.width as usize, k.height as usize);
        let known = |z: f32| if z > 0.0 { z } else { 0.0 }; // NaN → 0
        let mut free_m = vec![0.0; w * h];
        for y in 0..h {
            for x in 0..w {
                let mut near = f32::INFINITY;
                for row in depth[y.saturating_sub(1) * w..(y + 2).min(h) * w].chunks_exact(w) {
                    for &z in &row[x.saturating_sub(1)..(x + 2).min(w)] {
                        near = near.min(known(z));
                    }
                }
                free_m[y * w + x] = near;
            }
        }
        Pin::stored(*k, *pose, free_m, Vec::new(), Vec::new())
    }

    /// A pin as saved (free depths already filtered), with its view (`rgb` and `depth_m` of
    /// the camera's size, or both empty).
    pub(crate) fn stored(
        k: Intrinsics,
        pose: Pose,
        free_m: Vec<f32>,
        rgb: Vec<u8>,
        depth_m: Vec<f32>,
    ) -> Pin {
        Pin {
            camera_from_world: pose.camera_from_world(),
            k,
            pose,
            free_m,
            rgb,
            depth_m,
        }
    }

    /// Whether the view itself is kept (and drawn).
    pub(crate) fn has_view(&self) -> bool {
        !self.rgb.is_empty()
    }

    /// Draws the view, warped into `pose` (`scratch` takes the warp), over `out` (a render at
    /// `pose`): at every pixel where it shows a surface and the render none clearly in front
    /// of it (by the pin's margins), or sky where the render shows no surface. Those pixels have
    /// no cell behind them (a carve there drops nothing; a `write_new` there adds the frame).
    pub(crate) fn draw_over(
        &self,
        pose: &Pose,
        splatting: crate::Splatting,
        scratch: &mut View,
        out: &mut View,
    ) {
        if !self.has_view() || (out.width, out.height) != (self.k.width, self.k.height) {
            return;
        }
        if crate::warp(
            &self.k,
            &self.rgb,
            &self.depth_m,
            &self.pose,
            pose,
            splatting,
            scratch,
        )
        .is_err()
        {
            return;
        }
        for i in 0..scratch.confidence.len() {
            let c = scratch.confidence[i];
            if c <= 0.0 {
                continue;
            }
            let za = scratch.depth_m[i];
            let zm = if out.confidence[i] > 0.0 {
                out.depth_m[i]
            } else {
                f32::INFINITY
            };
            // The cells win only with a surface clearly in front of the view's (the margin of
            // the pinned free space).
            let over = if za.is_finite() {
                zm >= za * (1.0 - MARGIN) - MARGIN_M
            } else {
                !zm.is_finite()
            };
            if over {
                out.rgb[3 * i..3 * i + 3].copy_from_slice(&scratch.rgb[3 * i..3 * i + 3]);
                out.depth_m[i] = za;
                out.confidence[i] = c.max(out.confidence[i]);
                out.ids[i] = NO_ID;
            }
        }
    }

    /// Whether the world point `p` lies where this view saw nothing.
    #[inline]
    pub(crate) fn forbids(&self, p: Vec3A) -> bool {
        let q = self.camera_from_world.transform_point3a(p);
        if q.z <= 0.0 {
            return false;
        }
        let inv = 1.0 / q.z;
        let (u, v) = (
            self.k.fx * q.x * inv + self.k.cx,
            self.k.fy * q.y * inv + self.k.cy,
        );
        if !(u >= 0.0 && v >= 0.0 && u < self.k.width as f32 && v < self.k.height as f32) {
            return false;
        }
        let free = self.free_m[v as usize * self.k.width as usize + u as usize];
        q.z < free * (1.0 - MARGIN) - MARGIN_M
    }

    /// Resident bytes.
    pub(crate) fn bytes(&self) -> usize {
        size_of::<Pin>() + self.free_m.len() * 4 + self.rgb.len() + self.depth_m.len() * 4
    }
}
