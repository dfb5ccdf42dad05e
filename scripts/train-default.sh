#!/usr/bin/env bash
# The documented training command of the default checkpoint (assets/models/default):
# data (datagen, resumable) → training in two stages (resumable: pass --resume to continue) →
# evaluation on held-out seeds of every bundled world → the shipped directory.
#   stage 1: configs/train-default.toml → runs/default (about 1.5 h on 2 cores)
#   stage 2: configs/train-probe.toml   → runs/probe, starting from runs/default/final (the
#            motion head gains the ground probe; about 40 min)
#
#   bash scripts/train-default.sh            # from scratch
#   bash scripts/train-default.sh --resume   # continue an interrupted run (a finished stage,
#                                            # one with a final/ checkpoint, is kept as it is)
#
# World seeds: training 11, 12, 13; validation during training 901; evaluation ≥ 1,000,000.
set -euo pipefail
cd "$(dirname "$0")/.."
R=target/release/reverie
cargo build --release --locked -p reverie_cli
export MIMALLOC_PURGE_DELAY=-1 MIMALLOC_ARENA_EAGER_COMMIT=1
for seed in 11 12 13; do
  for w in meadow village forest canyon; do
    $R datagen --world worlds/$w.toml --seed $seed --episodes 6 --steps 480 --policy mixed \
      --out data/train/$w-$seed --resume
  done
done
for w in meadow village forest canyon; do
  $R datagen --world worlds/$w.toml --seed 901 --episodes 2 --steps 480 --policy mixed \
    --out data/heldout/$w-901 --resume
done
mode=${1:-}
stage() { # CONFIG OUT
  if [ "$mode" != "--resume" ]; then
    $R train --config "$1" --out "$2" --overwrite
  elif [ ! -f "$2/final/model.safetensors" ]; then
    $R train --config "$1" --out "$2" --resume
  fi
}
stage configs/train-default.toml runs/default
stage configs/train-probe.toml runs/probe
# Every protocol on meadow (10 s and 60 s loops, the 10-minute stability rollout) in the
# background; fidelity, control and the 60 s revisit on the other bundled worlds beside it (an
# evaluation runs on one thread; about 15 min in all on 2 cores).
$R eval --checkpoint runs/probe/final --world worlds/meadow.toml --json runs/probe/eval-meadow.json \
  --loops 10,60 --stability-minutes 10 > runs/probe/eval-meadow.log 2>&1 &
meadow=$!
for w in village forest canyon; do
  $R eval --checkpoint runs/probe/final --world worlds/$w.toml --json runs/probe/eval-$w.json \
    --loops 60 --stability-minutes 0
done
if ! wait $meadow; then
  cat runs/probe/eval-meadow.log >&2
  exit 1
fi
dst=assets/models/default
mkdir -p $dst
cp runs/probe/final/model.safetensors runs/probe/final/model.json runs/probe/final/train.toml \
   runs/probe/metrics.csv runs/probe/loss.png runs/probe/summary.json $dst/
cp runs/default/final/train.toml $dst/stage1-train.toml
cp runs/default/metrics.csv $dst/stage1-metrics.csv
cp runs/default/loss.png $dst/stage1-loss.png
cp runs/default/summary.json $dst/stage1-summary.json
cp runs/probe/eval-*.json runs/probe/eval-*.png $dst/
echo "default checkpoint in $dst"
