//! Element-wise activations as fused CPU ops, and the one switch between a parallel and an inline
//! pass over a buffer.
//!
//! candle's CPU `silu` calls the C library's scalar `expf` for every element (≈ 14 % of a model
//! step in `perf`); [`silu`] computes the same function with an exponential written so that the
//! compiler vectorises it (8 lanes with AVX2), within a few float ulps of `expf`. Other devices
//! (the `cuda` feature) use candle's own op. [`gru_update`] fuses the recurrent state's update
//! (a sigmoid, a tanh and four arithmetic ops, each its own pass and allocation in candle).

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Tensor};
use rayon::prelude::*;

/// Runs `f(chunk index, chunk)` over `dst` in chunks of `chunk` values: on rayon's pool when it
/// has more than one thread, else inline on the calling thread (no hand-off to a worker and back —
/// see [`crate::threads`]).
pub fn for_each_chunk_mut<F>(dst: &mut [f32], chunk: usize, f: F)
where
    F: Fn(usize, &mut [f32]) + Sync + Send,
{
    let chunk = chunk.max(1);
    if rayon::current_num_threads() > 1 && dst.len() > chunk {
        dst.par_chunks_mut(chunk)
            .enumerate()
            .for_each(|(i, c)| f(i, c));
    } else {
        dst.chunks_mut(chunk).enumerate().for_each(|(i, c)| f(i, c));
    }
}

/// `e^x` for finite `x` with a relative error below 2e-7 (range reduction by ln 2 and a degree-6
/// polynomial, the Cephes `expf` scheme), branch-free so that loops over it vectorise. Below
/// −87.3 it returns 0; above 88.7, `f32::MAX`-order values (callers here only divide by it).
#[inline(always)]
pub fn exp_fast(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Round x·log2(e) to the nearest integer n with the 1.5·2²³ trick: after the add, n sits in
    // the low mantissa bits (no float → int conversion, which would not vectorise).
    const MAGIC: f32 = 12_582_912.0;
    let x = x.clamp(-87.3, 88.7);
    let t = x * LOG2E + MAGIC;
    let n = t - MAGIC;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_1e-4_f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 5e-1;
    let y = p * r * r + r + 1.0;
    // 2^n through the exponent bits; n ∈ [−126, 128] after the clamp (2^128 would overflow the
    // field, so the top is split in two factors).
    let n = t.to_bits().wrapping_sub(MAGIC.to_bits()) as i32;
    let half = n >> 1;
    let a = f32::from_bits(((half + 127) as u32) << 23);
    let b = f32::from_bits(((n - half + 127) as u32) << 23);
    y * a * b
}

/// The fused SiLU op (forward here, backward in candle ops).
#[derive(Clone, Copy, Debug)]
struct Silu;

impl CustomOp1 for Silu {
    fn name(&self) -> &'static str {
        "reverie-silu"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("silu: input must be contiguous")
        };
        let src = match storage {
            CpuStorage::F32(v) => &v[start..end],
            other => candle_core::bail!("silu: only f32 is supported, got {:?}", other.dtype()),
        };
        // One vectorised pass (no zero fill first); it is memory-bound, one thread is enough.
        let dst: Vec<f32> = src.iter().map(|&x| x / (1.0 + exp_fast(-x))).collect();
        Ok((CpuStorage::F32(dst), layout.shape().clone()))
    }

    fn bwd(
        &self,
        arg: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(
            arg.contiguous()?
                .apply_op2(&grad_res.contiguous()?, SiluGrad)?,
        ))
    }
}

/// The backward pass of [`Silu`] in one pass: `(x, dy)` → `dy · σ(x) · (1 + x · (1 − σ(x)))`.
#[derive(Clone, Copy, Debug)]
struct SiluGrad;

impl CustomOp2 for SiluGrad {
    fn name(&self) -> &'static str {
        "reverie-silu-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32_slice(s1, l1, self.name())?;
        let dy = f32_slice(s2, l2, self.name())?;
        if x.len() != dy.len() {
            candle_core::bail!("silu grad: {:?} vs {:?}", l1.shape(), l2.shape())
        }
        let dx: Vec<f32> = x
            .iter()
            .zip(dy)
            .map(|(&x, &g)| {
                let s = 1.0 / (1.0 + exp_fast(-x));
                g * s * (1.0 + x * (1.0 - s))
            })
            .collect();
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }
}

/// SiLU: the fused CPU op on f32 CPU tensors, candle's `silu` elsewhere.
pub fn silu(xs: &Tensor) -> candle_core::Result<Tensor> {
    if xs.device().is_cpu() && xs.dtype() == candle_core::DType::F32 {
        xs.contiguous()?.apply_op1(Silu)
    } else {
        xs.silu()
    }
}

/// The f32 values of a contiguous CPU tensor (errors name `op`).
pub(crate) fn f32_slice<'a>(
    storage: &'a CpuStorage,
    layout: &Layout,
    op: &str,
) -> candle_core::Result<&'a [f32]> {
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!("{op}: input must be contiguous")
    };
    match storage {
        CpuStorage::F32(v) => Ok(&v[start..end]),
        other => candle_core::bail!("{op}: only f32 is supported, got {:?}", other.dtype()),
    }
}

/// The convolutional GRU update `h + σ(g_z) · (tanh(g_c) − h)`, with `g = [g_z | g_c]` on the
/// last dimension (twice the state's channels).
#[derive(Clone, Copy, Debug)]
struct GruUpdate;

