#![allow(clippy::unwrap_used)]
//! Training end to end on a tiny dataset and a tiny model: checkpoints, exact resume, metrics,
//! and config errors that name the field.

use std::path::{Path, PathBuf};

use reverie_core::Intrinsics;
use reverie_memory::{MemoryConfig, Splatting};
use reverie_model::ModelConfig;
use reverie_train::TrainConfig;
use reverie_train::train::{Observer, Report};
use reverie_world::WorldSpec;
use reverie_world::datagen::{self, DatagenConfig, Existing};
use reverie_world::policy::PolicyKind;

struct Quiet;
impl Observer for Quiet {
    fn preparing(&self, _: u64) {}
    fn prepared_frame(&self) {}
    fn step(&self, _: &Report) {}
    fn message(&self, _: &str) {}
}

fn world() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../worlds/meadow.toml")
}

fn tiny_dataset(dir: &Path, seed: u64) {
    tiny_dataset_of(dir, seed, 16);
}

fn tiny_dataset_of(dir: &Path, seed: u64, steps: usize) {
    let mut spec = WorldSpec::load(&world()).unwrap();
    spec.generator.seed = seed;
    let cfg = DatagenConfig {
        world_file: world(),
        seed,
        spec,
        policy: PolicyKind::RandomWalk,
        episodes: 2,
        steps,
        intrinsics: Intrinsics::from_vfov_deg(32, 32, 70.0).unwrap(),
        fov_deg: 70.0,
        out: dir.to_path_buf(),
        existing: Existing::Refuse,
        threads: 1,
    };
    datagen::generate(&cfg, &|| {}).unwrap();
}

/// A tiny training dataset (world seed 3) and a held-out one (901) under `dir`.
fn train_and_heldout(dir: &Path) -> (PathBuf, PathBuf) {
    let (train, held) = (dir.join("train"), dir.join("held"));
    tiny_dataset(&train, 3);
    tiny_dataset(&held, 901);
    (train, held)
}

fn config(train: PathBuf, heldout: PathBuf, steps: usize) -> TrainConfig {
    let text = format!(
        r#"
schema_version = 1
seed = 7
[data]
train = ["{}"]
heldout = ["{}"]
[optim]
steps = {steps}
batch = 2
seq_len = 3
lr = 1e-3
warmup_steps = 1
grad_clip = 1.0
[augment]
self_forcing_from = 1
self_forcing_ramp = 1
[run]
log_every = 1
validate_every = 2
validate_batches = 1
checkpoint_every = 2
"#,
        train.display(),
        heldout.display()
    );
    let mut cfg: TrainConfig = toml::from_str(&text).unwrap();
    cfg.model = ModelConfig::tiny();
    cfg.validate().unwrap();
    cfg
}

fn weights(dir: &Path) -> Vec<(String, Vec<f32>)> {
    let t =
        candle_core::safetensors::load(dir.join("model.safetensors"), &candle_core::Device::Cpu)
            .unwrap();
    let mut v: Vec<(String, Vec<f32>)> = t
        .into_iter()
        .map(|(k, t)| (k, t.flatten_all().unwrap().to_vec1().unwrap()))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn trains_checkpoints_and_resumes_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let (train, held) = train_and_heldout(tmp.path());

    // Uninterrupted: 4 steps.
    let full = tmp.path().join("full");
    let s = reverie_train::train::train(
        &config(train.clone(), held.clone(), 4),
        &full,
        false,
        &Quiet,
    )
    .unwrap();
    assert_eq!(s.steps, 4);
    assert!(s.last.total.is_finite() && s.last.total > 0.0);
    assert!(s.validation.is_some());
    for f in [
        "final/model.safetensors",
        "final/model.json",
        "final/train.toml",
        "metrics.csv",
        "loss.png",
        "summary.json",
        "checkpoints/step_000002/optim.safetensors",
    ] {
        assert!(full.join(f).exists(), "{f} missing");
    }
    let csv = std::fs::read_to_string(full.join("metrics.csv")).unwrap();
    assert_eq!(
        csv.lines().filter(|l| l.contains(",train,")).count(),
        4,
        "{csv}"
    );
    assert_eq!(
        csv.lines().filter(|l| l.contains(",heldout,")).count(),
        2,
        "{csv}"
    );
    // The checkpoint loads for inference.
    reverie_model::checkpoint::load(&full.join("final"), &candle_core::Device::Cpu).unwrap();

    // Interrupted after 2 steps, resumed to 4: the same weights.
    let split = tmp.path().join("split");
    reverie_train::train::train(
        &config(train.clone(), held.clone(), 2),
        &split,
        false,
        &Quiet,
    )
    .unwrap();
    reverie_train::train::train(&config(train, held, 4), &split, true, &Quiet).unwrap();
    let (a, b) = (weights(&full.join("final")), weights(&split.join("final")));
    assert_eq!(a.len(), b.len());
    for ((na, va), (nb, vb)) in a.iter().zip(&b) {
        assert_eq!(na, nb);
        let d = va
            .iter()
            .zip(vb)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(d < 1e-5, "{na} differs by {d} after resume");
    }
    let csv = std::fs::read_to_string(split.join("metrics.csv")).unwrap();
    assert_eq!(
        csv.lines().filter(|l| l.contains(",train,")).count(),
        4,
        "{csv}"
    );
}

