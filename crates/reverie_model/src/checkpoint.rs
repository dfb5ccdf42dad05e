//! Checkpoints: a directory holding `model.safetensors` (the weights) and `model.json` (their
//! [`ModelConfig`]); inference rebuilds the network from the config it finds there.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};

use crate::config::ModelConfig;
use crate::error::{ModelError, Result};
use crate::model::WorldModel;

/// File name of the weights in a checkpoint directory.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// File name of the model config in a checkpoint directory.
pub const CONFIG_FILE: &str = "model.json";

fn ckpt_err(path: &Path, message: impl std::fmt::Display) -> ModelError {
    ModelError::Checkpoint {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// Reads and validates `DIR/model.json`.
pub fn load_config(dir: &Path) -> Result<ModelConfig> {
    let path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        ckpt_err(
            &path,
            if e.kind() == std::io::ErrorKind::NotFound {
                "missing: a checkpoint needs its model config beside the weights".to_string()
            } else {
                e.to_string()
            },
        )
    })?;
    let cfg: ModelConfig = serde_json::from_str(&text).map_err(|e| ckpt_err(&path, e))?;
    cfg.validate().map_err(|e| ckpt_err(&path, e))?;
    Ok(cfg)
}

/// Writes the weights of `varmap` and `cfg` into `dir` (created if needed; each file written
/// under a temporary name and renamed, so a crash never leaves a half checkpoint behind).
pub fn save(dir: &Path, cfg: &ModelConfig, varmap: &VarMap) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| ckpt_err(dir, e))?;
    let weights = dir.join(WEIGHTS_FILE);
    let tmp = tmp_path(&weights);
    varmap.save(&tmp).map_err(|e| ckpt_err(&weights, e))?;
    std::fs::rename(&tmp, &weights).map_err(|e| ckpt_err(&weights, e))?;
    let config = dir.join(CONFIG_FILE);
    let tmp = tmp_path(&config);
    let text = serde_json::to_string_pretty(cfg).map_err(|e| ckpt_err(&config, e))?;
    std::fs::write(&tmp, text).map_err(|e| ckpt_err(&config, e))?;
    std::fs::rename(&tmp, &config).map_err(|e| ckpt_err(&config, e))
}

fn tmp_path(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}

/// [`load`] on the CPU (for callers that do not otherwise touch candle, such as the app).
pub fn load_cpu(dir: &Path) -> Result<WorldModel> {
    load(dir, &Device::Cpu)
}

/// Loads a checkpoint for inference: the config, then the weights checked against it (a missing
/// or mis-shaped tensor is named in the error).
pub fn load(dir: &Path, device: &Device) -> Result<WorldModel> {
    let cfg = load_config(dir)?;
    let path = dir.join(WEIGHTS_FILE);
    if !path.exists() {
        return Err(ckpt_err(&path, "missing: no weights in this checkpoint"));
    }
    let tensors = candle_core::safetensors::load(&path, device).map_err(|e| ckpt_err(&path, e))?;
    let expected = expected_tensors(&cfg)?;
    for (name, t) in &tensors {
        match expected.iter().find(|(n, _)| n == name) {
            None => {
                return Err(ckpt_err(
                    &path,
                    format!("unexpected tensor `{name}` for this config"),
                ));
            }
            Some((_, shape)) if t.dims() != shape.as_slice() => {
                return Err(ckpt_err(
                    &path,
                    format!(
                        "tensor `{name}` has shape {:?}, the config needs {shape:?}",
                        t.dims()
                    ),
                ));
            }
            Some(_) => {}
        }
        if t.dtype() != DType::F32 {
            return Err(ckpt_err(
                &path,
                format!("tensor `{name}` is {:?}, not F32", t.dtype()),
            ));
        }
    }
    if let Some((name, _)) = expected.iter().find(|(n, _)| !tensors.contains_key(n)) {
        return Err(ckpt_err(&path, format!("tensor `{name}` is missing")));
    }
    let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
    WorldModel::new(&cfg, vb).map_err(|e| ckpt_err(&path, e))
}

/// Names and shapes of the tensors a model of `cfg` has (built once on the CPU, zero-filled).
pub fn expected_tensors(cfg: &ModelConfig) -> Result<Vec<(String, Vec<usize>)>> {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    WorldModel::new(cfg, vb)?;
    let data = varmap
        .data()
        .lock()
        .map_err(|_| ModelError::Input("variable map poisoned".into()))?;
    let mut v: Vec<(String, Vec<usize>)> = data
        .iter()
        .map(|(k, var)| (k.clone(), var.dims().to_vec()))
        .collect();
    v.sort();
    Ok(v)
}
