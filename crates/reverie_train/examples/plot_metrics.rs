//! Redraws a training run's loss curve from its metrics CSV:
//! `cargo run --release -p reverie_train --example plot_metrics -- runs/NAME/metrics.csv out.png`.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [csv, png] = args.as_slice() else {
        #[allow(clippy::print_stderr)]
        {
            eprintln!("usage: plot_metrics METRICS.csv OUT.png");
        }
        return ExitCode::from(2);
    };
    match reverie_train::train::plot_metrics(csv, png) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("error: {e}");
            }
            ExitCode::FAILURE
        }
    }
}
