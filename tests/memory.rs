//! The spatial memory on oracle frames: re-rendering, warping, eviction, persistence.

use std::path::Path;
use std::sync::Arc;

use reverie::core::metrics::psnr_rgb8;
use reverie::core::{Frame, Intrinsics, Pose};
use reverie::memory::{MemoryConfig, SpatialMemory, View, warp};
use reverie::world::episode::{self, EpisodeStart};
use reverie::world::policy::PolicyKind;
use reverie::world::{Renderer, World, WorldSpec};

fn world(name: &str) -> (World, Renderer) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("worlds")
        .join(format!("{name}.toml"));
    let spec = Arc::new(WorldSpec::load(&path).unwrap());
    (World::new(spec.clone()), Renderer::new(&spec))
}

fn k128() -> Intrinsics {
    Intrinsics::from_vfov_deg(128, 128, 70.0).unwrap()
}

/// Oracle frames of a mixed-policy episode.
fn episode(name: &str, seed: u64, steps: usize) -> (World, Renderer, Vec<Frame>) {
    let (mut w, r) = world(name);
    let k = k128();
    let mut frames = Vec::new();
    let mut policy = PolicyKind::Mixed.build(seed);
    episode::run(
        &mut w,
        &r,
        &k,
        policy.as_mut(),
        EpisodeStart { seed, steps },
        |_, f, _| {
            frames.push(f.clone());
            Ok::<(), ()>(())
        },
    )
    .unwrap();
    (w, r, frames)
}

fn covered_psnr(v: &View, f: &Frame) -> f64 {
    psnr_rgb8(&v.rgb, &f.rgb, Some(&v.mask())).unwrap()
}

#[test]
fn same_pose_rerender_reproduces_one_frame() {
    let (_, _, frames) = episode("meadow", 1_000_001, 1);
    let f = &frames[0];
    let k = k128();
    let mut mem = SpatialMemory::new(MemoryConfig::default()).unwrap();
    mem.write(&k, &f.rgb, &f.depth_m, &f.pose, 0).unwrap();
    let mut v = View::new(&k);
    mem.render(&f.pose, &k, &mut v);
    let p = covered_psnr(&v, f);
    assert!(p >= 35.0, "same-pose PSNR {p:.2} dB");
    assert!(v.coverage() >= 0.98, "coverage {}", v.coverage());
}
