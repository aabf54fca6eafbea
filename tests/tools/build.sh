#!/usr/bin/env bash
# Builds the test control plane (etcd, kube-apiserver, kube-controller-manager)
# and controller-gen from the Go module proxy into a cache folder, once.
# With EBB_TOOLS_NODE=1 it also builds what a real node of tests/cluster runs
# beside containerd: kubelet, kube-scheduler, kube-proxy, a small CoreDNS and
# metrics-server.
#
#   tests/tools/build.sh [DIR]      default DIR: $EBB_TOOLS_DIR or ~/.cache/ebb/tools-v1.37.2
#
# A binary already present is not rebuilt. Prints DIR on stdout when done.
#
# With EBB_TOOLS_PROGRESS=1 it also reports, on stderr, for each binary it
# builds, "ebb-tools: packages <binary> <n>" (the non-standard packages the
# binary is made of) and then the name of every package as it is compiled (go build
# -v): what `ebb demo` draws its progress bar from.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
kube_version="v1.37.2"
dir="${1:-${EBB_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ebb/tools-${kube_version}}}"
mkdir -p "$dir"

# One build at a time: a second caller waits for the first and then finds the
# binaries built.
exec 9>"$dir/.lock"
flock 9

say() { echo "ebb-tools: $*" >&2; }

build() { # build <module folder> <output name> <package> [ldflags]
	local mod="$1" out="$2" pkg="$3" ldflags="${4:-}"
	if [[ -x "$dir/$out" ]]; then
		return 0
	fi
	say "building $out (first run only; kube-apiserver and kube-controller-manager take several minutes on 2 cores)"
	local start=$SECONDS verbose=()
	if [[ "${EBB_TOOLS_PROGRESS:-}" == 1 ]]; then
		say "packages $out $(cd "$here/$mod" && CGO_ENABLED=0 go list -deps -f '{{if not .Standard}}{{.ImportPath}}{{end}}' "$pkg" | grep -c .)"
		verbose=(-v)
	fi
	(cd "$here/$mod" && CGO_ENABLED=0 go build "${verbose[@]}" -trimpath -ldflags "-s -w $ldflags" -o "$dir/$out.tmp.$$" "$pkg")
	mv "$dir/$out.tmp.$$" "$dir/$out"
	say "built $out in $((SECONDS - start)) s"
}

kube_ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	kube_ldflags+=" -X $pkg.gitVersion=${kube_version}"
	kube_ldflags+=" -X $pkg.gitMajor=1 -X $pkg.gitMinor=37"
	kube_ldflags+=" -X $pkg.gitTreeState=clean"
	kube_ldflags+=" -X $pkg.buildDate=2026-01-01T00:00:00Z"
done

build etcd etcd go.etcd.io/etcd/server/v3
build kube kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$kube_ldflags"
build kube kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "$kube_ldflags"
build gen controller-gen sigs.k8s.io/controller-tools/cmd/controller-gen
if [[ "${EBB_TOOLS_NODE:-}" == 1 ]]; then
	build kube kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler "$kube_ldflags"
	build kube kubelet k8s.io/kubernetes/cmd/kubelet "$kube_ldflags"
	build kube kube-proxy k8s.io/kubernetes/cmd/kube-proxy "$kube_ldflags"
	build coredns coredns github.com/ebbscale/ebb/tests/tools/coredns
	build metrics-server metrics-server sigs.k8s.io/metrics-server/cmd/metrics-server
fi

echo "$dir"
