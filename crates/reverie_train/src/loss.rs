//! Losses: L1 on colour, L1 on image gradients (structure: a blurred frame has weak gradients
//! and pays for it), L1 on the depth code, L1 on the ego-motion.

use candle_core::Tensor;
use reverie_model::model::{MOTION_SCALE_M, MOTION_SCALE_RAD};

/// L1 between `a` and `b` (any equal shapes).
pub fn l1(a: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    (a - b)?.abs()?.mean_all()
}

/// L1 between the horizontal and vertical finite differences of two `[B, H, W, C]` images.
pub fn gradient_l1(a: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    let (_, h, w, _) = a.dims4()?;
    let dx = |t: &Tensor| -> candle_core::Result<Tensor> {
        t.narrow(2, 1, w - 1)? - t.narrow(2, 0, w - 1)?
    };
    let dy = |t: &Tensor| -> candle_core::Result<Tensor> {
        t.narrow(1, 1, h - 1)? - t.narrow(1, 0, h - 1)?
    };
    (l1(&dx(a)?, &dx(b)?)? + l1(&dy(a)?, &dy(b)?)?)? / 2.0
}

/// A tick whose true vertical motion is at least this (metres) is a step up.
pub const RISE_M: f32 = 0.5;

/// L1 between predicted and true ego-motion `[B, 5]` (`target` as rows of
/// [`reverie_core::EgoMotion::to_array`]), each component in units of the model's motion scale
/// (so a metre and a radian count alike); rows whose true rise is at least [`RISE_M`] count
/// `rise_weight` times.
pub fn motion_l1(pred: &Tensor, target: &[f32], rise_weight: f32) -> candle_core::Result<Tensor> {
    let s = [
        1.0 / MOTION_SCALE_M,
        1.0 / MOTION_SCALE_M,
        1.0 / MOTION_SCALE_M,
        1.0 / MOTION_SCALE_RAD,
        1.0 / MOTION_SCALE_RAD,
    ];
    let b = target.len() / 5;
    let weights: Vec<f32> = target
        .chunks_exact(5)
        .map(|m| if m[1] >= RISE_M { rise_weight } else { 1.0 })
        .collect();
    let scale = Tensor::new(&s, pred.device())?;
    let weights = Tensor::from_vec(weights, (b, 1), pred.device())?;
    let target = Tensor::from_slice(target, (b, 5), pred.device())?;
    (pred - target)?
        .broadcast_mul(&scale)?
        .abs()?
        .broadcast_mul(&weights)?
        .mean_all()
}

/// PSNR (dB) of an MSE on a 0..1 scale.
pub fn psnr(mse: f64) -> f64 {
    10.0 * (1.0 / mse.max(1e-12)).log10()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn a_step_up_counts_rise_weight_times_in_the_motion_loss() {
        // Two rows, both predicted standing still: one walks level, one steps up 1 m.
        let pred = Tensor::zeros((2, 5), candle_core::DType::F32, &Device::Cpu).unwrap();
        let level = [0.0, 0.0, 0.2, 0.0, 0.0];
        let step = [0.0, 1.0, 0.2, 0.0, 0.0];
        let target: Vec<f32> = level.iter().chain(&step).copied().collect();
        let loss = |w: f32| -> f32 { motion_l1(&pred, &target, w).unwrap().to_scalar().unwrap() };
        let (level_err, step_err) = (1.0, 1.0 + 5.0); // in units of the 0.2 m motion scale
        assert!((loss(1.0) - (level_err + step_err) / 10.0).abs() < 1e-5);
        assert!((loss(30.0) - (level_err + 30.0 * step_err) / 10.0).abs() < 1e-4);
    }
}
