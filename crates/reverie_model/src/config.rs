//! [`ModelConfig`]: the shape of a [`crate::WorldModel`], saved as `model.json` beside its weights.

use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};

/// The current `schema_version` of [`ModelConfig`].
pub const MODEL_SCHEMA_VERSION: u32 = 1;

/// Hyper-parameters of the world model. Everything needed to rebuild the network from its weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// [`MODEL_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Frame width in pixels.
    pub width: usize,
    /// Frame height in pixels.
    pub height: usize,
    /// Side of the square pixel patch folded into one grid cell (the grid is width/patch × height/patch).
    pub patch: usize,
    /// Feature channels on the grid.
    pub channels: usize,
    /// Feature channels on the half-resolution grid.
    pub mid_channels: usize,
    /// Channels of the recurrent latent state (on the grid).
    pub state_channels: usize,
    /// Residual blocks on the grid, on each side of the half-resolution stage.
    pub blocks_high: usize,
    /// Residual blocks on the half-resolution grid.
    pub blocks_low: usize,
    /// Hidden width of the ego-motion head.
    pub motion_hidden: usize,
    /// Channels of the full-resolution refinement (two 3×3 convolutions adding a residual to the
    /// composed colour and depth, e.g. to undo the warp's resampling blur); 0 = none.
    pub refine_channels: usize,
    /// Ego-motion from what the action intends ([`reverie_core::EgoMotion::intended`]: the look
    /// exactly, a tick of walking at `walk_speed` / `sprint_speed`) with learned gates and
    /// residuals for the translation (walls, ledges, falls), read from the state and from the
    /// depth of the frame just generated. `false` (checkpoints from before it): everything
    /// learned, from the state and the action alone.
    #[serde(default)]
    pub kinematic_motion: bool,
    /// Walking speed the actions mean (metres per second), for `kinematic_motion`.
    #[serde(default = "default_walk_speed")]
    pub walk_speed: f32,
    /// Sprinting speed the actions mean (metres per second), for `kinematic_motion`.
    #[serde(default = "default_sprint_speed")]
    pub sprint_speed: f32,
    /// The `kinematic_motion` head also reads a [`reverie_core::GroundProbe`]: the highest
    /// point in each cell of a small grid around the feet, from the depth of the session's
    /// last frames (what is underfoot when a ledge has left the view). `false` (checkpoints
    /// from before it): no probe.
    #[serde(default)]
    pub ground_probe: bool,
    /// Height of the eye above the feet (metres), for `ground_probe`: where the feet are, so a
    /// step's height can be read off the probe.
    #[serde(default = "default_eye_height")]
    pub eye_height: f32,
    /// Half the width of the body's footprint (metres), for `ground_probe`.
    #[serde(default = "default_body_half_width")]
    pub body_half_width: f32,
    /// A `ground_probe` model's vertical motion keeps to the probe's ground: a learned gate
    /// times a step up (the footprint after the walk 0.5–1.05 m above the feet); in the air
    /// (the ground right under the feet — the highest of the probe's four grid cells within
    /// 0.2 m of the camera's ground position — seen more than 0.25 m below them) a learned gate
    /// times the way down (at most 0.5 m a tick); and the free learned vertical motion only
    /// while jump is held (the push off). A camera standing on ground it sees does not move up or
    /// down at all, whatever small bias the session's own depth has — a free vertical output
    /// integrates any bias (sessions 14–15 sank or climbed hundreds of metres in minutes).
    /// `false` (checkpoints from before it): the free output on every tick.
    #[serde(default)]
    pub ground_vertical: bool,
    /// Whether a `kinematic_motion` head moves the camera up or down at all. `false`: the
    /// camera keeps its height (no steps, falls or jumps), and the horizontal walk and the look
    /// are as with it. Session 16: every learned vertical motion tried so far integrates the
    /// errors of a generated world (the free output sank the default checkpoint's camera
    /// ~100 m a minute; ground-probe heads climbed 10–25 m a minute), while the same checkpoint
    /// with its height kept walked closer to the truth and stopped at every bundled world's
    /// wall. `true` (checkpoints from before it): vertical motion as the head predicts it.
    #[serde(default = "default_true")]
    pub vertical_motion: bool,
    /// A `kinematic_motion` head whose camera, up in the air after a rise, flies the arc: its
    /// vertical motion there is the previous tick's less a tick of `gravity`, in place of the
    /// learned one. A jump is an arc of ticks — up fast, slower, then down as fast as it went
    /// up — and a head that reads only the state, the action and the depth learns the take-off
    /// (the tick jump is pressed) but not the arc after it, so a session rose 0.3 m at each
    /// jump and never came down (session 33: meadow's 10-minute random walk ended 58 m up).
    /// The rise itself (a jump's take-off, a step) is learned, and so is every motion on the
    /// ground. Whether the camera is in the air, and its previous motion, are the session's
    /// own (`reverie_runtime::Lift`: above the height its last rise began at; the engine lands
    /// it there), in training the targets' by the same rule. Session 33 also tried a head that
    /// read the previous motion as an input, with and without a learned airborne gate: its
    /// arcs decayed towards a constant rise, and the camera climbed 11–15 m in 10 s.
    /// `false` (checkpoints from before it): the learned vertical motion on every tick.
    #[serde(default)]
    pub vertical_momentum: bool,
    /// The walker's gravity (m/s², `reverie_world`'s physics), for `vertical_momentum`.
    #[serde(default = "default_gravity")]
    pub gravity: f32,
}

