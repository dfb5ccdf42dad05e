//! Oracle integration tests: bundled worlds, determinism, the ray caster, episodes and datasets.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use reverie_core::glam::Vec3;
use reverie_core::{Action, EgoMotion, Frame, Intrinsics, Keys, Pose};
use reverie_world::datagen::{self, DatagenConfig, Existing};
use reverie_world::dataset::{Dataset, EpisodeReader, episode_path};
use reverie_world::episode::{self, EpisodeStart};
use reverie_world::physics::Player;
use reverie_world::policy::{BlindPolicy, Policy, PolicyKind};
use reverie_world::{Renderer, World, WorldSpec};

const WORLDS: [&str; 4] = ["meadow", "canyon", "forest", "village"];

fn world_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../worlds")
        .join(format!("{name}.toml"))
}

fn spec(name: &str) -> WorldSpec {
    WorldSpec::load(&world_path(name)).unwrap_or_else(|e| panic!("{e}"))
}

fn k(w: u32, h: u32) -> Intrinsics {
    Intrinsics::from_vfov_deg(w, h, 70.0).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `policy` for an episode in a fresh world of `spec`; returns every frame and its action.
fn record(
    spec: &WorldSpec,
    policy: &mut dyn Policy,
    k: &Intrinsics,
    start: EpisodeStart,
) -> Vec<(Frame, Action)> {
    let spec = Arc::new(spec.clone());
    let mut world = World::new(spec.clone());
    let mut out = Vec::new();
    episode::run(
        &mut world,
        &Renderer::new(&spec),
        k,
        policy,
        start,
        |_, f, a| {
            out.push((f.clone(), *a));
            Ok::<(), ()>(())
        },
    )
    .unwrap_or_else(|()| panic!("sink never fails"));
    out
}

/// Renders an episode of `policy` and returns each frame's hash.
fn episode_hashes(spec: &WorldSpec, policy: &PolicyKind, seed: u64, steps: usize) -> Vec<u64> {
    let mut p = policy.build(seed);
    record(spec, p.as_mut(), &k(48, 32), EpisodeStart { seed, steps })
        .iter()
        .map(|(f, _)| f.content_hash())
        .collect()
}

#[test]
fn bundled_worlds_load_and_differ() {
    let mut kinds = std::collections::BTreeSet::new();
    for name in WORLDS {
        let s = spec(name);
        kinds.insert(format!("{:?}", s.generator.kind));
    }
    assert_eq!(kinds.len(), 4, "four worlds of different kinds");
}

#[test]
fn same_seed_gives_identical_frames_and_another_seed_does_not() {
    for name in WORLDS {
        let s = spec(name);
        let a = episode_hashes(&s, &PolicyKind::RandomWalk, 5, 30);
        let b = episode_hashes(&s, &PolicyKind::RandomWalk, 5, 30);
        assert_eq!(a, b, "{name}: same seed must give the same frames");
        let c = episode_hashes(&s, &PolicyKind::RandomWalk, 6, 30);
        assert_ne!(a, c, "{name}: another seed must differ");
        let mut other = s.clone();
        other.generator.seed += 1;
        assert_ne!(
            a,
            episode_hashes(&other, &PolicyKind::RandomWalk, 5, 30),
            "{name}: another world seed must differ"
        );
    }
}

#[test]
fn frames_have_sky_ground_depth_and_texture() {
    for name in WORLDS {
        let s = Arc::new(spec(name));
        let mut world = World::new(s.clone());
        let eye = world.find_spawn(1) + Vec3::new(0.0, 1.62, 0.0);
        let f =
            Renderer::new(&s).render_frame(&mut world, &Pose::new(eye, 0.3, -0.1), &k(64, 64), 0);
        let sky = f.depth_m.iter().filter(|d| d.is_infinite()).count();
        let near = f
            .depth_m
            .iter()
            .filter(|d| d.is_finite() && **d > 0.0 && **d < 110.0)
            .count();
        assert!(
            sky > 0 && near > 64 * 64 / 4,
            "{name}: sky {sky}, surfaces {near}"
        );
        // The bottom row sees the ground a couple of metres away.
        let bottom = f.depth_m[63 * 64 + 32];
        assert!(
            bottom > 0.5 && bottom < 20.0,
            "{name}: ground depth {bottom}"
        );
        let distinct: std::collections::BTreeSet<&[u8]> = f.rgb.chunks_exact(3).collect();
        assert!(
            distinct.len() > 200,
            "{name}: textured, {} colours",
            distinct.len()
        );
    }
}

#[test]
fn depth_is_planar_and_metric() {
    // On flat ground, the ground's planar depth along the optical axis at pitch p is h / sin(-p).
    let text = "schema_version = 1\nname = \"flat\"\n[generator]\nkind = \"flat\"\nseed = 1\nbase_height = 20\n";
    let s =
        Arc::new(WorldSpec::parse(text, Path::new("flat.toml")).unwrap_or_else(|e| panic!("{e}")));
    let mut world = World::new(s.clone());
    let pitch = -0.5f32;
    let pose = Pose::new(Vec3::new(0.5, 21.62, 0.5), 0.0, pitch);
    let f = Renderer::new(&s).render_frame(&mut world, &pose, &k(65, 65), 0);
    let centre = f.depth_m[32 * 65 + 32];
    let expected = 1.62 / (-pitch).sin();
    assert!(
        (centre - expected).abs() < 0.02,
        "depth {centre} vs {expected}"
    );
}

#[test]
fn loop_and_return_comes_back_to_the_start_pose() {
    let kind = PolicyKind::LoopAndReturn { out_secs: 4.0 };
    let mut p = kind.build(3);
    let start = EpisodeStart {
        seed: 3,
        steps: kind.min_steps() + 48,
    };
    let poses: Vec<_> = record(&spec("meadow"), p.as_mut(), &k(16, 16), start)
        .iter()
        .map(|(f, _)| f.pose)
        .collect();
    let report = p.report();
    let returned = report["returned_tick"]
        .as_u64()
        .unwrap_or_else(|| panic!("did not return: {report}"));
    let (start, back) = (poses[0], poses[returned as usize]);
    assert!(
        (start.position - back.position).length() < 0.25,
        "{start:?} vs {back:?}"
    );
    assert!(
        (start.yaw_rad - back.yaw_rad).abs() < 1e-4
            && (start.pitch_rad - back.pitch_rad).abs() < 1e-4
    );
    let far = poses
        .iter()
        .map(|p| (p.position - start.position).length())
        .fold(0.0, f32::max);
    assert!(far > 3.0, "went out {far} blocks");
}

/// Drives a [`BlindPolicy`] through the oracle, handing it only the player.
struct Blind(Box<dyn BlindPolicy>);

impl Policy for Blind {
    fn act(&mut self, _world: &World, player: &Player, tick: u64) -> Action {
        self.0.act_blind(player, tick)
    }
}

#[test]
fn blind_policies_act_as_their_world_seeing_builds_and_walk_a_world_of_their_own() {
    // Only the kinds that never look at the world build blind.
    for kind in [
        PolicyKind::WallFollow,
        PolicyKind::LookAround,
        PolicyKind::Mixed,
    ] {
        assert!(kind.build_blind(1).is_none(), "{kind}");
    }
    // The same actions, tick for tick, as the policy built to see the world.
    let kind = PolicyKind::LoopAndReturn { out_secs: 3.0 };
    let start = EpisodeStart {
        seed: 5,
        steps: kind.min_steps(),
    };
    let seen = record(&spec("meadow"), kind.build(5).as_mut(), &k(8, 8), start);
    let mut blind = Blind(kind.build_blind(5).unwrap());
    let blind_seen = record(&spec("meadow"), &mut blind, &k(8, 8), start);
    assert_eq!(seen.len(), blind_seen.len());
    assert!(seen.iter().zip(&blind_seen).all(|(a, b)| a.1 == b.1));
    // A walker with no world at all (flat, nothing in the way: the controls' intended motion)
    // is brought back to its start pose: the policy navigates by the walker's own state.
    let mut p = kind.build_blind(5).unwrap();
    let body = Player::new(Vec3::ZERO, 0.0).body;
    let mut player = Player::new(Vec3::new(3.0, 10.0, -2.0), 0.4);
    player.on_ground = true;
    let (feet0, yaw0) = (player.feet, player.yaw_rad);
    let mut far = 0.0f32;
    for t in 1..=kind.min_steps() as u64 {
        let a = p.act_blind(&player, t);
        let m = EgoMotion::intended(&a, body.walk_speed, body.sprint_speed);
        let pose = m.apply(&player.pose());
        player.feet = pose.position - Vec3::new(0.0, body.eye_height, 0.0);
        (player.yaw_rad, player.pitch_rad) = (pose.yaw_rad, pose.pitch_rad);
        far = far.max((player.feet - feet0).length());
    }
    let report = p.report();
    assert!(report["returned_tick"].as_u64().is_some(), "{report}");
    assert!(far > 3.0, "went out {far} m");
    assert!((player.feet - feet0).length() < 0.25, "{:?}", player.feet);
    assert!(reverie_core::pose::wrap_angle(player.yaw_rad - yaw0).abs() < 1e-4);
}

#[test]
fn script_policy_replays_actions() {
    let script = vec![Action::keys(Keys::FORWARD); 10];
    let kind = PolicyKind::Script {
        path: "t".into(),
        actions: Arc::new(script),
    };
    let mut p = kind.build(0);
    let seen: Vec<Action> = record(
        &spec("village"),
        p.as_mut(),
        &k(8, 8),
        EpisodeStart { seed: 1, steps: 14 },
    )
    .into_iter()
    .map(|(_, a)| a)
    .collect();
    assert_eq!(seen[0], Action::IDLE);
    assert!(seen[1..11].iter().all(|a| a.keys == Keys::FORWARD));
    assert!(seen[11..].iter().all(|a| *a == Action::IDLE));
}

fn config(out: &Path, episodes: usize, existing: Existing) -> DatagenConfig {
    DatagenConfig {
        world_file: world_path("forest"),
        spec: spec("forest"),
        seed: 3,
        policy: PolicyKind::Mixed,
        episodes,
        steps: 12,
        intrinsics: k(32, 24),
        fov_deg: 70.0,
        out: out.to_path_buf(),
        existing,
        threads: 2,
    }
}

#[test]
fn dataset_round_trip_matches_a_fresh_render() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = tmp.path().join("ds");
    let cfg = config(&out, 3, Existing::Refuse);
    let summary = datagen::generate(&cfg, &|| {}).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((summary.written, summary.frames), (3, 36));
    let ds = Dataset::open(&out).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ds.episodes.len(), 3);
    // Episode 1, re-run by hand, equals what was stored.
    let ep_seed = reverie_core::seed::derive(3, &[1]);
    let mut policy = cfg.policy.build(ep_seed);
    let frames = record(
        &cfg.spec,
        policy.as_mut(),
        &cfg.intrinsics,
        EpisodeStart {
            seed: ep_seed,
            steps: 12,
        },
    );
    let w = ds.window(1, 4, 5).unwrap_or_else(|e| panic!("{e}"));
    let px = 32 * 24;
    for (j, (f, a)) in frames[4..9].iter().enumerate() {
        assert_eq!(&w.rgb[j * px * 3..(j + 1) * px * 3], &f.rgb[..]);
        for (got, want) in w.depth_m[j * px..(j + 1) * px].iter().zip(&f.depth_m) {
            assert!(
                got == want || (got - want).abs() <= want.abs() * 1e-3,
                "{got} vs {want}"
            );
        }
        assert_eq!(w.poses[j], f.pose);
        assert_eq!(w.actions[j], *a);
    }
    // The file is standard safetensors.
    let bytes = std::fs::read(episode_path(&out, 0)).unwrap_or_else(|e| panic!("{e}"));
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        st.tensor("rgb").unwrap_or_else(|e| panic!("{e}")).shape(),
        &[12, 24, 32, 3]
    );
    assert_eq!(
        st.tensor("depth").unwrap_or_else(|e| panic!("{e}")).dtype(),
        safetensors::Dtype::F16
    );
    assert!(
        ds.window(1, 10, 5).is_err(),
        "window past the end is an error"
    );
}

