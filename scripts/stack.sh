#!/usr/bin/env bash
# The local stack: a real S3 server with versioning (SeaweedFS `weed mini`)
# and a real DynamoDB-compatible server (dynalite), both on 127.0.0.1.
#
#   scripts/stack.sh install   build/install both servers (cached by version)
#   scripts/stack.sh up        start them, wait until they answer, print exports
#   scripts/stack.sh down      stop them by the PIDs saved at start
#   scripts/stack.sh env       print the export lines again
#
# SeaweedFS gives every bucket its own collection of volumes, as many as the
# disk holds. Volumes are 256 MB, halved (down to 32 MB) until the free disk
# holds at least 150 of them, so that well over a hundred test buckets fit
# (tests delete theirs). Large ones because writing into a full volume
# stalls a PUT while SeaweedFS opens the next (0.2 s, now and then 1 s;
# measured with 32 MB volumes, which a compaction of the bench's journal
# filled each run); S3 has no such pause.
#
# Ports: DYNASNAP_S3_PORT (default 18333) and DYNASNAP_DYNAMODB_PORT (default
# 18000). SeaweedFS also uses the S3 port + 1..4 for its master, volume, filer
# and admin servers, and each of those + 10000 for gRPC.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
state=${DYNASNAP_STACK_DIR:-$root/.stack}
s3_port=${DYNASNAP_S3_PORT:-18333}
ddb_port=${DYNASNAP_DYNAMODB_PORT:-18000}
cache=${DYNASNAP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dynasnap}
# Local-only credentials: the servers accept exactly these.
key_id=dynasnap-local
secret=dynasnap-local-secret

weed_version() {
	awk '$1 == "require" && $2 == "github.com/seaweedfs/seaweedfs" { print $3 }' "$root/tools/seaweedfs/go.mod"
}
weed_bin() { echo "$cache/weed-$(weed_version)"; }

install_weed() {
	local bin
	bin=$(weed_bin)
	if [ -x "$bin" ]; then return 0; fi
	mkdir -p "$cache"
	echo "building SeaweedFS $(weed_version) into $bin (once per machine, ~5 min)..." >&2
	(cd "$root/tools/seaweedfs" && go build -o "$bin.tmp" github.com/seaweedfs/seaweedfs/weed)
	mv "$bin.tmp" "$bin"
}