impl CustomOp2 for GruUpdate {
    fn name(&self) -> &'static str {
        "reverie-gru-update"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let h = f32_slice(s1, l1, self.name())?;
        let g = f32_slice(s2, l2, self.name())?;
        let s = l1.shape().dims().last().copied().unwrap_or(0);
        if s == 0 || g.len() != 2 * h.len() {
            candle_core::bail!(
                "gru update: state {:?} and gates {:?} (need twice the state's channels)",
                l1.shape(),
                l2.shape()
            )
        }
        let mut out = Vec::with_capacity(h.len());
        for (hs, gs) in h.chunks_exact(s).zip(g.chunks_exact(2 * s)) {
            let (gz, gc) = gs.split_at(s);
            out.extend(hs.iter().zip(gz).zip(gc).map(|((&h, &z), &c)| {
                let z = 1.0 / (1.0 + exp_fast(-z));
                let c = 1.0 - 2.0 / (1.0 + exp_fast(2.0 * c));
                h + z * (c - h)
            }));
        }
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        h: &Tensor,
        g: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let last = h.rank() - 1;
        let s = h.dim(last)?;
        let z = candle_nn::ops::sigmoid(&g.narrow(last, 0, s)?)?;
        let c = g.narrow(last, s, s)?.tanh()?;
        let dh = (grad * (1.0 - &z)?)?;
        let dz = ((grad * (&c - h)?)? * (&z * (1.0 - &z)?)?)?;
        let dc = ((grad * &z)? * (1.0 - c.sqr()?)?)?;
        Ok((Some(dh), Some(Tensor::cat(&[&dz, &dc], last)?)))
    }
}

/// The GRU state update `h + σ(g_z) · (tanh(g_c) − h)` (`g` = `[g_z | g_c]` on the last
/// dimension): one fused pass on f32 CPU tensors, candle ops elsewhere.
pub fn gru_update(h: &Tensor, g: &Tensor) -> candle_core::Result<Tensor> {
    if h.device().is_cpu() && h.dtype() == candle_core::DType::F32 {
        h.contiguous()?.apply_op2(&g.contiguous()?, GruUpdate)
    } else {
        let last = h.rank() - 1;
        let s = h.dim(last)?;
        let z = candle_nn::ops::sigmoid(&g.narrow(last, 0, s)?)?;
        let c = g.narrow(last, s, s)?.tanh()?;
        h + (z * (c - h)?)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn exp_fast_matches_the_c_library() {
        let mut worst = 0f32;
        for i in -80_000..=80_000 {
            let x = i as f32 * 1e-3;
            let (a, b) = (exp_fast(x), x.exp());
            worst = worst.max(((a - b) / b).abs());
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
        assert_eq!(exp_fast(-200.0), f32::from_bits(0).max(exp_fast(-200.0)));
        assert!(exp_fast(-200.0) < 1e-37);
        assert!(exp_fast(200.0).is_finite() && exp_fast(200.0) > 1e38);
    }

    #[test]
    fn silu_equals_candles_in_values_and_gradients() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&(Tensor::randn(0f32, 4f32, (3, 17, 33), &dev)?))?;
        let ours = silu(x.as_tensor())?;
        let theirs = x.as_tensor().silu()?;
        let diff = (&ours - &theirs)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 1e-5, "values differ by {diff}");
        let w = Tensor::randn(0f32, 1f32, (3, 17, 33), &dev)?;
        let g1 = (ours * &w)?.sum_all()?.backward()?;
        let g2 = (theirs * &w)?.sum_all()?.backward()?;
        let (g1, g2) = (
            g1.get(&x)
                .ok_or_else(|| candle_core::Error::Msg("no grad".into()))?,
            g2.get(&x)
                .ok_or_else(|| candle_core::Error::Msg("no grad".into()))?,
        );
        let gdiff = (g1 - g2)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(gdiff < 1e-5, "gradients differ by {gdiff}");
        Ok(())
    }
    #[test]
    fn gru_update_equals_candle_ops_in_values_and_gradients() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let h = Var::from_tensor(&Tensor::randn(0f32, 1f32, (2, 5, 7, 8), &dev)?)?;
        let g = Var::from_tensor(&Tensor::randn(0f32, 3f32, (2, 5, 7, 16), &dev)?)?;
        let (ht, gt) = (h.as_tensor(), g.as_tensor());
        let ours = gru_update(ht, gt)?;
        let z = candle_nn::ops::sigmoid(&gt.narrow(3, 0, 8)?)?;
        let c = gt.narrow(3, 8, 8)?.tanh()?;
        let theirs = (ht + (z * (c - ht)?)?)?;
        let diff = (&ours - &theirs)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 1e-5, "values differ by {diff}");
        let w = Tensor::randn(0f32, 1f32, (2, 5, 7, 8), &dev)?;
        let g1 = (ours * &w)?.sum_all()?.backward()?;
        let g2 = (theirs * &w)?.sum_all()?.backward()?;
        for v in [&h, &g] {
            let (a, b) = (
                g1.get(v)
                    .ok_or_else(|| candle_core::Error::Msg("no grad".into()))?,
                g2.get(v)
                    .ok_or_else(|| candle_core::Error::Msg("no grad".into()))?,
            );
            let d = (a - b)?.abs()?.max_all()?.to_scalar::<f32>()?;
            assert!(d < 1e-5, "gradients differ by {d}");
        }
        let bad = Tensor::zeros((2, 5, 7, 9), candle_core::DType::F32, &dev)?;
        assert!(gru_update(ht, &bad).is_err());
        Ok(())
    }
}