#[test]
fn datagen_refuses_resumes_and_never_counts_partial_episodes() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = tmp.path().join("ds");
    datagen::generate(&config(&out, 2, Existing::Refuse), &|| {}).unwrap_or_else(|e| panic!("{e}"));
    let before = std::fs::read(episode_path(&out, 0)).unwrap_or_else(|e| panic!("{e}"));
    // An existing dataset is refused without --resume / --overwrite, and left as it was.
    let e = datagen::generate(&config(&out, 2, Existing::Refuse), &|| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("--resume") && e.contains("ds"), "{e}");
    assert_eq!(
        std::fs::read(episode_path(&out, 0)).unwrap_or_default(),
        before
    );
    // Resume with more episodes would change the manifest: refused, naming the field.
    let e = datagen::generate(&config(&out, 3, Existing::Resume), &|| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("episodes"), "{e}");
    // A crash mid-episode leaves a .partial, which is not an episode; resume redoes only that one.
    std::fs::remove_file(episode_path(&out, 1)).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        reverie_world::imageio::partial_path(&episode_path(&out, 1)),
        b"half",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        Dataset::open(&out)
            .unwrap_or_else(|e| panic!("{e}"))
            .episodes
            .len(),
        1
    );
    let s = datagen::generate(&config(&out, 2, Existing::Resume), &|| {})
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((s.written, s.skipped), (1, 1));
    assert_eq!(
        std::fs::read(episode_path(&out, 0)).unwrap_or_default(),
        before,
        "finished episodes are kept"
    );
    // Same seed, same bytes.
    let again = tmp.path().join("again");
    datagen::generate(&config(&again, 2, Existing::Refuse), &|| {})
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        std::fs::read(episode_path(&again, 0)).unwrap_or_default(),
        before
    );
    // --overwrite refuses a directory holding other things.
    let other = tmp.path().join("other");
    std::fs::create_dir_all(&other).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(other.join("notes.txt"), b"mine").unwrap_or_else(|e| panic!("{e}"));
    let e = datagen::generate(&config(&other, 1, Existing::Overwrite), &|| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("notes.txt"), "{e}");
    assert_eq!(
        std::fs::read(other.join("notes.txt")).unwrap_or_default(),
        b"mine"
    );
}

