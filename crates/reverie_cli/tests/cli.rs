//! The `reverie` binary on bad input: clear errors naming the file, field, flag or line; exit code 1
//! or 2, never a panic; nothing already written is lost.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn reverie(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_reverie"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("cannot run reverie: {e}"))
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs, expects success, returns stdout.
fn succeeds(args: &[&str]) -> String {
    let out = reverie(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Runs, expects failure without a panic, returns stderr.
fn fails(args: &[&str]) -> String {
    let out = reverie(args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "{args:?} should fail");
    assert!(
        matches!(out.status.code(), Some(1 | 2)),
        "{args:?}: exit {:?}\n{stderr}",
        out.status.code()
    );
    assert!(!stderr.contains("panicked"), "{args:?} panicked:\n{stderr}");
    stderr
}

/// `datagen` of one two-tick episode of the meadow into `out`, plus `extra` flags.
fn tiny_datagen<'a>(out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "datagen",
        "--world",
        "worlds/meadow.toml",
        "--episodes",
        "1",
        "--steps",
        "2",
        "--out",
        out,
    ];
    args.extend_from_slice(extra);
    args
}

/// Renders the example tour in `world` at `resolution` to `out`, expecting success.
fn render_tour(world: &str, resolution: &str, out: &str) {
    succeeds(&[
        "render",
        "--world",
        world,
        "--actions",
        "examples/scripts/tour.jsonl",
        "--resolution",
        resolution,
        "--out",
        out,
    ]);
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn bad_flags_name_the_flag() {
    let t = tmp();
    let out = t.path().join("d");
    let out = out.to_str().unwrap_or_default();
    let cases: [(&[&str], &[&str]); 6] = [
        (&["--resolution", "0x128"], &["resolution", "0x128"]),
        (&["--resolution", "banana"], &["resolution"]),
        (&["--fov", "500"], &["fov", "500"]),
        (&["--policy", "teleport"], &["--policy", "teleport"]),
        (
            &["--policy", "loop-and-return:60", "--steps", "100"],
            &["--steps"],
        ),
        (&["--episodes=-3"], &["episodes"]),
    ];
    for (flags, needles) in cases {
        let mut args = vec!["datagen", "--world", "worlds/meadow.toml", "--out", out];
        args.extend_from_slice(flags);
        let e = fails(&args);
        assert!(
            needles.iter().all(|n| e.contains(n)),
            "{flags:?} should name {needles:?}: {e}"
        );
    }
    assert!(!Path::new(out).exists(), "nothing written on bad flags");
}

#[test]
fn bad_world_specs_name_file_line_and_field() {
    let t = tmp();
    let out = t.path().join("d");
    let out = out.to_str().unwrap_or_default();
    let missing = fails(&["datagen", "--world", "worlds/nope.toml", "--out", out]);
    assert!(missing.contains("worlds/nope.toml"), "{missing}");
    let good = std::fs::read_to_string(root().join("worlds/meadow.toml")).unwrap_or_default();
    for (edit, needle) in [
        (good.replace("seed = 1", "seed = 1\nsed = 2"), "sed"),
        (good.replace("end = 100.0", "end = 500.0"), "fog.end"),
        (
            good.replace("zenith = \"#3d6fc8\"", "zenith = 12"),
            "sky.zenith",
        ),
        (good.replace("[sky]", "[sky"), "unclosed"),
        (good.replace("kind = \"meadow\"", "kind = \"moon\""), "moon"),
        ("\u{0}\u{ff}garbage".to_string(), "bad.toml"),
    ] {
        let path = t.path().join("bad.toml");
        std::fs::write(&path, &edit).unwrap_or_else(|e| panic!("{e}"));
        let e = fails(&[
            "datagen",
            "--world",
            path.to_str().unwrap_or_default(),
            "--out",
            out,
        ]);
        assert!(
            e.contains("bad.toml") && e.contains(needle),
            "expected {needle}: {e}"
        );
    }
}

#[test]
fn bad_action_scripts_name_the_line() {
    let t = tmp();
    let script = t.path().join("s.jsonl");
    std::fs::write(
        &script,
        "{\"keys\": \"forward\", \"ticks\": 3}\n# fine\n{\"keys\": \"fly\"}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let gif = t.path().join("c.gif");
    let e = fails(&[
        "render",
        "--world",
        "worlds/meadow.toml",
        "--actions",
        script.to_str().unwrap_or_default(),
        "--out",
        gif.to_str().unwrap_or_default(),
    ]);
    assert!(e.contains("s.jsonl:3") && e.contains("fly"), "{e}");
    std::fs::write(&script, "not json at all\n").unwrap_or_else(|e| panic!("{e}"));
    let e = fails(&[
        "render",
        "--world",
        "worlds/meadow.toml",
        "--actions",
        script.to_str().unwrap_or_default(),
        "--out",
        gif.to_str().unwrap_or_default(),
    ]);
    assert!(e.contains("s.jsonl:1"), "{e}");
    assert!(!gif.exists());
}

#[test]
fn existing_and_unwritable_outputs_are_refused_and_kept() {
    let t = tmp();
    let dir = t.path().join("mine");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("keep.txt"), b"precious").unwrap_or_else(|e| panic!("{e}"));
    let e = fails(&tiny_datagen(dir.to_str().unwrap_or_default(), &[]));
    assert!(e.contains("mine") && e.contains("--resume"), "{e}");
    let e = fails(&tiny_datagen(
        dir.to_str().unwrap_or_default(),
        &["--overwrite"],
    ));
    assert!(e.contains("keep.txt"), "{e}");
    assert_eq!(
        std::fs::read(dir.join("keep.txt")).unwrap_or_default(),
        b"precious"
    );
    // Under a regular file: cannot be created.
    let under_file = dir.join("keep.txt").join("out");
    let e = fails(&tiny_datagen(under_file.to_str().unwrap_or_default(), &[]));
    assert!(e.contains("keep.txt/out"), "{e}");
    let e = fails(&[
        "render",
        "--world",
        "worlds/meadow.toml",
        "--actions",
        "examples/scripts/tour.jsonl",
        "--out",
        under_file
            .with_extension("gif")
            .to_str()
            .unwrap_or_default(),
    ]);
    assert!(e.contains("keep.txt/out.gif"), "{e}");
    // An existing clip is not replaced without --overwrite.
    let gif = t.path().join("clip.gif");
    std::fs::write(&gif, b"old").unwrap_or_else(|e| panic!("{e}"));
    let e = fails(&[
        "render",
        "--world",
        "worlds/meadow.toml",
        "--actions",
        "examples/scripts/tour.jsonl",
        "--out",
        gif.to_str().unwrap_or_default(),
    ]);
    assert!(e.contains("--overwrite"), "{e}");
    assert_eq!(std::fs::read(&gif).unwrap_or_default(), b"old");
}

#[test]
fn datagen_and_render_work_end_to_end() {
    let t = tmp();
    let out = t.path().join("ds");
    let out = out.to_str().unwrap_or_default();
    let village = |extra: &[&str]| {
        let mut args = vec![
            "datagen",
            "--world",
            "worlds/village.toml",
            "--episodes",
            "2",
            "--steps",
            "6",
            "--resolution",
            "24x16",
            "--out",
            out,
        ];
        args.extend_from_slice(extra);
        reverie(&args)
    };
    let o = village(&[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("frames/min"));
    let o = village(&["--resume"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("wrote 0 episodes (2 already there)"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let o = reverie(&["inspect", out]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("2 of 2 episodes"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let gif = t.path().join("c.gif");
    render_tour(
        "worlds/canyon.toml",
        "32x32",
        gif.to_str().unwrap_or_default(),
    );
    assert!(
        std::fs::read(&gif)
            .unwrap_or_default()
            .starts_with(b"GIF89a")
    );
    let pngs = t.path().join("pngs");
    render_tour(
        "worlds/forest.toml",
        "16x16",
        pngs.to_str().unwrap_or_default(),
    );
    assert!(pngs.join("frame_00000.png").exists());
}

#[test]
fn memory_commands_reject_bad_flags_and_configs() {
    let t = tmp();
    let out = t.path().join("m");
    let out = out.to_str().unwrap_or_default();
    let e = fails(&["memory-eval", "--loops=-5", "--out", out]);
    assert!(e.contains("--loops"), "{e}");
    let e = fails(&["memory-eval", "--loops", "10,soon", "--out", out]);
    assert!(e.contains("--loops") && e.contains("soon"), "{e}");
    let e = fails(&["memory-eval", "--bound-mib", "1", "--out", out]);
    assert!(e.contains("bound_bytes"), "{e}");
    let cfg = t.path().join("bad.json");
    std::fs::write(&cfg, r#"{"splat_scale": 99}"#).unwrap_or_else(|e| panic!("{e}"));
    let e = fails(&[
        "memory-eval",
        "--config",
        cfg.to_str().unwrap_or_default(),
        "--out",
        out,
    ]);
    assert!(e.contains("splat_scale"), "{e}");
    std::fs::write(&cfg, r#"{"splat": 1}"#).unwrap_or_else(|e| panic!("{e}"));
    let e = fails(&[
        "memory-eval",
        "--config",
        cfg.to_str().unwrap_or_default(),
        "--out",
        out,
    ]);
    assert!(e.contains("bad.json") && e.contains("splat"), "{e}");
    // `eval --memory-config`: the same checks, over the runtime's configuration.
    let json = t.path().join("e.json");
    let eval = |cfg: &Path| {
        fails(&[
            "eval",
            "--checkpoint",
            "assets/models/default",
            "--world",
            "worlds/meadow.toml",
            "--json",
            json.to_str().unwrap_or_default(),
            "--memory-config",
            cfg.to_str().unwrap_or_default(),
        ])
    };
    let e = eval(&cfg);
    assert!(e.contains("bad.json") && e.contains("splat"), "{e}");
    std::fs::write(&cfg, r#"{"recency": 2}"#).unwrap_or_else(|e| panic!("{e}"));
    let e = eval(&cfg);
    assert!(e.contains("bad.json") && e.contains("recency"), "{e}");
    std::fs::write(&cfg, "[1, 2]").unwrap_or_else(|e| panic!("{e}"));
    let e = eval(&cfg);
    assert!(e.contains("bad.json") && e.contains("JSON object"), "{e}");
    let e = eval(&t.path().join("missing.json"));
    assert!(e.contains("missing.json"), "{e}");
    assert!(!json.exists(), "nothing written on a bad memory config");
    let e = fails(&["memory-bench", "--minutes", "0", "--out", out]);
    assert!(e.contains("--minutes"), "{e}");
    assert!(!Path::new(out).exists(), "nothing written on bad flags");
}

#[test]
fn memory_eval_without_loops_measures_the_probe_poses_only() {
    let t = tmp();
    let out = t.path().join("m");
    succeeds(&[
        "memory-eval",
        "--world",
        "worlds/meadow.toml",
        "--steps",
        "30",
        "--loops",
        "",
        "--out",
        out.to_str().unwrap_or_default(),
    ]);
    let json = std::fs::read_to_string(out.join("memory-eval.json")).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
    assert_eq!(v["loops"].as_array().map(Vec::len), Some(0), "{json}");
    assert!(
        v["same_pose"]["n"].as_u64().is_some_and(|n| n > 0),
        "{json}"
    );
}

#[test]
fn tune_motion_names_the_bad_file_or_field_and_keeps_an_earlier_run() {
    let t = tmp();
    let out = t.path().join("tuned");
    let out_s = out.to_str().unwrap_or_default();
    let cfg = t.path().join("tune.toml");
    let good = std::fs::read_to_string(root().join("configs/tune-motion.toml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let tune = |cfg: &Path, checkpoint: &str| {
        fails(&[
            "tune-motion",
            "--config",
            cfg.to_str().unwrap_or_default(),
            "--checkpoint",
            checkpoint,
            "--out",
            out_s,
        ])
    };
    std::fs::write(
        &cfg,
        good.replace("world_seeds = [", "world_seeds = [1000001, "),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let e = tune(&cfg, "assets/models/default");
    assert!(e.contains("tune.toml") && e.contains("world_seeds"), "{e}");
    let e = tune(&t.path().join("missing.toml"), "assets/models/default");
    assert!(e.contains("missing.toml"), "{e}");
    // A checkpoint directory that is none: the error names its missing file.
    std::fs::write(&cfg, &good).unwrap_or_else(|e| panic!("{e}"));
    let e = tune(&cfg, t.path().to_str().unwrap_or_default());
    assert!(e.contains("model.json"), "{e}");
    // An earlier run in OUT is kept unless --overwrite.
    std::fs::create_dir_all(&out).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(out.join("tune.json"), "{}").unwrap_or_else(|e| panic!("{e}"));
    let e = tune(&cfg, "assets/models/default");
    assert!(e.contains("--overwrite"), "{e}");
    assert_eq!(
        std::fs::read_to_string(out.join("tune.json")).unwrap_or_default(),
        "{}"
    );
}
