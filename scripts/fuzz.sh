#!/usr/bin/env bash
# fuzz.sh [PATTERN]: runs every fuzz target of the module (func FuzzXxx in a _test.go file) for
# FUZZTIME each (default 30s), one after the other (the machines have two cores), or only those
# whose name matches PATTERN. A failing input is written to <package>/testdata/fuzz/<FuzzXxx>/ by
# go test itself; commit it, and "go test" replays it from then on.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-30s}
pattern=${1:-.}
targets=$(grep -rE --include='*_test.go' -o '^func Fuzz[A-Za-z0-9_]+' . | sed -E 's|^\./(.*)/[^/]+_test\.go:func |\1 |' | sort -u)
[ -n "$targets" ] || { echo "fuzz.sh: no fuzz targets found" >&2; exit 1; }
failed=0
while read -r dir name; do
	[[ $name =~ $pattern ]] || continue
	echo "fuzz.sh: $dir $name for $FUZZTIME"
	if ! go test -run '^$' -fuzz "^$name\$" -fuzztime "$FUZZTIME" "./$dir"; then
		echo "fuzz.sh: FAIL: $dir $name (the input is in $dir/testdata/fuzz/$name)" >&2
		failed=1
	fi
done <<<"$targets"
exit $failed
