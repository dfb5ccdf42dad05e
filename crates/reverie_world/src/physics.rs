//! Walking physics at a fixed 24 Hz tick: walk, strafe, turn, look, jump, sprint; axis-by-axis
//! collision against blocks, gravity, and stepping up onto a one-block ledge. Deterministic.

use glam::Vec3;
use reverie_core::pose::wrap_angle;
use reverie_core::{Action, Keys, Pose, TICK_SECS};

use crate::world::World;

/// Player body and movement constants (blocks, seconds).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Body {
    /// Half the width of the collision box.
    pub half_width: f32,
    /// Height of the collision box.
    pub height: f32,
    /// Eye height above the feet.
    pub eye_height: f32,
    /// Walking speed.
    pub walk_speed: f32,
    /// Sprinting speed.
    pub sprint_speed: f32,
    /// Gravity.
    pub gravity: f32,
    /// Initial upward speed of a jump (1.25 blocks high).
    pub jump_speed: f32,
    /// Fastest fall.
    pub terminal_speed: f32,
    /// Highest ledge walked onto without jumping.
    pub step_height: f32,
}

impl Default for Body {
    fn default() -> Self {
        Body {
            half_width: 0.3,
            height: 1.8,
            eye_height: 1.62,
            walk_speed: 4.3,
            sprint_speed: 5.6,
            gravity: 28.0,
            jump_speed: 8.4,
            terminal_speed: 40.0,
            step_height: 1.0,
        }
    }
}

/// The walker's state.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Player {
    /// Feet position (centre of the bottom of the collision box).
    pub feet: Vec3,
    /// Velocity in blocks/s.
    pub velocity: Vec3,
    /// Heading, radians.
    pub yaw_rad: f32,
    /// Look elevation, radians.
    pub pitch_rad: f32,
    /// Standing on something.
    pub on_ground: bool,
    /// The last horizontal move was cut short by a wall.
    pub blocked: bool,
    /// Constants.
    pub body: Body,
}

impl Player {
    /// A player standing at `feet`, looking along `yaw_rad`.
    pub fn new(feet: Vec3, yaw_rad: f32) -> Player {
        Player {
            feet,
            velocity: Vec3::ZERO,
            yaw_rad: wrap_angle(yaw_rad),
            pitch_rad: 0.0,
            on_ground: false,
            blocked: false,
            body: Body::default(),
        }
    }

    /// The camera pose (at the eyes).
    pub fn pose(&self) -> Pose {
        Pose {
            position: self.feet + Vec3::new(0.0, self.body.eye_height, 0.0),
            yaw_rad: self.yaw_rad,
            pitch_rad: self.pitch_rad,
        }
    }

