//! Short-term path: forward reprojection of the previous frame into the new pose.

use reverie_core::{Intrinsics, Pose};

use crate::config::Splatting;
use crate::error::{MemoryError, Result};
use crate::view::{Splat, View};

/// Forward-reprojects the previous frame (`prev_rgb`, planar `prev_depth`, seen from `prev_pose`
/// with intrinsics `k`) into `new_pose`, z-buffered, into `out` (resized to `k`). Each pixel is
/// drawn as a tent `splatting.scale` times its own footprint in radius (1 interpolates like
/// bilinear, and blurs; see [`crate::MemoryConfig::warp_splat_scale`]), its colour blended with
/// weight tent^`splatting.blend_power`; sky (`+inf` depth) is moved by the rotation alone. Pixels nothing lands on have confidence 0: they were not visible before.
pub fn warp(
    k: &Intrinsics,
    prev_rgb: &[u8],
    prev_depth: &[f32],
    prev_pose: &Pose,
    new_pose: &Pose,
    splatting: Splatting,
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
                out.splat_sky(
                    fx * d.x / d.z + cx,
                    fy * d.y / d.z + cy,
                    splatting.scale,
                    rgb,
                );
            }
            continue;
        }
        let p = m * (ray * z) + t;
        if p.z < 0.05 {
            continue;
        }
        let r = (splatting.scale * z / p.z).min(16.0);
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
    out.draw(splatting.blend_power);
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use glam::Vec3;

    use super::*;
    use crate::MemoryConfig;

    /// Sum of squared differences between horizontal and vertical neighbours in the rows and
    /// columns `lo..hi` (the detail an image holds there).
    fn detail(rgb: &[u8], w: usize, lo: usize, hi: usize) -> f64 {
        let mut e = 0.0;
        for y in lo..hi {
            for x in lo..hi {
                for c in 0..3 {
                    let at = |xx: usize, yy: usize| rgb[3 * (yy * w + xx) + c] as f64;
                    e += (at(x + 1, y) - at(x, y)).powi(2) + (at(x, y + 1) - at(x, y)).powi(2);
                }
            }
        }
        e
    }

    /// A textured wall 4 m ahead, warped to a pose a third of a pixel to the side and back,
    /// twelve times over, each warp from the last one's output: what a session does to what it
    /// shows, tick after tick. Soft (bilinear-like) splats lose most of the detail; the default
    /// splatting keeps it.
    #[test]
    fn warping_tick_after_tick_keeps_the_detail_with_the_default_splatting() {
        let k = Intrinsics::from_vfov_deg(64, 64, 70.0).unwrap();
        let n = k.pixels();
        let rgb: Vec<u8> = (0..n as u32)
            .flat_map(|i| {
                let h = i.wrapping_mul(0x9E37_79B9) >> 24;
                [h as u8, (255 - h) as u8, (h / 2) as u8]
            })
            .collect();
        let depth = vec![4.0f32; n];
        let start = Pose::new(Vec3::ZERO, 0.0, 0.0);
        let side = Pose::new(start.right() * (4.0 / k.fx / 3.0), 0.0, 0.0);
        let original = detail(&rgb, 64, 16, 48);
        let kept = |splatting: Splatting| {
            let (mut rgb, mut depth, mut pose) = (rgb.clone(), depth.clone(), start);
            let mut v = View::new(&k);
            for i in 0..12 {
                let next = if i % 2 == 0 { side } else { start };
                warp(&k, &rgb, &depth, &pose, &next, splatting, &mut v).unwrap();
                assert!(v.coverage() > 0.95, "coverage {}", v.coverage());
                (rgb, depth, pose) = (v.rgb.clone(), v.depth_m.clone(), next);
            }
            detail(&rgb, 64, 16, 48) / original
        };
        let (sharp, soft) = (
            kept(MemoryConfig::default().splatting()),
            kept(Splatting::SOFT),
        );
        assert!(
            sharp >= 0.75,
            "default splatting kept {sharp:.2} of the detail"
        );
        assert!(soft <= 0.5, "soft splatting kept {soft:.2} of the detail");
    }

    /// With any splatting a warp to the same pose gives the frame back.
    #[test]
    fn a_warp_to_the_same_pose_is_exact_with_either_splatting() {
        let k = Intrinsics::from_vfov_deg(32, 32, 70.0).unwrap();
        let rgb: Vec<u8> = (0..k.pixels() * 3).map(|i| (i * 37 % 256) as u8).collect();
        let depth: Vec<f32> = (0..k.pixels())
            .map(|i| 2.0 + (i % 7) as f32 * 0.01)
            .collect();
        let pose = Pose::new(Vec3::new(1.0, 2.0, 3.0), 0.3, -0.1);
        for splatting in [MemoryConfig::default().splatting(), Splatting::SOFT] {
            let mut v = View::new(&k);
            warp(&k, &rgb, &depth, &pose, &pose, splatting, &mut v).unwrap();
            assert_eq!(v.rgb, rgb, "{splatting:?}");
        }
    }
}
