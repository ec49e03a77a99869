#!/bin/sh
# Fills fuzz/corpus/<target>/ with seeds derived from the golden corpus (bundles/).
# Run from anywhere; uses CARGO_TARGET_DIR if set.
set -eu
cd "$(dirname "$0")/.."
cargo run --quiet --example fuzz_seeds -- fuzz/corpus
for t in fuzz/corpus/*/; do echo "$(basename "$t"): $(ls "$t" | wc -l) seeds"; done
