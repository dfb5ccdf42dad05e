//! The spatial memory on oracle frames: re-rendering, warping, eviction, persistence.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use reverie::core::metrics::psnr_rgb8;
use reverie::core::{Frame, Intrinsics, Pose};
use reverie::memory::persist::crc32;
use reverie::memory::{MemoryConfig, SpatialMemory, Splatting, View, warp};
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

#[test]
fn a_crowded_chunk_costs_what_its_pixels_need() {
    // A model's depth is noisy: standing 1.5 m from a wall, the same view written 128 times
    // with ±4 % depth jitter fills the few chunks in front of the camera with many cells per
    // pixel. The render draws at most two splats per pixel per chunk and still shows the wall.
    let (_, _, frames) = episode("meadow", 1_000_001, 1);
    let f = &frames[0];
    let k = k128();
    let mut mem = SpatialMemory::new(MemoryConfig::default()).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for tick in 0..128 {
        let depth: Vec<f32> = (0..k.pixels())
            .map(|_| 1.5 * (1.0 + rng.random_range(-0.04..0.04)))
            .collect();
        mem.write(&k, &f.rgb, &depth, &f.pose, tick).unwrap();
    }
    let stats = mem.stats();
    let mut v = View::new(&k);
    mem.render(&f.pose, &k, &mut v);
    let bound = 2 * k.pixels() * stats.chunks as usize;
    assert!(
        stats.cells as usize > bound && v.splats_drawn() <= bound,
        "drew {} splats of {} cells in {} chunks (bound {bound})",
        v.splats_drawn(),
        stats.cells,
        stats.chunks
    );
    let p = covered_psnr(&v, f);
    assert!(p >= 20.0, "PSNR {p:.2} dB");
    assert!(v.coverage() >= 0.97, "coverage {}", v.coverage());
    // With a render budget (what the runtime sets), the whole render stays near it.
    let bytes = mem.to_bytes();
    let mut budgeted = SpatialMemory::from_bytes(&bytes).unwrap();
    budgeted.set_render_budget(2.0).unwrap();
    budgeted.render(&f.pose, &k, &mut v);
    assert!(
        v.splats_drawn() <= 3 * k.pixels(),
        "drew {} splats with a budget of 2 per pixel",
        v.splats_drawn()
    );
    assert!(v.coverage() >= 0.9, "coverage {}", v.coverage());
}

#[test]
fn write_new_stores_only_what_the_memory_did_not_show() {
    let (_, _, frames) = episode("village", 1_000_002, 1);
    let f = &frames[0];
    let k = k128();
    let mut mem = SpatialMemory::new(MemoryConfig::default()).unwrap();
    let mut v = View::new(&k);
    mem.render(&f.pose, &k, &mut v);
    mem.write_new(&k, &f.rgb, &f.depth_m, &f.pose, 0, &v)
        .unwrap();
    let first = mem.stats();
    assert!(first.points_written > 8000, "{first:?}");
    // The same frame again, a little noisy (as a model's would be): next to nothing new is
    // stored (a written frame adds a cell per pixel).
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let noisy: Vec<f32> = f
        .depth_m
        .iter()
        .map(|&z| z * (1.0 + rng.random_range(-0.02..0.02)))
        .collect();
    mem.render(&f.pose, &k, &mut v);
    mem.carve(&v, &noisy);
    mem.write_new(&k, &f.rgb, &noisy, &f.pose, 1, &v).unwrap();
    let again = mem.stats();
    assert!(
        again.cells < first.cells + first.cells / 20,
        "cells grew: {first:?} -> {again:?}"
    );
    // Something new in front (a wall across the middle rows at 1 m) is stored.
    let mut wall = f.depth_m.clone();
    let w = k.width as usize;
    for z in &mut wall[48 * w..80 * w] {
        *z = 1.0;
    }
    mem.render(&f.pose, &k, &mut v);
    mem.carve(&v, &wall);
    mem.write_new(&k, &f.rgb, &wall, &f.pose, 2, &v).unwrap();
    assert!(mem.stats().points_written >= again.points_written + 32 * w as u64 - 64);
    mem.render(&f.pose, &k, &mut v);
    let shown_wall = (48 * w..80 * w)
        .filter(|&i| (v.depth_m[i] - 1.0).abs() < 0.05)
        .count();
    assert!(shown_wall > 30 * w, "wall shown on {shown_wall} pixels");
}

