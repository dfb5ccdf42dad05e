//! The overlay (Tab toggles): frames on screen and from the runtime, tick p50/p99, input-to-frame
//! latency, late/dropped frames, the quality level, memory stats, a minimap of the memory and the
//! path walked, the world picker with prompt thumbnails, reset, and the oracle debug view switch.

use bevy::prelude::*;
use bevy_egui::egui::{self, Color32, Stroke};
use bevy_egui::{EguiContexts, EguiPrimaryContextPass};

use crate::audio::SoundStatus;
use crate::capture::Capture;
use crate::input::{InputSource, LastInput};
use crate::oracle::OracleView;
use crate::session::Session;

/// Overlay state.
#[derive(Resource)]
pub struct Overlay {
    /// Shown.
    pub visible: bool,
    thumbnails: Vec<egui::TextureHandle>,
}

/// The egui overlay.
pub struct OverlayPlugin;

impl Plugin for OverlayPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(
            Startup,
            |args: Res<crate::args::Args>, mut commands: Commands| {
                commands.insert_resource(Overlay {
                    visible: !args.no_overlay,
                    thumbnails: Vec::new(),
                });
            },
        )
        .add_systems(Update, toggle)
        .add_systems(EguiPrimaryContextPass, draw);
    }
}

fn toggle(keys: Res<ButtonInput<KeyCode>>, mut overlay: ResMut<Overlay>) {
    if keys.just_pressed(KeyCode::Tab) || keys.just_pressed(KeyCode::F1) {
        overlay.visible = !overlay.visible;
    }
}

fn draw(
    mut contexts: EguiContexts,
    mut overlay: ResMut<Overlay>,
    mut session: ResMut<Session>,
    mut oracle: ResMut<OracleView>,
    last: Res<LastInput>,
    source: Res<InputSource>,
    sound: Res<SoundStatus>,
    capture: Res<Capture>,
    windows: Query<&Window, With<bevy::window::PrimaryWindow>>,
) -> Result {
    let ctx = contexts.ctx_mut()?;
    if oracle.enabled
        && let Ok(w) = windows.single()
    {
        egui::Area::new(egui::Id::new("oracle-label"))
            .fixed_pos(egui::pos2(w.width() * 0.5 + 8.0, 8.0))
            .show(ctx, |ui| {
                ui.label(
                    egui::RichText::new(
                        "ORACLE — debug view, the true world; never fed to the model",
                    )
                    .color(Color32::YELLOW)
                    .background_color(Color32::from_black_alpha(180)),
                );
            });
    }
    if let Some((text, until)) = session.message.clone() {
        if std::time::Instant::now() < until {
            egui::Area::new(egui::Id::new("status"))
                .anchor(egui::Align2::CENTER_BOTTOM, egui::vec2(0.0, -12.0))
                .show(ctx, |ui| {
                    ui.label(
                        egui::RichText::new(text)
                            .color(Color32::WHITE)
                            .background_color(Color32::from_black_alpha(180)),
                    );
                });
        } else {
            session.message = None;
        }
    }
    if !overlay.visible {
        return Ok(());
    }
    if overlay.thumbnails.len() != session.worlds.len() {
        let (w, h) = (session.k.width as usize, session.k.height as usize);
        overlay.thumbnails = session
            .worlds
            .iter()
            .map(|wd| {
                ctx.load_texture(
                    format!("thumb-{}", wd.path.display()),
                    egui::ColorImage::from_rgb([w, h], &wd.prompt.rgb),
                    egui::TextureOptions::NEAREST,
                )
            })
            .collect();
    }
    let m = session.handle.metrics();
    let mem = session.handle.memory_info();
    let mut pick = None;
    egui::Window::new("Reverie")
        .default_pos(egui::pos2(8.0, 8.0))
        .default_width(250.0)
        .resizable(false)
        // No drop shadow: under software rendering (llvmpipe, the 2-core CI machine) its blurred
        // margin cost ~9 ms of rendering per window update — a third of the overlay's cost.
        .frame(egui::Frame::window(&ctx.global_style()).shadow(egui::Shadow::NONE))
        .show(ctx, |ui| {
            ui.label(format!("world: {}  (seed {})", session.world.name, session.world.seed));
            ui.separator();
            ui.label(format!(
                "on screen: {} frames/s   runtime: {:.1} fps",
                session.screen_fps(),
                m.fps_recent
            ));
            ui.label(format!(
                "tick p50 {:.1} ms  p99 {:.1} ms",
                m.tick_ms.p50, m.tick_ms.p99
            ));
            ui.label(format!(
                "input->frame p50 {:.1} ms  p99 {:.1} ms",
                m.input_to_frame_ms.p50, m.input_to_frame_ms.p99
            ));
            ui.label(format!(
                "late {} ({:.1} %)  dropped {} ({:.1} %)",
                m.late,
                100.0 * m.late_share,
                m.dropped,
                100.0 * m.dropped_share
            ));
            ui.label(format!(
                "network past deadline {} ({:.1} %, fallback shown)",
                m.rescued,
                100.0 * m.rescued_share
            ));
            let q = session.latest.as_ref().map(|f| f.quality).unwrap_or_default();
            ui.label(format!("quality: {q}  ({} changes)", m.quality_changes));
            ui.label(format!(
                "memory: {:.1} / {:.0} MB, {} cells, hit rate {:.0} %",
                mem.stats.bytes as f64 / 1e6,
                mem.stats.bound_bytes as f64 / 1e6,
                mem.stats.cells,
                100.0 * mem.stats.hit_rate
            ));
            if let Some(f) = &session.latest {
                ui.label(format!(
                    "tick {}  warp {:.0} %  memory {:.0} % of the frame",
                    f.tick,
                    100.0 * f.warp_coverage,
                    100.0 * f.memory_coverage
                ));
            }
            ui.label(match *source {
                InputSource::Live { grabbed } => format!(
                    "input: live{}, {} gamepad(s), keys [{}]",
                    if grabbed { " (mouse look)" } else { "" },
                    last.gamepads,
                    last.action.keys
                ),
                InputSource::Script { next, ref actions, .. } => {
                    format!("input: script {next}/{}", actions.len())
                }
            });
            ui.label(format!("sound: {}", sound.describe()));
            if let Some(c) = capture.describe() {
                ui.label(c);
            }
            ui.separator();
            minimap(ui, &session, &mem);
            ui.separator();
            ui.label("worlds (click to start there):");
            ui.horizontal_wrapped(|ui| {
                for (i, (wd, tex)) in session.worlds.iter().zip(&overlay.thumbnails).enumerate() {
                    let img = egui::Image::new(tex).fit_to_exact_size(egui::vec2(56.0, 56.0));
                    if ui
                        .add(egui::Button::image(img))
                        .on_hover_text(&wd.name)
                        .clicked()
                    {
                        pick = Some(i);
                    }
                }
            });
            ui.horizontal(|ui| {
                if ui.button("Reset (R)").clicked() {
                    let i = session
                        .worlds
                        .iter()
                        .position(|w| w.path == session.world.path)
                        .unwrap_or(0);
                    pick = Some(i);
                }
                ui.checkbox(&mut oracle.enabled, "oracle view (O)");
            });
            let jump = if session.keeps_height {
                "space: no jump (height kept)"
            } else {
                "space jump"
            };
            ui.small(format!(
                "WASD/arrows walk · {jump} · shift sprint · E interact · click: mouse look, Esc \
                 releases · P smooth/pixelated · Tab overlay · F12 PNG · F9 clip · F5 save · F6 load · F7 fork",
            ));
        });
    if let Some(i) = pick {
        session.reset_to(i);
    }
    Ok(())
}

