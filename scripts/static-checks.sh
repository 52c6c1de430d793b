#!/usr/bin/env bash
# static-checks.sh: staticcheck and govulncheck over the module, with the pinned tools that
# scripts/testservers/install.sh builds into the tools cache. govulncheck reads the local
# database install.sh indexes from the golang.org/x/vulndb module (the public one is out of reach).
# A vulnerability in code nocbot calls fails the run unless scripts/govulncheck-accepted.txt lists
# it for that module version; vulnerabilities only in code nocbot never calls are not reported.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOWORK=off
TOOLS=${NOCBOT_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/nocbot/tools}
version() { sed -n "s/^$1=//p" scripts/testservers/install.sh; }
STATICCHECK="$TOOLS/staticcheck-$(version STATICCHECK_VERSION)/bin/staticcheck"
GOVULNCHECK="$TOOLS/govulncheck-$(version GOVULNCHECK_VERSION)/bin/govulncheck"
VULNDB="$TOOLS/vulndb-$(version VULNDB_VERSION)/db"
for f in "$STATICCHECK" "$GOVULNCHECK" "$VULNDB/index/db.json"; do
	[ -e "$f" ] || { echo "static-checks.sh: $f missing: run scripts/testservers/install.sh" >&2; exit 1; }
done

echo "static-checks.sh: staticcheck ./..."
"$STATICCHECK" ./...

echo "static-checks.sh: govulncheck ./... against $VULNDB"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# Exit status 3 only means "found something": the filter below decides.
"$GOVULNCHECK" -db "file://$VULNDB" -format json ./... >"$out" || [ $? -eq 3 ]
called=$(jq -r 'select(.finding) | .finding | select(.trace[0].function != null)
	| "\(.osv) \(.trace[0].module)@\(.trace[0].version)"' "$out" | sort -u)
accepted=$(grep -v '^#' scripts/govulncheck-accepted.txt | awk 'NF {print $1, $2}' | sort -u)
new=$(comm -23 <(printf '%s\n' "$called" | sed '/^$/d') <(printf '%s\n' "$accepted"))
stale=$(comm -13 <(printf '%s\n' "$called" | sed '/^$/d') <(printf '%s\n' "$accepted"))
n_called=$(printf '%s\n' "$called" | sed '/^$/d' | wc -l)
n_other=$(jq -r 'select(.finding) | .finding.osv' "$out" | sort -u | wc -l)
echo "static-checks.sh: $n_called vulnerabilities in called code ($(printf '%s\n' "$new" | sed '/^$/d' | wc -l) not accepted), $n_other known in the modules and packages used"
if [ -n "$stale" ]; then
	echo "static-checks.sh: no longer reported, remove from scripts/govulncheck-accepted.txt:"
	printf '%s\n' "$stale" | sed 's/^/  /'
fi
if [ -n "$new" ]; then
	echo "static-checks.sh: FAIL: vulnerabilities in code nocbot calls (details: $GOVULNCHECK -db file://$VULNDB ./...):" >&2
	while read -r id mod; do
		printf '  %s %s: %s\n' "$id" "$mod" "$(jq -r --arg id "$id" 'select(.osv.id == $id) | .osv.summary' "$out" | head -1)" >&2
	done <<<"$new"
	exit 1
fi
echo "static-checks.sh: ok"