fn default_gravity() -> f32 {
    28.0
}

fn default_true() -> bool {
    true
}

fn default_eye_height() -> f32 {
    1.62
}

fn default_body_half_width() -> f32 {
    0.3
}

fn default_walk_speed() -> f32 {
    4.3
}

fn default_sprint_speed() -> f32 {
    5.6
}

impl Default for ModelConfig {
    fn default() -> ModelConfig {
        ModelConfig {
            schema_version: MODEL_SCHEMA_VERSION,
            width: 128,
            height: 128,
            patch: 4,
            channels: 48,
            mid_channels: 96,
            state_channels: 32,
            blocks_high: 1,
            blocks_low: 1,
            motion_hidden: 128,
            refine_channels: 0,
            kinematic_motion: true,
            walk_speed: default_walk_speed(),
            sprint_speed: default_sprint_speed(),
            ground_probe: false,
            eye_height: default_eye_height(),
            body_half_width: default_body_half_width(),
            ground_vertical: false,
            vertical_motion: true,
            vertical_momentum: false,
            gravity: default_gravity(),
        }
    }
}

impl ModelConfig {
    /// A tiny model for tests (32×32 frames).
    pub fn tiny() -> ModelConfig {
        ModelConfig {
            width: 32,
            height: 32,
            channels: 16,
            mid_channels: 24,
            state_channels: 8,
            blocks_high: 1,
            blocks_low: 1,
            motion_hidden: 32,
            refine_channels: 4,
            // The tests exercise every input the motion head can have.
            ground_probe: true,
            ..ModelConfig::default()
        }
    }

    /// What a `ground_probe` model's motion head reads of `probe` for `action` at `pose`:
    /// [`reverie_core::GroundProbe::features`] for the action's intended walk
    /// ([`reverie_core::EgoMotion::intended`]) and this body's footprint.
    pub fn probe_features(
        &self,
        probe: &reverie_core::GroundProbe,
        pose: &reverie_core::Pose,
        action: &reverie_core::Action,
    ) -> Vec<f32> {
        let walk = reverie_core::EgoMotion::intended(action, self.walk_speed, self.sprint_speed);
        probe.features(pose, [walk.right_m, walk.forward_m], self.body_half_width)
    }

    /// How many values of the motion context a session gives the head each tick
    /// ([`ModelConfig::motion_context`]): the ground probe's features (`ground_probe`), then
    /// the previous vertical motion and whether the camera is in the air (`vertical_momentum`).
    pub fn motion_context_len(&self) -> usize {
        usize::from(self.ground_probe) * reverie_core::GroundProbe::FEATURES
            + 2 * usize::from(self.vertical_momentum)
    }

    /// Everything a session gives the motion head beside its state, the action and the depth
    /// ([`crate::WorldModel::predict_motion`]'s `context`): [`ModelConfig::probe_features`]
    /// for a `ground_probe` head, then for a `vertical_momentum` head `in_air`'s motion (metres
    /// the camera moved up last tick, when it is up in the air after a rise) and 1, or 0 and 0
    /// on the ground; empty for neither.
    pub fn motion_context(
        &self,
        probe: &reverie_core::GroundProbe,
        pose: &reverie_core::Pose,
        action: &reverie_core::Action,
        in_air: Option<f32>,
    ) -> Vec<f32> {
        let mut c = if self.ground_probe {
            self.probe_features(probe, pose, action)
        } else {
            Vec::new()
        };
        if self.vertical_momentum {
            c.extend(ModelConfig::airborne_features(in_air));
        }
        c
    }

