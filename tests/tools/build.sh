#!/usr/bin/env bash
# Builds the local control plane and controller-gen from the Go module proxy
# into a cache folder, once:
#
#   ebb-kube       etcd, kube-apiserver and kube-controller-manager in one
#                  binary (internal/localcluster/cmd/ebb-kube), linked as
#                  those three names;
#   controller-gen
#
# ebb-kube is built from Ebb's own module, with the flags of a plain
# `go build`, so it shares the Go build cache with the ebb CLI: the packages
# both use (client-go, apimachinery, the API types, apiserver) are compiled
# once.
#
# With EBB_TOOLS_NODE=1 it also builds what a real node of tests/cluster runs
# beside containerd: ebb-kube-node (kubelet, kube-scheduler, kube-proxy, linked
# as those names), a small CoreDNS and metrics-server.
#
#   tests/tools/build.sh [DIR]      default DIR: $EBB_TOOLS_DIR or ~/.cache/ebb/tools-v1.37.2
#
# A program already present is not rebuilt. Prints DIR on stdout when done.
#
# With EBB_TOOLS_GEN=0 it leaves controller-gen out (the demo does not need
# it). With EBB_TOOLS_CLI=<path> it also builds the ebb CLI to path, in the same
# go build as ebb-kube when that is built: `make demo` (hack/demo-build.sh).
#
# With EBB_TOOLS_PROGRESS=1 it also reports, on stderr, for each binary it
# builds, "ebb-tools: packages <binary> <n>" (the non-standard packages the
# binary is made of) and then the name of every package as it is compiled (go build
# -v): what `ebb demo` draws its progress bar from.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
kube_version="v1.37.2"
dir="${1:-${EBB_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ebb/tools-${kube_version}}}"
mkdir -p "$dir"

# One build at a time: a second caller waits for the first and then finds the
# binaries built.
exec 9>"$dir/.lock"
if ! flock -n 9; then
	echo "ebb-tools: waiting for another build in $dir to finish" >&2
	flock 9
fi

trap 'rm -rf "$dir"/.build.$$.*' EXIT

# The compiler spends less time collecting garbage with a larger heap: GOGC=400
# compiles about 8 % faster on 2 cores (k8s.io/api and client-go: 91.6 s
# against 99.3 s) for about 0.2 GB more per compile. GOGC is not part of the
# build cache's keys, so the packages compiled are the same.
export GOGC="${GOGC:-400}"

say() { echo "ebb-tools: $*" >&2; }

# present <name>...: all the named programs are in dir and runnable.
present() {
	local n
	for n in "$@"; do
		[[ -x "$dir/$n" ]] || return 1
	done
}

# gobuild <module folder> <label> <go build flags>... -- <package>...: builds
# the packages' programs in one go build into $out, a fresh folder in dir,
# unless $dest names the output (a single program, built in place: go build
# then skips the link when the program is up to date).
gobuild() {
	local mod="$1" label="$2"
	shift 2
	local flags=()
	while [[ "$1" != -- ]]; do
		flags+=("$1")
		shift
	done
	shift
	say "building $label${first_run:-}"
	local start=$SECONDS verbose=()
	if [[ "${EBB_TOOLS_PROGRESS:-}" == 1 ]]; then
		say "packages $label $(cd "$mod" && go list -deps -f '{{if not .Standard}}{{.ImportPath}}{{end}}' "$@" | grep -c .)"
		verbose=(-v)
	fi
	out="$dir/.build.$$.$RANDOM"
	mkdir "$out"
	(cd "$mod" && go build "${verbose[@]}" "${flags[@]}" -o "${dest:-$out/}" "$@")
	say "built $label in $((SECONDS - start)) s"
}

# tool <module folder under tests/tools> <output name> <package>: a program
# from a module of its own, built static.
tool() {
	present "$2" && return 0
	first_run=" (first run only)" CGO_ENABLED=0 gobuild "$here/$1" "$2" -trimpath -ldflags "-s -w" -- "$3"
	mv "$out/$(basename "$3")" "$dir/$2"
	rm -rf "$out"
}

# multicall <package> <name>...: a program of Ebb's module that is each of
# the names it is linked as, in dir under its own name (the package's last
# element). With EBB_TOOLS_CLI set, the ebb CLI is built in the same go build
# (the two share most of their packages) and moved there.
multicall() {
	local pkg="$1" bin
	bin="$(basename "$1")"
	shift
	if present "$@" || present "$bin"; then
		link "$bin" "$@"
		return 0
	fi
	local pkgs=("$pkg") label="$bin"
	if [[ -n "${EBB_TOOLS_CLI:-}" ]]; then
		pkgs=(./cmd/ebb "$pkg") label="ebb and $bin"
	fi
	first_run=" (first run only; several minutes on 2 cores)" gobuild "$root" "$label" -ldflags "-s -w $kube_ldflags" -- "${pkgs[@]}"
	mv "$out/$bin" "$dir/$bin"
	link "$bin" "$@"
	if [[ -n "${EBB_TOOLS_CLI:-}" ]]; then
		mv "$out/ebb" "$EBB_TOOLS_CLI"
		EBB_TOOLS_CLI=""
	fi
	rm -rf "$out"
}

# link <program> <name>...: each name in dir runs program (names already
# there as programs of their own, from an older build, are kept).
link() {
	local bin="$1" n
	shift
	for n in "$@"; do
		[[ -x "$dir/$n" ]] || ln -sfn "$bin" "$dir/$n"
	done
}

kube_ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	kube_ldflags+=" -X $pkg.gitVersion=${kube_version}"
	kube_ldflags+=" -X $pkg.gitMajor=1 -X $pkg.gitMinor=37"
	kube_ldflags+=" -X $pkg.gitTreeState=clean"
	kube_ldflags+=" -X $pkg.buildDate=2026-01-01T00:00:00Z"
done

multicall ./internal/localcluster/cmd/ebb-kube etcd kube-apiserver kube-controller-manager
if [[ -n "${EBB_TOOLS_CLI:-}" ]]; then
	# The control plane was there: the CLI alone.
	dest="$EBB_TOOLS_CLI" gobuild "$root" ebb -- ./cmd/ebb
	rm -rf "$out"
fi
if [[ "${EBB_TOOLS_GEN:-1}" != 0 ]]; then
	tool gen controller-gen sigs.k8s.io/controller-tools/cmd/controller-gen
fi
if [[ "${EBB_TOOLS_NODE:-}" == 1 ]]; then
	multicall ./internal/localcluster/cmd/ebb-kube-node kubelet kube-scheduler kube-proxy
	tool coredns coredns github.com/ebbscale/ebb/tests/tools/coredns
	tool metrics-server metrics-server sigs.k8s.io/metrics-server/cmd/metrics-server
fi

echo "$dir"
