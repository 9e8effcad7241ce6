#!/usr/bin/env bash
# Whole `apt`-variant image, warm package cache, on tmpfs: `mbi build` against `mmdebstrap
# --variant=apt` building the same package set from the same packages (fed to mmdebstrap's apt
# cache with a setup hook, so neither downloads), measured with hyperfine in the same run.
#
#   benches/build-compare.sh [SPEC]     # default examples/debian-bookworm.yaml (host sources)
#
# Both sides re-check the signed indexes (mbi with conditional requests, mmdebstrap with
# `apt-get update` in its fresh root).
#
# Needs: a release build of mbi (cargo build --release), mmdebstrap, hyperfine, jq, and the
# host's Debian apt sources. Work files go to /dev/shm, and so do both tools' temporary roots
# (TMPDIR): the benchmark compares them on tmpfs.
set -euo pipefail
cd "$(dirname "$0")/.."
spec=${1:-examples/debian-bookworm.yaml}
mbi=target/release/mbi
work=$(mktemp -d /dev/shm/mbi-build-compare.XXXXXX)
trap 'rm -rf "$work"' EXIT
export TMPDIR="$work/tmp"
mkdir -p "$TMPDIR"
cache=${MBI_BENCH_CACHE:-$work/cache}

# Warm the cache and record the package set.
"$mbi" build -q "$spec" --cache-dir "$cache" --write-lock "$work/lock.json" --out "oci:$work/warm:latest" >/dev/null
debs="$work/debs"
mkdir -p "$debs"
jq -r '.architectures[] | .packages[] | "\(.sha256 | sub("sha256:"; "")) \(.filename)"' "$work/lock.json" |
  while read -r hex file; do cp "$cache/debs/sha256/$hex" "$debs/$(basename "$file")"; done
count=$(ls "$debs" | wc -l)
suite=$(jq -r '.indexes[0].suite' "$work/lock.json")
# The same sources as mbi read (the host's), as files mmdebstrap takes in place of a mirror.
mirrors=""
for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list; do
  [ -s "$f" ] && mirrors="$mirrors $f"
done
echo "package set: $count packages; mmdebstrap $suite from $mirrors" >&2

# Two like-for-like pairs: a compressed result (mbi's gzip OCI image against mmdebstrap's
# .tar.gz, which it pipes through gzip) and an uncompressed one (mbi with `compression: none`
# against mmdebstrap's plain .tar).
plain="$work/spec-none.yaml"
grep -v '^compression:' "$spec" >"$plain"
echo "compression: none" >>"$plain"
mm="mmdebstrap -q --variant=apt --skip=cleanup/apt/cache --setup-hook='mkdir -p \"\$1\"/var/cache/apt/archives' --setup-hook='sync-in $debs /var/cache/apt/archives/' $suite"
hyperfine --warmup 1 --runs "${RUNS:-5}" \
  --prepare "rm -rf $work/out $work/mm.tar $work/mm.tar.gz" \
  -n "mbi build (gzip layer)" "$mbi build -q $spec --cache-dir $cache --out oci:$work/out:latest" \
  -n "mmdebstrap --variant=apt OUT.tar.gz" "$mm $work/mm.tar.gz $mirrors" \
  -n "mbi build (uncompressed layer)" "$mbi build -q $plain --cache-dir $cache --out oci:$work/out:latest" \
  -n "mmdebstrap --variant=apt OUT.tar" "$mm $work/mm.tar $mirrors"
