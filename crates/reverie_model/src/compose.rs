//! The per-pixel composition at the end of a step, as one fused op with its own backward.
//!
//! For every pixel the head gives 3 source logits (warp, memory, generator), 3 colour logits and a
//! depth logit; the guides give the warped and the remembered pixel (colour, coverage, depth code,
//! depth known). The output colour is the softmax-weighted mix of the three sources, where a source
//! without the pixel gets its logit lowered by [`MASK_PENALTY`]; depth is mixed the same way with
//! sources that know their depth. Written as candle ops this was ~40 full-resolution tensor ops
//! (and their backward) per step — slower than all the convolutions together; fused, it is one pass.
//!
//! At inference the source logits may be divided by a temperature below 1 ([`compose_tempered`]):
//! each pixel then takes its colour more decisively from the source the head prefers, instead of
//! a blend — a session warps its own frames every tick, and a blend with the generator's smooth
//! colour, repeated tick after tick, washes the detail out (session 14: the sharpness ratio at
//! 24 frames rose from 0.52–0.73 to 0.63–0.91 at temperature 0.5). Depth is mixed as trained
//! unless it is given its own temperature ([`compose_with`]): the same as the colour's makes a
//! pixel's depth come from the source its colour comes from.
//!
//! The op is layout-agnostic: pixel `i` reads head values `[7i, 7i+7)`, guide values
//! `[12i, 12i+12)` (warp then memory, [`crate::model::GUIDE_CHANNELS`] each) and writes
//! `[7i, 7i+7)` = red, green, blue, depth code, then the three source weights (for display; they
//! carry no gradient).

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Shape, Tensor};

use crate::ops::{exp_fast, f32_slice, for_each_chunk_mut};

/// Logit penalty that switches off a source where it has no pixel.
pub const MASK_PENALTY: f32 = 30.0;
/// Head values per pixel.
pub const HEAD: usize = 7;
/// Guide values per pixel (warp + memory).
pub const GUIDES: usize = 12;
/// Output values per pixel.
pub const OUT: usize = 7;

/// Pixels per parallel task.
const CHUNK: usize = 4096;

#[derive(Clone, Copy, Default)]
struct Mix {
    s_rgb: [f32; 3],
    s_d: [f32; 3],
    gen_rgb: [f32; 3],
    gen_code: f32,
}

/// Pixels whose exponentials are taken in one vectorised pass.
const BLOCK: usize = 64;
/// Exponentials per pixel: two softmaxes of 3 and 4 sigmoids.
const EXPS: usize = 10;

/// The softmax weights and sigmoids of up to [`BLOCK`] pixels (`h`: their head values, `g`: their
/// guide values; `mixes[j]` = pixel `j`). The logits are gathered first and exponentiated in one
/// branch-free loop ([`exp_fast`]) that the compiler vectorises — per pixel, scalar `exp` calls
/// were ~7 % of a model step.
/// `inv`: 1 / the source temperatures of the colour mix and of the depth mix.
fn mix_block(h: &[f32], g: &[f32], inv: [f32; 2], mixes: &mut [Mix; BLOCK]) {
    let [inv_t, inv_td] = inv;
    let n = (h.len() / HEAD).min(BLOCK);
    let pen = |avail: f32| (avail - 1.0) * MASK_PENALTY;
    let mut e = [0f32; EXPS * BLOCK];
    for j in 0..n {
        let (h, g) = (
            &h[j * HEAD..(j + 1) * HEAD],
            &g[j * GUIDES..(j + 1) * GUIDES],
        );
        let (w, m) = (&g[0..6], &g[6..12]);
        let lr = [
            (h[0] + pen(w[3])) * inv_t,
            (h[1] + pen(m[3])) * inv_t,
            h[2] * inv_t,
        ];
        let ld = [
            (h[0] + pen(w[3] * w[5])) * inv_td,
            (h[1] + pen(m[3] * m[5])) * inv_td,
            h[2] * inv_td,
        ];
        let (mr, md) = (lr[0].max(lr[1]).max(lr[2]), ld[0].max(ld[1]).max(ld[2]));
        let a = &mut e[j * EXPS..(j + 1) * EXPS];
        for k in 0..3 {
            a[k] = lr[k] - mr;
            a[3 + k] = ld[k] - md;
        }
        for k in 0..4 {
            a[6 + k] = -h[3 + k];
        }
    }
    for v in &mut e {
        *v = exp_fast(*v);
    }
    for (j, mx) in mixes.iter_mut().enumerate().take(n) {
        let a = &e[j * EXPS..(j + 1) * EXPS];
        let (sr, sd) = (a[0] + a[1] + a[2], a[3] + a[4] + a[5]);
        *mx = Mix {
            s_rgb: [a[0] / sr, a[1] / sr, a[2] / sr],
            s_d: [a[3] / sd, a[4] / sd, a[5] / sd],
            gen_rgb: [1.0 / (1.0 + a[6]), 1.0 / (1.0 + a[7]), 1.0 / (1.0 + a[8])],
            gen_code: 1.0 / (1.0 + a[9]),
        };
    }
}

