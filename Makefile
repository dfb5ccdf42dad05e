# Reverie: the two commands of the README.
#   make run   - sets up the machine, builds, and runs the main job on the bundled default world
#   make test  - sets up the machine, then formatting, lints, dependency rules and every test
.PHONY: run test setup bench stills

CARGO ?= cargo

setup:
	@bash scripts/setup.sh

run: setup
	bash scripts/run.sh

test: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	bash scripts/check-deps.sh
	$(CARGO) test --workspace --locked

bench: setup
	$(CARGO) bench --locked --bench oracle
	$(CARGO) run --release --locked -p reverie_cli --bin reverie -- bench --seconds 60 --json target/reverie/bench.json

stills: setup
	$(CARGO) run --release --locked --example stills -- assets/stills 320x240