#[test]
fn write_new_refines_a_known_surface_only_as_configured() {
    // A textured wall straight ahead, seen from 8 m, then 4 m (one level of detail finer),
    // then 2 m (two levels finer): `refine_levels` says from how many levels finer a frame
    // adds to what the memory already shows.
    let k = k128();
    let wall = Pose::new(reverie::core::glam::Vec3::new(0.5, 1.6, -20.5), 0.0, 0.0);
    let seen_from = |d: f32| {
        let pose = Pose::new(wall.position - wall.forward() * d, 0.0, 0.0);
        let mut rgb = Vec::with_capacity(k.pixels() * 3);
        for v in 0..k.height {
            for u in 0..k.width {
                // The wall's own texture: 0.1 m stripes, the same from every distance.
                let r = k.ray_camera(u as f32, v as f32) * d;
                let c = if ((r.x / 0.1).floor() + (r.y / 0.1).floor()) as i32 % 2 == 0 {
                    40
                } else {
                    200
                };
                rgb.extend([c, c / 2, 255 - c]);
            }
        }
        (rgb, vec![d; k.pixels()], pose)
    };
    let cells_after = |refine_levels: u32| {
        let mut mem = SpatialMemory::new(MemoryConfig {
            refine_levels,
            ..MemoryConfig::default()
        })
        .unwrap();
        let mut v = View::new(&k);
        let mut cells = Vec::new();
        for (tick, d) in [8.0, 4.0, 2.0].into_iter().enumerate() {
            let (rgb, depth, pose) = seen_from(d);
            mem.render(&pose, &k, &mut v);
            mem.carve(&v, &depth);
            mem.write_new(&k, &rgb, &depth, &pose, tick as u64, &v)
                .unwrap();
            cells.push(mem.stats().cells);
        }
        cells
    };
    let px = k.pixels() as u64;
    let grew = |a: u64, b: u64| b >= a + px * 9 / 10;
    let same = |a: u64, b: u64| b <= a + px / 20;
    let (never, every, two) = (cells_after(0), cells_after(1), cells_after(2));
    assert!(never[0] > px / 2, "{never:?}");
    // 1: every level nearer adds a frame's worth; 2: only the second level does.
    assert!(
        grew(every[0], every[1]) && grew(every[1], every[2]),
        "1: {every:?}"
    );
    assert!(same(two[0], two[1]) && grew(two[1], two[2]), "2: {two:?}");
    // 0: nothing from a level nearer; from two levels nearer, only where the far cells' cores
    // (a quarter of each cell's 4×4 pixels) left the frame's pixels without a surface shown.
    assert!(same(never[0], never[1]), "0: {never:?}");
    assert!(
        never[2] - never[1] < two[2] - two[1],
        "0: {never:?}, 2: {two:?}"
    );
    let e = SpatialMemory::new(MemoryConfig {
        refine_levels: 11,
        ..MemoryConfig::default()
    })
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("refine_levels"), "{e}");
}

#[test]
fn write_new_takes_depth_within_the_known_margin_for_the_surface_shown() {
    // The same frame again with its depth 8 % nearer everywhere (a model's depth wanders):
    // within the default margin (10 % + 0.2 m) nothing is new; with the memory's own
    // same-surface margin (6 %) as the known margin, most of it is a new surface in front.
    let (_, _, frames) = episode("village", 1_000_002, 1);
    let f = &frames[0];
    let k = k128();
    let nearer: Vec<f32> = f.depth_m.iter().map(|&z| z * 0.92).collect();
    let added = |config: MemoryConfig| {
        let mut mem = SpatialMemory::new(config).unwrap();
        let mut v = View::new(&k);
        mem.render(&f.pose, &k, &mut v);
        mem.write_new(&k, &f.rgb, &f.depth_m, &f.pose, 0, &v)
            .unwrap();
        let before = mem.stats().cells;
        mem.render(&f.pose, &k, &mut v);
        mem.carve(&v, &nearer);
        mem.write_new(&k, &f.rgb, &nearer, &f.pose, 1, &v).unwrap();
        mem.stats().cells as i64 - before as i64
    };
    let solid = f.depth_m.iter().filter(|z| z.is_finite()).count() as i64;
    let default = added(MemoryConfig::default());
    assert!(default < solid / 20, "{default} of {solid}");
    let tight = added(MemoryConfig {
        known_margin: 0.06,
        known_margin_m: 0.0,
        ..MemoryConfig::default()
    });
    assert!(tight > solid / 2, "{tight} of {solid}");
    for (field, bad) in [
        ("known_margin", (1.5, 0.2)),
        ("known_margin_m", (0.1, -1.0)),
    ] {
        let e = SpatialMemory::new(MemoryConfig {
            known_margin: bad.0,
            known_margin_m: bad.1,
            ..MemoryConfig::default()
        })
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains(field), "{e}");
    }
}

