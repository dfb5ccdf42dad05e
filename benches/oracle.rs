//! Oracle benchmarks: ray caster frames/s at 128×128 and 256×256 on one thread (every bundled world,
//! a ring of headings and pitches), and dataset generation frames/s on two threads (elements are
//! frames: criterion's `elem/s`).
//!
//! `cargo bench --bench oracle` (or `make bench`).

use std::path::Path;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use reverie::core::glam::Vec3;
use reverie::core::{Frame, Intrinsics, Pose};
use reverie::world::{Renderer, World, WorldSpec};

const WORLDS: [&str; 4] = ["meadow", "canyon", "forest", "village"];

fn load(name: &str) -> Arc<WorldSpec> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("worlds")
        .join(format!("{name}.toml"));
    match WorldSpec::load(&path) {
        Ok(s) => Arc::new(s),
        Err(e) => panic!("bundled world must load: {e}"),
    }
}

/// Poses around each world's spawn point: eight headings × three pitches.
fn poses(world: &World, seed: u64) -> Vec<Pose> {
    let eye = world.find_spawn(seed) + Vec3::new(0.0, 1.62, 0.0);
    (0..24)
        .map(|i| {
            Pose::new(
                eye,
                (i % 8) as f32 * std::f32::consts::FRAC_PI_4,
                [-0.35, 0.0, 0.25][i / 8],
            )
        })
        .collect()
}

fn ray_caster(c: &mut Criterion) {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().ok();
    for side in [128u32, 256] {
        let mut group = c.benchmark_group(format!("raycast_{side}x{side}_1thread"));
        group.throughput(Throughput::Elements(1));
        group.sample_size(20);
        for name in WORLDS {
            let spec = load(name);
            let renderer = Renderer::new(&spec);
            let mut world = World::new(spec.clone());
            let poses = poses(&world, spec.generator.seed);
            let k = Intrinsics::from_vfov_deg(side, side, 70.0).unwrap_or_else(|e| panic!("{e}"));
            let mut frame = Frame::new(side, side, poses[0], 0);
            renderer.render_into(&mut world, &k, &mut frame);
            let mut i = 0;
            group.bench_function(name, |b| {
                b.iter(|| {
                    frame.pose = poses[i % poses.len()];
                    i += 1;
                    match &pool {
                        Some(p) => p.install(|| renderer.render_into(&mut world, &k, &mut frame)),
                        None => renderer.render_into(&mut world, &k, &mut frame),
                    }
                });
            });
        }
        group.finish();
    }
}

/// `reverie datagen`'s engine: 4 episodes × 48 ticks at 128×128 on two threads, written to disk.
fn datagen_two_threads(c: &mut Criterion) {
    use reverie::world::datagen::{self, DatagenConfig, Existing};
    use reverie::world::policy::PolicyKind;
    let tmp = match tempfile::tempdir() {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    };
    let mut group = c.benchmark_group("datagen_128x128_2threads");
    group.sample_size(10);
    for name in WORLDS {
        let spec = load(name);
        let cfg = DatagenConfig {
            world_file: format!("worlds/{name}.toml").into(),
            seed: spec.generator.seed,
            spec: (*spec).clone(),
            policy: PolicyKind::RandomWalk,
            episodes: 4,
            steps: 48,
            intrinsics: Intrinsics::from_vfov_deg(128, 128, 70.0).unwrap_or_else(|e| panic!("{e}")),
            fov_deg: 70.0,
            out: tmp.path().join(name),
            existing: Existing::Overwrite,
            threads: 2,
        };
        group.throughput(Throughput::Elements((cfg.episodes * cfg.steps) as u64));
        group.bench_function(name, |b| {
            b.iter(|| datagen::generate(&cfg, &|| {}).unwrap_or_else(|e| panic!("{e}")))
        });
    }
    group.finish();
}

criterion_group!(benches, ray_caster, datagen_two_threads);
criterion_main!(benches);
