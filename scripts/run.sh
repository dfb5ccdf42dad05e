#!/usr/bin/env bash
# The README's main job: opens the game on the bundled default world (meadow) with the default
# checkpoint. On a machine without a display it runs the same game on a virtual display (Xvfb)
# for 30 s with a scripted walk (examples/scripts/play.jsonl) and saves what the window showed.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p reverie_app
app=target/release/reverie-app
if [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; then
  exec "$app" "$@"
fi
echo "run: no display here; playing the game on a virtual display (Xvfb) for 30 s with a scripted walk"
mkdir -p target/reverie
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
xvfb-run -a -s "-screen 0 1280x800x24" "$app" --script examples/scripts/play.jsonl \
  --exit-after-secs 30 --report target/reverie/app-report.json \
  --screenshot 'target/reverie/app-{tick}.png' --screenshot-at-tick 24 --screenshot-at-tick 360 \
  --screenshot-at-tick 690 "$@"
echo "run: window screenshots target/reverie/app-24.png, app-360.png, app-690.png;" \
     "frames on screen and runtime numbers in target/reverie/app-report.json"
