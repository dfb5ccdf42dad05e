//! Times the default world model: one inference step (batch 1) and one training step (batch 8,
//! forward + backward), without the memory. `cargo run --release --example model_speed -p reverie_model`.
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use reverie_core::Action;
use reverie_model::model::{GUIDE_CHANNELS, actions_tensor};
use reverie_model::{ModelConfig, State, WorldModel};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // The first argument: a model config as JSON, or a checkpoint directory (trained weights).
    let dev = Device::Cpu;
    let vm = VarMap::new();
    let arg = std::env::args().nth(1);
    let (cfg, model) = match arg.as_deref() {
        Some(dir) if std::path::Path::new(dir).is_dir() => {
            let m = reverie_model::checkpoint::load(std::path::Path::new(dir), &dev).unwrap();
            (m.config().clone(), m)
        }
        other => {
            let cfg: ModelConfig = match other {
                Some(json) => serde_json::from_str(json).unwrap(),
                None => ModelConfig::default(),
            };
            let m = WorldModel::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &dev)).unwrap();
            (cfg, m)
        }
    };
    let params: usize = vm.all_vars().iter().map(|v| v.elem_count()).sum();
    println!(
        "params {params}, {:.0} MMAC per step",
        model.macs_per_step() as f64 / 1e6
    );
    // `model_speed CONFIG_JSON infer` times inference only (for profiling).
    let batches: &[usize] = if std::env::args().nth(2).as_deref() == Some("infer") {
        &[1]
    } else {
        &[1, 8]
    };
    for &b in batches {
        let (gh, gw) = cfg.grid();
        let g = Tensor::rand(
            0f32,
            1f32,
            (b, gh, gw, cfg.patch * cfg.patch * 2 * GUIDE_CHANNELS),
            &dev,
        )
        .unwrap();
        let acts = vec![Action::keys(reverie_core::Keys::FORWARD); b];
        let a = actions_tensor(&acts, &dev).unwrap();
        let code = Tensor::rand(0f32, 1f32, (b, cfg.height, cfg.width, 1), &dev).unwrap();
        // The motion context the model reads (the ground probe, the arc's previous motion).
        let context = vec![0f32; cfg.motion_context_len()];
        let probe = model.probe_tensor(&vec![&context[..]; b]).unwrap();
        let mut times = Vec::new();
        let mut fwd = Vec::new();
        let iters = if b == 1 { 600 } else { 12 };
        // `… infer carry` keeps the recurrent state across steps (as a session does).
        let carry = std::env::args().nth(3).as_deref() == Some("carry");
        // `… infer carry GAP_MS` sleeps between steps, as a 24 Hz runtime does.
        let gap = std::env::args()
            .nth(4)
            .and_then(|g| g.parse::<u64>().ok())
            .map(std::time::Duration::from_millis);
        let mut s = State::zeros(&cfg, b, &dev).unwrap();
        for i in 0..iters {
            if !carry {
                s = State::zeros(&cfg, b, &dev).unwrap();
            }
            if let Some(g) = gap {
                std::thread::sleep(g);
            }
            let t = Instant::now();
            if b == 1 {
                let _m = model.predict_motion(&s, &acts, &code, &probe).unwrap();
                let o = model.generate(&mut s, &a, &g).unwrap();
                let _ = o.frame(0).unwrap();
            } else {
                let m = model.predict_motion(&s, &acts, &code, &probe).unwrap();
                let o = model.generate(&mut s, &a, &g).unwrap();
                let _ = o.image.sum_all().unwrap().to_scalar::<f32>().unwrap();
                if i >= 2 {
                    fwd.push(t.elapsed().as_secs_f64() * 1e3);
                }
                let loss = (o.image.abs().unwrap().mean_all().unwrap()
                    + m.sqr().unwrap().mean_all().unwrap())
                .unwrap();
                let _g = loss.backward().unwrap();
            }
            if i >= 2 {
                times.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
        times.sort_by(f64::total_cmp);
        let p50 = times[times.len() / 2];
        if b == 1 {
            let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
            println!(
                "inference batch 1: p50 {p50:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                at(0.9),
                at(0.99),
                times[times.len() - 1]
            );
        } else {
            fwd.sort_by(f64::total_cmp);
            println!("forward batch {b}: p50 {:.1} ms", fwd[fwd.len() / 2]);
            println!(
                "train step batch {b}: p50 {p50:.1} ms = {:.1} samples/s",
                b as f64 / p50 * 1e3
            );
        }
    }
}
