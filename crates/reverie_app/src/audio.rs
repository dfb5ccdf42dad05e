//! Sound (rodio), all synthesised here — no third-party samples: footsteps paced by the distance
//! the model says the camera walked (a noise burst shaped per ground: grass, snow, sand, gravel),
//! and an ambient bed per world (wind from filtered noise; birds in the meadow and village).
//! Without a sound device the app runs silently and says so once.

use bevy::prelude::*;
use crossbeam_channel::{Sender, TrySendError, bounded};
use reverie_world::spec::GeneratorKind;
use rodio::Source;

use crate::session::Session;

const RATE: u32 = 44_100;

/// What the sound thread is told.
#[derive(Clone, Copy, Debug)]
enum Cue {
    Ambient(GeneratorKind),
    Step(GeneratorKind, bool),
}

/// Whether sound plays, for the overlay.
#[derive(Resource, Debug, Clone)]
pub struct SoundStatus {
    state: std::sync::Arc<std::sync::Mutex<String>>,
    cues: Option<Sender<Cue>>,
    walked_m: f32,
    kind: Option<GeneratorKind>,
}

impl SoundStatus {
    /// A line for the overlay.
    pub fn describe(&self) -> String {
        self.state
            .lock()
            .map(|s| s.clone())
            .unwrap_or_else(|_| "unknown".into())
    }

    fn send(&mut self, cue: Cue) {
        if let Some(tx) = &self.cues
            && let Err(TrySendError::Disconnected(_)) = tx.try_send(cue)
        {
            self.cues = None;
        }
    }
}

/// Footsteps and ambience.
pub struct AudioPlugin;

impl Plugin for AudioPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(Startup, start_sound)
            .add_systems(Update, cue_sound);
    }
}

fn start_sound(mut commands: Commands, args: Res<crate::args::Args>) {
    let state = std::sync::Arc::new(std::sync::Mutex::new(String::from("starting")));
    let cues = if args.mute {
        if let Ok(mut s) = state.lock() {
            *s = "muted (--mute)".into();
        }
        None
    } else {
        let (tx, rx) = bounded::<Cue>(64);
        let st = std::sync::Arc::clone(&state);
        let spawned = std::thread::Builder::new()
            .name("reverie-sound".into())
            .spawn(move || sound_thread(&rx, &st));
        match spawned {
            Ok(_) => Some(tx),
            Err(e) => {
                if let Ok(mut s) = state.lock() {
                    *s = format!("off: cannot start the sound thread ({e})");
                }
                None
            }
        }
    };
    commands.insert_resource(SoundStatus {
        state,
        cues,
        walked_m: 0.0,
        kind: None,
    });
}

fn set(state: &std::sync::Mutex<String>, text: String) {
    if let Ok(mut s) = state.lock() {
        *s = text;
    }
}

fn sound_thread(rx: &crossbeam_channel::Receiver<Cue>, state: &std::sync::Mutex<String>) {
    let mut sink = match rodio::DeviceSinkBuilder::open_default_sink() {
        Ok(s) => s,
        Err(e) => {
            let text = format!("no sound device ({e}): running silently");
            warn!("{text}");
            set(state, text);
            return;
        }
    };
    sink.log_on_drop(false);
    set(state, "on".into());
    let mut ambient: Option<rodio::Player> = None;
    let mut rng = 0x9e37_79b9_u32;
    while let Ok(cue) = rx.recv() {
        match cue {
            Cue::Ambient(kind) => {
                if let Some(p) = ambient.take() {
                    p.stop();
                }
                let p = rodio::Player::connect_new(sink.mixer());
                p.set_volume(0.35);
                p.append(buffer(ambience(kind)).repeat_infinite());
                ambient = Some(p);
            }
            Cue::Step(kind, sprint) => {
                rng = rng.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                sink.mixer()
                    .add(buffer(footstep(kind, sprint, rng)).amplify(0.6));
            }
        }
    }
}

fn buffer(samples: Vec<f32>) -> rodio::buffer::SamplesBuffer {
    rodio::buffer::SamplesBuffer::new(
        std::num::NonZero::<u16>::MIN,
        std::num::NonZero::new(RATE).unwrap_or(std::num::NonZero::<u32>::MIN),
        samples,
    )
}

/// A small deterministic noise source.
struct Noise(u32);

impl Noise {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        (self.0 as f32 / u32::MAX as f32) * 2.0 - 1.0
    }
}

