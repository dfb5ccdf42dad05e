#![allow(clippy::unwrap_used)]
//! The runtime's contracts, on the shipped default checkpoint and an oracle spawn view as the
//! prompt: session save → load → identical next frames; forks; clear errors on bad session
//! files; a deliberately slow model makes the quality degrade without losing an action; a small
//! action channel never drops input.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use reverie_core::{Action, Intrinsics, Keys};
use reverie_model::candle_core::Device;
use reverie_model::{WorldModel, checkpoint};
use reverie_runtime::{Engine, EngineOptions, Prompt, Quality, RuntimeConfig, RuntimeHandle};
use reverie_world::{Renderer, World, WorldSpec, episode};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn model() -> WorldModel {
    checkpoint::load(&root().join("assets/models/default"), &Device::Cpu).unwrap()
}

fn prompt(model: &WorldModel) -> (Intrinsics, Prompt) {
    let cfg = model.config();
    let k = Intrinsics::from_vfov_deg(cfg.width as u32, cfg.height as u32, 70.0).unwrap();
    let spec = Arc::new(WorldSpec::load(&root().join("worlds/meadow.toml")).unwrap());
    let mut world = World::new(spec.clone());
    let f = episode::spawn_frame(&mut world, &Renderer::new(&spec), &k, 7);
    (
        k,
        Prompt {
            rgb: f.rgb,
            depth_m: Some(f.depth_m),
            pose: f.pose,
        },
    )
}

fn script(n: usize) -> Vec<Action> {
    (0..n)
        .map(|i| {
            let keys = if i % 7 < 5 { Keys::FORWARD } else { Keys::LEFT };
            Action::keys(keys).with_look(0.02 * ((i % 5) as f32 - 2.0), 0.0)
        })
        .collect()
}

#[test]
fn session_save_load_fork_give_identical_next_frames() {
    let model = model();
    let (k, prompt) = prompt(&model);
    let mut a = Engine::new(&model, k, &prompt, EngineOptions::default()).unwrap();
    let actions = script(16);
    for act in &actions[..8] {
        a.step(act).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.rvsession");
    a.save_session(&path).unwrap();
    let mut b = Engine::load_session(&model, &path, EngineOptions::default()).unwrap();
    let mut c = a.fork().unwrap();
    assert_eq!(b.session_id(), a.session_id());
    assert_eq!(c.parent_id(), Some(a.session_id()));
    assert_ne!(c.session_id(), a.session_id());
    assert_eq!(b.frame().tick, 8);
    for act in &actions[8..] {
        let fa = a.step(act).unwrap().clone();
        let fb = b.step(act).unwrap().clone();
        let fc = c.step(act).unwrap().clone();
        assert_eq!(fa.pose, fb.pose, "tick {}", fa.tick);
        assert!(fa.rgb == fb.rgb, "tick {}: loaded session differs", fa.tick);
        assert!(fa.rgb == fc.rgb, "tick {}: fork differs", fa.tick);
        assert_eq!(fa.depth_m, fb.depth_m);
    }
    // The frames moved: the test compares something that changes.
    assert_ne!(a.frame().pose, prompt.pose);
}

#[test]
fn bad_session_files_give_clear_errors() {
    let model = model();
    let (k, prompt) = prompt(&model);
    let mut a = Engine::new(&model, k, &prompt, EngineOptions::default()).unwrap();
    a.step(&Action::keys(Keys::FORWARD)).unwrap();
    let bytes = a.session_bytes().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated", bytes[..bytes.len() / 2].to_vec(), "truncated"),
        ("empty", Vec::new(), "truncated"),
        ("garbage", vec![7u8; 4096], "bad magic"),
        (
            "flipped",
            {
                let mut b = bytes.clone();
                let i = b.len() - 100;
                b[i] ^= 0x40;
                b
            },
            "checksum",
        ),
    ];
    for (name, data, want) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, &data).unwrap();
        let err = Engine::load_session(&model, &path, EngineOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains(name) && err.contains(want), "{name}: {err}");
    }
    let missing = dir.path().join("missing.rvsession");
    let err = Engine::load_session(&model, &missing, EngineOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing.rvsession"), "{err}");
}

