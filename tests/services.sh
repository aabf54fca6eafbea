#!/usr/bin/env bash
# Makes sure the services Ebb's tests talk to are up on loopback, starting
# those that are down. Quick and idempotent when all is fine.
#
#   RabbitMQ     127.0.0.1:5672, management API on 15672 (guest/guest)
#   PostgreSQL   127.0.0.1:5432
#   MariaDB      127.0.0.1:3306
#   Redis        127.0.0.1:6379
#   NATS         127.0.0.1:4222 (JetStream)
#   Prometheus   the Debian package's binary on PATH; not started here: the
#                tests start their own.
#   Node         Debian's containerd, runc, containernetworking-plugins,
#                iptables, conntrack, for the real node of tests/cluster;
#                installed, not started.
#
# With CI=true a service that is still down is an error; elsewhere it is a
# warning, and the tests that need it fail and say so.
set -euo pipefail

say() { echo "services: $*" >&2; }
failed=()

port_open() { # port_open <port>
	timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

wait_for() { # wait_for <seconds> <command...>: polls the command every 0.5 s
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		if ((SECONDS >= deadline)); then
			return 1
		fi
		sleep 0.5
	done
}

ensure_port() { # ensure_port <name> <port> <seconds> <start command...>
	local name="$1" port="$2" secs="$3"
	shift 3
	if port_open "$port"; then
		return 0
	fi
	say "$name is not answering on 127.0.0.1:$port; starting it: $*"
	"$@" >&2 || say "$name: start command failed (exit $?)"
	if wait_for "$secs" port_open "$port"; then
		say "$name is up on 127.0.0.1:$port"
	else
		say "$name is still not answering on 127.0.0.1:$port after ${secs} s"
		failed+=("$name (127.0.0.1:$port)")
		return 1
	fi
}

start_postgresql() {
	local version
	version="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)"
	[[ -n "$version" ]] || { say "no PostgreSQL cluster in /etc/postgresql"; return 1; }
	pg_ctlcluster --skip-systemctl-redirect "$version" main start
}

start_redis() {
	mkdir -p /var/lib/redis /var/log/redis
	redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
		--dir /var/lib/redis --logfile /var/log/redis/ci.log
}

start_nats() {
	mkdir -p /var/lib/nats-server
	start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
		-a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
}

start_mariadb() {
	start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
}

rabbitmq_api() {
	curl -fsS -o /dev/null --max-time 2 -u guest:guest http://127.0.0.1:15672/api/overview 2>/dev/null
}

ensure_rabbitmq_management() {
	if rabbitmq_api; then
		return 0
	fi
	if ! port_open 15672; then
		say "RabbitMQ management is not answering on 127.0.0.1:15672; enabling rabbitmq_management"
		rabbitmq-plugins enable rabbitmq_management >&2 || say "rabbitmq-plugins enable failed (exit $?)"
	fi
	if wait_for 90 rabbitmq_api; then
		say "RabbitMQ management API is up on 127.0.0.1:15672"
	else
		say "RabbitMQ management API (http://127.0.0.1:15672/api/overview, guest:guest) still not answering after 90 s"
		failed+=("RabbitMQ management (127.0.0.1:15672)")
	fi
}

# apt_install_quietly <package...>: installs Debian packages without letting
# their postinst start a packaged service (a policy-rc.d that says no, for
# the time of the install), retrying once after apt-get update.
apt_install_quietly() {
	local policy=/usr/sbin/policy-rc.d added_policy=""
	if [[ ! -e "$policy" ]]; then
		printf '#!/bin/sh\n# tests/services.sh: no service starts during this install\nexit 101\n' >"$policy"
		chmod 755 "$policy"
		added_policy=1
	fi
	local apt=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@")
	if ! "${apt[@]}" >&2; then
		say "install failed; running apt-get update and trying again"
		apt-get update -q >&2 && "${apt[@]}" >&2 || true
	fi
	if [[ -n "$added_policy" ]]; then
		rm -f "$policy"
	fi
}

# Installs Debian's prometheus without letting its postinst start the
# packaged service: the tests run their own Prometheus on ports they choose.
ensure_prometheus() {
	if command -v prometheus >/dev/null; then
		return 0
	fi
	say "prometheus not on PATH; installing Debian's prometheus package"
	apt_install_quietly prometheus
	# Should the packaged service (on :9090) have started anyway, stop it;
	# only it, by its pid file, never a test's own Prometheus.
	if [[ -s /run/prometheus/prometheus.pid && -x /etc/init.d/prometheus ]]; then
		say "stopping the prometheus service the package started"
		/etc/init.d/prometheus stop >&2 || true
	fi
	if command -v prometheus >/dev/null; then
		say "installed $(prometheus --version 2>&1 | head -n1)"
	else
		failed+=("prometheus binary (Debian package prometheus)")
	fi
}

# The real node of tests/cluster and tests/incluster runs containers with
# Debian's containerd and runc, wires pods with the CNI bridge plugin and
# routes Services with kube-proxy's iptables rules. Installed with no
# service started: the tests run their own containerd.
ensure_node_packages() {
	local missing=()
	command -v containerd >/dev/null || missing+=(containerd)
	command -v runc >/dev/null || missing+=(runc)
	[[ -x /usr/lib/cni/bridge ]] || missing+=(containernetworking-plugins)
	command -v iptables >/dev/null || missing+=(iptables)
	command -v conntrack >/dev/null || missing+=(conntrack)
	if ((${#missing[@]} == 0)); then
		return 0
	fi
	say "installing Debian's ${missing[*]} for the test node"
	apt_install_quietly "${missing[@]}"
	command -v containerd >/dev/null && command -v runc >/dev/null && [[ -x /usr/lib/cni/bridge ]] &&
		command -v iptables >/dev/null || failed+=("node packages (containerd, runc, containernetworking-plugins, iptables)")
}

ensure_port RabbitMQ 5672 120 rabbitmq-server -detached && ensure_rabbitmq_management || true
ensure_port PostgreSQL 5432 60 start_postgresql || true
ensure_port MariaDB 3306 60 start_mariadb || true
ensure_port Redis 6379 30 start_redis || true
ensure_port NATS 4222 30 start_nats || true
ensure_prometheus
ensure_node_packages

if ((${#failed[@]} > 0)); then
	say "NOT AVAILABLE: ${failed[*]}"
	if [[ "${CI:-}" == "true" ]]; then
		say "CI=true: the tests need these services; failing"
		exit 1
	fi
	say "the tests that need them will fail; see tests/services.sh"
	exit 0
fi
say "all up: RabbitMQ (5672, management 15672), PostgreSQL (5432), MariaDB (3306), Redis (6379), NATS (4222), prometheus binary, node packages"