/// One footstep: a decaying noise burst, low-passed per ground (soft grass, crunchy snow, dry
/// sand, hard gravel), with a little thump.
fn footstep(kind: GeneratorKind, sprint: bool, seed: u32) -> Vec<f32> {
    let (cutoff, len_s, thump) = match kind {
        GeneratorKind::Forest => (0.55, 0.16, 0.2),
        GeneratorKind::Canyon => (0.35, 0.10, 0.3),
        GeneratorKind::Village => (0.45, 0.09, 0.5),
        _ => (0.18, 0.12, 0.45),
    };
    let len = (len_s * RATE as f32 * if sprint { 0.8 } else { 1.0 }) as usize;
    let mut noise = Noise(seed | 1);
    let mut lp = 0.0f32;
    (0..len)
        .map(|i| {
            let t = i as f32 / RATE as f32;
            let env = (-t / (len_s * 0.3)).exp() * (1.0 - (-t * 900.0).exp());
            lp += cutoff * (noise.next() - lp);
            let body = (t * 2.0 * std::f32::consts::PI * 70.0).sin() * (-t * 40.0).exp() * thump;
            (lp * 0.8 + body) * env
        })
        .collect()
}

/// Eight seconds of ambience that loop: wind (slowly swelling brown-ish noise), and for the meadow
/// and the village a few bird chirps (sine sweeps).
fn ambience(kind: GeneratorKind) -> Vec<f32> {
    let n = 8 * RATE as usize;
    let mut noise = Noise(0x1234_5678);
    let (wind, lp_k, birds) = match kind {
        GeneratorKind::Forest => (0.9, 0.02, 0),
        GeneratorKind::Canyon => (0.7, 0.012, 0),
        GeneratorKind::Village => (0.35, 0.015, 3),
        _ => (0.45, 0.015, 5),
    };
    let mut lp = 0.0f32;
    let mut out: Vec<f32> = (0..n)
        .map(|i| {
            let t = i as f32 / RATE as f32;
            // Swells whose period divides the loop, so the loop is seamless.
            let swell = 0.6
                + 0.4
                    * (t * std::f32::consts::TAU / 8.0).sin()
                    * (t * std::f32::consts::TAU / 4.0).cos();
            lp += lp_k * (noise.next() - lp);
            lp * 6.0 * wind * swell
        })
        .collect();
    for b in 0..birds {
        let start = (0.7 + 1.45 * b as f32) * RATE as f32;
        let f0 = 2600.0 + 400.0 * (b % 3) as f32;
        for c in 0..3 {
            let s0 = start as usize + c * (0.11 * RATE as f32) as usize;
            let len = (0.07 * RATE as f32) as usize;
            let mut phase = 0.0f32;
            for i in 0..len {
                let t = i as f32 / len as f32;
                let f = f0 * (1.0 + 0.35 * t);
                phase += f / RATE as f32 * std::f32::consts::TAU;
                if let Some(o) = out.get_mut(s0 + i) {
                    *o += 0.12 * phase.sin() * (std::f32::consts::PI * t).sin();
                }
            }
        }
    }
    // Fade the ends together so the loop does not click.
    let fade = RATE as usize / 20;
    for i in 0..fade {
        let g = i as f32 / fade as f32;
        out[i] *= g;
        out[n - 1 - i] *= g;
    }
    out
}

fn cue_sound(mut sound: ResMut<SoundStatus>, session: Res<Session>) {
    if sound.cues.is_none() {
        return;
    }
    let kind = session.world.kind;
    if sound.kind != Some(kind) {
        sound.kind = Some(kind);
        sound.send(Cue::Ambient(kind));
    }
    if !session.new_frame {
        return;
    }
    let Some(f) = &session.latest else {
        return;
    };
    // Footsteps follow the model's predicted motion: one per stride walked on level ground.
    let m = f.motion;
    let horizontal = (m.right_m * m.right_m + m.forward_m * m.forward_m).sqrt();
    if m.up_m.abs() > 0.08 || horizontal < 0.01 {
        return;
    }
    let sprint = horizontal > 0.2;
    let stride = if sprint { 0.95 } else { 0.7 };
    sound.walked_m += horizontal;
    if sound.walked_m >= stride {
        sound.walked_m -= stride;
        sound.send(Cue::Step(kind, sprint));
    }
}