#[test]
fn slow_model_degrades_quality_and_loses_no_action() {
    let model = Arc::new(model());
    let (k, prompt) = prompt(&model);
    // A model that needs 80 ms per network pass cannot hold 24 Hz at full quality.
    let options = EngineOptions {
        slow_network: Duration::from_millis(80),
        ..EngineOptions::default()
    };
    let rt = RuntimeHandle::start(model, k, prompt, options, RuntimeConfig::default()).unwrap();
    let actions = script(60);
    let mut yaw_sent = 0.0f64;
    for a in &actions {
        rt.send(*a).unwrap();
        yaw_sent += f64::from(a.yaw_delta_rad);
        std::thread::sleep(Duration::from_millis(10));
    }
    // Let the runtime take everything.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while rt.metrics().actions < actions.len() as u64 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let snap = rt.stop().unwrap();
    assert_eq!(
        snap.actions,
        actions.len() as u64,
        "every action was used by a tick"
    );
    assert!(
        (snap.look_used_rad[0] - yaw_sent).abs() < 1e-4,
        "coalescing kept the look: sent {yaw_sent}, used {:?}",
        snap.look_used_rad
    );
    assert!(snap.quality_changes > 0, "{snap:?}");
    assert!(
        snap.quality_ticks["reuse-warp"] > 0,
        "the cheapest level was reached: {:?}",
        snap.quality_ticks
    );
    assert!(
        snap.late + snap.dropped > 0,
        "an 80 ms model is late at 24 Hz: {snap:?}"
    );
    assert!(
        snap.rescued > 0,
        "an 80 ms network misses the frame deadline: {snap:?}"
    );
}

#[test]
fn a_missed_frame_deadline_shows_the_fallback_once_and_the_session_goes_on_from_the_network() {
    let model = model();
    let (k, prompt) = prompt(&model);
    let slow = EngineOptions {
        slow_network: Duration::from_millis(60),
        ..EngineOptions::default()
    };
    let mut plain = Engine::new(&model, k, &prompt, EngineOptions::default()).unwrap();
    let mut timed = Engine::new(&model, k, &prompt, slow).unwrap();
    let shown = std::sync::Mutex::new(Vec::new());
    let on_miss = |g: &reverie_runtime::Generated| shown.lock().unwrap().push(g.clone());
    for (i, a) in script(6).iter().enumerate() {
        plain.advance(a, Quality::Full).unwrap();
        // A deadline already past: the network (60 ms here) cannot make it.
        let deadline = reverie_runtime::FrameDeadline {
            at: std::time::Instant::now(),
            on_miss: &on_miss,
        };
        let missed = timed
            .advance_within(a, Quality::Full, Some(deadline))
            .unwrap();
        assert!(missed, "tick {i}");
        let shown = shown.lock().unwrap();
        assert_eq!(shown.len(), i + 1, "one fallback per missed tick");
        let fallback = &shown[i];
        let network = timed.frame();
        assert!(fallback.rescued && !network.rescued);
        assert_eq!(fallback.tick, network.tick);
        assert_eq!(
            fallback.pose, network.pose,
            "the fallback is at the new pose"
        );
        assert_ne!(
            fallback.rgb, network.rgb,
            "the fallback is not the network's frame"
        );
        // The session continues from the network's frame: the same frames as without deadline.
        assert_eq!(network.rgb, plain.frame().rgb, "tick {i}");
        assert_eq!(network.pose, plain.frame().pose, "tick {i}");
        timed.commit().unwrap();
        plain.commit().unwrap();
    }
    // A deadline far away is never missed, and nothing else is shown.
    let far = reverie_runtime::FrameDeadline {
        at: std::time::Instant::now() + Duration::from_secs(60),
        on_miss: &on_miss,
    };
    let missed = timed
        .advance_within(&Action::IDLE, Quality::Full, Some(far))
        .unwrap();
    assert!(!missed);
    assert_eq!(shown.lock().unwrap().len(), 6);
}