#[test]
fn warp_to_the_same_pose_is_the_identity() {
    let (_, _, frames) = episode("village", 1_000_002, 1);
    let f = &frames[0];
    let k = k128();
    let mut v = View::new(&k);
    warp(
        &k,
        &f.rgb,
        &f.depth_m,
        &f.pose,
        &f.pose,
        Splatting::SOFT,
        &mut v,
    )
    .unwrap();
    assert!(v.coverage() >= 0.999, "coverage {}", v.coverage());
    assert!(covered_psnr(&v, f) >= 45.0, "PSNR {}", covered_psnr(&v, f));
    // Depth is the front-most sample of the surface blended at a pixel (within 6 %).
    let mut exact = 0;
    for i in 0..k.pixels() {
        if f.depth_m[i].is_finite() {
            let err = (v.depth_m[i] - f.depth_m[i]).abs() / f.depth_m[i];
            assert!(
                err <= 0.07,
                "pixel {i}: {} vs {}",
                v.depth_m[i],
                f.depth_m[i]
            );
            exact += (err < 1e-3) as usize;
        } else {
            assert!(v.depth_m[i].is_infinite());
        }
    }
    assert!(exact as f64 >= 0.9 * f.depth_m.iter().filter(|d| d.is_finite()).count() as f64);
}

#[test]
fn small_pose_changes_stay_close() {
    // Memory filled along a walk; render and warp one block ahead and 10° to the side of the
    // last pose, against the oracle there. Thresholds sit a few dB under what memory-eval
    // measures, to catch regressions.
    let (mut w, r, frames) = episode("meadow", 1_000_003, 121);
    let k = k128();
    let mut mem = SpatialMemory::new(MemoryConfig::default()).unwrap();
    for f in &frames {
        mem.write(&k, &f.rgb, &f.depth_m, &f.pose, f.tick).unwrap();
    }
    let last = frames.last().unwrap();
    let p = last.pose;
    let mut checked = 0;
    for moved in [
        Pose::new(p.position, p.yaw_rad + 10f32.to_radians(), p.pitch_rad),
        Pose::new(p.position + p.heading(), p.yaw_rad, p.pitch_rad),
    ] {
        if w.is_solid(
            moved.position.x.floor() as i32,
            moved.position.y.floor() as i32,
            moved.position.z.floor() as i32,
        ) {
            continue;
        }
        let truth = r.render_frame(&mut w, &moved, &k, 0);
        let mut v = View::new(&k);
        mem.render(&moved, &k, &mut v);
        assert!(v.coverage() >= 0.85, "render coverage {}", v.coverage());
        assert!(
            covered_psnr(&v, &truth) >= 20.0,
            "render PSNR {}",
            covered_psnr(&v, &truth)
        );
        warp(
            &k,
            &last.rgb,
            &last.depth_m,
            &last.pose,
            &moved,
            MemoryConfig::default().splatting(),
            &mut v,
        )
        .unwrap();
        assert!(v.coverage() >= 0.7, "warp coverage {}", v.coverage());
        assert!(
            covered_psnr(&v, &truth) >= 20.0,
            "warp PSNR {}",
            covered_psnr(&v, &truth)
        );
        checked += 1;
    }
    assert!(checked >= 1);
}