#[test]
fn config_errors_name_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    let good = toml::to_string(&config("a".into(), "b".into(), 3)).unwrap();
    let cases = [
        (good.replace("batch = 2", "batch = 0"), "optim.batch"),
        (good.replace("lr = 0.001", "lr = -1.0"), "optim.lr"),
        (
            good.replace("memory_drop = 0.25", "memory_drop = 1.5"),
            "augment.memory_drop",
        ),
        (
            good.replace("schema_version = 1", "schema_version = 9"),
            "schema_version",
        ),
        (good.replace("[optim]", "[optim]\nbogus = 1"), "bogus"),
        (good.replace("patch = 4", "patch = 0"), "patch"),
        (good.replace("workers = 0", "workers = 999"), "run.workers"),
        (
            good.replace("walk_speed = ", "walk_speed = -1.0 # "),
            "walk_speed",
        ),
        (
            good.replace("eye_height = ", "eye_height = 0.0 # "),
            "eye_height",
        ),
        (
            good.replace("kinematic_motion = true", "kinematic_motion = false"),
            "ground_probe",
        ),
        (
            good.replace("blend_power = 2.0", "blend_power = 99.0"),
            "guides.blend_power",
        ),
        (
            good.replace("pose_offset_m = 0.0", "pose_offset_m = -0.5"),
            "augment.pose_offset_m",
        ),
        (
            good.replace("pose_offset_share = 0.0", "pose_offset_share = 2.0"),
            "augment.pose_offset_share",
        ),
        (
            good.replace("session_memory_share = 0.0", "session_memory_share = 1.5"),
            "augment.session_memory_share",
        ),
        (
            good.replace("depth_grad = 0.0", "depth_grad = -1.0"),
            "loss.depth_grad",
        ),
        (
            good.replace("source_temperature = 1.0", "source_temperature = 0.0"),
            "compose.source_temperature",
        ),
        (
            good.replace("depth_temperature = 1.0", "depth_temperature = 9.0"),
            "compose.depth_temperature",
        ),
        (
            good.replace("ground_probe = true", "ground_probe = false")
                .replace("pose_offset_share = 0.0", "pose_offset_share = 0.5")
                .replace("pose_offset_m = 0.0", "pose_offset_m = 1.0"),
            "augment.pose_offset_share",
        ),
    ];
    // Left out, the guides are drawn as before session 13; each drawing has its own renders.
    let cfg: TrainConfig = toml::from_str(&good).unwrap();
    assert_eq!(cfg.memory_config().splatting(), Splatting::SOFT);
    let soft = reverie_train::data::memory_path(Path::new("d"), 3, &cfg.memory_config());
    assert_eq!(soft, Path::new("d/memory/ep_000003.bin"));
    let sharp = MemoryConfig::default();
    let other = reverie_train::data::memory_path(Path::new("d"), 3, &sharp);
    assert_eq!(other, Path::new("d/memory-s1-p8/ep_000003.bin"));
    for (text, field) in cases {
        assert_ne!(text, good, "{field}: the test did not change the config");
        let p = tmp.path().join("t.toml");
        std::fs::write(&p, text).unwrap();
        let e = TrainConfig::load(&p).unwrap_err().to_string();
        assert!(e.contains("t.toml") && e.contains(field), "{field}: {e}");
    }
}

