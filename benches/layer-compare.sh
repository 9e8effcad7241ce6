#!/usr/bin/env bash
# Reference pipelines for the layer benchmark (benches/layer.rs), timed with hyperfine.
#
#   benches/layer-compare.sh DIR [SOURCE_DATE_EPOCH]
#
# DIR is an unpacked root filesystem on tmpfs (e.g. an mmdebstrap --variant=apt bookworm tree).
# Each pipeline produces a deterministic tar and hashes both the tar (diff_id) and the
# compressed stream (blob digest), which is what `LayerWriter::write_tree_to` does in one
# process. `cargo bench --bench layer` runs the same pipelines in the same run as mbi-layer and
# prints the ratios; this script is for checking them by hand.
set -euo pipefail
dir=${1:?usage: $0 DIR [SOURCE_DATE_EPOCH]}
n=${2:-1700000000}
hash=${HASH:-sha256sum}
tarcmd="tar --sort=name --mtime=@$n --clamp-mtime --owner=0 --group=0 --numeric-owner --format=pax -C $dir -cf - ."
hyperfine --shell=bash --warmup 1 --runs "${RUNS:-5}" \
  -n tar          "$tarcmd | tee >($hash >/dev/null) | $hash" \
  -n gzip-6       "$tarcmd | tee >($hash >/dev/null) | gzip -6 -n | $hash" \
  -n pigz-6       "$tarcmd | tee >($hash >/dev/null) | pigz -6 -n | $hash" \
  -n zstd-3-T2    "$tarcmd | tee >($hash >/dev/null) | zstd -q -3 -T2 | $hash"
