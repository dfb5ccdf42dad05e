//! Spatial memory benchmarks at 128×128 on one thread: the per-tick pipeline (render the memory
//! into the new pose + warp the previous frame + write the new frame) and each part alone, over a
//! recorded oracle walk with the memory already holding the walk's first half.
//!
//! `cargo bench --bench memory`. The 60-minute session is `reverie memory-bench` (README).

use std::path::Path;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use reverie::core::{Frame, Intrinsics};
use reverie::memory::{MemoryConfig, SpatialMemory, View, warp};
use reverie::world::episode::{self, EpisodeStart};
use reverie::world::policy::PolicyKind;
use reverie::world::{Renderer, World, WorldSpec};

fn walk(name: &str, steps: usize) -> (Intrinsics, Vec<Frame>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("worlds")
        .join(format!("{name}.toml"));
    let spec = Arc::new(WorldSpec::load(&path).unwrap_or_else(|e| panic!("{e}")));
    let renderer = Renderer::new(&spec);
    let mut world = World::new(spec.clone());
    let k = Intrinsics::from_vfov_deg(128, 128, 70.0).unwrap_or_else(|e| panic!("{e}"));
    let mut frames = Vec::new();
    let seed = 1_000_000;
    let mut policy = PolicyKind::Mixed.build(seed);
    let r: Result<(), ()> = episode::run(
        &mut world,
        &renderer,
        &k,
        policy.as_mut(),
        EpisodeStart { seed, steps },
        |_, f, _| {
            frames.push(f.clone());
            Ok(())
        },
    );
    r.unwrap_or_else(|()| panic!("episode failed"));
    (k, frames)
}

fn memory(c: &mut Criterion) {
    for name in ["meadow", "village"] {
        let (k, frames) = walk(name, 480);
        let half = frames.len() / 2;
        let config = MemoryConfig::default();
        let scale = config.splatting();
        let mut mem = SpatialMemory::new(config).unwrap_or_else(|e| panic!("{e}"));
        for f in &frames[..half] {
            mem.write(&k, &f.rgb, &f.depth_m, &f.pose, f.tick)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let mut view = View::new(&k);
        let mut warped = View::new(&k);
        let mut group = c.benchmark_group(format!("memory_128x128_1thread_{name}"));
        group.sample_size(30);
        let mut t = half;
        let mut tick = frames.len() as u64;
        group.bench_function("tick_render_warp_write", |b| {
            b.iter(|| {
                let (p, f) = (&frames[t - 1], &frames[t]);
                mem.render(&f.pose, &k, &mut view);
                warp(&k, &p.rgb, &p.depth_m, &p.pose, &f.pose, scale, &mut warped)
                    .unwrap_or_else(|e| panic!("{e}"));
                mem.write(&k, &f.rgb, &f.depth_m, &f.pose, tick)
                    .unwrap_or_else(|e| panic!("{e}"));
                tick += 1;
                t = if t + 1 < frames.len() { t + 1 } else { half };
            })
        });
        group.bench_function("render", |b| {
            b.iter(|| {
                mem.render(&frames[t].pose, &k, &mut view);
                t = if t + 1 < frames.len() { t + 1 } else { half };
            })
        });
        group.bench_function("warp", |b| {
            b.iter(|| {
                let (p, f) = (&frames[t - 1], &frames[t]);
                warp(&k, &p.rgb, &p.depth_m, &p.pose, &f.pose, scale, &mut warped)
                    .unwrap_or_else(|e| panic!("{e}"));
                t = if t + 1 < frames.len() { t + 1 } else { half };
            })
        });
        group.finish();
    }
}

criterion_group!(benches, memory);
criterion_main!(benches);
