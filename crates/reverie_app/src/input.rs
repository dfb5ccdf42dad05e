//! Input → `Action`: WASD/arrows walk, space jumps, shift sprints, E or a click interacts, the
//! mouse looks while the cursor is grabbed (click grabs, Esc releases), a gamepad's sticks walk
//! and look (south jumps, left trigger or left stick click sprints, west interacts). Or, with
//! `--script`, an action file played at 24 Hz instead.
//!
//! Every update sends what was held during it; the runtime coalesces them into its next tick, so
//! a tap shorter than a tick still counts and no look motion is lost.

use std::time::Instant;

use bevy::input::gamepad::{Gamepad, GamepadButton};
use bevy::input::mouse::AccumulatedMouseMotion;
use bevy::prelude::*;
use bevy::window::{CursorGrabMode, CursorOptions, PrimaryWindow};
use reverie_core::{Action, Keys, TICK_HZ};

use crate::args::Args;
use crate::session::Session;

/// Radians of look per pixel of mouse motion.
const MOUSE_RAD_PER_PX: f32 = 0.0025;
/// Radians per second of look at full right-stick deflection.
const STICK_LOOK_RAD_PER_S: f32 = 2.4;
/// Stick deflection that counts as a held direction.
const STICK_WALK: f32 = 0.35;

/// Where the input comes from.
#[derive(Resource, Debug)]
pub enum InputSource {
    /// Keyboard, mouse and gamepads.
    Live {
        /// The cursor is grabbed (mouse look on).
        grabbed: bool,
    },
    /// An action script, one action per tick from `started`.
    Script {
        /// The actions.
        actions: Vec<Action>,
        /// The next to send.
        next: usize,
        /// When the first was due.
        started: Instant,
    },
}

/// The last action sent (for the overlay and the sound).
#[derive(Resource, Debug, Default)]
pub struct LastInput {
    /// The action.
    pub action: Action,
    /// Gamepads connected.
    pub gamepads: usize,
}

/// Turns devices or a script into actions.
pub struct InputPlugin;

impl Plugin for InputPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<LastInput>()
            .add_systems(Startup, setup_input)
            .add_systems(Update, (grab_cursor, send_live, send_script));
    }
}

fn setup_input(mut commands: Commands, args: Res<Args>, mut session: ResMut<Session>) {
    let source = match &args.script {
        Some(path) => match reverie_core::script::load(path) {
            Ok(actions) => {
                session.notify(format!(
                    "playing {} scripted actions from {}",
                    actions.len(),
                    path.display()
                ));
                InputSource::Script {
                    actions,
                    next: 0,
                    started: Instant::now(),
                }
            }
            Err(e) => {
                session.notify(format!("script not played: {e}"));
                InputSource::Live { grabbed: false }
            }
        },
        None => InputSource::Live { grabbed: false },
    };
    commands.insert_resource(source);
}

fn grab_cursor(
    mouse: Res<ButtonInput<MouseButton>>,
    keys: Res<ButtonInput<KeyCode>>,
    mut source: ResMut<InputSource>,
    mut cursor: Query<&mut CursorOptions, With<PrimaryWindow>>,
    mut egui: bevy_egui::EguiContexts,
) {
    let InputSource::Live { grabbed } = source.as_mut() else {
        return;
    };
    let over_ui = egui
        .ctx_mut()
        .map(|c| c.egui_wants_pointer_input() || c.is_pointer_over_egui())
        .unwrap_or(false);
    let want = if keys.just_pressed(KeyCode::Escape) {
        Some(false)
    } else if mouse.just_pressed(MouseButton::Left) && !*grabbed && !over_ui {
        Some(true)
    } else {
        None
    };
    if let Some(g) = want {
        *grabbed = g;
        for mut c in &mut cursor {
            c.grab_mode = if g {
                CursorGrabMode::Locked
            } else {
                CursorGrabMode::None
            };
            c.visible = !g;
        }
    }
}

fn held(keys: &ButtonInput<KeyCode>, codes: &[KeyCode]) -> bool {
    codes
        .iter()
        .any(|k| keys.pressed(*k) || keys.just_pressed(*k))
}