/// Share of the pixels of a view at `to` whose rays leave the camera inside the frustum of a
/// view at `from` at the same position (what a forward warp of a `from` frame can cover at all).
fn share_seen_before(k: &Intrinsics, from: &Pose, to: &Pose) -> f64 {
    let (a, b) = (to.world_from_camera(), from.camera_from_world());
    let mut seen = 0;
    for v in 0..k.height {
        for u in 0..k.width {
            let d = b.transform_vector3(a.transform_vector3(k.ray_camera(u as f32, v as f32)));
            seen += usize::from(k.project(d).is_some_and(|(x, y, _)| {
                (0.0..=k.width as f32).contains(&x) && (0.0..=k.height as f32).contains(&y)
            }));
        }
    }
    seen as f64 / k.pixels() as f64
}

#[test]
fn a_turn_warp_covers_all_that_the_previous_view_saw_and_that_is_under_85_percent() {
    // Issue 3 asks a 10° turn's warp for >= 85 % coverage. The warp moves the previous frame's
    // pixels, so it can cover only the rays the previous view saw: at 128x128 and 70° that is
    // 81.3 % of the new view, and no square pinhole camera reaches 85 % (the most, 82.3 %, at
    // about 90°). The warp does cover all of it.
    let (_, _, frames) = episode("meadow", 1_000_001, 1);
    let (f, k) = (&frames[0], k128());
    let p = f.pose;
    for deg in [-10f32, 10.0] {
        let turned = Pose::new(p.position, p.yaw_rad + deg.to_radians(), p.pitch_rad);
        let cap = share_seen_before(&k, &p, &turned);
        assert!((0.80..0.82).contains(&cap), "{deg}°: {cap}");
        let mut v = View::new(&k);
        warp(
            &k,
            &f.rgb,
            &f.depth_m,
            &p,
            &turned,
            MemoryConfig::default().splatting(),
            &mut v,
        )
        .unwrap();
        assert!(
            v.coverage() >= cap - 0.005 && v.coverage() <= cap + 0.02,
            "{deg}°: warp coverage {} against the geometric {cap}",
            v.coverage()
        );
    }
    let best = (30..=150)
        .step_by(5)
        .map(|fov| {
            let k = Intrinsics::from_vfov_deg(128, 128, fov as f32).unwrap();
            let turned = Pose::new(p.position, p.yaw_rad + 10f32.to_radians(), p.pitch_rad);
            share_seen_before(&k, &p, &turned)
        })
        .fold(0.0, f64::max);
    assert!(
        (0.81..0.85).contains(&best),
        "best over fields of view {best}"
    );
}

#[test]
fn eviction_keeps_the_bound() {
    let (_, _, frames) = episode("forest", 1_000_004, 240);
    let k = k128();
    let config = MemoryConfig {
        bound_bytes: reverie::memory::memory::MIN_BOUND_BYTES,
        ..MemoryConfig::default()
    };
    let bound = config.bound_bytes as usize;
    let mut mem = SpatialMemory::new(config).unwrap();
    let mut v = View::new(&k);
    for f in &frames {
        mem.write(&k, &f.rgb, &f.depth_m, &f.pose, f.tick).unwrap();
        assert!(
            mem.bytes() <= bound,
            "{} bytes over the {bound} bound",
            mem.bytes()
        );
        mem.render(&f.pose, &k, &mut v);
    }
    let s = mem.stats();
    assert!(s.evicted_chunks > 0 && s.eviction_passes > 0, "{s:?}");
    // What was just seen survives eviction (least recently seen goes first).
    let f = frames.last().unwrap();
    mem.render(&f.pose, &k, &mut v);
    assert!(
        v.coverage() >= 0.98,
        "coverage after eviction {}",
        v.coverage()
    );
    assert!(s.hit_rate > 0.5, "{s:?}");
}

fn filled_memory() -> (SpatialMemory, Vec<Frame>) {
    let (_, _, frames) = episode("canyon", 1_000_005, 40);
    let k = k128();
    let mut mem = SpatialMemory::new(MemoryConfig::default()).unwrap();
    for f in &frames {
        mem.write(&k, &f.rgb, &f.depth_m, &f.pose, f.tick).unwrap();
        if f.tick == 0 {
            mem.pin_free_space(&k, &f.depth_m, &f.pose).unwrap();
        }
    }
    (mem, frames)
}

