#!/usr/bin/env bash
# make demo: the whole loop on the local stack. Changes go through the stream
# writer into a versioned bucket over several seconds, as a change journal
# (one segment per batch); the journal is compacted; a snapshot is taken at
# a moment in the middle; its contents are shown and checked; it is
# restored into a new dynalite table and verified against it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/stack.sh up >/dev/null
set -a; . .stack/env; set +a
bin=bin
work=$(mktemp -d /tmp/dynasnap-demo.XXXXXX)
bucket=demo-$(date +%s)
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "local stack: S3 (SeaweedFS) at $AWS_ENDPOINT_URL_S3, DynamoDB (dynalite) at $AWS_ENDPOINT_URL_DYNAMODB"

step "writing 3000 changes to table 'orders' through the stream writer (journal layout: one segment per batch), over 6 seconds"
$bin/dynasnap-demo --bucket "$bucket" --table orders --changes 3000 --seconds 6 >"$work/demo.json"
source_url=$(sed -E 's/.*"source":"([^"]+)".*/\1/' "$work/demo.json")
at=$(sed -E 's/.*"at":"([^"]+)".*/\1/' "$work/demo.json")
expected=$(sed -E 's/.*"itemsAtMiddle":([0-9]+).*/\1/' "$work/demo.json")
echo "the table held $expected items at $at, in the middle of the writes"

step "dynasnap compact --source $source_url --intervals 1s,10s --base-every 10s"
sleep 3 # the journal's lag (2s) and the clock skew: the writes' windows are ready
$bin/dynasnap compact --source "$source_url" --intervals 1s,10s --base-every 10s

step "dynasnap snapshot --source $source_url --at $at --out $work/snapshot"
$bin/dynasnap snapshot --source "$source_url" --at "$at" --out "$work/snapshot"

step "what the snapshot holds"
ls -R "$work/snapshot" | head -20
echo "--- manifest-summary.json (head)"
head -20 "$work/snapshot/manifest-summary.json"
echo "--- first lines of the first data file"
first=$(ls "$work/snapshot/data" | head -1)
# zcat is cut off once head has its lines: not a failure.
{ zcat "$work/snapshot/data/$first" || true; } | head -3
got=$(sed -nE 's/.*"itemCount": ([0-9]+).*/\1/p' "$work/snapshot/manifest-summary.json")
if [ "$got" != "$expected" ]; then
	echo "demo: FAILED: the snapshot has $got items, the table had $expected at $at" >&2
	exit 1
fi
echo "the snapshot at $at has $got items: exactly what the table held then"

table=orders-restored-$(date +%s)
step "dynasnap restore --snapshot $work/snapshot --table $table --create-table"
$bin/dynasnap restore --snapshot "$work/snapshot" --table "$table" --create-table

step "dynasnap verify --snapshot $work/snapshot --table $table"
$bin/dynasnap verify --snapshot "$work/snapshot" --table "$table"

step "done: stream writer -> change journal -> compact -> snapshot at a past moment -> restore -> verify. Files in $work; stop the stack with 'make down'."
