#![allow(clippy::unwrap_used)]
//! `reverie tune-motion` on a tiny model: it fits the motion head on what the head read in the
//! sessions it drove, changes nothing else, and names the field of a bad config.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use reverie_core::Intrinsics;
use reverie_core::{Action, EgoMotion};
use reverie_model::{ModelConfig, WorldModel, checkpoint};
use reverie_runtime::{Engine, EngineOptions};
use reverie_train::eval::record;
use reverie_train::tune::{
    Expert, KeepHead, MotionLabels, TuneConfig, TuneObserver, best_wall_round, tune,
};
use reverie_world::WorldSpec;
use reverie_world::policy::PolicyKind;

struct Quiet;
impl TuneObserver for Quiet {
    fn played(&self, _: usize, _: usize, _: usize) {}
    fn message(&self, _: &str) {}
}

fn world() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../worlds/meadow.toml")
}

fn config() -> TuneConfig {
    TuneConfig {
        schema_version: 1,
        seed: 5,
        worlds: vec![world()],
        world_seeds: vec![3],
        episodes: 2,
        steps: 20,
        wall_episodes: 1,
        wall_weight: 1,
        policy: "random-walk".into(),
        rounds: 1,
        epochs: 40,
        batch: 16,
        lr: 0.003,
        weight_decay: 0.0,
        grad_clip: 1.0,
        motion_rise: 1.0,
        labels: MotionLabels::Truth,
        keep: KeepHead::Last,
        vertical_momentum: false,
    }
}

/// A seeded tiny model saved as a checkpoint in `dir`.
fn tiny_checkpoint(dir: &Path) -> (WorldModel, VarMap) {
    let cfg = ModelConfig::tiny();
    let vm = VarMap::new();
    let model =
        WorldModel::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu)).unwrap();
    reverie_train::train::seeded_init(&vm, 3).unwrap();
    checkpoint::save(dir, &cfg, &vm).unwrap();
    (model, vm)
}

