#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The first step of `make demo`: builds bin/ebb and, when the tools folder
# lacks it, the local control plane (ebb-kube: etcd, kube-apiserver,
# kube-controller-manager), in one go build (tests/tools/build.sh with
# EBB_TOOLS_CLI), and shows what is happening from the first second: the Go
# modules as they download, then a bar of the packages compiled, with the time
# spent. The build's own messages go to bin/build.log.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mkdir -p "$root/bin"
log="$root/bin/build.log"
: >"$log"

tty=0
[[ -t 1 ]] && tty=1
start=$SECONDS
modules=0 compiled=0 total=0 label="" current="" shown=-1
tail=()

clock() { printf '%dm%02ds' $(((SECONDS - start) / 60)) $(((SECONDS - start) % 60)); }

bar() { # bar <done> <total>: 20 cells
	local n=$(($1 * 20 / ($2 > 0 ? $2 : 1))) s="" i
	((n > 20)) && n=20
	for ((i = 0; i < 20; i++)); do
		if ((i < n)); then s+="█"; else s+="░"; fi
	done
	printf '%s' "$s"
}

status() { # the one line that describes now
	if [[ -z "$label" ]]; then
		printf 'Go modules: %d downloaded  %s  %s' "$modules" "$current" "$(clock)"
	else
		printf 'Compiling %s [%s] %4d/%d packages  %s  %s' "$label" "$(bar "$compiled" "$total")" \
			"$compiled" "$total" "$(clock)" "${current:0:48}"
	fi
}

draw() {
	if ((tty)); then
		printf '\r\033[K%s' "$(status)"
		return
	fi
	# Off a terminal (CI logs): a line at each tenth of the build, and every
	# 25 modules.
	local step
	if [[ -z "$label" ]]; then
		step=$((modules / 25))
	else
		step=$((1000 + compiled * 10 / (total > 0 ? total : 1)))
	fi
	if ((step != shown)); then
		shown=$step
		status
		echo
	fi
}

finish() { # finish <message>: ends the status line with a message of its own
	if ((tty)); then printf '\r\033[K'; fi
	echo "$1"
}

is_package() { # a line of go build -v naming a non-standard package
	local first="${1%%/*}"
	[[ -n "$1" && "$1" != *[[:space:]:]* && "$first" == *.* ]]
}

echo "Building bin/ebb (and, the first time, the local Kubernetes control plane; details in bin/build.log)"
exec 3< <(EBB_TOOLS_PROGRESS=1 EBB_TOOLS_GEN=0 EBB_TOOLS_CLI="$root/bin/ebb" bash "$root/tests/tools/build.sh" 2>&1 >/dev/null)
builder=$!
draw
while :; do
	if IFS= read -r -t 1 line <&3; then
		tail+=("$line")
		((${#tail[@]} > 20)) && tail=("${tail[@]:1}")
		case "$line" in
		"go: downloading "*)
			modules=$((modules + 1))
			current="${line#go: downloading }"
			;;
		"ebb-tools: packages "*)
			total="${line##* }"
			label="${line#ebb-tools: packages }"
			label="${label% *}"
			compiled=0 current=""
			;;
		"ebb-tools: built "*)
			finish "${line#ebb-tools: } ($(clock) since start)"
			label="" current="" shown=$((modules / 25))
			;;
		*)
			if [[ -n "$label" ]] && is_package "$line"; then
				compiled=$((compiled + 1))
				current="$line"
			else
				echo "$line" >>"$log"
			fi
			;;
		esac
		draw
	elif (($? > 128)); then
		draw # a second without output: the clock still moves
	else
		break
	fi
done
if ! wait "$builder"; then
	finish "The build failed; its last lines:"
	printf '%s\n' "${tail[@]}" >&2
	exit 1
fi
finish "bin/ebb is ready ($(clock))"
