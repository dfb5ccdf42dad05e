//! The oracle debug view (O toggles): the true world, walked with the same actions the model
//! received, shown beside the generated frame and labelled as such. It only reads the actions of
//! published frames and draws into its own texture; nothing flows from it to the model.

use std::sync::Arc;

use bevy::prelude::*;
use reverie_core::Frame;
use reverie_world::physics::Player;
use reverie_world::{Renderer, World, WorldSpec, episode};

use crate::display::{Screen, write_rgb};
use crate::session::Session;

/// The oracle side of the debug view.
#[derive(Resource, Default)]
pub struct OracleView {
    /// Shown.
    pub enabled: bool,
    sim: Option<Sim>,
}

struct Sim {
    world: World,
    renderer: Renderer,
    player: Player,
    frame: Frame,
    session_id: u64,
}

/// The oracle debug view.
pub struct OraclePlugin;

impl Plugin for OraclePlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<OracleView>()
            .add_systems(
                Startup,
                |args: Res<crate::args::Args>, mut view: ResMut<OracleView>| {
                    view.enabled = args.oracle_view;
                },
            )
            .add_systems(Update, (toggle, follow).chain());
    }
}

fn toggle(keys: Res<ButtonInput<KeyCode>>, mut view: ResMut<OracleView>) {
    if keys.just_pressed(KeyCode::KeyO) {
        view.enabled = !view.enabled;
        if !view.enabled {
            view.sim = None;
        }
    }
}

fn follow(
    mut view: ResMut<OracleView>,
    session: Res<Session>,
    screen: Option<Res<Screen>>,
    mut images: ResMut<Assets<Image>>,
) {
    if !view.enabled || !session.new_frame {
        return;
    }
    let Some(f) = session.latest.clone() else {
        return;
    };
    let restart = f.tick == 0
        || view
            .sim
            .as_ref()
            .is_none_or(|s| s.session_id != f.session_id);
    if restart {
        let spec = match WorldSpec::load(&session.world.path) {
            Ok(mut s) => {
                s.generator.seed = session.world.seed;
                Arc::new(s)
            }
            Err(e) => {
                warn!("oracle view: {e}");
                view.enabled = false;
                return;
            }
        };
        let mut world = World::new(spec.clone());
        let player = episode::spawn(&mut world, session.world.seed);
        let k = session.k;
        view.sim = Some(Sim {
            renderer: Renderer::new(&spec),
            frame: Frame::new(k.width, k.height, player.pose(), 0),
            world,
            player,
            session_id: f.session_id,
        });
    }
    let Some(sim) = view.sim.as_mut() else {
        return;
    };
    if f.tick > 0 {
        sim.world.ensure_loaded(sim.player.feet);
        sim.player.step(&sim.world, &f.action);
    }
    sim.frame.pose = sim.player.pose();
    sim.frame.tick = f.tick;
    sim.renderer
        .render_into(&mut sim.world, &session.k, &mut sim.frame);
    if let Some(screen) = screen
        && let Some(mut img) = images.get_mut(&screen.oracle)
    {
        write_rgb(&mut img, &sim.frame.rgb);
    }
}