#[test]
fn save_load_render_is_identical() {
    let (mem, frames) = filled_memory();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("session.rvrmem");
    mem.save(&path).unwrap();
    let loaded = SpatialMemory::load(&path).unwrap();
    let (a, b) = (mem.stats(), loaded.stats());
    assert_eq!(
        (a.cells, a.chunks, a.keyframes, a.pinned_views),
        (b.cells, b.chunks, b.keyframes, b.pinned_views)
    );
    assert_eq!(a.pinned_views, 1);
    assert_eq!(loaded.tick(), mem.tick());
    assert_eq!(loaded.config(), mem.config());
    let k = k128();
    for f in [&frames[0], &frames[20], frames.last().unwrap()] {
        let (mut va, mut vb) = (View::new(&k), View::new(&k));
        mem.render(&f.pose, &k, &mut va);
        loaded.render(&f.pose, &k, &mut vb);
        assert_eq!(va, vb, "render differs after save/load");
    }
    let ka = mem.retrieve_keyframes(&frames[0].pose, &k, None, 4);
    let kb = loaded.retrieve_keyframes(&frames[0].pose, &k, None, 4);
    assert_eq!(ka, kb);
}

#[test]
fn corrupt_and_hostile_memory_files_are_rejected_cleanly() {
    let (mem, _) = filled_memory();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.rvrmem");
    mem.save(&path).unwrap();
    let good = std::fs::read(&path).unwrap();
    let bad = dir.path().join("bad.rvrmem");
    let check = |bytes: &[u8], what: &str| {
        std::fs::write(&bad, bytes).unwrap();
        match SpatialMemory::load(&bad) {
            Ok(_) => panic!("{what}: a damaged file loaded"),
            Err(e) => assert!(e.to_string().contains("bad.rvrmem"), "{what}: {e}"),
        }
    };
    check(&[], "empty");
    for cut in [1, 8, 27, 28, 100, good.len() / 2, good.len() - 1] {
        check(&good[..cut], &format!("truncated at {cut}"));
    }
    let mut flipped = good.clone();
    flipped[good.len() / 3] ^= 0x40;
    check(&flipped, "one bit flipped");
    let mut magic = good.clone();
    magic[0] = b'X';
    check(&magic, "bad magic");
    let mut version = good.clone();
    version[8] = 99;
    check(&version, "newer version");
    let mut padded = good.clone();
    padded.push(0);
    check(&padded, "trailing byte");
    // Hostile: a valid checksum over a mutated payload must still never panic or over-allocate.
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut loaded_ok = 0;
    for i in 0..300 {
        let mut b = good.clone();
        let payload_len = b.len() - 28;
        for _ in 0..rng.random_range(1..8) {
            let at = 28 + rng.random_range(0..payload_len.min(4096));
            b[at] = rng.random();
        }
        if i % 3 == 0 {
            // Huge counts where the chunk count and the first cell count live.
            let at = 28 + rng.random_range(0..payload_len.min(1024));
            b[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        }
        let crc = crc32(&b[28..]);
        b[24..28].copy_from_slice(&crc.to_le_bytes());
        std::fs::write(&bad, &b).unwrap();
        if SpatialMemory::load(&bad).is_ok() {
            loaded_ok += 1; // a mutation that left a valid memory (e.g. a colour byte) is fine
        }
    }
    assert!(loaded_ok < 300);
    // Random bytes, with and without the right magic.
    for len in [0usize, 5, 28, 29, 64, 1000, 20_000] {
        for magic in [false, true] {
            let mut b: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            if magic && len >= 8 {
                b[..8].copy_from_slice(b"RVRMEM\r\n");
            }
            check(&b, &format!("{len} random bytes"));
        }
    }
}

#[test]
fn keyframes_are_retrieved_by_view_overlap() {
    let (mem, frames) = filled_memory();
    let k = k128();
    let s = mem.stats();
    assert!(s.keyframes >= 1);
    let f = &frames[0];
    let best = mem.retrieve_keyframes(&f.pose, &k, Some(&f.depth_m), 3);
    assert!(!best.is_empty());
    assert!(best.windows(2).all(|w| w[0].score >= w[1].score));
    let kf = mem.keyframe(best[0].index).unwrap();
    assert!(best[0].overlap > 0.5, "{best:?}");
    assert!(kf.pose.position.distance(f.pose.position) < 5.0);
    // Looking the other way overlaps less.
    let away = Pose::new(f.pose.position, f.pose.yaw_rad + std::f32::consts::PI, 0.0);
    let other = mem.retrieve_keyframes(&away, &k, None, 1);
    assert!(
        other
            .first()
            .is_none_or(|m| m.index != best[0].index || m.overlap < best[0].overlap)
    );
}

#[test]
fn mismatched_buffers_are_errors_naming_the_buffer() {
    let k = k128();
    let mut mem = SpatialMemory::new(MemoryConfig::default()).unwrap();
    let e = mem
        .write(&k, &[0; 10], &vec![1.0; k.pixels()], &Pose::default(), 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("rgb") && e.contains("128x128"), "{e}");
    let e = mem
        .write(&k, &vec![0; 3 * k.pixels()], &[1.0; 3], &Pose::default(), 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("depth"), "{e}");
}

#[test]
fn a_pinned_view_keeps_its_free_space_empty() {
    // The prompt: a red wall 5 m ahead, sky above the horizon; then the session imagines a
    // green wall 2 m ahead of where it started.
    let k = Intrinsics::from_vfov_deg(64, 64, 70.0).unwrap();
    let pose = Pose::default();
    let n = k.pixels();
    let (red, green, blue) = (
        [200u8, 30, 30].repeat(n),
        [30u8, 200, 30].repeat(n),
        [30u8, 30, 200].repeat(n),
    );
    let mut prompt_depth = vec![5.0f32; n];
    prompt_depth[..n / 4].fill(f32::INFINITY); // the top quarter is sky
    prompt_depth[n / 4..n / 4 + 64].fill(f32::NAN); // a row of unknown depth
    let start = |pin: bool| {
        let mut mem = SpatialMemory::new(MemoryConfig::default()).unwrap();
        mem.write(&k, &red, &prompt_depth, &pose, 0).unwrap();
        if pin {
            mem.pin_free_space(&k, &prompt_depth, &pose).unwrap();
        }
        mem
    };
    let red_share = |mem: &SpatialMemory| {
        let mut v = View::new(&k);
        mem.render(&pose, &k, &mut v);
        let rows = &v.rgb[3 * (n / 4 + 2 * 64)..];
        rows.chunks_exact(3).filter(|p| *p == [200, 30, 30]).count() as f64
            / (rows.len() / 3) as f64
    };
    // Unpinned, the phantom covers the start view.
    let mut plain = start(false);
    plain.write(&k, &green, &vec![2.0; n], &pose, 1).unwrap();
    assert!(red_share(&plain) < 0.01);
    // Pinned, it is refused wherever the prompt saw farther (or sky), and the start view stays.
    let mut mem = start(true);
    assert_eq!(mem.stats().pinned_views, 1);
    mem.write(&k, &green, &vec![2.0; n], &pose, 1).unwrap();
    let refused = mem.stats().pinned_points;
    assert!(refused as usize >= n - 64 * 3, "refused {refused} of {n}");
    assert!(
        refused as usize <= n - 64,
        "the unknown row pins nothing: {refused}"
    );
    assert!(red_share(&mem) > 0.99, "{}", red_share(&mem));
    // Behind what the prompt saw (a wall at 8 m) is not its free space, except where it saw sky;
    // nor is what it never saw (a wall 2 m to the right).
    mem.write(&k, &blue, &vec![8.0; n], &pose, 2).unwrap();
    let in_sky = (mem.stats().pinned_points - refused) as usize;
    assert!((n / 4 - 2 * 64..=n / 4).contains(&in_sky), "{in_sky}");
    let so_far = mem.stats().pinned_points;
    let right = Pose::new(pose.position, std::f32::consts::FRAC_PI_2, 0.0);
    mem.write(&k, &blue, &vec![2.0; n], &right, 3).unwrap();
    assert_eq!(mem.stats().pinned_points, so_far);
    let mut v = View::new(&k);
    mem.render(&right, &k, &mut v);
    assert!(v.coverage() > 0.99 && v.depth_m.iter().all(|&z| (z - 2.0).abs() < 0.2));
    // Saved and loaded, the pin still holds.
    let mut loaded = SpatialMemory::from_bytes(&mem.to_bytes()).unwrap();
    assert_eq!(loaded.stats().pinned_views, 1);
    loaded.write(&k, &green, &vec![2.0; n], &pose, 4).unwrap();
    assert_eq!(loaded.stats().pinned_points, refused);
    assert!(red_share(&loaded) > 0.99);
    // Bad input: the wrong depth size names the buffer; a fifth pin is refused.
    let e = mem.pin_free_space(&k, &[1.0; 7], &pose).unwrap_err();
    assert!(e.to_string().contains("depth"), "{e}");
    for _ in 1..reverie::memory::MAX_PINS {
        mem.pin_free_space(&k, &prompt_depth, &pose).unwrap();
    }
    let e = mem.pin_free_space(&k, &prompt_depth, &pose).unwrap_err();
    assert!(e.to_string().contains("pin"), "{e}");
}

#[test]
fn carving_removes_what_a_new_frame_sees_through() {
    // A red wall 5 m ahead, then (same pose) the wall is gone and a blue one 10 m ahead is seen.
    let k = Intrinsics::from_vfov_deg(64, 64, 70.0).unwrap();
    let pose = Pose::default();
    let n = k.pixels();
    let (red, blue) = ([200u8, 30, 30].repeat(n), [30u8, 30, 200].repeat(n));
    let mut mem = SpatialMemory::new(MemoryConfig::default()).unwrap();
    mem.write(&k, &red, &vec![5.0; n], &pose, 0).unwrap();
    let mut view = View::new(&k);
    mem.render(&pose, &k, &mut view);
    assert!(view.depth_m.iter().all(|&z| (z - 5.0).abs() < 0.1));

    // Without carving the near wall still hides the far one.
    let mut stale = SpatialMemory::new(MemoryConfig::default()).unwrap();
    stale.write(&k, &red, &vec![5.0; n], &pose, 0).unwrap();
    stale.write(&k, &blue, &vec![10.0; n], &pose, 1).unwrap();
    let mut v2 = View::new(&k);
    stale.render(&pose, &k, &mut v2);
    assert!(v2.rgb[..3] == [200, 30, 30], "{:?}", &v2.rgb[..3]);

    // With it, the render shows the far wall everywhere (the cells carved are gone).
    let cells = mem.stats().cells;
    let dropped = mem.carve(&view, &vec![10.0; n]);
    assert!(dropped >= n * 9 / 10, "dropped {dropped} of {n}");
    assert_eq!(mem.stats().cells, cells - dropped as u64);
    mem.write(&k, &blue, &vec![10.0; n], &pose, 1).unwrap();
    mem.render(&pose, &k, &mut view);
    assert_eq!(view.coverage(), 1.0);
    assert!(view.depth_m.iter().all(|&z| (z - 10.0).abs() < 0.2));
    assert!(view.rgb.chunks_exact(3).all(|p| p == [30, 30, 200]));
    assert_eq!(mem.stats().carved_cells, dropped as u64);

    // A view of another memory, or of this one before its latest write, carves nothing.
    assert_eq!(mem.carve(&v2, &vec![20.0; n]), 0);
    mem.render(&pose, &k, &mut view);
    mem.write(&k, &blue, &vec![10.0; n], &pose, 2).unwrap();
    assert_eq!(mem.carve(&view, &vec![20.0; n]), 0);
    mem.render(&pose, &k, &mut view);
    assert!(mem.carve(&view, &vec![20.0; n]) > 0);
}

#[test]
fn a_walk_in_memory_still_reproduces_the_latest_view() {
    // The runtime's order each tick: render at the new pose, carve with the new frame, write it.
    // Older samples (seen from elsewhere) must not spoil the view just written.
    let (_, _, frames) = episode("meadow", 1_000_003, 72);
    let k = k128();
    let mut mem = SpatialMemory::new(MemoryConfig::default()).unwrap();
    let mut view = View::new(&k);
    for f in &frames {
        mem.render(&f.pose, &k, &mut view);
        mem.carve(&view, &f.depth_m);
        mem.write(&k, &f.rgb, &f.depth_m, &f.pose, f.tick).unwrap();
    }
    let last = frames.last().unwrap();
    mem.render(&last.pose, &k, &mut view);
    let p = covered_psnr(&view, last);
    assert!(p >= 32.0, "same-pose PSNR after a walk {p:.2} dB");
    assert!(view.coverage() >= 0.98, "coverage {}", view.coverage());
}

#[test]
fn a_pinned_view_is_drawn_whole_over_what_the_walk_wrote_around_it() {
    // The prompt, then a walk's frames around the start written as a session writes them,
    // under a tight render budget; its own frames' colours a little off (a model's).
    let (_, _, frames) = episode("meadow", 1_000_001, 48);
    let k = k128();
    let config = MemoryConfig {
        render_splats_per_pixel: 2.0,
        ..MemoryConfig::default()
    };
    let prompt = &frames[0];
    let session = |keep_view: bool| {
        let mut mem = SpatialMemory::new(config.clone()).unwrap();
        mem.write(&k, &prompt.rgb, &prompt.depth_m, &prompt.pose, 0)
            .unwrap();
        if keep_view {
            mem.pin_view(&k, &prompt.rgb, &prompt.depth_m, &prompt.pose)
                .unwrap();
        } else {
            mem.pin_free_space(&k, &prompt.depth_m, &prompt.pose)
                .unwrap();
        }
        let mut shown = View::new(&k);
        for f in &frames[1..] {
            let off: Vec<u8> = f.rgb.iter().map(|&c| c / 2 + 60).collect();
            mem.render(&f.pose, &k, &mut shown);
            mem.carve(&shown, &f.depth_m);
            mem.write_new(&k, &off, &f.depth_m, &f.pose, f.tick, &shown)
                .unwrap();
        }
        mem
    };
    let at_start = |mem: &SpatialMemory, pose: &Pose| {
        let mut v = View::new(&k);
        mem.render(pose, &k, &mut v);
        v
    };
    let (kept, pinned) = (session(true), session(false));
    let v = at_start(&kept, &prompt.pose);
    let kept_db = psnr_rgb8(&v.rgb, &prompt.rgb, None).unwrap();
    let pinned_db = psnr_rgb8(&at_start(&pinned, &prompt.pose).rgb, &prompt.rgb, None).unwrap();
    // (Measured: 33.8 dB against 18.1 with the free space pinned only.)
    assert!(kept_db > 30.0, "kept view {kept_db:.1} dB");
    assert!(
        kept_db > pinned_db + 10.0,
        "{kept_db:.1} vs {pinned_db:.1} dB"
    );
    // Seen from a step aside it is warped there: the start's colours, not the walk's.
    let aside = Pose::new(
        prompt.pose.position + prompt.pose.right() * 0.5,
        prompt.pose.yaw_rad,
        prompt.pose.pitch_rad,
    );
    let mut moved = View::new(&k);
    warp(
        &k,
        &prompt.rgb,
        &prompt.depth_m,
        &prompt.pose,
        &aside,
        config.splatting(),
        &mut moved,
    )
    .unwrap();
    let mask = moved.mask();
    let near = |mem: &SpatialMemory| {
        psnr_rgb8(&at_start(mem, &aside).rgb, &moved.rgb, Some(&mask)).unwrap()
    };
    let (kept_aside, pinned_aside) = (near(&kept), near(&pinned));
    assert!(
        kept_aside > pinned_aside + 5.0,
        "{kept_aside:.1} vs {pinned_aside:.1} dB"
    );
    // Saved and loaded, it is kept: the same render.
    let loaded = SpatialMemory::from_bytes(&kept.to_bytes()).unwrap();
    assert_eq!(at_start(&loaded, &prompt.pose).rgb, v.rgb);
    // Bad input: an image of the wrong size names the buffer.
    let mut m = SpatialMemory::new(config).unwrap();
    let e = m
        .pin_view(&k, &prompt.rgb[..30], &prompt.depth_m, &prompt.pose)
        .unwrap_err();
    assert!(e.to_string().contains("rgb"), "{e}");
}