#[test]
fn corrupt_episode_files_are_rejected_cleanly() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = tmp.path().join("ds");
    datagen::generate(&config(&out, 1, Existing::Refuse), &|| {}).unwrap_or_else(|e| panic!("{e}"));
    let good = std::fs::read(episode_path(&out, 0)).unwrap_or_else(|e| panic!("{e}"));
    let bad = tmp.path().join("bad.safetensors");
    let mut cases: Vec<Vec<u8>> = vec![
        Vec::new(),
        good[..7].to_vec(),
        good[..100].to_vec(),
        good[..good.len() / 2].to_vec(),
    ];
    let mut flipped = good.clone();
    flipped[20] = b'!';
    cases.push(flipped);
    let mut huge = good.clone();
    huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    cases.push(huge);
    let mut rng = 12345u64;
    for _ in 0..50 {
        let mut noise = good[..2048].to_vec();
        for b in noise.iter_mut().skip(8) {
            rng = reverie_core::seed::mix64(rng);
            *b = rng as u8;
        }
        cases.push(noise);
    }
    for (i, bytes) in cases.iter().enumerate() {
        std::fs::write(&bad, bytes).unwrap_or_else(|e| panic!("{e}"));
        let e = EpisodeReader::open(&bad)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad.safetensors"), "case {i}: {e}");
    }
}