#[test]
fn the_runtime_shows_each_tick_once_when_the_network_misses_its_deadline() {
    let model = Arc::new(model());
    let (k, prompt) = prompt(&model);
    let options = EngineOptions {
        slow_network: Duration::from_millis(25),
        ..EngineOptions::default()
    };
    // Full quality always (the network runs every tick) and a 5 ms frame deadline: every tick
    // misses it, and its fallback is what the runtime shows.
    let config = RuntimeConfig {
        quality_floor: Quality::Full,
        frame_deadline_ms: Some(5.0),
        ..RuntimeConfig::default()
    };
    let rt = RuntimeHandle::start(model, k, prompt, options, config).unwrap();
    let mut ticks = Vec::new();
    let mut rescued = 0;
    let end = std::time::Instant::now() + Duration::from_secs(3);
    while std::time::Instant::now() < end {
        rt.send(Action::keys(Keys::FORWARD)).unwrap();
        if let Some(f) = rt.wait_frame(Duration::from_millis(100)) {
            ticks.push(f.tick);
            rescued += u64::from(f.rescued);
        }
    }
    let snap = rt.stop().unwrap();
    assert!(ticks.len() > 10, "{ticks:?}");
    assert!(
        ticks.windows(2).all(|w| w[0] < w[1]),
        "no tick shown twice: {ticks:?}"
    );
    assert!(rescued > 0 && snap.rescued >= rescued, "{rescued} {snap:?}");
    assert_eq!(snap.frames, snap.slots - snap.dropped, "{snap:?}");
}