install_dynalite() {
	if [ -f "$root/tools/dynalite/node_modules/dynalite/cli.js" ]; then return 0; fi
	echo "installing dynalite (npm)..." >&2
	(cd "$root/tools/dynalite" && npm ci --no-audit --no-fund --loglevel=error)
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

require_free() {
	local p
	for p in "$@"; do
		if port_busy "$p"; then
			echo "stack: port $p on 127.0.0.1 is already in use; stop what holds it (or run 'make down'), or pick other ports with DYNASNAP_S3_PORT / DYNASNAP_DYNAMODB_PORT" >&2
			exit 1
		fi
	done
}

running() { [ -f "$state/$1.pid" ] && kill -0 "$(cat "$state/$1.pid")" 2>/dev/null; }

wait_for() { # name port
	local i
	for i in $(seq 1 300); do
		if port_busy "$2"; then return 0; fi
		if ! running "$1"; then
			echo "stack: $1 exited during start; its log, $state/$1.log, ends with:" >&2
			tail -20 "$state/$1.log" >&2
			exit 1
		fi
		sleep 0.2
	done
	echo "stack: $1 did not answer on port $2 within 60s; see $state/$1.log" >&2
	exit 1
}

wait_s3_ready() {
	# The S3 port opens before the filer behind it is ready; wait for a real answer.
	local i
	for i in $(seq 1 150); do
		if curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$s3_port/" 2>/dev/null | grep -qE '^(200|403)$'; then
			return 0
		fi
		sleep 0.2
	done
	echo "stack: SeaweedFS S3 on port $s3_port never became ready; see $state/seaweedfs.log" >&2
	exit 1
}

# Application Auto Scaling and Lambda have no local server: pointing them at
# dynalite makes their calls fail at once instead of reaching AWS; tests
# that need them use internal/testsupport/ddbapi's stand-ins.
print_env() {
	cat <<EOF
export AWS_ACCESS_KEY_ID=$key_id
export AWS_SECRET_ACCESS_KEY=$secret
export AWS_REGION=us-east-1
export AWS_ENDPOINT_URL_S3=http://127.0.0.1:$s3_port
export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$ddb_port
export AWS_ENDPOINT_URL_APPLICATION_AUTO_SCALING=http://127.0.0.1:$ddb_port
export AWS_ENDPOINT_URL_LAMBDA=http://127.0.0.1:$ddb_port
EOF
}

up() {
	install_weed
	install_dynalite
	mkdir -p "$state"
	if running seaweedfs && running dynalite; then
		echo "stack: already running" >&2
		print_env
		return 0
	fi
	# Each server is (re)started on its own: dynalite keeps its tables in
	# memory, so restarting it alone loses only those, and SeaweedFS's data
	# (a bench's seeded datasets, say) survives a dynalite restart.
	if ! running seaweedfs; then
		stop seaweedfs quiet
		require_free "$s3_port" $((s3_port + 1)) $((s3_port + 2)) $((s3_port + 3)) $((s3_port + 4)) \
			$((s3_port + 10000)) $((s3_port + 10001)) $((s3_port + 10002)) $((s3_port + 10003)) $((s3_port + 10004))
		rm -rf "$state/seaweedfs-data"
		mkdir -p "$state/seaweedfs-data"
		local free_mb vol_mb=256
		free_mb=$(df -Pm "$state/seaweedfs-data" | awk 'NR == 2 { print $4 }')
		while ((vol_mb > 32 && free_mb / vol_mb < 150)); do
			vol_mb=$((vol_mb / 2))
		done
		AWS_ACCESS_KEY_ID=$key_id AWS_SECRET_ACCESS_KEY=$secret setsid "$(weed_bin)" mini \
			-dir="$state/seaweedfs-data" -master.telemetry=false -ip=127.0.0.1 -ip.bind=127.0.0.1 \
			-s3.port="$s3_port" -master.port=$((s3_port + 1)) -volume.port=$((s3_port + 2)) \
			-filer.port=$((s3_port + 3)) -admin.port=$((s3_port + 4)) -admin.port.legacy=0 \
			-webdav=false -master.volumeSizeLimitMB="$vol_mb" -volume.max=0 -s3.allowDeleteBucketNotEmpty \
			>"$state/seaweedfs.log" 2>&1 </dev/null &
		echo $! >"$state/seaweedfs.pid"
	fi
	if ! running dynalite; then
		stop dynalite quiet
		require_free "$ddb_port"
		# serve.js is dynalite's cli.js, kept alive when a client hangs up
		# mid-request (which kills dynalite 4.0.0 itself).
		(cd "$root/tools/dynalite" && exec setsid node serve.js --host 127.0.0.1 \
			--port "$ddb_port" --createTableMs 0 --deleteTableMs 0 --updateTableMs 0) \
			>>"$state/dynalite.log" 2>&1 </dev/null &
		echo $! >"$state/dynalite.pid"
	fi
	wait_for dynalite "$ddb_port"
	wait_for seaweedfs "$s3_port"
	wait_s3_ready
	print_env >"$state/env"
	{
		echo "stack: S3 (SeaweedFS) at http://127.0.0.1:$s3_port, DynamoDB (dynalite) at http://127.0.0.1:$ddb_port"
		echo "stack: logs and data in $state; stop with 'make down'"
		echo "stack: to use them from a shell:"
	} >&2
	print_env
}

stop() { # name [quiet]
	local pid i
	[ -f "$state/$1.pid" ] || return 0
	pid=$(cat "$state/$1.pid")
	if kill -0 "$pid" 2>/dev/null; then
		kill "$pid" 2>/dev/null || true
		for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
	fi
	rm -f "$state/$1.pid"
	[ "${2:-}" = quiet ] || echo "stack: stopped $1" >&2
}

down() {
	stop seaweedfs "${1:-}"
	stop dynalite "${1:-}"
}

case "${1:-}" in
install) install_weed; install_dynalite ;;
up) up ;;
down) down ;;
env) print_env ;;
*) echo "usage: $0 install|up|down|env" >&2; exit 2 ;;
esac
