//! Short-term path: forward reprojection of the previous frame into the new pose.

use reverie_core::{Intrinsics, Pose};

use crate::error::{MemoryError, Result};
use crate::view::{Splat, View};

/// Forward-reprojects the previous frame (`prev_rgb`, planar `prev_depth`, seen from `prev_pose`
/// with intrinsics `k`) into `new_pose`, z-buffered, into `out` (resized to `k`). Each pixel is
/// drawn as a tent `splat_scale` times its own footprint in radius (1 interpolates like bilinear); sky (`+inf` depth) is moved by
/// the rotation alone. Pixels nothing lands on have confidence 0: they were not visible before.
pub fn warp(
    k: &Intrinsics,
    prev_rgb: &[u8],
    prev_depth: &[f32],
    prev_pose: &Pose,
    new_pose: &Pose,
    splat_scale: f32,
    out: &mut View,
) -> Result<()> {
    check_sizes(k, prev_rgb, prev_depth)?;
    out.reset(k);
    let world_from_prev = prev_pose.world_from_camera();
    let new_from_world = new_pose.camera_from_world();
    let new_from_prev = new_from_world * world_from_prev;
    let m = new_from_prev.matrix3;
    let t = new_from_prev.translation;
    let (fx, fy, cx, cy) = (k.fx, k.fy, k.cx, k.cy);
    let mut splats = std::mem::take(&mut out.splats);
    let w = k.width as usize;
    for (i, &z) in prev_depth.iter().enumerate() {
        if z.is_nan() || z <= 0.0 {
            continue;
        }
        let (x, y) = ((i % w) as f32 + 0.5, (i / w) as f32 + 0.5);
        let ray = glam::Vec3A::new((x - cx) / fx, (y - cy) / fy, 1.0);
        let rgb = [prev_rgb[3 * i], prev_rgb[3 * i + 1], prev_rgb[3 * i + 2]];
        if z.is_infinite() {
            let d = m * ray;
            if d.z > 1e-4 {
                out.splat_sky(fx * d.x / d.z + cx, fy * d.y / d.z + cy, splat_scale, rgb);
            }
            continue;
        }
        let p = m * (ray * z) + t;
        if p.z < 0.05 {
            continue;
        }
        let r = (splat_scale * z / p.z).min(16.0);
        splats.push(Splat::new(
            fx * p.x / p.z + cx,
            fy * p.y / p.z + cy,
            p.z,
            0.0,
            r,
            1.0,
            rgb,
            1.0,
        ));
    }
    out.splats = splats;
    out.draw();
    out.resolve(1.0);
    Ok(())
}

/// Checks that RGB and depth buffers match the intrinsics.
pub(crate) fn check_sizes(k: &Intrinsics, rgb: &[u8], depth: &[f32]) -> Result<()> {
    let n = k.pixels();
    if rgb.len() != 3 * n {
        return Err(MemoryError::Size {
            what: "rgb",
            got: rgb.len(),
            expected: 3 * n,
            width: k.width,
            height: k.height,
        });
    }
    if depth.len() != n {
        return Err(MemoryError::Size {
            what: "depth",
            got: depth.len(),
            expected: n,
            width: k.width,
            height: k.height,
        });
    }
    Ok(())
}
