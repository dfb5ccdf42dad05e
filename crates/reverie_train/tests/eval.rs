#![allow(clippy::unwrap_used)]
//! Evaluation protocols on a tiny random model, and the honesty rule: after the prompt, nothing
//! of the oracle reaches the model.

use std::path::Path;
use std::sync::Arc;

use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use reverie_core::Intrinsics;
use reverie_memory::MemoryConfig;
use reverie_model::{ModelConfig, WorldModel};
use reverie_runtime::EngineOptions;
use reverie_train::eval::{EvalOptions, evaluate, record, rollout};
use reverie_world::WorldSpec;
use reverie_world::policy::PolicyKind;

fn setup() -> (WorldModel, WorldSpec, Intrinsics) {
    let cfg = ModelConfig::tiny();
    let vm = VarMap::new();
    let model =
        WorldModel::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu)).unwrap();
    reverie_train::train::seeded_init(&vm, 3).unwrap();
    let spec =
        WorldSpec::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../worlds/meadow.toml"))
            .unwrap();
    (
        model,
        spec,
        Intrinsics::from_vfov_deg(32, 32, 70.0).unwrap(),
    )
}

#[test]
fn nothing_after_the_prompt_reaches_the_model() {
    let (model, spec, k) = setup();
    let ep = record(&Arc::new(spec), &k, &PolicyKind::RandomWalk, 5, 30);
    // The same prompt and actions, but every later oracle frame and depth replaced by garbage.
    let mut poisoned = ep.clone();
    for (t, (rgb, depth)) in poisoned
        .rgb
        .iter_mut()
        .zip(&mut poisoned.depth_m)
        .enumerate()
        .skip(1)
    {
        rgb.iter_mut()
            .enumerate()
            .for_each(|(i, v)| *v = (i * 31 + t * 7) as u8);
        depth.iter_mut().for_each(|d| *d = 0.5);
    }
    poisoned.poses[1..]
        .iter_mut()
        .for_each(|p| p.position.x += 100.0);
    let run = |e: &reverie_train::eval::OracleEpisode| {
        rollout(
            &model,
            &k,
            &e.prompt(),
            &e.actions,
            EngineOptions::default(),
            &|_| true,
            |_| {},
        )
        .unwrap()
        .into_iter()
        .map(|(t, g)| (t, g.rgb, g.depth_m, g.pose))
        .collect::<Vec<_>>()
    };
    let (a, b) = (run(&ep), run(&poisoned));
    assert_eq!(a.len(), 30);
    assert!(
        a == b,
        "the generated session depends on oracle data after the prompt"
    );
    // …while the oracle itself did change (the comparison is not vacuous).
    assert_ne!(ep.rgb[5], poisoned.rgb[5]);
}

#[test]
fn a_long_session_of_a_trainable_model_ends_cleanly() {
    // A model of trainable variables (as in training) records every op; a session must not keep
    // its ticks linked through the latent state, or dropping the chain at its end overflows the
    // stack. 2 400 ticks on a small stack.
    let (model, spec, k) = setup();
    let ep = record(&Arc::new(spec), &k, &PolicyKind::RandomWalk, 9, 2);
    let actions = vec![ep.actions[1]; 2400];
    let ticks = std::thread::scope(|s| {
        std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn_scoped(s, || {
                let mut n = 0;
                rollout(
                    &model,
                    &k,
                    &ep.prompt(),
                    &actions,
                    EngineOptions::default(),
                    &|_| false,
                    |_| n += 1,
                )
                .unwrap();
                n
            })
            .unwrap()
            .join()
            .unwrap()
    });
    assert_eq!(ticks, 2400);
}

