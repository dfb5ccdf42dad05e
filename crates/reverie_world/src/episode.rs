//! Runs a policy in a world, tick by tick, rendering what the walker sees.

use reverie_core::{Action, Frame, Intrinsics};

use crate::physics::Player;
use crate::policy::Policy;
use crate::render::Renderer;
use crate::world::World;

/// Where and how an episode starts.
#[derive(Clone, Copy, Debug)]
pub struct EpisodeStart {
    /// Seed for the spawn point and the initial heading.
    pub seed: u64,
    /// Ticks (frames) to run, including tick 0.
    pub steps: usize,
}

/// The walker of an episode with seed `seed`: at the world's spawn point for that seed, with
/// the seed's heading, settled onto the ground.
pub fn spawn(world: &mut World, seed: u64) -> Player {
    let feet = world.find_spawn(seed);
    let yaw = crate::noise::unit(reverie_core::seed::mix64(seed ^ 0x7a3)) * std::f32::consts::TAU;
    let mut player = Player::new(feet, yaw);
    world.ensure_loaded(player.feet);
    player.step(world, &Action::IDLE);
    player
}

/// Tick 0 of the episode with seed `seed`: the spawn view (RGB, planar depth, pose). This is what
/// a session's prompt is made from.
pub fn spawn_frame(world: &mut World, renderer: &Renderer, k: &Intrinsics, seed: u64) -> Frame {
    let player = spawn(world, seed);
    let mut frame = Frame::new(k.width, k.height, player.pose(), 0);
    renderer.render_into(world, k, &mut frame);
    frame
}

/// [`spawn_frame`] of a world spec with its seed replaced by `seed` (a fresh world): the prompt of
/// a session that starts at that seed's spawn point.
pub fn spawn_view(mut spec: crate::WorldSpec, seed: u64, k: &Intrinsics) -> Frame {
    spec.generator.seed = seed;
    let spec = std::sync::Arc::new(spec);
    let mut world = World::new(spec.clone());
    spawn_frame(&mut world, &Renderer::new(&spec), k, seed)
}

/// Runs one episode. Tick 0 is the spawn view with an idle action; at tick t ≥ 1 the policy's
/// action moves the walker and the frame shows the result. `sink(tick, frame, action)` receives
/// every tick; an error from it stops the episode.
pub fn run<E>(
    world: &mut World,
    renderer: &Renderer,
    k: &Intrinsics,
    policy: &mut dyn Policy,
    start: EpisodeStart,
    mut sink: impl FnMut(u64, &Frame, &Action) -> Result<(), E>,
) -> Result<(), E> {
    let mut player = spawn(world, start.seed);
    let mut frame = Frame::new(k.width, k.height, player.pose(), 0);
    for tick in 0..start.steps as u64 {
        let action = if tick == 0 {
            Action::IDLE
        } else {
            policy.act(world, &player, tick)
        };
        if tick > 0 {
            world.ensure_loaded(player.feet);
            player.step(world, &action);
        }
        frame.pose = player.pose();
        frame.tick = tick;
        renderer.render_into(world, k, &mut frame);
        sink(tick, &frame, &action)?;
    }
    Ok(())
}