#[test]
fn small_action_channel_never_drops_and_look_adds_up() {
    let model = Arc::new(model());
    let (k, prompt) = prompt(&model);
    let config = RuntimeConfig {
        action_capacity: 2,
        realtime: false,
        ..RuntimeConfig::default()
    };
    let rt = RuntimeHandle::start(model, k, prompt, EngineOptions::default(), config).unwrap();
    let n = 40;
    for _ in 0..n {
        rt.send(Action::IDLE.with_look(0.01, 0.0)).unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while rt.metrics().actions < n && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let snap = rt.stop().unwrap();
    assert_eq!(snap.actions, n);
    assert!(
        (snap.look_used_rad[0] - 0.4).abs() < 1e-4,
        "{:?}",
        snap.look_used_rad
    );
}

#[test]
fn frame_deadline_flags_are_checked() {
    use reverie_runtime::parse_frame_deadline_ms;
    assert_eq!(parse_frame_deadline_ms("20"), Ok(20.0));
    assert_eq!(parse_frame_deadline_ms("0"), Ok(0.0), "0 turns it off");
    for bad in ["-5", "0.5", "1e9", "NaN", "inf", "soon", ""] {
        let e = parse_frame_deadline_ms(bad).unwrap_err();
        assert!(e.contains("frame deadline"), "{bad}: {e}");
    }
}

#[test]
fn the_source_temperature_changes_the_frames_and_a_bad_one_is_refused() {
    let model = model();
    let (k, prompt) = prompt(&model);
    let run = |t: f32| {
        let options = EngineOptions {
            source_temperature: t,
            ..EngineOptions::default()
        };
        let mut e = Engine::new(&model, k, &prompt, options).unwrap();
        for act in &script(6) {
            e.step(act).unwrap();
        }
        e.frame().rgb.clone()
    };
    assert_ne!(run(1.0), run(0.5), "the temperature reaches the frames");
    for bad in [0.0, -0.5, 10.0, f32::NAN] {
        let options = EngineOptions {
            source_temperature: bad,
            ..EngineOptions::default()
        };
        let e = Engine::new(&model, k, &prompt, options).err().unwrap();
        assert!(e.to_string().contains("source temperature"), "{bad}: {e}");
    }
}

#[test]
fn the_depth_temperature_changes_the_depth_not_the_colour_of_a_step() {
    let model = model();
    let (k, prompt) = prompt(&model);
    let step = |depth_temperature: f32| {
        let options = EngineOptions {
            depth_temperature,
            ..EngineOptions::default()
        };
        let mut e = Engine::new(&model, k, &prompt, options).unwrap();
        e.step(&script(1)[0]).unwrap().clone()
    };
    let (trained, firm) = (step(1.0), step(0.5));
    assert_eq!(
        trained.rgb, firm.rgb,
        "the colour's mix is the source temperature's"
    );
    assert_ne!(trained.depth_m, firm.depth_m);
    for bad in [0.0, -1.0, 9.0, f32::NAN] {
        let options = EngineOptions {
            depth_temperature: bad,
            ..EngineOptions::default()
        };
        let e = Engine::new(&model, k, &prompt, options).err().unwrap();
        assert!(
            e.to_string().contains("depth source temperature"),
            "{bad}: {e}"
        );
    }
    use reverie_runtime::parse_depth_temperature;
    assert_eq!(parse_depth_temperature(" 0.5 "), Ok(0.5));
    for bad in ["0", "-1", "9", "NaN", "firm", ""] {
        let e = parse_depth_temperature(bad).unwrap_err();
        assert!(e.contains("depth source temperature"), "{bad}: {e}");
    }
}

#[test]
fn source_temperature_flags_are_checked() {
    use reverie_runtime::parse_source_temperature;
    assert_eq!(parse_source_temperature("0.5"), Ok(0.5));
    assert_eq!(parse_source_temperature(" 1 "), Ok(1.0));
    for bad in ["0", "-1", "9", "NaN", "inf", "warm", ""] {
        let e = parse_source_temperature(bad).unwrap_err();
        assert!(e.contains("source temperature"), "{bad}: {e}");
    }
}

#[test]
fn the_vertical_dead_band_drops_the_heads_small_vertical_motions_only() {
    let model = model();
    let (k, prompt) = prompt(&model);
    // Each tick's vertical motion, walking the script.
    let rises = |band: f32| {
        let options = EngineOptions {
            vertical_deadband_m: band,
            fall_window_ticks: 0,
            ..EngineOptions::default()
        };
        let mut e = Engine::new(&model, k, &prompt, options).unwrap();
        let mut y = e.frame().pose.position.y;
        let mut out = Vec::new();
        for act in &script(48) {
            let g = e.step(act).unwrap();
            out.push(g.pose.position.y - y);
            y = g.pose.position.y;
        }
        out
    };
    // The shipped head's small vertical motions (its bias, which a session integrates).
    let free = rises(0.0);
    assert!(
        free.iter().any(|d| d.abs() > 0.0 && d.abs() < 0.02),
        "{free:?}"
    );
    for band in [EngineOptions::default().vertical_deadband_m, 0.05] {
        let r = rises(band);
        assert!(
            r.iter().all(|d| *d == 0.0 || d.abs() >= band - 1e-4),
            "{band}: {r:?}"
        );
        // Motions past the band are as predicted (same until the first dropped one).
        let first_drop = free.iter().position(|d| d.abs() < band && *d != 0.0);
        let same = first_drop.unwrap_or(free.len());
        assert_eq!(r[..same], free[..same], "{band}");
    }
    for bad in [-0.01, 0.5, f32::NAN] {
        let options = EngineOptions {
            vertical_deadband_m: bad,
            ..EngineOptions::default()
        };
        let e = Engine::new(&model, k, &prompt, options).err().unwrap();
        assert!(e.to_string().contains("vertical dead band"), "{bad}: {e}");
    }
}

#[test]
fn the_horizontal_dead_band_stops_a_creep_and_keeps_walks_and_slides() {
    use reverie_core::EgoMotion;
    let model = model();
    let (k, prompt) = prompt(&model);
    let band = EngineOptions::default().horizontal_deadband_m;
    assert!(band > 0.0, "on by default");
    let e = Engine::new(&model, k, &prompt, EngineOptions::default()).unwrap();
    let m = |right_m: f32, forward_m: f32| EgoMotion {
        right_m,
        up_m: 0.1,
        forward_m,
        yaw_rad: 0.01,
        pitch_rad: -0.02,
    };
    // What a head whose gates a wall has all but shut predicts: a few millimetres a tick.
    let creep = e.session_motion(m(0.002, 0.005));
    assert_eq!((creep.right_m, creep.forward_m), (0.0, 0.0));
    assert_eq!(
        (creep.up_m, creep.yaw_rad, creep.pitch_rad),
        (0.1, 0.01, -0.02),
        "the look and the vertical motion are the other bands' business"
    );
    // A tick of walking, and a slide whose two parts are each under the band but not together.
    for (r, f) in [(0.0, 0.179), (-0.126, 0.126), (0.008, 0.008)] {
        let kept = e.session_motion(m(r, f));
        assert_eq!((kept.right_m, kept.forward_m), (r, f));
    }
    // Off: every walk as predicted.
    let off = EngineOptions {
        horizontal_deadband_m: 0.0,
        ..EngineOptions::default()
    };
    let e = Engine::new(&model, k, &prompt, off).unwrap();
    assert_eq!(e.session_motion(m(0.0, 0.001)).forward_m, 0.001);
    // In a session, every tick's walk on the ground plane is none or past the band.
    let mut e = Engine::new(&model, k, &prompt, EngineOptions::default()).unwrap();
    let mut p = e.frame().pose.position;
    for act in &script(48) {
        let q = e.step(act).unwrap().pose.position;
        let walk = (q.x - p.x).hypot(q.z - p.z);
        assert!(walk == 0.0 || walk >= band - 1e-4, "{walk}");
        p = q;
    }
    for bad in [-0.01, 0.2, f32::NAN] {
        let options = EngineOptions {
            horizontal_deadband_m: bad,
            ..EngineOptions::default()
        };
        let e = Engine::new(&model, k, &prompt, options).err().unwrap();
        assert!(e.to_string().contains("horizontal dead band"), "{bad}: {e}");
    }
}

#[test]
fn horizontal_dead_band_flags_are_checked() {
    use reverie_runtime::{MAX_HORIZONTAL_DEADBAND_M, parse_horizontal_deadband};
    assert_eq!(parse_horizontal_deadband("0.01"), Ok(0.01));
    assert_eq!(parse_horizontal_deadband(" 0 "), Ok(0.0), "0 turns it off");
    assert!(parse_horizontal_deadband(&MAX_HORIZONTAL_DEADBAND_M.to_string()).is_ok());
    for bad in ["-0.1", "0.1", "NaN", "inf", "still", ""] {
        let e = parse_horizontal_deadband(bad).unwrap_err();
        assert!(e.contains("horizontal dead band"), "{bad}: {e}");
    }
}

#[test]
fn vertical_dead_band_flags_are_checked() {
    use reverie_runtime::{MAX_VERTICAL_DEADBAND_M, parse_vertical_deadband};
    assert_eq!(parse_vertical_deadband("0.02"), Ok(0.02));
    assert_eq!(parse_vertical_deadband(" 0 "), Ok(0.0), "0 turns it off");
    assert!(parse_vertical_deadband(&MAX_VERTICAL_DEADBAND_M.to_string()).is_ok());
    for bad in ["-0.1", "0.3", "NaN", "inf", "flat", ""] {
        let e = parse_vertical_deadband(bad).unwrap_err();
        assert!(e.contains("vertical dead band"), "{bad}: {e}");
    }
}

#[test]
fn a_rise_comes_down_through_the_dead_band_to_where_it_began() {
    use reverie_runtime::Lift;
    let w = 24;
    // A jump: up, then small falls that the band alone would drop, down to the start, no further.
    let mut l = Lift::default().after(0.35, w);
    assert_eq!(l, Lift { m: 0.35, ticks: 0 });
    l = l.after(0.1, w).after(-0.01, w);
    assert!((l.m - 0.44).abs() < 1e-6 && l.ticks == 1, "{l:?}");
    assert_eq!(
        l.after(-1.0, w),
        Lift::default(),
        "down: a new rise starts afresh"
    );
    // A step: up, then standing on it; after the window it is the new ground.
    let mut l = Lift::default().after(1.0, w);
    for _ in 0..w - 1 {
        l = l.after(0.0, w);
    }
    assert!(l.m == 1.0 && l.ticks == w - 1, "{l:?}");
    assert_eq!(l.after(0.0, w), Lift::default());
    assert_eq!(
        Lift::default().after(-0.3, w),
        Lift::default(),
        "a fall is no rise"
    );
    assert_eq!(Lift::default().after(0.3, 0), Lift::default(), "no window");
    // What a `vertical_momentum` head flies on from: the motion while up after a rise, nothing
    // on the ground (a drift down is not the start of a fall to continue).
    let up = Lift::default().after(0.3, w);
    assert!(up.in_air());
    assert_eq!(up.airborne_motion(0.3), Some(0.3));
    let falling = up.after(-0.1, w);
    assert_eq!(falling.airborne_motion(-0.1), Some(-0.1));
    let landed = falling.after(-0.2, w);
    assert!(!landed.in_air());
    assert_eq!(landed.airborne_motion(-0.2), None);
    assert_eq!(Lift::default().after(-0.03, w).airborne_motion(-0.03), None);
    assert!(
        !Lift { m: 1e-4, ticks: 3 }.in_air(),
        "what rounding leaves of an arc"
    );

    // In a session: every vertical motion is none, past the band, or a fall back down within
    // what the session rose.
    let model = model();
    let (k, prompt) = prompt(&model);
    let options = EngineOptions::default();
    let band = options.vertical_deadband_m;
    let mut e = Engine::new(&model, k, &prompt, options).unwrap();
    let mut y = e.frame().pose.position.y;
    for act in &script(96) {
        let lift = e.lift();
        let g = e.step(act).unwrap();
        let d = g.pose.position.y - y;
        y = g.pose.position.y;
        assert!(
            d == 0.0 || d.abs() >= band - 1e-4 || (d < 0.0 && -d <= lift.m + 1e-4),
            "{d} with {lift:?}"
        );
        assert!(e.lift().m >= 0.0 && e.lift().ticks < EngineOptions::default().fall_window_ticks);
    }
    // The lift survives a saved session.
    let fork = e.fork().unwrap();
    assert_eq!(fork.lift(), e.lift());
}

#[test]
fn fall_window_flags_are_checked() {
    use reverie_runtime::{MAX_FALL_WINDOW_TICKS, parse_fall_window};
    assert_eq!(parse_fall_window("24"), Ok(24));
    assert_eq!(parse_fall_window(" 0 "), Ok(0), "0 turns it off");
    assert!(parse_fall_window(&MAX_FALL_WINDOW_TICKS.to_string()).is_ok());
    for bad in ["-1", "241", "1.5", "NaN", "soon", ""] {
        let e = parse_fall_window(bad).unwrap_err();
        assert!(e.contains("fall window"), "{bad}: {e}");
    }
    let model = model();
    let (k, prompt) = prompt(&model);
    let options = EngineOptions {
        fall_window_ticks: MAX_FALL_WINDOW_TICKS + 1,
        ..EngineOptions::default()
    };
    let e = Engine::new(&model, k, &prompt, options).err().unwrap();
    assert!(e.to_string().contains("fall window"), "{e}");
}

#[test]
fn the_depth_median_takes_speckles_and_keeps_edges() {
    use reverie_runtime::median_depth;
    let (w, h) = (8, 6);
    // A wall 2 m away on the left, 5 m on the right, sky in the top row.
    let mut d: Vec<f32> = (0..w * h)
        .map(|i| {
            let (x, y) = (i % w, i / w);
            if y == 0 {
                f32::INFINITY
            } else if x < 4 {
                2.0
            } else {
                5.0
            }
        })
        .collect();
    let clean = d.clone();
    // Speckles: a pixel far too near, one far too far, one sky pixel in the wall.
    d[2 * w + 1] = 0.1;
    d[3 * w + 6] = 40.0;
    d[3 * w + 2] = f32::INFINITY;
    let m = median_depth(&d, w, h, 1);
    assert_eq!(m.len(), d.len());
    // (Row 1 touches the sky: where three regions meet, a median takes the majority of its
    // window, which is not always the pixel's own.)
    for y in 2..h {
        for x in 0..w {
            assert_eq!(m[y * w + x], clean[y * w + x], "({x}, {y})");
        }
    }
    assert!(m[..w].iter().all(|z| z.is_infinite()), "the sky stays sky");
    assert_eq!(
        median_depth(&d, w, h, 0),
        d,
        "radius 0 is the depth as it is"
    );
}

#[test]
fn the_depth_median_smooths_a_session_and_its_flags_are_checked() {
    use reverie_runtime::{MAX_DEPTH_MEDIAN_RADIUS, median_depth, parse_depth_median};
    assert_eq!(parse_depth_median("1"), Ok(1));
    assert_eq!(parse_depth_median(" 0 "), Ok(0), "0 turns it off");
    assert!(parse_depth_median(&MAX_DEPTH_MEDIAN_RADIUS.to_string()).is_ok());
    for bad in ["-1", "4", "1.5", "NaN", "wide", ""] {
        let e = parse_depth_median(bad).unwrap_err();
        assert!(e.contains("depth median radius"), "{bad}: {e}");
    }
    let model = model();
    let (k, prompt) = prompt(&model);
    let (w, h) = (k.width as usize, k.height as usize);
    let run = |r: u32| {
        let options = EngineOptions {
            depth_median_radius: r,
            ..EngineOptions::default()
        };
        let mut e = Engine::new(&model, k, &prompt, options).unwrap();
        script(6)
            .iter()
            .map(|a| e.step(a).unwrap().depth_m.clone())
            .collect::<Vec<_>>()
    };
    // The first tick starts from the same state and pose: its depth is the unfiltered one
    // through the median. (Later ticks warp the filtered depth, so they differ more.)
    let (raw, filtered) = (run(0), run(1));
    assert_eq!(filtered[0], median_depth(&raw[0], w, h, 1));
    let options = EngineOptions {
        depth_median_radius: MAX_DEPTH_MEDIAN_RADIUS + 1,
        ..EngineOptions::default()
    };
    let e = Engine::new(&model, k, &prompt, options).err().unwrap();
    assert!(e.to_string().contains("depth median radius"), "{e}");
}

#[test]
fn a_jump_flies_its_arc_and_lands_where_it_began() {
    // The default checkpoint has `vertical_momentum`: up in the air after a rise, the camera's
    // vertical motion is the previous tick's less a tick of gravity, and the session lands it at
    // the height the rise began at.
    let model = model();
    let cfg = model.config();
    assert!(cfg.vertical_momentum);
    let (k, prompt) = prompt(&model);
    let mut e = Engine::new(&model, k, &prompt, EngineOptions::default()).unwrap();
    let y0 = e.frame().pose.position.y;
    let g = cfg.gravity / (reverie_core::TICK_HZ * reverie_core::TICK_HZ) as f32;
    let rise = e.step(&Action::keys(Keys::JUMP)).unwrap().motion.up_m;
    assert!(rise > 0.2, "the take-off is learned: {rise}");
    let mut previous = rise;
    let mut landed = false;
    for _ in 0..40 {
        let m = e.step(&Action::IDLE).unwrap().motion;
        let y = e.frame().pose.position.y;
        if landed {
            assert_eq!(m.up_m, 0.0, "on the ground again, standing still");
            continue;
        }
        if (y - y0).abs() < 1e-4 {
            landed = true;
            continue;
        }
        assert!(
            (m.up_m - (previous - g)).abs() < 1e-5,
            "{} after {previous}",
            m.up_m
        );
        assert!(y > y0, "never below where it began");
        previous = m.up_m;
    }
    assert!(landed, "back where it began");
}
