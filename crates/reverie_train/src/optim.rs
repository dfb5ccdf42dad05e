//! AdamW (Loshchilov & Hutter, 2019) whose moments can be saved, so training resumes exactly.

use std::collections::HashMap;
use std::path::Path;

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use candle_nn::VarMap;

use crate::error::{Result, TrainError};

/// A gradient with a non-finite global norm (the update was skipped).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NonFinite(pub f64);

/// AdamW over every variable of a [`VarMap`] (weight decay on matrices and kernels, not biases).
#[derive(Debug)]
pub struct AdamW {
    vars: Vec<(String, Var)>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    /// Updates applied so far.
    pub t: usize,
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
}

impl AdamW {
    /// A fresh optimiser (β = 0.9, 0.99).
    pub fn new(varmap: &VarMap, weight_decay: f64) -> Result<AdamW> {
        let data = varmap
            .data()
            .lock()
            .map_err(|_| TrainError::Other("variable map poisoned".into()))?;
        let mut vars: Vec<(String, Var)> =
            data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let m = vars
            .iter()
            .map(|(_, v)| v.as_tensor().zeros_like())
            .collect::<candle_core::Result<Vec<_>>>()?;
        let v = m.clone();
        Ok(AdamW {
            vars,
            m,
            v,
            t: 0,
            beta1: 0.9,
            beta2: 0.99,
            eps: 1e-8,
            weight_decay,
        })
    }

    /// One update with learning rate `lr`; gradients are first scaled to global norm ≤ `clip`
    /// (when `clip` > 0). Returns the global gradient norm before clipping; a non-finite norm
    /// changes nothing and returns [`NonFinite`].
    pub fn step(
        &mut self,
        grads: &GradStore,
        lr: f64,
        clip: f64,
    ) -> Result<std::result::Result<f64, NonFinite>> {
        let mut sq = 0f64;
        let gs: Vec<Option<&Tensor>> = self
            .vars
            .iter()
            .map(|(_, v)| grads.get(v.as_tensor()))
            .collect();
        for g in gs.iter().flatten() {
            sq += f64::from(g.sqr()?.sum_all()?.to_scalar::<f32>()?);
        }
        let norm = sq.sqrt();
        if !norm.is_finite() {
            return Ok(Err(NonFinite(norm)));
        }
        let scale = if clip > 0.0 && norm > clip {
            clip / norm
        } else {
            1.0
        };
        self.t += 1;
        let (b1, b2) = (self.beta1, self.beta2);
        let c1 = 1.0 - b1.powi(self.t as i32);
        let c2 = 1.0 - b2.powi(self.t as i32);
        for (i, ((_, var), g)) in self.vars.iter().zip(gs).enumerate() {
            let Some(g) = g else { continue };
            let g = (g * scale)?;
            self.m[i] = ((&self.m[i] * b1)? + (&g * (1.0 - b1))?)?;
            self.v[i] = ((&self.v[i] * b2)? + (g.sqr()? * (1.0 - b2))?)?;
            let update = ((&self.m[i] / c1)? / ((&self.v[i] / c2)?.sqrt()? + self.eps)?)?;
            let decay = if var.rank() >= 2 {
                lr * self.weight_decay
            } else {
                0.0
            };
            let next = ((var.as_tensor() * (1.0 - decay))? - (update * lr)?)?;
            var.set(&next)?;
        }
        Ok(Ok(norm))
    }

    /// Saves the moments (`m.NAME`, `v.NAME`) to a safetensors file.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut map = HashMap::new();
        for (i, (name, _)) in self.vars.iter().enumerate() {
            map.insert(format!("m.{name}"), self.m[i].clone());
            map.insert(format!("v.{name}"), self.v[i].clone());
        }
        candle_core::safetensors::save(&map, path).map_err(|e| TrainError::file(path, e))
    }

    /// Loads moments saved by [`AdamW::save`] (names and shapes must match).
    pub fn load(&mut self, path: &Path, t: usize) -> Result<()> {
        let map = candle_core::safetensors::load(path, &candle_core::Device::Cpu)
            .map_err(|e| TrainError::file(path, e))?;
        for (i, (name, var)) in self.vars.iter().enumerate() {
            for (kind, slot) in [("m", &mut self.m[i]), ("v", &mut self.v[i])] {
                let key = format!("{kind}.{name}");
                let t = map
                    .get(&key)
                    .ok_or_else(|| TrainError::file(path, format!("tensor `{key}` is missing")))?;
                if t.dims() != var.dims() {
                    return Err(TrainError::file(
                        path,
                        format!(
                            "tensor `{key}` has shape {:?}, expected {:?}",
                            t.dims(),
                            var.dims()
                        ),
                    ));
                }
                *slot = t.to_device(var.device())?;
            }
        }
        self.t = t;
        Ok(())
    }
}