#[test]
fn protocols_fill_the_report() {
    let (model, spec, k) = setup();
    let dir = tempfile::tempdir().unwrap();
    let strip = dir.path().join("eval.png");
    let opts = EvalOptions {
        seeds: vec![901],
        steps: 25,
        loops_secs: vec![1.0],
        stability_minutes: 0.05,
        sessions: EngineOptions {
            memory: MemoryConfig::default(),
            source_temperature: 0.5,
            depth_temperature: 1.0,
            vertical_deadband_m: 0.02,
            fall_window_ticks: 24,
            horizontal_deadband_m: 0.01,
            ..EngineOptions::default()
        },
    };
    let r = evaluate(&model, &spec, &k, &opts, Some(&strip), &|_| {}).unwrap();
    assert_eq!(r.fidelity.horizons, vec![1, 8, 24]);
    assert_eq!(
        r.horizontal_deadband_m, 0.01,
        "the report says how its sessions moved"
    );
    assert_eq!(r.depth_temperature, 1.0);
    // The report says how its sessions ran; one from before `memory_ahead` was recorded reads
    // as made with the memory rendered ahead (as sessions then were).
    assert_eq!(r.memory_ahead, EngineOptions::default().memory_ahead);
    let mut old = serde_json::to_value(&r).unwrap();
    old.as_object_mut().unwrap().remove("memory_ahead");
    let old: reverie_train::eval::EvalReport = serde_json::from_value(old).unwrap();
    assert!(old.memory_ahead);
    for s in [
        &r.fidelity.model,
        &r.fidelity.copy_last_frame,
        &r.fidelity.warp_memory,
    ] {
        assert_eq!(s.psnr_db.len(), 3);
        assert!(s.psnr_db.iter().all(|p| p.is_finite() && *p > 0.0), "{s:?}");
        assert!(s.ssim.iter().all(|v| (-1.0..=1.0).contains(v)));
    }
    assert!(r.control.distance_walked_m >= 0.0 && r.control.rotation_error_deg.is_finite());
    // A wall test per seed; the first one is also `wall`, and the tally counts what was walked.
    let c = &r.control;
    assert_eq!(c.walls.len(), opts.seeds.len());
    assert_eq!(c.walls_tested, c.walls.iter().flatten().count());
    assert_eq!(
        c.walls_stopped,
        c.walls.iter().flatten().filter(|t| t.stopped).count()
    );
    assert_eq!(c.wall.is_some(), c.walls[0].is_some());
    // The horizontal part of the end-position error is at most all of it; with no height error
    // it is all of it.
    let c = &r.control;
    assert!(
        c.horizontal_error_pct <= c.translation_error_pct + 1e-9,
        "{c:?}"
    );
    assert!(
        c.height_error_m >= 0.0 && c.height_error_m.is_finite(),
        "{c:?}"
    );
    if c.height_error_m == 0.0 {
        assert!(
            (c.horizontal_error_pct - c.translation_error_pct).abs() < 1e-6,
            "{c:?}"
        );
    }
    assert_eq!(r.revisit.len(), 1);
    // The loop is walked in the generated session: scored only where that walker got back to
    // where it started (within the policy's tolerance), and always saying how far it was.
    let v = &r.revisit[0];
    assert!(v.closed_loop, "{v:?}");
    assert!(
        v.return_position_error_m.is_some_and(f64::is_finite),
        "{v:?}"
    );
    assert!(v.blocked_ticks.is_some(), "{v:?}");
    match v.return_tick {
        Some(_) => {
            // Back means over the start: horizontally within the policy's tolerance; the
            // height is the model's (a tiny untrained model's camera may float off).
            let h = v.return_horizontal_error_m.unwrap();
            assert!(h < 0.3, "{v:?}");
            assert!(h <= v.return_position_error_m.unwrap() + 1e-9, "{v:?}");
            assert!(v.self_psnr_memory_on_db.is_some(), "{v:?}");
            // The return frame warped to the start pose is scored wherever the warp covers a
            // pixel; a camera that came back metres above its start may see none of it.
            if v.return_position_error_m.unwrap() < 1.0 {
                assert!(v.self_psnr_aligned_memory_on_db.is_some(), "{v:?}");
            }
            let c = v.memory_render_coverage.unwrap();
            assert!((0.0..=1.0).contains(&c), "{v:?}");
        }
        None => assert!(
            v.self_psnr_memory_on_db.is_none()
                && v.self_psnr_aligned_memory_on_db.is_none()
                && v.memory_render_self_psnr_db.is_none(),
            "{v:?}"
        ),
    }
    assert_eq!(
        v.return_tick_memory_off.is_some(),
        v.self_psnr_memory_off_db.is_some(),
        "{v:?}"
    );
    // A report from before closed-loop revisits reads as an open-loop one.
    let mut old = serde_json::to_value(v).unwrap();
    for field in [
        "closed_loop",
        "return_tick_memory_off",
        "return_position_error_memory_off_m",
        "return_horizontal_error_m",
        "blocked_ticks",
        "self_psnr_aligned_memory_on_db",
        "self_psnr_aligned_memory_off_db",
        "memory_render_self_psnr_db",
        "memory_render_coverage",
    ] {
        old.as_object_mut().unwrap().remove(field);
    }
    let old: reverie_train::eval::Revisit = serde_json::from_value(old).unwrap();
    assert!(!old.closed_loop && old.blocked_ticks.is_none());
    let (rw, rh, _) =
        reverie_world::imageio::read_png(&reverie_train::eval::revisit_strip_path(&strip)).unwrap();
    assert_eq!(
        (rw, rh),
        (32 * 4, 32),
        "prompt | tick 0 | return, memory on | return, memory off"
    );
    let st = r.stability.unwrap();
    assert_eq!(st.brightness_per_minute.len(), 1);
    assert!(st.collapsed_share >= 0.0 && st.collapsed_share <= 1.0);
    // Height and detail per minute, for the session and (height) for the true walk.
    assert_eq!(st.height_per_minute_m.len(), 1);
    assert_eq!(st.oracle_height_per_minute_m.len(), 1);
    assert!(st.height_per_minute_m[0].is_finite() && st.oracle_height_per_minute_m[0].is_finite());
    assert_eq!(st.detail_vs_prompt_per_minute.len(), 1);
    assert!(st.detail_vs_prompt_per_minute[0] > 0.0, "{st:?}");
    let (sw, sh, _) =
        reverie_world::imageio::read_png(&reverie_train::eval::stability_strip_path(&strip))
            .unwrap();
    assert_eq!(
        (sw, sh),
        (32, 32 * 2),
        "oracle | session, one column per minute"
    );
    let (w, h, _) = reverie_world::imageio::read_png(&strip).unwrap();
    assert_eq!(
        (w, h),
        (32 * 3, 32 * 3),
        "oracle | model | warp+memory rows, one column per horizon"
    );
}