    /// Advances one tick under `action`. The world must be loaded around the player.
    pub fn step(&mut self, world: &World, action: &Action) {
        let dt = TICK_SECS;
        // Look: deltas are clamped to what the Action type allows, non-finite ones ignored.
        let clamp = |v: f32| {
            if v.is_finite() {
                v.clamp(-Action::MAX_LOOK_DELTA_RAD, Action::MAX_LOOK_DELTA_RAD)
            } else {
                0.0
            }
        };
        self.yaw_rad = wrap_angle(self.yaw_rad + clamp(action.yaw_delta_rad));
        self.pitch_rad = (self.pitch_rad + clamp(action.pitch_delta_rad))
            .clamp(-Pose::MAX_PITCH_RAD, Pose::MAX_PITCH_RAD);

        // Walk: the wish direction on the ground plane.
        let k = action.keys;
        let fwd = f32::from(u8::from(k.contains(Keys::FORWARD)))
            - f32::from(u8::from(k.contains(Keys::BACK)));
        let side = f32::from(u8::from(k.contains(Keys::RIGHT)))
            - f32::from(u8::from(k.contains(Keys::LEFT)));
        let pose = self.pose();
        let mut wish = pose.heading() * fwd + pose.right() * side;
        if wish.length_squared() > 0.0 {
            wish = wish.normalize();
        }
        let speed = if k.contains(Keys::SPRINT) && fwd > 0.0 {
            self.body.sprint_speed
        } else {
            self.body.walk_speed
        };
        self.velocity.x = wish.x * speed;
        self.velocity.z = wish.z * speed;

        // Jump and fall.
        if k.contains(Keys::JUMP) && self.on_ground {
            self.velocity.y = self.body.jump_speed;
        }
        self.velocity.y = (self.velocity.y - self.body.gravity * dt).max(-self.body.terminal_speed);

        // Vertical first (in sub-steps no longer than 0.45 blocks, so nothing is tunnelled).
        let dy = self.velocity.y * dt;
        let n = (dy.abs() / 0.45).ceil().max(1.0) as i32;
        self.on_ground = false;
        for _ in 0..n {
            let target = self.feet + Vec3::new(0.0, dy / n as f32, 0.0);
            if self.collides(world, target) {
                if dy < 0.0 {
                    // Land on the top of the block below.
                    self.feet.y = (target.y).floor() + 1.0;
                    if self.collides(world, self.feet) {
                        self.feet.y = target.y.ceil();
                    }
                    self.on_ground = true;
                } else {
                    // Bump the head.
                    self.feet.y = (target.y + self.body.height).floor() - self.body.height - 1e-3;
                }
                self.velocity.y = 0.0;
                break;
            }
            self.feet = target;
        }
        if !self.on_ground
            && self.velocity.y <= 0.0
            && self.collides(world, self.feet - Vec3::new(0.0, 0.02, 0.0))
        {
            self.on_ground = true;
        }

        // Then each horizontal axis, stepping up a one-block ledge when on the ground.
        self.blocked = false;
        for axis in [0, 2] {
            let delta = self.velocity[axis] * dt;
            if delta == 0.0 {
                continue;
            }
            let mut target = self.feet;
            target[axis] += delta;
            if !self.collides(world, target) {
                self.feet = target;
                continue;
            }
            let lifted = target + Vec3::new(0.0, self.body.step_height, 0.0);
            let standing =
                self.on_ground || self.collides(world, self.feet - Vec3::new(0.0, 0.02, 0.0));
            if standing
                && !self.collides(world, lifted)
                && !self.collides(
                    world,
                    self.feet + Vec3::new(0.0, self.body.step_height, 0.0),
                )
            {
                // Step up, then settle onto the ledge.
                let mut settled = lifted;
                let floor = lifted.y.floor();
                settled.y = if self.collides(world, Vec3::new(lifted.x, floor - 0.01, lifted.z)) {
                    floor
                } else {
                    lifted.y
                };
                if self.collides(world, settled) {
                    settled = lifted;
                }
                self.feet = settled;
                continue;
            }
            // Slide up against the wall.
            let face = if delta > 0.0 {
                (target[axis] + self.body.half_width).floor() - self.body.half_width - 1e-3
            } else {
                (target[axis] - self.body.half_width).floor() + 1.0 + self.body.half_width + 1e-3
            };
            let mut snapped = self.feet;
            snapped[axis] = face;
            if !self.collides(world, snapped) {
                self.feet = snapped;
            }
            self.velocity[axis] = 0.0;
            self.blocked = true;
        }
    }

