#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Measures what a new user waits for: `make demo` on a fresh clone of REPO
# with empty Go module, build and tools caches (all under DIR, default
# /tmp/cold, removed first). Every line of the output is prefixed with the
# seconds since the start; the figure is the line of the first record
# ("produced … records"). docs/benchmarks.md, "First run".
#
#   hack/cold-demo.sh [REPO] [DIR]      REPO defaults to this checkout
set -u
repo="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
c="${2:-/tmp/cold}"
rm -rf "$c" && mkdir -p "$c"
git clone -q "$repo" "$c/ebb" && cd "$c/ebb" || exit 1
export GOMODCACHE="$c/mod" GOCACHE="$c/gocache" EBB_TOOLS_DIR="$c/tools"
echo "commit $(git rev-parse --short HEAD); $(uptime)"
t0=${EPOCHREALTIME/./}
make demo 2>&1 | while IFS= read -r l; do
	t=${EPOCHREALTIME/./}
	printf '%7.1f %s\n' "$(((t - t0) / 100000))e-1" "$l"
done
echo "end; $(uptime)"
