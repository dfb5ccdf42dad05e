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

/// L1 between predicted and true ego-motion `[B, 5]`, each component in units of the model's
/// motion scale (so a metre and a radian count alike).
pub fn motion_l1(pred: &Tensor, target: &Tensor) -> candle_core::Result<Tensor> {
    let s = [
        1.0 / MOTION_SCALE_M,
        1.0 / MOTION_SCALE_M,
        1.0 / MOTION_SCALE_M,
        1.0 / MOTION_SCALE_RAD,
        1.0 / MOTION_SCALE_RAD,
    ];
    let scale = Tensor::new(&s, pred.device())?;
    (pred - target)?.broadcast_mul(&scale)?.abs()?.mean_all()
}

/// PSNR (dB) of an MSE on a 0..1 scale.
pub fn psnr(mse: f64) -> f64 {
    10.0 * (1.0 / mse.max(1e-12)).log10()
}