fn weights(dir: &Path) -> Vec<(String, Vec<f32>)> {
    let map =
        candle_core::safetensors::load(dir.join(checkpoint::WEIGHTS_FILE), &Device::Cpu).unwrap();
    let mut v: Vec<(String, Vec<f32>)> = map
        .into_iter()
        .map(|(k, t)| (k, t.flatten_all().unwrap().to_vec1().unwrap()))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn the_stored_inputs_are_what_the_session_moves_by() {
    let tmp = tempfile::tempdir().unwrap();
    let (model, _vm) = tiny_checkpoint(tmp.path());
    let k = Intrinsics::from_vfov_deg(32, 32, 70.0).unwrap();
    let spec = Arc::new(WorldSpec::load(&world()).unwrap());
    let ep = record(&spec, &k, &PolicyKind::RandomWalk, 7, 12);
    let mut engine = Engine::new(&model, k, &ep.prompt(), EngineOptions::default()).unwrap();
    for a in &ep.actions[1..] {
        let before = engine.frame().pose;
        let motion = model.motion_of(&engine.motion_inputs(a).unwrap()).unwrap();
        // The session moves by the head's motion less its dead bands.
        let moved = engine.session_motion(motion);
        let walk = motion.right_m.hypot(motion.forward_m);
        if walk >= EngineOptions::default().horizontal_deadband_m {
            assert_eq!(moved.right_m, motion.right_m);
            assert_eq!(moved.forward_m, motion.forward_m);
        } else {
            assert_eq!((moved.right_m, moved.forward_m), (0.0, 0.0));
        }
        assert!(moved.up_m == motion.up_m || (moved.up_m == 0.0 && motion.up_m.abs() < 0.02));
        let after = engine.step(a).unwrap().pose;
        let expected = moved.apply(&before);
        assert!((after.position - expected.position).length() < 1e-5);
        assert!((after.yaw_rad - expected.yaw_rad).abs() < 1e-6);
        assert!((after.pitch_rad - expected.pitch_rad).abs() < 1e-6);
    }
}

#[test]
fn tuning_fits_the_motion_head_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let from = tmp.path().join("from");
    tiny_checkpoint(&from);
    std::fs::write(from.join("train.toml"), "# the training config\n").unwrap();
    let out = tmp.path().join("out");
    let cfg = config();
    let report = tune(&cfg, &from, &out, &Quiet).unwrap();

    // Two rounds of play (the checkpoint's head, then the fitted one), each of every episode:
    // 19 ticks after each policy episode's prompt, 96 (4 s) of each wall walk.
    assert_eq!(report.play.len(), 2);
    for p in &report.play {
        assert_eq!(p.episodes, 2);
        assert!(p.walls <= 1 && p.walls_stopped <= p.walls);
        assert_eq!(p.ticks, 2 * 19 + 96 * p.walls);
        assert!(p.motion_l1.is_finite() && p.motion_l1 > 0.0);
        assert!(p.translation_error_pct >= p.horizontal_error_pct - 1e-9);
    }
    // The fit lowers the head's loss on what it was fitted on.
    assert_eq!(report.fit.len(), cfg.epochs);
    let (first, last) = (
        report.fit[0].motion_l1,
        report.fit[cfg.epochs - 1].motion_l1,
    );
    assert!(last < 0.8 * first, "fit {first} → {last}");

    // Only the motion head changed; the checkpoint loads, with both configs beside it.
    let dir = out.join("final");
    assert_eq!(report.checkpoint, dir);
    let (before, after) = (weights(&from), weights(&dir));
    assert_eq!(before.len(), after.len());
    let mut head_changed = 0;
    for ((name, a), (name2, b)) in before.iter().zip(&after) {
        assert_eq!(name, name2);
        if WorldModel::MOTION_HEAD_TENSORS
            .iter()
            .any(|p| name.starts_with(p))
        {
            head_changed += usize::from(a != b);
        } else {
            assert_eq!(a, b, "{name} changed");
        }
    }
    assert!(head_changed >= 2, "{head_changed} head tensors changed");
    assert_eq!(report.kept_round, cfg.rounds);
    checkpoint::load_cpu(&dir).unwrap();
    assert!(dir.join("train.toml").exists());
    let saved: TuneConfig =
        toml::from_str(&std::fs::read_to_string(dir.join("tune.toml")).unwrap()).unwrap();
    assert_eq!(saved, cfg);
    assert!(out.join("tune.json").exists());
    assert!(out.join("tune.png").exists());
}

/// The largest difference between two checkpoints' weights (same tensors).
fn max_diff(a: &[(String, Vec<f32>)], b: &[(String, Vec<f32>)]) -> f32 {
    a.iter()
        .zip(b)
        .flat_map(|((n, x), (m, y))| {
            assert_eq!(n, m);
            x.iter().zip(y).map(|(p, q)| (p - q).abs())
        })
        .fold(0.0, f32::max)
}

#[test]
fn keeping_the_walls_round_saves_that_rounds_head() {
    let tmp = tempfile::tempdir().unwrap();
    let from = tmp.path().join("from");
    tiny_checkpoint(&from);
    let cfg = TuneConfig {
        rounds: 2,
        epochs: 5,
        keep: KeepHead::Walls,
        ..config()
    };
    let out = tmp.path().join("walls");
    let report = tune(&cfg, &from, &out, &Quiet).unwrap();
    let kept = best_wall_round(&report.play);
    assert_eq!(report.kept_round, kept);
    // Round r's head is the one a tuning of r rounds ends with (the same seeds play the same
    // rounds); round 0's is the checkpoint's own.
    let expected = if kept == 0 {
        weights(&from)
    } else {
        let shorter = tmp.path().join("shorter");
        let cfg = TuneConfig {
            rounds: kept,
            keep: KeepHead::Last,
            ..cfg.clone()
        };
        tune(&cfg, &from, &shorter, &Quiet).unwrap();
        weights(&shorter.join("final"))
    };
    let d = max_diff(&weights(&out.join("final")), &expected);
    assert!(d < 1e-5, "round {kept}'s head differs by {d}");
}

