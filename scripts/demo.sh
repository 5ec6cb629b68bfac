#!/usr/bin/env bash
# The demo: start the local stack and run the main job on it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/stack.sh up >/dev/null
set -a; . .stack/env; set +a
echo "local stack up: S3 at $AWS_ENDPOINT_URL_S3, DynamoDB at $AWS_ENDPOINT_URL_DYNAMODB"
bin/dynasnap --help