#[test]
fn no_cracks_between_blocks() {
    // No ray may slip between blocks: every pixel the ray caster draws as sky must also miss
    // everything within the view distance under a plain 3D DDA.
    for name in WORLDS {
        let s = Arc::new(spec(name));
        let mut world = World::new(s.clone());
        let r = Renderer::new(&s);
        let (w, h) = (96usize, 96usize);
        let kk = k(w as u32, h as u32);
        let mut cracks = Vec::new();
        for seed in 0..6u64 {
            let eye = world.find_spawn(seed) + Vec3::new(0.0, 1.62, 0.0);
            for i in 0..16 {
                let pitch = [-0.9, -0.3, -0.05][i % 3];
                let pose = Pose::new(eye, i as f32 * 0.39 + 0.01 * seed as f32, pitch);
                let f = r.render_frame(&mut world, &pose, &kk, 0);
                for y in 0..h {
                    for x in 0..w {
                        if f.depth_m[y * w + x].is_finite() {
                            continue;
                        }
                        let d = pose
                            .world_from_camera()
                            .transform_vector3(kk.ray_camera(x as f32, y as f32))
                            .normalize();
                        if let Some((t, v)) =
                            reference_trace(&world, pose.position, d, s.fog.end - 0.5)
                        {
                            cracks.push(format!(
                                "{name}: pose {pose:?} pixel ({x}, {y}) misses block {v:?} at {t}"
                            ));
                        }
                    }
                }
            }
        }
        assert!(
            cracks.is_empty(),
            "{} cracks, e.g. {}",
            cracks.len(),
            cracks[0]
        );
    }
}