/// A tiny dataset (world seed 3), a config over it (`adjust`ed), the data opened with the default
/// memory and a seeded tiny model.
struct Tiny {
    _tmp: tempfile::TempDir,
    cfg: TrainConfig,
    memory: MemoryConfig,
    data: reverie_train::data::TrainData,
    varmap: candle_nn::VarMap,
    model: reverie_model::WorldModel,
}

fn tiny(adjust: impl FnOnce(&mut TrainConfig)) -> Tiny {
    use candle_core::{DType, Device};
    use candle_nn::{VarBuilder, VarMap};

    let tmp = tempfile::tempdir().unwrap();
    let train = tmp.path().join("train");
    tiny_dataset(&train, 3);
    let mut cfg = config(train.clone(), train.clone(), 1);
    adjust(&mut cfg);
    let memory = MemoryConfig::default();
    let data = reverie_train::data::TrainData::open(&[train], &memory, &|_| {}, &|| {}).unwrap();
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let model = reverie_model::WorldModel::new(&cfg.model, vb).unwrap();
    reverie_train::train::seeded_init(&varmap, 5).unwrap();
    Tiny {
        _tmp: tmp,
        cfg,
        memory,
        data,
        varmap,
        model,
    }
}

#[test]
fn a_session_memory_is_built_from_the_sequences_own_frames() {
    use rand::SeedableRng;
    use reverie_train::train::{run_batch, sample_batch};

    // Left at 0 the share draws nothing (older configs see the batches they saw); at 1 every
    // sequence asks for its own memory.
    let Tiny {
        cfg,
        memory,
        data,
        model,
        ..
    } = tiny(|c| c.augment.memory_drop = 0.0);
    let draw = |share: f64| {
        let mut c = cfg.clone();
        c.augment.session_memory_share = share;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        sample_batch(&data, &c, &mut rng, 1.0).unwrap()
    };
    let (seqs, dataset) = draw(0.0);
    assert!(
        dataset
            .iter()
            .all(|p| !p.session_memory && p.memory && p.self_forcing)
    );
    let (_, own) = draw(1.0);
    assert!(own.iter().all(|p| p.session_memory));
    let k = data.intrinsics;
    let (_, from_dataset) = run_batch(&model, &cfg, &k, &seqs, &dataset, &memory).unwrap();
    let (_, from_own) = run_batch(&model, &cfg, &k, &seqs, &own, &memory).unwrap();
    let (_, again) = run_batch(&model, &cfg, &k, &seqs, &own, &memory).unwrap();
    assert!(from_own.total.is_finite());
    // The same sequences through other memory renders: other frames, the same ones again.
    assert_ne!(from_own.total, from_dataset.total);
    assert_eq!(from_own, again);
    // A sequence on the oracle's frames (not self-forced) keeps the dataset's memory.
    let oracle: Vec<_> = own
        .iter()
        .cloned()
        .map(|mut p| {
            p.self_forcing = false;
            p
        })
        .collect();
    let plain: Vec<_> = oracle
        .iter()
        .cloned()
        .map(|mut p| {
            p.session_memory = false;
            p
        })
        .collect();
    let (_, a) = run_batch(&model, &cfg, &k, &seqs, &oracle, &memory).unwrap();
    let (_, b) = run_batch(&model, &cfg, &k, &seqs, &plain, &memory).unwrap();
    assert_eq!(a, b);
}

