#![allow(clippy::unwrap_used)]
//! The real window under a virtual X display (Xvfb; `scripts/setup.sh` installs it): the app is
//! started on the default world twice with a scripted input file — once idle, once walking and
//! turning (from tick 24) — and screenshots of the window are taken at tick 12 and tick 72. The view must change
//! far more under input than without it, and generated frames must have reached the screen.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reverie_world::imageio::read_png;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// An Xvfb server on a display it picks itself (`-displayfd`), stopped with SIGTERM on drop so
/// that it removes its lock file and socket. (SIGKILL left `/tmp/.X{n}-lock` behind on every
/// run; a fixed range of display numbers filled up on a long-lived machine.)
struct Xvfb {
    child: Child,
    display: String,
}

impl Xvfb {
    fn start() -> Xvfb {
        // `-displayfd 1`: Xvfb takes the first free display (it clears stale locks whose process
        // is gone) and writes its number to stdout once it accepts connections.
        let mut child = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1024x768x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run Xvfb ({e}); install it with `bash scripts/setup.sh` \
                     (apt: xvfb mesa-vulkan-drivers)"
                )
            });
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        std::thread::spawn(move || {
            let mut line = String::new();
            let read = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(read.map(|_| line));
        });
        let number = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(Ok(line)) if line.trim().parse::<u32>().is_ok() => line.trim().to_string(),
            other => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("Xvfb did not report a display within 20 s: {other:?}");
            }
        };
        Xvfb {
            child,
            display: format!(":{number}"),
        }
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let termed = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .is_ok_and(|s| s.success());
        let deadline = Instant::now() + Duration::from_secs(5);
        while termed && Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run_app(
    x: &Xvfb,
    dir: &Path,
    name: &str,
    script: &str,
) -> (Vec<u8>, Vec<u8>, serde_json::Value) {
    let script_path = dir.join(format!("{name}.jsonl"));
    std::fs::write(&script_path, script).unwrap();
    let shot = dir.join(format!("{name}-{{tick}}.png"));
    let report = dir.join(format!("{name}.json"));
    let runtime_dir = dir.join("xdg");
    std::fs::create_dir_all(&runtime_dir).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_reverie-app"))
        .current_dir(root())
        .env("DISPLAY", &x.display)
        .env("XDG_RUNTIME_DIR", &runtime_dir)
        .env_remove("WAYLAND_DISPLAY")
        .args(["--script", script_path.to_str().unwrap()])
        .args(["--screenshot-at-tick", "12", "--screenshot-at-tick", "72"])
        .args(["--screenshot", shot.to_str().unwrap()])
        .args([
            "--exit-after-secs",
            "7",
            "--report",
            report.to_str().unwrap(),
        ])
        .args([
            "--mute",
            "--no-overlay",
            "--window-width",
            "384",
            "--window-height",
            "384",
        ])
        .args(["--captures", dir.join("captures").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{name}: the app failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let read = |t: u64| {
        let p = dir.join(format!("{name}-{t}.png"));
        let (_, _, rgb) = read_png(&p).unwrap_or_else(|e| {
            panic!(
                "{name}: no screenshot {}: {e}\n{}",
                p.display(),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        rgb
    };
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    (read(12), read(72), report)
}

fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from(x.abs_diff(*y)))
        .sum::<f64>()
        / a.len() as f64
}

#[test]
fn window_shows_generated_frames_that_follow_the_input() {
    let x = Xvfb::start();
    let dir = tempfile::tempdir().unwrap();
    let idle: String = (0..120).map(|_| "{}\n").collect();
    let turn: String = (0..120)
        .map(|i| {
            if i < 24 {
                "{}\n".to_string()
            } else {
                "{\"keys\": \"forward\", \"yaw_deg\": 2.5}\n".to_string()
            }
        })
        .collect();
    let (i12, i60, idle_report) = run_app(&x, dir.path(), "idle", &idle);
    let (t12, t60, turn_report) = run_app(&x, dir.path(), "turn", &turn);
    let idle_change = mean_abs_diff(&i12, &i60);
    let turn_change = mean_abs_diff(&t12, &t60);
    eprintln!(
        "window change tick 12 → 72: idle {idle_change:.2}, walking+turning {turn_change:.2} (mean |Δ| per channel); \
         frames on screen/s: idle {}, turn {}",
        idle_report["generated_frames_per_second_on_screen"],
        turn_report["generated_frames_per_second_on_screen"]
    );
    // Both runs start from the same prompt: the first screenshots show the same place.
    assert!(
        mean_abs_diff(&i12, &t12) < 12.0,
        "the two sessions start differently: {:.2}",
        mean_abs_diff(&i12, &t12)
    );
    assert!(
        turn_change > 10.0,
        "the view did not follow the input: {turn_change:.2}"
    );
    assert!(
        turn_change > 3.0 * idle_change,
        "input changed the view no more than idling: {turn_change:.2} vs {idle_change:.2}"
    );
    for r in [&idle_report, &turn_report] {
        assert!(
            r["generated_frames_on_screen"].as_u64().unwrap() >= 60,
            "{r}"
        );
        assert!(r["last_tick"].as_u64().unwrap() >= 72, "{r}");
    }
}