#[test]
fn config_errors_name_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    let good = toml::to_string(&config()).unwrap();
    for (bad, field) in [
        (
            good.replace("world_seeds = [3]", "world_seeds = [1000001]"),
            "world_seeds",
        ),
        (
            good.replace("world_seeds = [3]", "world_seeds = []"),
            "world_seeds",
        ),
        (good.replace("epochs = 40", "epochs = 0"), "epochs"),
        (good.replace("lr = 0.003", "lr = -1.0"), "lr"),
        (
            good.replace("policy = \"random-walk\"", "policy = \"sideways\""),
            "policy",
        ),
        (
            good.replace("schema_version = 1", "schema_version = 7"),
            "schema_version",
        ),
        (good.replace("rounds = 1", "rounds = 1\nround = 2"), "round"),
        (good.replace("rounds = 1", "rounds = 101"), "rounds"),
    ] {
        assert_ne!(bad, good, "{field}: the replacement did not apply");
        let path = tmp.path().join("tune.toml");
        std::fs::write(&path, &bad).unwrap();
        let e = TuneConfig::load(&path).unwrap_err().to_string();
        assert!(e.contains("tune.toml") && e.contains(field), "{field}: {e}");
    }
    // A checkpoint directory without weights: an error naming the file.
    let path = tmp.path().join("tune.toml");
    std::fs::write(&path, &good).unwrap();
    let e = tune(&config(), tmp.path(), &tmp.path().join("out"), &Quiet)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("model.json") || e.contains("model.safetensors"),
        "{e}"
    );
}

#[test]
fn the_expert_moves_as_the_oracle_does_from_the_pose_it_is_given() {
    let k = Intrinsics::from_vfov_deg(32, 32, 70.0).unwrap();
    let mut s = WorldSpec::load(&world()).unwrap();
    s.generator.seed = 3;
    let spec = Arc::new(s);
    let ep = record(&spec, &k, &PolicyKind::RandomWalk, 9, 96);
    // Put on the oracle's own path, it does what the oracle did.
    let mut expert = Expert::new(&spec);
    let mut same = 0;
    for t in 1..ep.poses.len() {
        let truth = EgoMotion::between(&ep.poses[t - 1], &ep.poses[t]);
        let label = expert.motion(&ep.poses[t - 1], &ep.actions[t]).unwrap();
        let d = truth
            .to_array()
            .iter()
            .zip(label.to_array())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        same += usize::from(d < 1e-4);
    }
    assert!(same * 10 >= 9 * (ep.poses.len() - 1), "{same} ticks alike");
    // A camera 1.5 m above that path falls back to the ground, no further.
    expert.reset();
    let mut pose = ep.poses[0];
    let ground = pose.position.y;
    pose.position.y += 1.5;
    let mut fell = Vec::new();
    for _ in 0..24 {
        let m = expert.motion(&pose, &Action::IDLE).unwrap();
        fell.push(m.up_m);
        pose = m.apply(&pose);
    }
    assert!(fell[0] < 0.0 && fell[1] < fell[0], "{fell:?}");
    assert!(
        (pose.position.y - ground).abs() < 1e-3,
        "{} vs {ground}",
        pose.position.y
    );
    // Sunk into the ground there is no label.
    pose.position.y -= 0.7;
    assert!(expert.motion(&pose, &Action::IDLE).is_none());
}

