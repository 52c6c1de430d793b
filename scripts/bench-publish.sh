#!/bin/sh
# Compares nocbot's "change committed -> index.html live in the bucket" time
# with the current site's deploy step (aws s3 cp --recursive of the same
# rendered files, then aws cloudfront create-invalidation), both on one
# private versitygw in one run, and shows that republishing an unchanged
# page uploads nothing. Needs the test servers (scripts/testservers/install.sh)
# and Debian's awscli (/usr/bin/aws). BENCHTIME sets the number of changes.
set -eu
cd "$(dirname "$0")/.."
exec go test -count=1 -run '^$' -bench '^BenchmarkPublishVsAWSCLI$' -benchtime "${BENCHTIME:-20x}" ./publisher/s3/
