//! Grows a checkpoint into a training config's model without training it: the model of
//! `CONFIG`'s `[model]`, every tensor set from `FROM` as `run.init_from` does (grown tensors keep
//! the saved values in their leading part, zeros elsewhere), saved to `OUT`. With
//! configs/train-probe.toml and a stage-1 checkpoint this is the ground-probe model before stage 2:
//! it computes exactly what the stage-1 model did, except that its step gate (resting open) lifts
//! the feet onto any 0.5–1.05 m top the probe shows after the step — the step rule alone, to
//! evaluate beside the trained gate.
//! `cargo run --release -p reverie_train --example grow_checkpoint -- CONFIG FROM OUT`
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::Path;
use std::process::ExitCode;

use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use reverie_model::{WorldModel, checkpoint};
use reverie_train::TrainConfig;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [config, from, out] = args.as_slice() else {
        eprintln!("usage: grow_checkpoint CONFIG FROM OUT");
        return ExitCode::from(2);
    };
    match run(Path::new(config), Path::new(from), Path::new(out)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("grow_checkpoint: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(config: &Path, from: &Path, out: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let cfg = TrainConfig::load(config)?;
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let _model = WorldModel::new(&cfg.model, vb)?;
    reverie_train::train::init_from(&varmap, from)?;
    checkpoint::save(out, &cfg.model, &varmap)?;
    println!(
        "{} grown into {} -> {}",
        from.display(),
        config.display(),
        out.display()
    );
    Ok(())
}