    /// Whether the collision box with its feet at `feet` overlaps a solid block.
    pub fn collides(&self, world: &World, feet: Vec3) -> bool {
        let hw = self.body.half_width;
        let (x0, x1) = ((feet.x - hw).floor() as i32, (feet.x + hw).floor() as i32);
        let (y0, y1) = (
            feet.y.floor() as i32,
            (feet.y + self.body.height).floor() as i32,
        );
        let (z0, z1) = ((feet.z - hw).floor() as i32, (feet.z + hw).floor() as i32);
        // The top face of the box touching a block exactly is not a collision.
        let y1 = if (feet.y + self.body.height).fract() == 0.0 {
            y1 - 1
        } else {
            y1
        };
        for y in y0..=y1 {
            for z in z0..=z1 {
                for x in x0..=x1 {
                    if world.is_solid(x, y, z) {
                        return true;
                    }
                }
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::Block;
    use crate::spec::WorldSpec;
    use std::path::Path;
    use std::sync::Arc;

    fn flat() -> World {
        let text = "schema_version = 1\nname = \"flat\"\n[generator]\nkind = \"flat\"\nseed = 1\nbase_height = 20\n";
        let mut w = World::new(Arc::new(
            WorldSpec::parse(text, Path::new("flat.toml")).expect("valid"),
        ));
        w.ensure_loaded(Vec3::new(0.0, 20.0, 0.0));
        w
    }

    fn run(w: &World, p: &mut Player, a: Action, ticks: usize) {
        for _ in 0..ticks {
            p.step(w, &a);
        }
    }

    #[test]
    fn falling_lands_on_the_ground() {
        let w = flat();
        let mut p = Player::new(Vec3::new(0.5, 30.0, 0.5), 0.0);
        run(&w, &mut p, Action::IDLE, 48);
        assert!(p.on_ground);
        assert!((p.feet.y - 20.0).abs() < 1e-4, "feet at {}", p.feet.y);
        assert_eq!(p.velocity.y, 0.0);
    }

    #[test]
    fn on_open_flat_ground_the_player_moves_as_intended() {
        // What the controls mean (`EgoMotion::intended`, which the world model builds on) is what
        // the physics does when nothing is in the way: every key combination and turn.
        use reverie_core::EgoMotion;
        let w = flat();
        let body = Body::default();
        let mut p = Player::new(Vec3::new(0.5, 20.0, 0.5), 0.3);
        run(&w, &mut p, Action::IDLE, 2);
        let mut checked = 0;
        for bits in 0u8..64 {
            for (i, yaw) in [-0.4f32, 0.0, 0.07, 1.3].into_iter().enumerate() {
                let mut keys = Keys::from_bits_truncate(bits);
                keys.set(Keys::JUMP, false);
                let a = Action::keys(keys).with_look(yaw, 0.02 * i as f32 - 0.03);
                let before = p.pose();
                p.step(&w, &a);
                let m = EgoMotion::between(&before, &p.pose());
                let want = EgoMotion::intended(&a, body.walk_speed, body.sprint_speed);
                for (got, want) in m.to_array().into_iter().zip(want.to_array()) {
                    assert!((got - want).abs() < 1e-4, "{a:?}: {m:?} vs {want:?}");
                }
                checked += 1;
            }
        }
        assert_eq!(checked, 256);
    }

    #[test]
    fn walking_into_a_wall_stops() {
        let mut w = flat();
        // A two-block wall across the path at z = -5.
        for x in -3..=3 {
            w.set_block(x, 20, -5, Block::StoneBrick);
            w.set_block(x, 21, -5, Block::StoneBrick);
        }
        let mut p = Player::new(Vec3::new(0.5, 20.0, 0.5), 0.0); // facing -z
        run(&w, &mut p, Action::keys(Keys::FORWARD), 72);
        assert!(p.blocked, "the wall must block");
        assert!(
            p.feet.z > -4.0 + 0.29 && p.feet.z < -3.6,
            "stopped at z = {}",
            p.feet.z
        );
        assert!((p.feet.y - 20.0).abs() < 1e-4);
    }

    #[test]
    fn one_block_ledges_are_stepped_onto_and_jumps_rise() {
        let mut w = flat();
        for x in -3..=3 {
            for z in -10..=-3 {
                w.set_block(x, 20, z, Block::Dirt);
            }
        }
        let mut p = Player::new(Vec3::new(0.5, 20.0, 0.5), 0.0);
        run(&w, &mut p, Action::keys(Keys::FORWARD), 24);
        assert!(
            (p.feet.y - 21.0).abs() < 1e-4 && p.feet.z < -3.0,
            "{:?}",
            p.feet
        );
        let mut q = Player::new(Vec3::new(0.5, 20.0, 0.5), 0.0);
        run(&w, &mut q, Action::IDLE, 2);
        q.step(&w, &Action::keys(Keys::JUMP));
        let mut peak: f32 = 0.0;
        for _ in 0..24 {
            q.step(&w, &Action::IDLE);
            peak = peak.max(q.feet.y - 20.0);
        }
        assert!(peak > 1.0 && peak < 1.4, "jump peak {peak}");
    }

    #[test]
    fn look_clamps_pitch_and_wraps_yaw() {
        let w = flat();
        let mut p = Player::new(Vec3::new(0.5, 20.0, 0.5), 0.0);
        run(&w, &mut p, Action::IDLE.with_look(0.5, 0.5), 20);
        assert!(p.pitch_rad <= Pose::MAX_PITCH_RAD + 1e-6);
        assert!(p.yaw_rad.abs() <= std::f32::consts::PI + 1e-6);
        p.step(&w, &Action::IDLE.with_look(f32::NAN, f32::INFINITY));
        assert!(p.yaw_rad.is_finite() && p.pitch_rad.is_finite());
    }

    #[test]
    fn deterministic() {
        let w = flat();
        let mut a = Player::new(Vec3::new(0.5, 25.0, 0.5), 0.3);
        let mut b = a;
        let acts = [
            Action::keys(Keys::FORWARD | Keys::SPRINT).with_look(0.05, 0.0),
            Action::keys(Keys::LEFT | Keys::JUMP),
        ];
        for i in 0..200 {
            a.step(&w, &acts[i % 2]);
            b.step(&w, &acts[i % 2]);
        }
        assert_eq!(a, b);
    }
}
