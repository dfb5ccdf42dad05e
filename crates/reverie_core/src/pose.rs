//! Camera pose and pinhole intrinsics.

use glam::{Affine3A, Mat3A, Vec3, Vec3A};
use serde::{Deserialize, Serialize};

/// Where the camera (the player's eye) is and where it looks.
///
/// See the crate docs for the frame conventions: y up, yaw 0 looks along -z, positive yaw turns
/// right, positive pitch looks up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Pose {
    /// Eye position in the world frame, in blocks (metres).
    pub position: Vec3,
    /// Heading in radians, wrapped to (-π, π].
    pub yaw_rad: f32,
    /// Elevation in radians, within ±[`Pose::MAX_PITCH_RAD`].
    pub pitch_rad: f32,
}

impl Pose {
    /// The steepest the camera may look up or down (89°).
    pub const MAX_PITCH_RAD: f32 = 89.0 * std::f32::consts::PI / 180.0;

    /// A pose from its parts (yaw wrapped, pitch clamped).
    pub fn new(position: Vec3, yaw_rad: f32, pitch_rad: f32) -> Pose {
        Pose {
            position,
            yaw_rad: wrap_angle(yaw_rad),
            pitch_rad: pitch_rad.clamp(-Pose::MAX_PITCH_RAD, Pose::MAX_PITCH_RAD),
        }
    }

    /// Unit view direction in the world frame.
    pub fn forward(&self) -> Vec3 {
        let (sy, cy) = self.yaw_rad.sin_cos();
        let (sp, cp) = self.pitch_rad.sin_cos();
        Vec3::new(sy * cp, sp, -cy * cp)
    }

    /// Unit vector to the camera's right (horizontal).
    pub fn right(&self) -> Vec3 {
        let (sy, cy) = self.yaw_rad.sin_cos();
        Vec3::new(cy, 0.0, sy)
    }

    /// Unit heading on the ground plane (forward with the pitch removed).
    pub fn heading(&self) -> Vec3 {
        let (sy, cy) = self.yaw_rad.sin_cos();
        Vec3::new(sy, 0.0, -cy)
    }

    /// Rigid transform taking camera-frame points (x right, y down, z forward) to the world frame.
    pub fn world_from_camera(&self) -> Affine3A {
        let z = Vec3A::from(self.forward());
        let x = Vec3A::from(self.right());
        let y = z.cross(x); // down
        Affine3A::from_mat3_translation(Mat3A::from_cols(x, y, z).into(), self.position)
    }

    /// Rigid transform taking world points into the camera frame.
    pub fn camera_from_world(&self) -> Affine3A {
        self.world_from_camera().inverse()
    }

    /// `[x, y, z, yaw_rad, pitch_rad]`, the layout datasets store.
    pub fn to_array(&self) -> [f32; 5] {
        [
            self.position.x,
            self.position.y,
            self.position.z,
            self.yaw_rad,
            self.pitch_rad,
        ]
    }

    /// The inverse of [`Pose::to_array`].
    pub fn from_array(a: [f32; 5]) -> Pose {
        Pose {
            position: Vec3::new(a[0], a[1], a[2]),
            yaw_rad: a[3],
            pitch_rad: a[4],
        }
    }
}

/// Wraps an angle to (-π, π].
pub fn wrap_angle(rad: f32) -> f32 {
    use std::f32::consts::{PI, TAU};
    let mut a = rad % TAU;
    if a <= -PI {
        a += TAU;
    } else if a > PI {
        a -= TAU;
    }
    a
}

/// Pinhole camera intrinsics in pixels; pixel (u, v) covers [u, u+1) × [v, v+1), centre at +0.5.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Intrinsics {
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// Focal length along x, in pixels.
    pub fx: f32,
    /// Focal length along y, in pixels.
    pub fy: f32,
    /// Principal point x, in pixels.
    pub cx: f32,
    /// Principal point y, in pixels.
    pub cy: f32,
}

impl Intrinsics {
    /// Smallest and largest accepted vertical field of view, in degrees.
    pub const FOV_RANGE_DEG: (f32, f32) = (10.0, 150.0);
    /// Largest accepted image side, in pixels.
    pub const MAX_SIDE: u32 = 4096;

    /// Square pixels with the given vertical field of view, centred principal point.
    ///
    /// Fails (naming the value) on a zero or huge size or a field of view outside
    /// [`Intrinsics::FOV_RANGE_DEG`].
    pub fn from_vfov_deg(width: u32, height: u32, vfov_deg: f32) -> crate::Result<Intrinsics> {
        check_resolution(width, height)?;
        let (lo, hi) = Intrinsics::FOV_RANGE_DEG;
        if !(vfov_deg.is_finite() && (lo..=hi).contains(&vfov_deg)) {
            return Err(crate::Error::OutOfRange {
                field: "fov".into(),
                value: format!("{vfov_deg}°"),
                expected: format!("expected a vertical field of view between {lo}° and {hi}°"),
            });
        }
        let f = 0.5 * height as f32 / (0.5 * vfov_deg.to_radians()).tan();
        Ok(Intrinsics {
            width,
            height,
            fx: f,
            fy: f,
            cx: 0.5 * width as f32,
            cy: 0.5 * height as f32,
        })
    }