#[test]
fn the_depth_gradient_loss_and_the_compose_temperatures_shape_the_batch_loss() {
    use rand::SeedableRng;
    use reverie_train::train::{run_batch, sample_batch};

    let Tiny {
        cfg,
        memory,
        data,
        model,
        ..
    } = tiny(|_| {});
    // Left out, a config trains what it trained before session 32.
    assert_eq!(cfg.loss.depth_grad, 0.0);
    assert_eq!(
        (
            cfg.compose.source_temperature,
            cfg.compose.depth_temperature
        ),
        (1.0, 1.0)
    );
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(6);
    let (seqs, plans) = sample_batch(&data, &cfg, &mut rng, 1.0).unwrap();
    let k = data.intrinsics;
    let run = |c: &TrainConfig| run_batch(&model, c, &k, &seqs, &plans, &memory).unwrap().1;
    let plain = run(&cfg);
    // The term is measured whatever its weight, and adds weight × itself to the total.
    assert!(plain.depth_grad.is_finite() && plain.depth_grad > 0.0);
    let mut weighted = cfg.clone();
    weighted.loss.depth_grad = 3.0;
    let w = run(&weighted);
    assert_eq!((w.depth, w.depth_grad), (plain.depth, plain.depth_grad));
    let added = w.total - plain.total;
    assert!(
        (added - 3.0 * plain.depth_grad).abs() < 1e-4 * w.total,
        "{added} vs 3 × {}",
        plain.depth_grad
    );
    // The runtime's source temperatures compose other frames, the same ones each time.
    let mut tempered = cfg.clone();
    tempered.compose.source_temperature = 0.5;
    tempered.compose.depth_temperature = 0.5;
    let t = run(&tempered);
    assert!(t.total.is_finite());
    assert_ne!(t.rgb_l1, plain.rgb_l1);
    assert_ne!(t.depth, plain.depth);
    assert_eq!(t, run(&tempered));
}

#[test]
fn a_batch_split_between_two_workers_has_the_gradients_of_the_whole() {
    use rand::SeedableRng;
    use reverie_train::train::{batch_gradients, sample_batch};

    // Shares of 2 and 1: the weighting by share size matters.
    let Tiny {
        cfg,
        memory,
        data,
        varmap,
        model,
        ..
    } = tiny(|c| c.optim.batch = 3);
    let vars = varmap.all_vars();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let (seqs, plans) = sample_batch(&data, &cfg, &mut rng, 0.5).unwrap();
    let k = data.intrinsics;
    let (one, p1) = batch_gradients(&model, &vars, &cfg, &k, &seqs, &plans, &memory, 1).unwrap();
    let (two, p2) = batch_gradients(&model, &vars, &cfg, &k, &seqs, &plans, &memory, 2).unwrap();
    assert!(
        (p1.total - p2.total).abs() < 1e-5 * p1.total.abs().max(1.0),
        "{p1:?} vs {p2:?}"
    );
    assert!(
        (p1.last_psnr_db - p2.last_psnr_db).abs() < 1e-3,
        "{p1:?} vs {p2:?}"
    );
    let mut compared = 0;
    for v in &vars {
        let (Some(a), Some(b)) = (one.get(v.as_tensor()), two.get(v.as_tensor())) else {
            assert!(one.get(v.as_tensor()).is_none() && two.get(v.as_tensor()).is_none());
            continue;
        };
        let a: Vec<f32> = a.flatten_all().unwrap().to_vec1().unwrap();
        let b: Vec<f32> = b.flatten_all().unwrap().to_vec1().unwrap();
        let scale = a.iter().map(|x| x.abs()).fold(0f32, f32::max).max(1e-6);
        let d = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(d <= 1e-4 * scale, "gradient differs by {d} (scale {scale})");
        compared += 1;
    }
    assert!(compared > 10, "only {compared} gradients compared");
}

