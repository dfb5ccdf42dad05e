//! Capture: F12 saves the generated frame as a PNG (its own 128×128 pixels and a 4× enlargement);
//! F9 starts and stops a clip of generated frames, written as a GIF and, where `ffmpeg` is on the
//! PATH, an MP4. Files go to `--captures` (default `target/reverie/captures`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use bevy::prelude::*;
use reverie_core::TICK_HZ;
use reverie_world::imageio::{GifWriter, write_png};

use crate::session::Session;

/// Longest clip (frames): a minute at 24 Hz.
const MAX_CLIP_FRAMES: usize = 60 * 24;

/// Capture state.
#[derive(Resource, Debug, Default)]
pub struct Capture {
    recording: Option<Vec<Vec<u8>>>,
    writing: Option<std::thread::JoinHandle<String>>,
    shots: u32,
}

impl Capture {
    /// A line for the overlay while something is going on.
    pub fn describe(&self) -> Option<String> {
        if let Some(r) = &self.recording {
            return Some(format!(
                "● recording clip: {:.1} s (F9 stops)",
                r.len() as f32 / TICK_HZ as f32
            ));
        }
        self.writing.as_ref().map(|_| "writing clip…".to_string())
    }
}

/// F12 / F9.
pub struct CapturePlugin;

impl Plugin for CapturePlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Capture>().add_systems(Update, capture);
    }
}

fn stamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!("{secs}")
}

fn upscale(rgb: &[u8], w: usize, h: usize, s: usize) -> Vec<u8> {
    let mut out = vec![0u8; w * s * h * s * 3];
    for y in 0..h * s {
        for x in 0..w * s {
            let (i, j) = ((y / s) * w + x / s, y * w * s + x);
            out[3 * j..3 * j + 3].copy_from_slice(&rgb[3 * i..3 * i + 3]);
        }
    }
    out
}

fn capture(
    keys: Res<ButtonInput<KeyCode>>,
    args: Res<crate::args::Args>,
    mut cap: ResMut<Capture>,
    mut session: ResMut<Session>,
) {
    let dir = args.captures.clone();
    let (w, h) = (session.k.width, session.k.height);
    if keys.just_pressed(KeyCode::F12)
        && let Some(f) = session.latest.clone()
    {
        let _ = std::fs::create_dir_all(&dir);
        cap.shots += 1;
        let path = dir.join(format!("frame-{}-tick{}.png", stamp(), f.tick));
        let big = path.with_extension("4x.png");
        let r = write_png(&path, w, h, &f.rgb).and_then(|()| {
            write_png(
                &big,
                w * 4,
                h * 4,
                &upscale(&f.rgb, w as usize, h as usize, 4),
            )
        });
        match r {
            Ok(()) => session.notify(format!("saved {}", path.display())),
            Err(e) => session.notify(format!("screenshot failed: {e}")),
        }
    }
    if keys.just_pressed(KeyCode::F9) {
        match cap.recording.take() {
            None => {
                cap.recording = Some(Vec::new());
                session.notify("recording a clip (F9 stops)");
            }
            Some(frames) => {
                let _ = std::fs::create_dir_all(&dir);
                let base = dir.join(format!("clip-{}", stamp()));
                session.notify(format!(
                    "writing {} frames to {}.gif …",
                    frames.len(),
                    base.display()
                ));
                cap.writing = Some(std::thread::spawn(move || write_clip(&base, w, h, &frames)));
            }
        }
    }
    if session.new_frame
        && let (Some(rec), Some(f)) = (cap.recording.as_mut(), session.latest.as_ref())
    {
        rec.push(f.rgb.clone());
        if rec.len() >= MAX_CLIP_FRAMES {
            session.notify("clip reached a minute: F9 to stop and save");
            rec.truncate(MAX_CLIP_FRAMES);
        }
    }
    if cap.writing.as_ref().is_some_and(|t| t.is_finished())
        && let Some(t) = cap.writing.take()
    {
        let text = t.join().unwrap_or_else(|_| "clip writer crashed".into());
        session.notify(text);
    }
}

/// Writes `base.gif`, and `base.mp4` when ffmpeg is available; returns what happened.
fn write_clip(base: &Path, w: u32, h: u32, frames: &[Vec<u8>]) -> String {
    let gif = base.with_extension("gif");
    let r = GifWriter::create(&gif, w, h, TICK_HZ as f32).and_then(|mut g| {
        for f in frames {
            g.push(f)?;
        }
        g.finish()
    });
    let mut text = match r {
        Ok(()) => format!("saved {}", gif.display()),
        Err(e) => format!("GIF failed: {e}"),
    };
    let mp4 = base.with_extension("mp4");
    match write_mp4(&mp4, w, h, frames) {
        Ok(true) => text.push_str(&format!(" and {}", mp4.display())),
        Ok(false) => text.push_str(" (no MP4: ffmpeg not found)"),
        Err(e) => text.push_str(&format!(" (MP4 failed: {e})")),
    }
    text
}

fn write_mp4(path: &PathBuf, w: u32, h: u32, frames: &[Vec<u8>]) -> Result<bool, String> {
    let child = Command::new("ffmpeg")
        .args([
            "-y",
            "-loglevel",
            "error",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-s",
        ])
        .arg(format!("{w}x{h}"))
        .args([
            "-r",
            &TICK_HZ.to_string(),
            "-i",
            "-",
            "-vf",
            "scale=iw*4:ih*4:flags=neighbor",
        ])
        .args(["-pix_fmt", "yuv420p"])
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e.to_string()),
    };
    if let Some(mut stdin) = child.stdin.take() {
        for f in frames {
            stdin.write_all(f).map_err(|e| e.to_string())?;
        }
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(true)
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}
