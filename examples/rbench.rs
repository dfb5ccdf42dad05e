//! Ray caster frames/s per bundled world at 128×128 on this thread, shadows on and off (a quick
//! check while tuning; the benchmark of record is `cargo bench --bench oracle`).
//!
//! `cargo run --release --example rbench [WORLD] [FRAMES]`

#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::time::Instant;

use reverie::core::glam::Vec3;
use reverie::core::{Frame, Intrinsics, Pose};
use reverie::world::{Renderer, World, WorldSpec};

fn main() -> anyhow::Result<()> {
    let only = std::env::args().nth(1);
    let frames: usize = std::env::args().nth(2).map_or(Ok(480), |s| s.parse())?;
    for name in ["meadow", "canyon", "forest", "village"] {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        for shadows in [true, false] {
            let mut spec = WorldSpec::load(std::path::Path::new(&format!("worlds/{name}.toml")))?;
            spec.sun.shadows = shadows;
            let spec = Arc::new(spec);
            let mut world = World::new(spec.clone());
            let r = Renderer::new(&spec);
            let eye = world.find_spawn(spec.generator.seed) + Vec3::new(0.0, 1.62, 0.0);
            let k = Intrinsics::from_vfov_deg(128, 128, 70.0)?;
            let poses: Vec<Pose> = (0..24)
                .map(|i| {
                    Pose::new(
                        eye,
                        (i % 8) as f32 * std::f32::consts::FRAC_PI_4,
                        [-0.35, 0.0, 0.25][i / 8],
                    )
                })
                .collect();
            let mut f = Frame::new(128, 128, poses[0], 0);
            r.render_into(&mut world, &k, &mut f);
            let t = Instant::now();
            for i in 0..frames {
                f.pose = poses[i % poses.len()];
                r.render_into(&mut world, &k, &mut f);
            }
            let dt = t.elapsed().as_secs_f64();
            println!(
                "{name:<8} shadows={shadows:<5}: {:>4.0} frames/s ({:.0} ns/pixel)",
                frames as f64 / dt,
                dt / frames as f64 / 16384.0 * 1e9
            );
        }
    }
    Ok(())
}