    /// A `vertical_momentum` head's part of the motion context: the motion last tick and 1 in
    /// the air (`Some`), 0 and 0 on the ground.
    pub fn airborne_features(in_air: Option<f32>) -> [f32; 2] {
        match in_air {
            Some(up_m) => [up_m, 1.0],
            None => [0.0, 0.0],
        }
    }

    /// Grid size (height, width).
    pub fn grid(&self) -> (usize, usize) {
        (self.height / self.patch, self.width / self.patch)
    }

    /// Checks every field; the error names the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &'static str, message: String| Err(ModelError::Config { field, message });
        if self.schema_version != MODEL_SCHEMA_VERSION {
            return bad(
                "schema_version",
                format!("{} is not {MODEL_SCHEMA_VERSION}", self.schema_version),
            );
        }
        if !(1..=16).contains(&self.patch) {
            return bad("patch", format!("{} is not within 1..=16", self.patch));
        }
        for (field, v) in [("width", self.width), ("height", self.height)] {
            if v == 0 || v > 4096 || !v.is_multiple_of(4 * self.patch) {
                return bad(
                    field,
                    format!(
                        "{v} must be within 1..=4096 and a multiple of 4 × patch = {}",
                        4 * self.patch
                    ),
                );
            }
        }
        for (field, v) in [
            ("channels", self.channels),
            ("mid_channels", self.mid_channels),
            ("state_channels", self.state_channels),
            ("motion_hidden", self.motion_hidden),
        ] {
            if !(1..=4096).contains(&v) {
                return bad(field, format!("{v} is not within 1..=4096"));
            }
        }
        if self.refine_channels > 256 {
            return bad(
                "refine_channels",
                format!("{} is more than 256", self.refine_channels),
            );
        }
        if self.kinematic_motion {
            for (field, v) in [("width", self.width), ("height", self.height)] {
                if !v.is_multiple_of(crate::model::MOTION_DEPTH_GRID) {
                    return bad(
                        field,
                        format!(
                            "{v} must be a multiple of {} for kinematic_motion (its depth pooling)",
                            crate::model::MOTION_DEPTH_GRID
                        ),
                    );
                }
            }
        }
        if self.ground_probe && !self.kinematic_motion {
            return bad(
                "ground_probe",
                "needs kinematic_motion = true (the probe feeds its head)".to_string(),
            );
        }
        if !self.vertical_motion && !self.kinematic_motion {
            return bad(
                "vertical_motion",
                "false needs kinematic_motion = true (older heads learn the whole motion)"
                    .to_string(),
            );
        }
        if !(self.gravity.is_finite() && self.gravity > 0.0 && self.gravity <= 100.0) {
            return bad(
                "gravity",
                format!("{} m/s² is not within (0, 100]", self.gravity),
            );
        }
        if self.vertical_momentum && !self.kinematic_motion {
            return bad(
                "vertical_momentum",
                "needs kinematic_motion = true (it feeds the kinematic head)".to_string(),
            );
        }
        if self.ground_vertical && !self.vertical_motion {
            return bad(
                "ground_vertical",
                "needs vertical_motion = true (it shapes the vertical motion)".to_string(),
            );
        }
        if self.ground_vertical && !self.ground_probe {
            return bad(
                "ground_vertical",
                "needs ground_probe = true (the vertical motion reads the probe)".to_string(),
            );
        }
        for (field, v) in [
            ("walk_speed", self.walk_speed),
            ("sprint_speed", self.sprint_speed),
        ] {
            if !(v.is_finite() && (0.0..=100.0).contains(&v)) {
                return bad(field, format!("{v} is not a speed within 0..=100 m/s"));
            }
        }
        for (field, v) in [
            ("eye_height", self.eye_height),
            ("body_half_width", self.body_half_width),
        ] {
            if !(v.is_finite() && (0.01..=10.0).contains(&v)) {
                return bad(field, format!("{v} is not a length within 0.01..=10 m"));
            }
        }
        for (field, v) in [
            ("blocks_high", self.blocks_high),
            ("blocks_low", self.blocks_low),
        ] {
            if v > 64 {
                return bad(field, format!("{v} is more than 64"));
            }
        }
        Ok(())
    }
}