/// A plain 3D DDA over `World::block`, the reference for the accelerated ray caster.
fn reference_trace(world: &World, o: Vec3, d: Vec3, t_max: f32) -> Option<(f32, [i32; 3])> {
    let mut v = [o.x.floor() as i32, o.y.floor() as i32, o.z.floor() as i32];
    let step = [
        d.x.signum() as i32,
        d.y.signum() as i32,
        d.z.signum() as i32,
    ];
    let (oa, da) = (o.to_array(), d.to_array());
    let mut t_next = [0.0f32; 3];
    let mut t_delta = [0.0f32; 3];
    for a in 0..3 {
        t_delta[a] = if da[a] == 0.0 {
            f32::INFINITY
        } else {
            1.0 / da[a].abs()
        };
        t_next[a] = if da[a] > 0.0 {
            ((v[a] + 1) as f32 - oa[a]) / da[a]
        } else if da[a] < 0.0 {
            (v[a] as f32 - oa[a]) / da[a]
        } else {
            f32::INFINITY
        };
    }
    let mut t = 0.0;
    loop {
        if world.is_solid(v[0], v[1], v[2]) && v[1] < 64 {
            return Some((t, v));
        }
        let a = if t_next[0] < t_next[1] && t_next[0] < t_next[2] {
            0
        } else if t_next[1] < t_next[2] {
            1
        } else {
            2
        };
        t = t_next[a];
        if t > t_max || v[1] >= 64 && step[1] >= 0 {
            return None;
        }
        v[a] += step[a];
        t_next[a] += t_delta[a];
    }
}

