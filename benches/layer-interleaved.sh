#!/usr/bin/env bash
# Interleaved rounds of the zstd layer benchmark: `mbi from-dir --compression zstd` and the
# reference pipeline (tar | tee >(sha256) | zstd -3 -T2 | sha256) run in turn, N rounds, and
# the medians are printed. On a VM whose speed drifts between runs this is steadier than
# timing each contender in its own block.
#
#   benches/layer-interleaved.sh DIR [ROUNDS]        (MBI=path/to/mbi, default target/release/mbi)
set -euo pipefail
dir=${1:?usage: $0 DIR [ROUNDS]}
rounds=${2:-10}
mbi=${MBI:-target/release/mbi}
out=$(mktemp -d "${TMPDIR:-/tmp}/mbi-interleaved.XXXXXX")
trap 'rm -rf "$out"' EXIT
tarcmd="tar --sort=name --mtime=@1700000000 --clamp-mtime --owner=0 --group=0 --numeric-owner --format=pax -C $dir -cf - ."
now() { date +%s.%N; }
a=(); b=()
for _ in $(seq "$rounds"); do
  rm -rf "$out/img"
  s=$(now); "$mbi" -q from-dir "$dir" --source-date-epoch 1700000000 --compression zstd --out "oci:$out/img:t" >/dev/null; e=$(now)
  a+=("$(echo "$e - $s" | bc)")
  s=$(now); bash -c "$tarcmd | tee >(openssl sha256 >/dev/null) | zstd -q -3 -T2 | openssl sha256 >/dev/null"; e=$(now)
  b+=("$(echo "$e - $s" | bc)")
done
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
ma=$(median "${a[@]}"); mb=$(median "${b[@]}")
echo "mbi zstd: median ${ma} s; pipeline zstd -3 -T2: median ${mb} s; ratio $(echo "scale=2; $mb / $ma" | bc)"
