//! Renders a still of every bundled world (the README's pictures): from the world's first spawn
//! point it tries eight headings and keeps the busiest view (highest luminance variance).
//!
//! `cargo run --release --example stills -- [OUT_DIR] [WIDTHxHEIGHT]`

#![allow(clippy::print_stderr)]

use std::path::PathBuf;
use std::sync::Arc;

use reverie::core::glam::Vec3;
use reverie::core::{Intrinsics, Pose, pose::parse_resolution};
use reverie::world::{Renderer, World, WorldSpec, imageio};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(args.next().unwrap_or_else(|| "assets/stills".into()));
    let (w, h) = parse_resolution(&args.next().unwrap_or_else(|| "320x240".into()))?;
    std::fs::create_dir_all(&out)?;
    for name in ["meadow", "canyon", "forest", "village"] {
        let spec = Arc::new(WorldSpec::load(&PathBuf::from(format!(
            "worlds/{name}.toml"
        )))?);
        let mut world = World::new(spec.clone());
        let renderer = Renderer::new(&spec);
        let feet = world.find_spawn(spec.generator.seed);
        let k = Intrinsics::from_vfov_deg(w, h, 70.0)?;
        let mut best = None;
        for i in 0..8 {
            let pose = Pose::new(
                feet + Vec3::new(0.0, 1.62, 0.0),
                i as f32 * std::f32::consts::FRAC_PI_4,
                -0.05,
            );
            let frame = renderer.render_frame(&mut world, &pose, &k, 0);
            let score = luminance_variance(&frame.rgb);
            if best.as_ref().is_none_or(|(s, _)| score > *s) {
                best = Some((score, frame));
            }
        }
        if let Some((_, frame)) = best {
            let path = out.join(format!("{name}.png"));
            imageio::write_png(&path, w, h, &frame.rgb)?;
            eprintln!("wrote {}", path.display());
        }
        if name == "village"
            && let Some(pose) = inside_a_house(&mut world, feet)
        {
            let frame = renderer.render_frame(&mut world, &pose, &k, 0);
            let path = out.join("village_inside.png");
            imageio::write_png(&path, w, h, &frame.rgb)?;
            eprintln!("wrote {}", path.display());
        }
    }
    Ok(())
}

/// A view inside the house nearest to `near`: standing three blocks from a bookshelf, facing it.
fn inside_a_house(world: &mut World, near: Vec3) -> Option<Pose> {
    use reverie::world::Block;
    world.ensure_loaded(near);
    let (cx, cz) = (near.x as i32, near.z as i32);
    for r in 0..64 {
        for z in cz - r..=cz + r {
            for x in cx - r..=cx + r {
                if (x - cx).abs() != r && (z - cz).abs() != r {
                    continue;
                }
                let Some(top) = world.column_top(x, z) else {
                    continue;
                };
                for y in 1..top {
                    if world.block(x, y, z) != Block::Bookshelf
                        || world.block(x, y - 1, z) != Block::Planks
                    {
                        continue;
                    }
                    for (dx, dz) in [(0, 3), (0, -3), (3, 0), (-3, 0)] {
                        let (px, pz) = (x + dx, z + dz);
                        if !world.is_solid(px, y, pz)
                            && !world.is_solid(px, y + 1, pz)
                            && world.is_solid(px, y - 1, pz)
                        {
                            let eye = Vec3::new(px as f32 + 0.5, y as f32 + 1.62, pz as f32 + 0.5);
                            let yaw = (-dx as f32).atan2(dz as f32);
                            return Some(Pose::new(eye, yaw, -0.1));
                        }
                    }
                }
            }
        }
    }
    None
}

fn luminance_variance(rgb: &[u8]) -> f64 {
    let lum: Vec<f64> = rgb
        .chunks_exact(3)
        .map(|p| 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]))
        .collect();
    let mean = lum.iter().sum::<f64>() / lum.len() as f64;
    lum.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / lum.len() as f64
}
