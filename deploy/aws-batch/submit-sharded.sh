#!/usr/bin/env bash
# Submit a sharded snapshot as an AWS Batch array job (each child gets
# AWS_BATCH_JOB_ARRAY_INDEX, read by --shard auto/N), then the commit job,
# which starts only when every child has succeeded.
set -euo pipefail
queue=${QUEUE:-dynasnap}
shards=${SHARDS:-8}
at=${AT:-$(date -u +%Y-%m-%dT%H:%M:%SZ)}
out=${OUT:?set OUT=s3://bucket/prefix for the snapshot}
array=$(aws batch submit-job --job-name dynasnap-shards --job-queue "$queue" \
	--job-definition dynasnap-snapshot-shard --array-properties "size=$shards" \
	--parameters "at=$at,out=$out,shards=auto/$shards" --query jobId --output text)
aws batch submit-job --job-name dynasnap-commit --job-queue "$queue" \
	--job-definition dynasnap-snapshot-commit --depends-on "jobId=$array" \
	--parameters "out=$out" --query jobId --output text