fn slices<'a>(
    s: &'a CpuStorage,
    l: &Layout,
    per_pixel: usize,
    what: &str,
) -> candle_core::Result<&'a [f32]> {
    let v = f32_slice(s, l, &format!("compose: {what}"))?;
    if !v.len().is_multiple_of(per_pixel) {
        candle_core::bail!("compose: {what} is not a whole number of {per_pixel}-value pixels")
    }
    Ok(v)
}

fn out_shape(head: &Layout) -> candle_core::Result<Shape> {
    let mut dims = head.shape().dims().to_vec();
    match dims.last_mut() {
        Some(last) if last.is_multiple_of(HEAD) => {
            *last = *last / HEAD * OUT;
            Ok(Shape::from(dims))
        }
        _ => candle_core::bail!("compose: head's last dim must be a multiple of {HEAD}"),
    }
}

/// `compose(head, guides)`: see the module docs. `head` and `guides` hold the same pixels in the
/// same order (any layout, e.g. the grid's `[B, gh, gw, p²·7]` and `[B, gh, gw, p²·12]`).
#[derive(Clone, Copy, Debug)]
pub struct Compose {
    /// 1 / the source temperature of the colour mix (1 = as trained).
    pub inv_temperature: f32,
    /// 1 / the source temperature of the depth mix (1 = as trained).
    pub inv_depth_temperature: f32,
}

impl CustomOp2 for Compose {
    fn name(&self) -> &'static str {
        "reverie-compose"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let head = slices(s1, l1, HEAD, "head")?;
        let guides = slices(s2, l2, GUIDES, "guides")?;
        let n = head.len() / HEAD;
        if guides.len() / GUIDES != n {
            candle_core::bail!(
                "compose: {n} head pixels but {} guide pixels",
                guides.len() / GUIDES
            )
        }
        let mut out = vec![0f32; n * OUT];
        let inv = [self.inv_temperature, self.inv_depth_temperature];
        for_each_chunk_mut(&mut out, CHUNK * OUT, |c, o| {
            let mut mixes = [Mix::default(); BLOCK];
            for (b, ob) in o.chunks_mut(BLOCK * OUT).enumerate() {
                let i0 = c * CHUNK + b * BLOCK;
                let k = ob.len() / OUT;
                let (hb, gb) = (
                    &head[i0 * HEAD..(i0 + k) * HEAD],
                    &guides[i0 * GUIDES..(i0 + k) * GUIDES],
                );
                mix_block(hb, gb, inv, &mut mixes);
                for (j, px) in ob.chunks_exact_mut(OUT).enumerate() {
                    let (g, mx) = (&gb[j * GUIDES..(j + 1) * GUIDES], &mixes[j]);
                    for ch in 0..3 {
                        px[ch] = mx.s_rgb[0] * g[ch]
                            + mx.s_rgb[1] * g[6 + ch]
                            + mx.s_rgb[2] * mx.gen_rgb[ch];
                    }
                    px[3] = mx.s_d[0] * g[4] + mx.s_d[1] * g[10] + mx.s_d[2] * mx.gen_code;
                    px[4..7].copy_from_slice(&mx.s_rgb);
                }
            }
        });
        Ok((CpuStorage::F32(out), out_shape(l1)?))
    }

    fn bwd(
        &self,
        head: &Tensor,
        guides: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let g = head.contiguous()?.apply_op3_no_bwd(
            &guides.contiguous()?,
            &grad_res.contiguous()?,
            &ComposeBackward {
                inv_temperature: self.inv_temperature,
                inv_depth_temperature: self.inv_depth_temperature,
            },
        )?;
        // The guides are data (warps and memory renders), never trained through.
        Ok((Some(g), None))
    }
}