#[test]
fn accelerated_trace_matches_a_plain_dda() {
    let mut mismatches = Vec::new();
    for name in WORLDS {
        let s = Arc::new(spec(name));
        let mut world = World::new(s.clone());
        let eye = world.find_spawn(7) + Vec3::new(0.0, 1.62, 0.0);
        world.ensure_loaded(eye);
        let mut h = 99u64;
        for _ in 0..20_000 {
            let mut r = || {
                h = reverie_core::seed::mix64(h);
                (h >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
            };
            let o = eye + Vec3::new(r() * 3.0, r() * 1.0, r() * 3.0);
            let d = Vec3::new(r(), r() * 0.6 - 0.2, r()).normalize();
            if world.is_solid(o.x.floor() as i32, o.y.floor() as i32, o.z.floor() as i32) {
                continue;
            }
            let got = reverie_world::render::trace(&world, o, d, 90.0).map(|h| (h.t, h.voxel));
            let want = reference_trace(&world, o, d, 90.0);
            let same = match (got, want) {
                (Some((a, va)), Some((b, vb))) => (a - b).abs() < 1e-3 || va == vb,
                (None, None) => true,
                (None, Some((b, _))) => b > 89.9,
                (Some((a, _)), None) => a > 89.9,
            };
            if !same {
                mismatches.push(format!(
                    "{name}: o {o:?} d {d:?}: got {got:?}, want {want:?}"
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches, e.g.\n{}",
        mismatches.len(),
        mismatches
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn a_blind_loop_comes_back_over_its_start_whatever_its_height_and_jumps_only_from_the_ground() {
    // A generated world's walker: its height creeps (the model's ego-motion, not the
    // policy's to choose), and a stretch of the way back blocks it.
    let kind = PolicyKind::LoopAndReturn { out_secs: 3.0 };
    let mut p = kind.build_blind(5).unwrap();
    let body = Player::new(Vec3::ZERO, 0.0).body;
    let mut player = Player::new(Vec3::new(3.0, 10.0, -2.0), 0.4);
    player.on_ground = true;
    let (feet0, yaw0) = (player.feet, player.yaw_rad);
    let out_ticks = 3 * reverie_core::TICK_HZ as u64;
    let mut airborne = 0;
    for t in 1..=kind.min_steps() as u64 {
        let a = p.act_blind(&player, t);
        if a.keys.contains(Keys::JUMP) {
            assert!(player.on_ground, "tick {t}: jump pressed in the air");
            assert!(
                a.keys.contains(Keys::FORWARD) || player.blocked,
                "tick {t}: jump pressed while turning on the spot"
            );
        }
        let mut m = EgoMotion::intended(&a, body.walk_speed, body.sprint_speed);
        // Blocked for a second on the way back; a jump lifts it for a few ticks.
        let blocked = (out_ticks + 10..out_ticks + 34).contains(&t);
        if blocked {
            m.forward_m = 0.0;
            m.right_m = 0.0;
        }
        if a.keys.contains(Keys::JUMP) {
            airborne = 6;
        }
        m.up_m = 0.004 + if airborne > 0 { 0.1 } else { 0.0 };
        player.on_ground = airborne == 0;
        airborne = (airborne - 1).max(0);
        player.blocked = blocked && a.keys.contains(Keys::FORWARD);
        let pose = m.apply(&player.pose());
        player.feet = pose.position - Vec3::new(0.0, body.eye_height, 0.0);
        (player.yaw_rad, player.pitch_rad) = (pose.yaw_rad, pose.pitch_rad);
        if p.report()["returned_tick"].as_u64().is_some() {
            break;
        }
    }
    let report = p.report();
    assert!(report["returned_tick"].as_u64().is_some(), "{report}");
    let flat = Vec3::new(player.feet.x - feet0.x, 0.0, player.feet.z - feet0.z);
    assert!(flat.length() < 0.25, "{:?} vs {feet0:?}", player.feet);
    assert!(
        player.feet.y > feet0.y + 0.3,
        "the height crept: {:?}",
        player.feet
    );
    assert!(reverie_core::pose::wrap_angle(player.yaw_rad - yaw0).abs() < 1e-4);
}