    /// Vertical field of view in radians.
    pub fn vfov_rad(&self) -> f32 {
        2.0 * (0.5 * self.height as f32 / self.fy).atan()
    }

    /// Direction (not normalised, z = 1) in the camera frame through the centre of pixel (u, v).
    pub fn ray_camera(&self, u: f32, v: f32) -> Vec3 {
        Vec3::new(
            (u + 0.5 - self.cx) / self.fx,
            (v + 0.5 - self.cy) / self.fy,
            1.0,
        )
    }

    /// Camera-frame point seen at pixel coordinates (x, y) (continuous) with planar depth `depth_m`.
    pub fn unproject(&self, x: f32, y: f32, depth_m: f32) -> Vec3 {
        Vec3::new(
            (x - self.cx) / self.fx * depth_m,
            (y - self.cy) / self.fy * depth_m,
            depth_m,
        )
    }

    /// Continuous pixel coordinates and planar depth of a camera-frame point (None behind the camera).
    pub fn project(&self, p_camera: Vec3) -> Option<(f32, f32, f32)> {
        if p_camera.z <= 1e-6 {
            return None;
        }
        Some((
            self.fx * p_camera.x / p_camera.z + self.cx,
            self.fy * p_camera.y / p_camera.z + self.cy,
            p_camera.z,
        ))
    }

    /// Number of pixels.
    pub fn pixels(&self) -> usize {
        self.width as usize * self.height as usize
    }
}

/// Checks an image size: each side in 1..=[`Intrinsics::MAX_SIDE`].
pub fn check_resolution(width: u32, height: u32) -> crate::Result<()> {
    let max = Intrinsics::MAX_SIDE;
    if width == 0 || height == 0 || width > max || height > max {
        return Err(crate::Error::OutOfRange {
            field: "resolution".into(),
            value: format!("{width}x{height}"),
            expected: format!("expected each side between 1 and {max} pixels"),
        });
    }
    Ok(())
}

/// Parses `WIDTHxHEIGHT` (e.g. `128x128`), checking the range.
pub fn parse_resolution(text: &str) -> crate::Result<(u32, u32)> {
    let bad = || crate::Error::OutOfRange {
        field: "resolution".into(),
        value: text.into(),
        expected: "expected WIDTHxHEIGHT, e.g. 128x128".into(),
    };
    let (w, h) = text.trim().split_once(['x', 'X']).ok_or_else(bad)?;
    let w: u32 = w.trim().parse().map_err(|_| bad())?;
    let h: u32 = h.trim().parse().map_err(|_| bad())?;
    check_resolution(w, h)?;
    Ok((w, h))
}

/// How the camera moved during one tick, in the frame of the *previous* heading: what the world
/// model predicts and the engine integrates (collisions, falls and jumps are in the numbers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EgoMotion {
    /// Metres along the previous heading's right vector.
    pub right_m: f32,
    /// Metres up.
    pub up_m: f32,
    /// Metres along the previous heading (forward on the ground plane).
    pub forward_m: f32,
    /// Turn (radians, positive right).
    pub yaw_rad: f32,
    /// Look up (radians).
    pub pitch_rad: f32,
}

impl EgoMotion {
    /// The motion that takes `prev` to `next`.
    pub fn between(prev: &Pose, next: &Pose) -> EgoMotion {
        let d = next.position - prev.position;
        EgoMotion {
            right_m: d.dot(prev.right()),
            up_m: d.y,
            forward_m: d.dot(prev.heading()),
            yaw_rad: wrap_angle(next.yaw_rad - prev.yaw_rad),
            pitch_rad: next.pitch_rad - prev.pitch_rad,
        }
    }

    /// `prev` moved by this motion (yaw wrapped, pitch clamped).
    pub fn apply(&self, prev: &Pose) -> Pose {
        let d = prev.right() * self.right_m + Vec3::Y * self.up_m + prev.heading() * self.forward_m;
        Pose::new(
            prev.position + d,
            prev.yaw_rad + self.yaw_rad,
            prev.pitch_rad + self.pitch_rad,
        )
    }

    /// `[right, up, forward, yaw, pitch]`.
    pub fn to_array(&self) -> [f32; 5] {
        [
            self.right_m,
            self.up_m,
            self.forward_m,
            self.yaw_rad,
            self.pitch_rad,
        ]
    }

    /// The inverse of [`EgoMotion::to_array`].
    pub fn from_array(a: [f32; 5]) -> EgoMotion {
        EgoMotion {
            right_m: a[0],
            up_m: a[1],
            forward_m: a[2],
            yaw_rad: a[3],
            pitch_rad: a[4],
        }
    }