#[test]
fn a_later_stage_grows_the_checkpoint_it_starts_from_and_computes_what_it_did_but_step_up() {
    use candle_core::{DType, Device};
    use candle_nn::{VarBuilder, VarMap};
    use rand::SeedableRng;
    use reverie_core::GroundProbe;
    use reverie_train::data::TrainData;
    use reverie_train::train::{init_from, run_batch, sample_batch};

    let tmp = tempfile::tempdir().unwrap();
    let (train, held) = train_and_heldout(tmp.path());
    // Stage 1: a model without the ground probe.
    let mut first = config(train.clone(), held, 2);
    first.model.ground_probe = false;
    let stage1 = tmp.path().join("stage1");
    reverie_train::train::train(&first, &stage1, false, &Quiet).unwrap();
    let old = reverie_model::checkpoint::load(&stage1.join("final"), &Device::Cpu).unwrap();

    // Stage 2 grows the motion head by the probe's inputs.
    let mut second = config(train.clone(), train.clone(), 1);
    second.model.ground_probe = true;
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let grown = reverie_model::WorldModel::new(&second.model, vb).unwrap();
    init_from(&varmap, &stage1.join("final")).unwrap();

    let memory = MemoryConfig::default();
    let data = TrainData::open(&[train], &memory, &|_| {}, &|| {}).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
    let (seqs, plans) = sample_batch(&data, &second, &mut rng, 0.5).unwrap();
    for s in &seqs {
        assert!(s.probe[0].is_empty());
        for p in &s.probe[1..] {
            assert_eq!(p.len(), GroundProbe::FEATURES);
        }
    }
    let k = data.intrinsics;
    let (_, a) = run_batch(&old, &second, &k, &seqs, &plans, &memory).unwrap();
    let (_, b) = run_batch(&grown, &second, &k, &seqs, &plans, &memory).unwrap();
    // The frames are the same; so is the motion unless the probe shows a step somewhere (the
    // step gate starts open).
    let at = 2 * GroundProbe::GRID * GroundProbe::GRID + 2;
    let steps = seqs.iter().flat_map(|s| &s.probe[1..]).any(|p| {
        let h = p[at] + second.model.eye_height;
        p[at + 1] > 0.0 && (0.5..=1.05).contains(&h)
    });
    for (x, y) in [
        (a.rgb_l1, b.rgb_l1),
        (a.rgb_grad, b.rgb_grad),
        (a.depth, b.depth),
    ] {
        assert!((x - y).abs() < 1e-6, "{a:?} vs {b:?}");
    }
    assert!(
        steps || (a.motion - b.motion).abs() < 1e-5,
        "{a:?} vs {b:?}"
    );

    // A checkpoint that does not fit is an error naming the tensor; a missing one names the file.
    let mut other = second.model.clone();
    other.channels = 8;
    let vm = VarMap::new();
    reverie_model::WorldModel::new(
        &other,
        VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu),
    )
    .unwrap();
    let e = init_from(&vm, &stage1.join("final"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("model.safetensors") && e.contains("tensor"),
        "{e}"
    );
    let e = init_from(&varmap, &tmp.path().join("nowhere"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("nowhere"), "{e}");
}

#[test]
fn a_lifted_camera_reads_its_probe_from_where_it_is_and_learns_the_way_back() {
    use rand::SeedableRng;
    use reverie_core::GroundProbe;
    use reverie_train::data::TrainData;
    use reverie_train::train::{motion_target, sample_batch};

    let tmp = tempfile::tempdir().unwrap();
    let train = tmp.path().join("train");
    // Long enough for the walker to reach ground it saw ahead.
    tiny_dataset_of(&train, 3, 72);
    let mut cfg = config(train.clone(), train.clone(), 1);
    cfg.optim.seq_len = 6;
    let memory = MemoryConfig::default();
    let data = TrainData::open(&[train], &memory, &|_| {}, &|| {}).unwrap();
    let len = cfg.optim.seq_len + 1;
    let start = data.steps(0) - len;
    let plain = data.sequence(0, start, len, &cfg.model, &[]).unwrap();
    let offsets = [0.0, 0.3, -0.4, 0.0, 0.25, -0.1, 0.5];
    let lifted = data.sequence(0, start, len, &cfg.model, &offsets).unwrap();
    assert_eq!(lifted.start_offsets, offsets);
    assert_eq!(plain.start_offsets, vec![0.0; len]);
    assert_eq!(lifted.rgb, plain.rgb);
    // Ground seen from `offset` higher lies `offset` further below the eye: every cell of the
    // grid (and each footprint) seen either way moves by it.
    let g2 = GroundProbe::GRID * GroundProbe::GRID;
    let heights = (0..g2)
        .map(|c| (c, c + g2))
        .chain((0..3).map(|k| (2 * g2 + 2 * k, 2 * g2 + 2 * k + 1)));
    let heights: Vec<(usize, usize)> = heights.collect();
    let mut compared = 0;
    for t in 1..len {
        let (a, b) = (&plain.probe[t], &lifted.probe[t]);
        for &(h, seen) in &heights {
            if a[seen] > 0.0 && b[seen] > 0.0 && a[h] < -0.5 {
                assert!(
                    (b[h] - (a[h] - offsets[t])).abs() < 1e-4,
                    "tick {t} value {h}: {} vs {} lifted {}",
                    a[h],
                    b[h],
                    offsets[t]
                );
                compared += 1;
            }
        }
        assert!(offsets[t] != 0.0 || a == b, "tick {t}");
        // The target leads from the lifted camera back to the true pose.
        let (m, n) = (motion_target(&plain, t), motion_target(&lifted, t));
        assert!(
            (n.up_m - (m.up_m - offsets[t])).abs() < 1e-5,
            "tick {t}: {m:?} {n:?}"
        );
        assert_eq!((n.right_m, n.forward_m), (m.right_m, m.forward_m));
    }
    assert!(compared >= 20, "only {compared} heights compared");

    // Drawn in a batch: within ± pose_offset_m, on about the share of ticks asked for, never at
    // the prompt; none unless asked.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(8);
    let (seqs, _) = sample_batch(&data, &cfg, &mut rng, 0.0).unwrap();
    assert!(
        seqs.iter()
            .all(|s| s.start_offsets.iter().all(|&o| o == 0.0))
    );
    cfg.augment.pose_offset_share = 0.5;
    cfg.augment.pose_offset_m = 0.8;
    cfg.optim.batch = 16;
    cfg.validate().unwrap();
    let (seqs, _) = sample_batch(&data, &cfg, &mut rng, 0.0).unwrap();
    let all: Vec<f32> = seqs
        .iter()
        .flat_map(|s| s.start_offsets[1..].to_vec())
        .collect();
    assert!(seqs.iter().all(|s| s.start_offsets[0] == 0.0));
    assert!(all.iter().all(|o| o.abs() <= 0.8));
    let moved = all.iter().filter(|&&o| o != 0.0).count();
    assert!(
        (30..=66).contains(&moved),
        "{moved} of {} ticks lifted",
        all.len()
    );
}

#[test]
fn without_motion_trains_state_the_ego_motion_loss_trains_only_the_motion_head() {
    use rand::SeedableRng;
    use reverie_train::train::{batch_gradients, sample_batch};

    // Only the ego-motion counts.
    let Tiny {
        mut cfg,
        memory,
        data,
        varmap,
        model,
        ..
    } = tiny(|c| {
        c.loss.rgb_l1 = 0.0;
        c.loss.rgb_grad = 0.0;
        c.loss.depth = 0.0;
        c.loss.motion = 1.0;
    });
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let (seqs, plans) = sample_batch(&data, &cfg, &mut rng, 0.0).unwrap();
    let k = data.intrinsics;
    // Names of the variables with a nonzero gradient.
    let moved = |cfg: &TrainConfig| -> Vec<String> {
        let data = varmap.data().lock().unwrap();
        let vars: Vec<_> = data.values().cloned().collect();
        let (grads, _) =
            batch_gradients(&model, &vars, cfg, &k, &seqs, &plans, &memory, 1).unwrap();
        let mut out: Vec<String> = data
            .iter()
            .filter(|(_, v)| {
                grads.get(v.as_tensor()).is_some_and(|g| {
                    g.abs()
                        .unwrap()
                        .max_all()
                        .unwrap()
                        .to_scalar::<f32>()
                        .unwrap()
                        > 0.0
                })
            })
            .map(|(name, _)| name.clone())
            .collect();
        out.sort();
        out
    };
    let both = moved(&cfg);
    cfg.loss.motion_trains_state = false;
    let head = moved(&cfg);
    assert!(!head.is_empty());
    assert!(head.iter().all(|n| n.starts_with("motion")), "{head:?}");
    assert!(both.iter().any(|n| !n.starts_with("motion")), "{both:?}");
}

#[test]
fn the_models_physics_constants_are_the_walkers() {
    // A kinematic head walks at the walker's speeds, and a `vertical_momentum` head's arc
    // falls at its gravity: the model's defaults are the oracle's body.
    let (m, body) = (
        ModelConfig::default(),
        reverie_world::physics::Body::default(),
    );
    assert_eq!(m.walk_speed, body.walk_speed);
    assert_eq!(m.sprint_speed, body.sprint_speed);
    assert_eq!(m.gravity, body.gravity);
}
