#!/bin/bash
# The fuzz targets' speed (Documentation/fuzzing.md), on this machine:
#   exec/s     libFuzzer's executions per second over SECONDS of fuzzing
#              from the seeds (a fuzzing build: -DLKL_FUZZ=ON)
#   steps      where one input's time goes: each step's median over the
#              seeds run ROUNDS times (any build; LKL_FUZZ_DEBUG timings):
#              boot, mount, walk, change, unmount, halt (the halt is the
#              in-process reboot: releasing the kernel, restoring its data)
#
#   bench/fuzz_bench.sh [FUZZ_BUILD_DIR [PLAIN_BUILD_DIR [SECONDS [ROUNDS]]]]
set -euo pipefail

fuzz_build=${1:-build-fuzz}
plain_build=${2:-build}
seconds=${3:-30}
rounds=${4:-20}
work=$(mktemp -d /tmp/fuzz-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT

printf '%-6s %8s   %s\n' fs exec/s "median ms per step over $rounds rounds of the seeds"
for fs in xfs ext4 btrfs vfat; do
	rate=-
	if [ -x "$fuzz_build/fuzz/fuzz_$fs" ]; then
		mkdir -p "$work/$fs"
		rate=$("$fuzz_build/fuzz/fuzz_$fs" -max_total_time="$seconds" -print_final_stats=1 \
			"$work/$fs" "$fuzz_build/fuzz/seeds/$fs" 2>&1 |
			awk '/average_exec_per_sec/ { print $2 }')
	fi
	steps=-
	if [ -x "$plain_build/fuzz/fuzz_$fs" ]; then
		inputs=()
		for ((i = 0; i < rounds; i++)); do
			inputs+=("$plain_build/fuzz/seeds/$fs")
		done
		steps=$(LKL_FUZZ_DEBUG=1 "$plain_build/fuzz/fuzz_$fs" "${inputs[@]}" 2>&1 >/dev/null |
			awk '/^  [a-z]+: [0-9.]+ ms$/ {
				step = $1; sub(":", "", step)
				if (!(step in n)) order[++k] = step
				v[step, ++n[step]] = $2
			}
			END {
				for (i = 1; i <= k; i++) {
					s = order[i]; m = n[s]
					# median by insertion sort: a few hundred values
					for (a = 2; a <= m; a++) {
						x = v[s, a]
						for (b = a - 1; b >= 1 && v[s, b] > x; b--)
							v[s, b + 1] = v[s, b]
						v[s, b + 1] = x
					}
					printf "%s %.2f  ", s, (m % 2) ? v[s, (m + 1) / 2] : (v[s, m / 2] + v[s, m / 2 + 1]) / 2
				}
			}')
	fi
	printf '%-6s %8s   %s\n' "$fs" "$rate" "$steps"
done