    /// The motion `action` asks for when nothing is in the way: its look deltas, and one tick of
    /// walking (`walk_speed`, or `sprint_speed` when sprinting forward; metres per second) along
    /// the keys' direction on the ground plane of the *new* heading, no vertical motion. This is
    /// what the controls mean, not what the world allows: a world model predicts how much of it
    /// happens (walls stop it, ledges lift it, gravity adds to it).
    pub fn intended(action: &crate::Action, walk_speed: f32, sprint_speed: f32) -> EgoMotion {
        use crate::Keys;
        let k = action.keys;
        let axis = |pos: Keys, neg: Keys| {
            f32::from(u8::from(k.contains(pos))) - f32::from(u8::from(k.contains(neg)))
        };
        let (fwd, side) = (
            axis(Keys::FORWARD, Keys::BACK),
            axis(Keys::RIGHT, Keys::LEFT),
        );
        let clamp = |v: f32| {
            if v.is_finite() {
                v.clamp(
                    -crate::Action::MAX_LOOK_DELTA_RAD,
                    crate::Action::MAX_LOOK_DELTA_RAD,
                )
            } else {
                0.0
            }
        };
        let (yaw, pitch) = (clamp(action.yaw_delta_rad), clamp(action.pitch_delta_rad));
        let prev = Pose::new(Vec3::ZERO, 0.0, 0.0);
        let turned = Pose::new(Vec3::ZERO, yaw, 0.0);
        let wish = (turned.heading() * fwd + turned.right() * side).normalize_or_zero();
        let speed = if k.contains(Keys::SPRINT) && fwd > 0.0 {
            sprint_speed
        } else {
            walk_speed
        };
        let d = wish * speed * crate::TICK_SECS;
        EgoMotion {
            right_m: d.dot(prev.right()),
            up_m: 0.0,
            forward_m: d.dot(prev.heading()),
            yaw_rad: yaw,
            pitch_rad: pitch,
        }
    }

    /// Distance moved (metres).
    pub fn distance_m(&self) -> f32 {
        Vec3::new(self.right_m, self.up_m, self.forward_m).length()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conventions_hold() {
        let p = Pose::new(Vec3::ZERO, 0.0, 0.0);
        assert!((p.forward() - Vec3::NEG_Z).length() < 1e-6);
        assert!((p.right() - Vec3::X).length() < 1e-6);
        let p = Pose::new(Vec3::ZERO, std::f32::consts::FRAC_PI_2, 0.0);
        assert!((p.forward() - Vec3::X).length() < 1e-6);
        // Camera +y is down in the world.
        let w = Pose::new(Vec3::new(1.0, 2.0, 3.0), 0.3, 0.2).world_from_camera();
        let down = w.transform_vector3(Vec3::Y);
        assert!(down.y < 0.0);
        assert!((w.transform_point3(Vec3::ZERO) - Vec3::new(1.0, 2.0, 3.0)).length() < 1e-6);
    }

    #[test]
    fn project_unproject_round_trip() {
        let k = Intrinsics::from_vfov_deg(128, 96, 70.0).expect("valid");
        let p = k.unproject(17.25, 80.5, 12.0);
        let (x, y, d) = k.project(p).expect("in front");
        assert!((x - 17.25).abs() < 1e-4 && (y - 80.5).abs() < 1e-4 && (d - 12.0).abs() < 1e-5);
    }

    #[test]
    fn bad_sizes_and_fov_are_named() {
        let e = Intrinsics::from_vfov_deg(0, 128, 70.0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("resolution"), "{e}");
        let e = Intrinsics::from_vfov_deg(128, 128, 500.0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("fov") && e.contains("500"), "{e}");
        assert!(parse_resolution("128x").is_err());
        assert_eq!(parse_resolution("64x32").expect("valid"), (64, 32));
    }

    #[test]
    fn wrap_angle_range() {
        for a in [-10.0f32, -3.2, 0.0, 3.2, 10.0] {
            let w = wrap_angle(a);
            assert!(w > -std::f32::consts::PI - 1e-6 && w <= std::f32::consts::PI + 1e-6);
            assert!(
                ((w - a) / std::f32::consts::TAU).fract().abs() < 1e-4
                    || ((w - a) / std::f32::consts::TAU).fract().abs() > 0.9999
            );
        }
    }

    #[test]
    fn ego_motion_round_trips() {
        let a = Pose::new(Vec3::new(1.0, 2.0, 3.0), 0.7, -0.2);
        let b = Pose::new(Vec3::new(1.3, 2.1, 2.6), 0.75, -0.1);
        let m = EgoMotion::between(&a, &b);
        let c = m.apply(&a);
        assert!((c.position - b.position).length() < 1e-5, "{c:?} vs {b:?}");
        assert!((c.yaw_rad - b.yaw_rad).abs() < 1e-6 && (c.pitch_rad - b.pitch_rad).abs() < 1e-6);
        assert_eq!(EgoMotion::from_array(m.to_array()), m);
    }
}