fn send_live(
    keys: Res<ButtonInput<KeyCode>>,
    mouse: Res<ButtonInput<MouseButton>>,
    motion: Res<AccumulatedMouseMotion>,
    gamepads: Query<&Gamepad>,
    time: Res<Time>,
    source: Res<InputSource>,
    mut session: ResMut<Session>,
    mut last: ResMut<LastInput>,
) {
    let InputSource::Live { grabbed } = *source else {
        return;
    };
    let mut k = Keys::NONE;
    k.set(
        Keys::FORWARD,
        held(&keys, &[KeyCode::KeyW, KeyCode::ArrowUp]),
    );
    k.set(
        Keys::BACK,
        held(&keys, &[KeyCode::KeyS, KeyCode::ArrowDown]),
    );
    k.set(
        Keys::LEFT,
        held(&keys, &[KeyCode::KeyA, KeyCode::ArrowLeft]),
    );
    k.set(
        Keys::RIGHT,
        held(&keys, &[KeyCode::KeyD, KeyCode::ArrowRight]),
    );
    k.set(Keys::JUMP, held(&keys, &[KeyCode::Space]));
    k.set(
        Keys::SPRINT,
        held(&keys, &[KeyCode::ShiftLeft, KeyCode::ShiftRight]),
    );
    k.set(
        Keys::INTERACT,
        held(&keys, &[KeyCode::KeyE]) || (grabbed && mouse.just_pressed(MouseButton::Left)),
    );
    let (mut yaw, mut pitch) = (0.0f32, 0.0f32);
    if grabbed {
        yaw += motion.delta.x * MOUSE_RAD_PER_PX;
        pitch -= motion.delta.y * MOUSE_RAD_PER_PX;
    }
    let dt = time.delta_secs().min(0.1);
    let mut pads = 0;
    for pad in &gamepads {
        pads += 1;
        let l = pad.left_stick();
        let r = pad.right_stick();
        if l.y > STICK_WALK {
            k |= Keys::FORWARD;
        }
        if l.y < -STICK_WALK {
            k |= Keys::BACK;
        }
        if l.x < -STICK_WALK {
            k |= Keys::LEFT;
        }
        if l.x > STICK_WALK {
            k |= Keys::RIGHT;
        }
        if pad.pressed(GamepadButton::South) {
            k |= Keys::JUMP;
        }
        if pad.pressed(GamepadButton::LeftTrigger) || pad.pressed(GamepadButton::LeftThumb) {
            k |= Keys::SPRINT;
        }
        if pad.pressed(GamepadButton::West) {
            k |= Keys::INTERACT;
        }
        let dead = |v: f32| if v.abs() < 0.12 { 0.0 } else { v };
        yaw += dead(r.x) * STICK_LOOK_RAD_PER_S * dt;
        pitch += dead(r.y) * STICK_LOOK_RAD_PER_S * dt;
    }
    let max = Action::MAX_LOOK_DELTA_RAD;
    let action = Action {
        keys: k,
        yaw_delta_rad: yaw.clamp(-max, max),
        pitch_delta_rad: pitch.clamp(-max, max),
    };
    if pads != last.gamepads {
        // Plugging and unplugging is fine at any time; say so.
        session.notify(if pads > last.gamepads {
            format!("gamepad connected ({pads} in all)")
        } else {
            format!("gamepad disconnected ({pads} left); keyboard and mouse still work")
        });
    }
    last.gamepads = pads;
    last.action = action;
    // Held keys are re-sent every update; an idle update sends nothing (the runtime ticks with
    // the idle action by itself).
    if action != Action::IDLE
        && let Err(e) = session.handle.send(action)
    {
        warn!("input not sent: {e}");
    }
}

fn send_script(
    mut source: ResMut<InputSource>,
    session: Res<Session>,
    mut last: ResMut<LastInput>,
) {
    let InputSource::Script {
        actions,
        next,
        started,
    } = source.as_mut()
    else {
        return;
    };
    let due = (started.elapsed().as_secs_f64() * f64::from(TICK_HZ)) as usize + 1;
    while *next < due.min(actions.len()) {
        let a = actions[*next];
        if let Err(e) = session.handle.send(a) {
            warn!("scripted input not sent: {e}");
        }
        last.action = a;
        *next += 1;
    }
}