#[test]
fn session_labels_tune_from_the_sessions_own_poses() {
    let tmp = tempfile::tempdir().unwrap();
    let from = tmp.path().join("from");
    tiny_checkpoint(&from);
    let out = tmp.path().join("out");
    let cfg = TuneConfig {
        labels: MotionLabels::Session,
        wall_episodes: 0,
        epochs: 5,
        ..config()
    };
    let report = tune(&cfg, &from, &out, &Quiet).unwrap();
    for p in &report.play {
        assert_eq!(p.ticks, 2 * 19);
        assert!((0.0..=1.0).contains(&p.labels_from_truth));
        assert!(p.motion_l1.is_finite() && p.motion_l1 > 0.0);
    }
    // A labels value that is neither: an error naming the field.
    let good = toml::to_string(&cfg).unwrap();
    assert!(good.contains("labels = \"session\""), "{good}");
    let path = tmp.path().join("tune.toml");
    std::fs::write(&path, good.replace("\"session\"", "\"oracle\"")).unwrap();
    let e = TuneConfig::load(&path).unwrap_err().to_string();
    assert!(e.contains("tune.toml") && e.contains("labels"), "{e}");
    // A config from before `wall_weight` counts a wall walk's ticks once; 0 is an error naming it.
    let old: String = good
        .lines()
        .filter(|l| !l.starts_with("wall_weight"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&path, &old).unwrap();
    assert_eq!(TuneConfig::load(&path).unwrap().wall_weight, 1);
    std::fs::write(&path, good.replace("wall_weight = 1", "wall_weight = 0")).unwrap();
    let e = TuneConfig::load(&path).unwrap_err().to_string();
    assert!(e.contains("wall_weight"), "{e}");
}

#[test]
fn vertical_momentum_tunes_a_head_that_flies_the_arc() {
    let tmp = tempfile::tempdir().unwrap();
    let from = tmp.path().join("from");
    tiny_checkpoint(&from);
    let out = tmp.path().join("out");
    let cfg = TuneConfig {
        vertical_momentum: true,
        ..config_short()
    };
    tune(&cfg, &from, &out, &Quiet).unwrap();
    // The same tensors (it adds none), and the model saved with it on.
    let (before, after) = (weights(&from), weights(&out.join("final")));
    assert_eq!(before.len(), after.len());
    for ((n, a), (m, b)) in before.iter().zip(&after) {
        assert_eq!((n, a.len()), (m, b.len()));
    }
    let model = checkpoint::load_cpu(&out.join("final")).unwrap();
    let mc = model.config();
    assert!(mc.vertical_momentum);
    assert_eq!(
        mc.motion_context_len(),
        reverie_core::GroundProbe::FEATURES + 2
    );
    // A session reads whether it is in the air from its own lift; in the air the head flies
    // the arc from the motion it is given.
    let k = Intrinsics::from_vfov_deg(32, 32, 70.0).unwrap();
    let spec = Arc::new(WorldSpec::load(&world()).unwrap());
    let ep = record(&spec, &k, &PolicyKind::RandomWalk, 7, 6);
    let mut engine = Engine::new(&model, k, &ep.prompt(), EngineOptions::default()).unwrap();
    let jump = Action::keys(reverie_core::Keys::JUMP);
    engine.step(&jump).unwrap();
    let in_air = engine.lift().airborne_motion(engine.frame().motion.up_m);
    let own = model
        .motion_of(&engine.motion_inputs(&jump).unwrap())
        .unwrap();
    let same = model
        .motion_of(&engine.motion_inputs_after(&jump, in_air).unwrap())
        .unwrap();
    assert_eq!(own, same);
    // With no rounds, the checkpoint's head is saved as it is, the switch turned on.
    let cfg0 = TuneConfig {
        vertical_momentum: true,
        rounds: 0,
        ..config()
    };
    let report = tune(&cfg0, &from, &tmp.path().join("as-is"), &Quiet).unwrap();
    assert_eq!(
        (report.play.len(), report.fit.len(), report.kept_round),
        (1, 0, 0)
    );
    assert_eq!(weights(&from), weights(&tmp.path().join("as-is/final")));
    let as_is = checkpoint::load_cpu(&tmp.path().join("as-is/final")).unwrap();
    assert!(as_is.config().vertical_momentum);
    assert!(tmp.path().join("as-is/tune.png").exists());
    let g = mc.gravity / (reverie_core::TICK_HZ * reverie_core::TICK_HZ) as f32;
    let arc = model
        .motion_of(&engine.motion_inputs_after(&jump, Some(0.3)).unwrap())
        .unwrap();
    assert!((arc.up_m - (0.3 - g)).abs() < 1e-6, "{arc:?}");
}

fn config_short() -> TuneConfig {
    TuneConfig {
        rounds: 1,
        epochs: 2,
        ..config()
    }
}
