#!/usr/bin/env bash
# measure-rss.sh [N]: the memory the Kubernetes requests/limits and the systemd MemoryMax are sized
# from. Imports a history of N incidents (default 20000, the old page's outages repeated under new
# file names) into a fresh state file, runs the daemon on the default config (console, local
# page, web on a free port) until its first publish of that history is done, then types
# CHANGES status changes on the console (each one republishes), and prints the daemon's resident
# memory: VmHWM (peak) and VmRSS (after), from /proc. GOMEMLIMIT in the environment applies.
# Needs jq, curl and python3 (a free port).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20000}
CHANGES=${CHANGES:-20} # [bot] rate_limit is 20 commands a minute per account
dir=$(mktemp -d)
pid=
cleanup() {
	[ -z "$pid" ] || { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; } || true
	rm -rf "$dir"
}
trap cleanup EXIT
say() { printf 'measure-rss.sh: %s\n' "$*"; }

CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$dir/nocbot" ./cmd/nocbot
jq --argjson n "$N" '.outages as $o | .outages = [range($n) as $i | $o[$i % ($o | length)]
	| .file = "gen\($i)-" + .file]' statusfpo/testdata/outages.main-content.json >"$dir/outages.json"
cd "$dir"
./nocbot import-statusfpo outages.json >import.log 2>&1 || { cat import.log; exit 1; }
say "imported $N incidents: state file $(du -k nocbot.db | cut -f1) KiB"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkfifo console
GODEBUG=${GODEBUG:-} NOCBOT_WEB_LISTEN="127.0.0.1:$port" ./nocbot <console >console.out 2>daemon.log &
pid=$!
exec 3>console # keeps the console open between the lines typed below
published() { curl -fsS "http://127.0.0.1:$port/metrics" 2>/dev/null | awk '/^nocbot_publishes_total\{result="ok"\}/ {print $2}'; }
for _ in $(seq 600); do
	[ "$(published)" ] && [ "$(published)" != 0 ] && break
	sleep 0.5
done
[ "$(published)" ] || { cat daemon.log; exit 1; }
start_rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
say "first publish of $N incidents done: $(find public -type f | wc -l) files, $(du -sk public | cut -f1) KiB; VmRSS $start_rss KiB"
for i in $(seq "$CHANGES"); do
	if [ $((i % 2)) -eq 1 ]; then echo '!status minor "koji is slow" koji' >&3; else echo '!status good - koji' >&3; fi
done
sleep 5
say "after $CHANGES changes: $(published) publishes"
awk '/VmHWM|VmRSS|RssAnon|RssFile/ {printf "measure-rss.sh: %s %s %s\n", $1, $2, $3}' /proc/$pid/status
[ -z "${GODEBUG:-}" ] || grep "^gc " daemon.log | tail -5
exec 3>&-
