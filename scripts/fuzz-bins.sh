#!/usr/bin/env bash
# Rewrites the [[bin]] list of fuzz/Cargo.toml from fuzz/fuzz_targets/*.rs (one target per file).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
head=$(sed '/^# Targets are added below/q' Cargo.toml)
{
  printf '%s\n' "$head"
  for f in fuzz_targets/*.rs; do
    n=$(basename "$f" .rs)
    printf '\n[[bin]]\nname = "%s"\npath = "%s"\ntest = false\ndoc = false\nbench = false\n' "$n" "$f"
  done
} > Cargo.toml.new
mv Cargo.toml.new Cargo.toml
