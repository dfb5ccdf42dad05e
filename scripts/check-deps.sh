#!/usr/bin/env bash
# The dependency rules of ARCHITECTURE.md, checked with `cargo tree`:
# Bevy only in reverie_app; candle only in the ML crates; the oracle, core and memory crates build
# without either.
set -euo pipefail
fail=0
for crate in reverie_core reverie_world reverie_memory reverie_model reverie_train reverie_runtime reverie_cli; do
  cargo metadata --no-deps --format-version 1 2>/dev/null | grep -q "\"name\":\"$crate\"" || continue
  tree=$(cargo tree -p "$crate" -e normal --prefix none --locked 2>/dev/null | awk '{print $1}' | sort -u)
  case $crate in
    reverie_model|reverie_train|reverie_runtime|reverie_cli) banned='^(bevy|bevy_.*)$' ;;
    *) banned='^(bevy|bevy_.*|candle-core|candle-nn|cudarc)$' ;;
  esac
  if bad=$(echo "$tree" | grep -E "$banned"); then
    echo "dependency rule broken: $crate depends on $(echo $bad | tr '\n' ' ')" >&2
    fail=1
  fi
done
[ $fail -eq 0 ] && echo "dependency rules hold"
exit $fail
