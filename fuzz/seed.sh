#!/bin/sh
# Fills fuzz/corpus/<target>/ with seeds derived from the golden corpus (bundles/), and
# fuzz/corpus/social/ with well-signed social-kind values.
# Run from anywhere; uses CARGO_TARGET_DIR if set.
set -eu
cd "$(dirname "$0")/.."
cargo run --quiet --example fuzz_seeds -- fuzz/corpus
# The social kinds' seeds are signed values made in the fuzz crate (fuzz/examples/).
cargo run --quiet --manifest-path fuzz/Cargo.toml --example social_seeds -- fuzz/corpus/social
for t in fuzz/corpus/*/; do echo "$(basename "$t"): $(ls "$t" | wc -l) seeds"; done