/// The memory's chunk columns (grey) with the path walked (blue) and the camera (red), north up,
/// centred on the camera, 1.5 px per metre.
fn minimap(ui: &mut egui::Ui, session: &Session, mem: &reverie_runtime::MemoryInfo) {
    let size = egui::vec2(200.0, 200.0);
    let (resp, painter) = ui.allocate_painter(size, egui::Sense::hover());
    let rect = resp.rect;
    painter.rect_filled(rect, 2.0, Color32::from_gray(20));
    let Some(f) = &session.latest else {
        return;
    };
    let me = f.pose.position;
    let px_per_m = 1.5f32;
    let at =
        |x: f32, z: f32| rect.center() + egui::vec2((x - me.x) * px_per_m, (z - me.z) * px_per_m);
    let c = mem.chunk_m.max(0.5);
    for col in &mem.columns {
        let p0 = at(col[0] as f32 * c, col[1] as f32 * c);
        let r = egui::Rect::from_min_size(p0, egui::vec2(c * px_per_m, c * px_per_m));
        if rect.intersects(r) {
            painter.rect_filled(r.intersect(rect), 0.0, Color32::from_gray(90));
        }
    }
    let pts: Vec<egui::Pos2> = session
        .trail
        .iter()
        .map(|p| at(p[0], p[1]))
        .filter(|p| rect.contains(*p))
        .collect();
    if pts.len() > 1 {
        painter.add(egui::Shape::line(
            pts,
            Stroke::new(1.5, Color32::from_rgb(80, 160, 255)),
        ));
    }
    let h = f.pose.heading();
    let tip = rect.center() + egui::vec2(h.x, h.z) * 8.0;
    painter.line_segment([rect.center(), tip], Stroke::new(2.0, Color32::RED));
    painter.circle_filled(rect.center(), 3.0, Color32::RED);
}
