//! The generated frame on screen: a texture on a sprite, scaled to fit the window with its aspect
//! kept; P toggles smooth (bilinear) and pixelated (nearest) filtering. With the oracle debug view
//! on, the window is split: generated left, oracle right.

use bevy::asset::RenderAssetUsages;
use bevy::core_pipeline::tonemapping::{DebandDither, Tonemapping};
use bevy::image::ImageSampler;
use bevy::prelude::*;
use bevy::render::render_resource::{Extent3d, TextureDimension, TextureFormat};
use bevy::window::PrimaryWindow;

use crate::oracle::OracleView;
use crate::session::Session;

/// The images on screen.
#[derive(Resource, Debug)]
pub struct Screen {
    /// The generated frame.
    pub generated: Handle<Image>,
    /// The oracle debug view.
    pub oracle: Handle<Image>,
    /// Nearest-neighbour filtering.
    pub pixelated: bool,
}

#[derive(Component)]
struct GeneratedSprite;

#[derive(Component)]
struct OracleSprite;

/// Shows the frames.
pub struct DisplayPlugin;

impl Plugin for DisplayPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(Startup, setup_display)
            .add_systems(Update, (upload_frame, toggle_filter, layout));
    }
}

/// An RGBA texture of `w × h`, black.
pub fn frame_image(w: u32, h: u32) -> Image {
    Image::new_fill(
        Extent3d {
            width: w,
            height: h,
            depth_or_array_layers: 1,
        },
        TextureDimension::D2,
        &[0, 0, 0, 255],
        TextureFormat::Rgba8UnormSrgb,
        RenderAssetUsages::default(),
    )
}

/// Writes RGB bytes into an RGBA image of the same size.
pub fn write_rgb(image: &mut Image, rgb: &[u8]) {
    if let Some(data) = image.data.as_mut()
        && data.len() / 4 == rgb.len() / 3
    {
        for (d, s) in data.chunks_exact_mut(4).zip(rgb.chunks_exact(3)) {
            d[..3].copy_from_slice(s);
            d[3] = 255;
        }
    }
}

fn setup_display(mut commands: Commands, mut images: ResMut<Assets<Image>>, session: Res<Session>) {
    let (w, h) = (session.k.width, session.k.height);
    let mut g = frame_image(w, h);
    write_rgb(&mut g, &session.world.prompt.rgb);
    let generated = images.add(g);
    let oracle = images.add(frame_image(w, h));
    // Software rendering (Xvfb, llvmpipe) shares the two cores with the model: no multisampling
    // (a frame is one textured quad, nothing to anti-alias), no tonemapping or dithering passes.
    commands.spawn((
        Camera2d,
        Msaa::Off,
        Tonemapping::None,
        DebandDither::Disabled,
    ));
    commands.spawn((Sprite::from_image(generated.clone()), GeneratedSprite));
    commands.spawn((
        Sprite::from_image(oracle.clone()),
        OracleSprite,
        Visibility::Hidden,
    ));
    commands.insert_resource(Screen {
        generated,
        oracle,
        pixelated: true,
    });
}

fn upload_frame(session: Res<Session>, screen: Res<Screen>, mut images: ResMut<Assets<Image>>) {
    if !session.new_frame {
        return;
    }
    if let (Some(f), Some(mut img)) = (&session.latest, images.get_mut(&screen.generated)) {
        write_rgb(&mut img, &f.rgb);
    }
}

fn toggle_filter(
    keys: Res<ButtonInput<KeyCode>>,
    mut screen: ResMut<Screen>,
    mut images: ResMut<Assets<Image>>,
    mut egui: bevy_egui::EguiContexts,
) {
    let typing = egui
        .ctx_mut()
        .map(|c| c.egui_wants_keyboard_input())
        .unwrap_or(false);
    if typing || !keys.just_pressed(KeyCode::KeyP) {
        return;
    }
    screen.pixelated = !screen.pixelated;
    let sampler = if screen.pixelated {
        ImageSampler::nearest()
    } else {
        ImageSampler::linear()
    };
    for h in [screen.generated.clone(), screen.oracle.clone()] {
        if let Some(mut img) = images.get_mut(&h) {
            img.sampler = sampler.clone();
        }
    }
}

/// Fits the frame (or the two frames side by side) into the window, aspect kept.
fn layout(
    windows: Query<&Window, With<PrimaryWindow>>,
    session: Res<Session>,
    oracle: Res<OracleView>,
    mut generated: Query<
        (&mut Sprite, &mut Transform),
        (With<GeneratedSprite>, Without<OracleSprite>),
    >,
    mut oracle_sprite: Query<
        (&mut Sprite, &mut Transform, &mut Visibility),
        (With<OracleSprite>, Without<GeneratedSprite>),
    >,
) {
    let Ok(window) = windows.single() else {
        return;
    };
    let (ww, wh) = (window.width(), window.height());
    let (fw, fh) = (session.k.width as f32, session.k.height as f32);
    let panes = if oracle.enabled { 2.0 } else { 1.0 };
    let scale = ((ww / panes) / fw).min(wh / fh).max(0.01);
    let size = Vec2::new(fw * scale, fh * scale);
    let offset = if oracle.enabled { size.x * 0.5 } else { 0.0 };
    for (mut s, mut t) in &mut generated {
        s.custom_size = Some(size);
        t.translation = Vec3::new(-offset, 0.0, 0.0);
    }
    for (mut s, mut t, mut v) in &mut oracle_sprite {
        s.custom_size = Some(size);
        t.translation = Vec3::new(offset, 0.0, 0.0);
        *v = if oracle.enabled {
            Visibility::Visible
        } else {
            Visibility::Hidden
        };
    }
}