/// The gradient of [`Compose`] with respect to its head: `(head, guides, grad_out) → grad_head`.
#[derive(Clone, Copy, Debug)]
pub struct ComposeBackward {
    /// As [`Compose::inv_temperature`].
    pub inv_temperature: f32,
    /// As [`Compose::inv_depth_temperature`].
    pub inv_depth_temperature: f32,
}

impl CustomOp3 for ComposeBackward {
    fn name(&self) -> &'static str {
        "reverie-compose-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let head = slices(s1, l1, HEAD, "head")?;
        let guides = slices(s2, l2, GUIDES, "guides")?;
        let grad = slices(s3, l3, OUT, "gradient")?;
        let n = head.len() / HEAD;
        if guides.len() / GUIDES != n || grad.len() / OUT != n {
            candle_core::bail!("compose backward: pixel counts differ")
        }
        let mut out = vec![0f32; n * HEAD];
        let inv = [self.inv_temperature, self.inv_depth_temperature];
        for_each_chunk_mut(&mut out, CHUNK * HEAD, |c, o| {
            let mut mixes = [Mix::default(); BLOCK];
            for (b, ob) in o.chunks_mut(BLOCK * HEAD).enumerate() {
                let i0 = c * CHUNK + b * BLOCK;
                let k = ob.len() / HEAD;
                let (hb, gb) = (
                    &head[i0 * HEAD..(i0 + k) * HEAD],
                    &guides[i0 * GUIDES..(i0 + k) * GUIDES],
                );
                mix_block(hb, gb, inv, &mut mixes);
                for (j, dh) in ob.chunks_exact_mut(HEAD).enumerate() {
                    let i = i0 + j;
                    let g = &gb[j * GUIDES..(j + 1) * GUIDES];
                    let d = &grad[i * OUT..(i + 1) * OUT];
                    let mx = &mixes[j];
                    // Colour: rgb_c = Σ_k s_k src_k,c.
                    let mut ds = [0f32; 3];
                    for ch in 0..3 {
                        ds[0] += d[ch] * g[ch];
                        ds[1] += d[ch] * g[6 + ch];
                        ds[2] += d[ch] * mx.gen_rgb[ch];
                        let dgen = d[ch] * mx.s_rgb[2];
                        dh[3 + ch] = dgen * mx.gen_rgb[ch] * (1.0 - mx.gen_rgb[ch]);
                    }
                    let dot: f32 = (0..3).map(|k| mx.s_rgb[k] * ds[k]).sum();
                    // Depth: code = Σ_k t_k srcd_k with the same logits.
                    let dd = [d[3] * g[4], d[3] * g[10], d[3] * mx.gen_code];
                    let dot_d: f32 = (0..3).map(|k| mx.s_d[k] * dd[k]).sum();
                    for k in 0..3 {
                        dh[k] = self.inv_temperature * mx.s_rgb[k] * (ds[k] - dot)
                            + self.inv_depth_temperature * mx.s_d[k] * (dd[k] - dot_d);
                    }
                    let dgen_code = d[3] * mx.s_d[2];
                    dh[6] = dgen_code * mx.gen_code * (1.0 - mx.gen_code);
                }
            }
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// Applies [`Compose`] (head `[.., p²·7]`, guides `[.., p²·12]` → `[.., p²·7]`) as trained.
pub fn compose(head: &Tensor, guides: &Tensor) -> candle_core::Result<Tensor> {
    compose_tempered(head, guides, 1.0)
}

/// [`compose`] with the colour mix's source logits divided by `temperature` (> 0; below 1 each
/// pixel copies its preferred source more exactly); depth mixed as trained.
pub fn compose_tempered(
    head: &Tensor,
    guides: &Tensor,
    temperature: f32,
) -> candle_core::Result<Tensor> {
    compose_with(head, guides, temperature, 1.0)
}

/// [`compose`] with the colour mix's source logits divided by `temperature` and the depth
/// mix's by `depth_temperature` (each > 0).
pub fn compose_with(
    head: &Tensor,
    guides: &Tensor,
    temperature: f32,
    depth_temperature: f32,
) -> candle_core::Result<Tensor> {
    for (what, t) in [("source", temperature), ("depth source", depth_temperature)] {
        if !(t.is_finite() && t > 0.0) {
            candle_core::bail!("compose: the {what} temperature must be > 0, got {t}")
        }
    }
    head.contiguous()?.apply_op2(
        &guides.contiguous()?,
        Compose {
            inv_temperature: 1.0 / temperature,
            inv_depth_temperature: 1.0 / depth_temperature,
        },
    )
}
