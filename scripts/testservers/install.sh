#!/usr/bin/env bash
# Installs the real servers and tools that nocbot's integration tests start on 127.0.0.1.
#
# Idempotent: everything already present is left alone, so a second run takes about a second.
#   - Debian packages: inspircd, anope, chromium, awscli, krb5-kdc + krb5-admin-server (a throwaway Kerberos realm),
#     prometheus-alertmanager, nodejs
#   - Dendrite and versitygw, built once per version into a cache outside the clone:
#       ${NOCBOT_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/nocbot/tools}/<tool>-<version>/bin/
# internal/testsrv looks the binaries up in the same place.
#   - The static checkers (staticcheck, govulncheck) and a local Go vulnerability database built
#     from the golang.org/x/vulndb module, in the same cache (see install_static_checks).
set -euo pipefail

DENDRITE_VERSION=v0.13.8
VERSITYGW_VERSION=v1.8.0
STATICCHECK_VERSION=v0.8.2
GOVULNCHECK_VERSION=v1.9.0
# The vulnerability reports as of this pseudo-version; bump it to learn of newer ones.
VULNDB_VERSION=v0.0.0-20261105234957-e22db6528018
# podman builds the container image (make image; uidmap for rootless podman) with
# ca-certificates' bundle inside; systemd brings systemd-analyze (deploy/systemd); jq reads
# govulncheck's findings (static-checks.sh).
# nodejs runs the Zabbix media type script of docs/ in the alerts tests.
# prometheus-alertmanager: the alerts tests start private instances on free loopback ports with clustering off;
# the package's own service (:9093/:9094, where a host lets it start) is left alone and never used.
APT_PACKAGES=(inspircd anope chromium awscli tidy rabbitmq-server python3-pika python3-jsonschema krb5-kdc krb5-admin-server
	podman uidmap ca-certificates systemd jq prometheus-alertmanager nodejs)

TOOLS=${NOCBOT_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/nocbot/tools}
mkdir -p "$TOOLS"

say() { printf 'install.sh: %s\n' "$*"; }

# Never let a go.work from the surrounding tree or the caller's GOFLAGS steer the tool builds.
export GOWORK=off

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Serialises concurrent runs (several checkouts on one machine share the cache).
with_lock() {
	local name=$1
	shift
	exec {lockfd}>"$TOOLS/.$name.lock"
	flock "$lockfd"
	"$@"
	exec {lockfd}>&-
}

install_debian_packages() {
	local missing=() p
	for p in "${APT_PACKAGES[@]}"; do
		# Not dpkg -s: it succeeds for a removed package whose config files remain.
		[ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" = installed ] || missing+=("$p")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		say "debian packages present: ${APT_PACKAGES[*]}"
		return
	fi
	say "installing debian packages: ${missing[*]}"
	local apt=(env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600)
	as_root "${apt[@]}" update -qq
	as_root "${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}"
	say "installed: ${missing[*]}"
}

# /etc/anope is root:irc, mode 0640: a user outside group irc (any non-root CI user) cannot read the
# service configurations the IRC tests adapt, so it gets a copy; internal/testsrv reads it there.
ANOPE_CONFS=(nickserv.conf chanserv.conf operserv.conf)
copy_anope_conf() {
	local dst="$TOOLS/anope-conf" f
	for f in "${ANOPE_CONFS[@]}"; do
		if [ -r "/etc/anope/$f" ] || { [ -r "$dst/$f" ] && ! [ "/etc/anope/$f" -nt "$dst/$f" ]; }; then
			continue
		fi
		mkdir -p "$dst"
		as_root install -m 0644 -o "$(id -u)" -g "$(id -g)" "/etc/anope/$f" "$dst/$f"
		say "copied /etc/anope/$f (unreadable to $(id -un)) to $dst"
	done
}

have_all() { # dir binary...
	local dir=$1 b
	shift
	for b in "$@"; do [ -x "$dir/$b" ] || return 1; done
}

# wrapper_build NAME VERSION MODULE OUTDIR PKG... : builds PKGs into OUTDIR from a throwaway module that requires
# MODULE@VERSION (go install mod@v needs a version list the module proxy may refuse to serve).
wrapper_build() {
	local name=$1 version=$2 module=$3 out=$4
	shift 4
	local dir="$TOOLS/build/$name-$version"
	rm -rf "$dir"
	mkdir -p "$dir"
	printf 'module local/%sbuild\n\ngo 1.22\n\nrequire %s %s\n' "$name" "$module" "$version" >"$dir/go.mod"
	# The wrapper's go.mod/go.sum stay behind in the cache, as a record of what was built.
	(cd "$dir" && GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=mod" go build -o "$out/" "$@")
}

install_dendrite() {
	local home="$TOOLS/dendrite-$DENDRITE_VERSION" bins=(dendrite generate-config generate-keys create-account)
	if have_all "$home/bin" "${bins[@]}"; then
		say "dendrite $DENDRITE_VERSION present in $home/bin"
		return
	fi
	say "building dendrite $DENDRITE_VERSION (takes a few minutes) ..."
	local start=$SECONDS tmp="$home/bin.tmp.$$"
	rm -rf "$tmp"
	mkdir -p "$tmp"
	local pkgs=() b
	for b in "${bins[@]}"; do pkgs+=("github.com/matrix-org/dendrite/cmd/$b"); done
	wrapper_build dendrite "$DENDRITE_VERSION" github.com/matrix-org/dendrite "$tmp" "${pkgs[@]}"
	rm -rf "$home/bin"
	mv "$tmp" "$home/bin"
	say "built dendrite $DENDRITE_VERSION into $home/bin in $((SECONDS - start))s"
}

install_versitygw() {
	local home="$TOOLS/versitygw-$VERSITYGW_VERSION"
	if have_all "$home/bin" versitygw; then
		say "versitygw $VERSITYGW_VERSION present in $home/bin"
		return
	fi
	say "building versitygw $VERSITYGW_VERSION ..."
	local start=$SECONDS tmp="$home/bin.tmp.$$"
	rm -rf "$tmp"
	mkdir -p "$tmp"
	if ! (cd "$TOOLS" && GOBIN="$tmp" go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"); then
		say "go install failed; building versitygw from a wrapper module"
		wrapper_build versitygw "$VERSITYGW_VERSION" github.com/versity/versitygw "$tmp" \
			github.com/versity/versitygw/cmd/versitygw
	fi
	rm -rf "$home/bin"
	mv "$tmp" "$home/bin"
	say "built versitygw $VERSITYGW_VERSION into $home/bin in $((SECONDS - start))s"
}

# wrapper_tool NAME VERSION MODULE PKG: builds one command into $TOOLS/NAME-VERSION/bin unless it is there.
wrapper_tool() {
	local name=$1 version=$2 module=$3 pkg=$4
	local home="$TOOLS/$name-$version"
	if have_all "$home/bin" "${pkg##*/}"; then
		say "$name $version present in $home/bin"
		return
	fi
	say "building $name $version ..."
	local start=$SECONDS tmp="$home/bin.tmp.$$"
	rm -rf "$tmp"
	mkdir -p "$tmp"
	wrapper_build "$name" "$version" "$module" "$tmp" "$pkg"
	rm -rf "$home/bin"
	mv "$tmp" "$home/bin"
	say "built $name $version into $home/bin in $((SECONDS - start))s"
}

# govulncheck's public database cannot be reached from CI, so scripts/staticcheck.sh points it at
# a file:// database in the v1 layout (index/db.json, index/modules.json, index/vulns.json,
# ID/<id>.json). vulndb's own cmd/indexdb writes that layout from the OSV files the module ships
# in data/osv; the result lands in $TOOLS/vulndb-<version>/db.
install_vulndb() {
	local home="$TOOLS/vulndb-$VULNDB_VERSION"
	if [ -s "$home/db/index/db.json" ]; then
		say "vulndb $VULNDB_VERSION present in $home/db"
		return
	fi
	wrapper_tool vulndb "$VULNDB_VERSION" golang.org/x/vulndb golang.org/x/vulndb/cmd/indexdb
	local src
	src=$(cd "$TOOLS/build/vulndb-$VULNDB_VERSION" && go list -m -f '{{.Dir}}' golang.org/x/vulndb)
	rm -rf "$home/db.tmp.$$"
	"$home/bin/indexdb" -vulns "$src/data/osv" -out "$home/db.tmp.$$"
	rm -rf "$home/db"
	mv "$home/db.tmp.$$" "$home/db"
	say "indexed $(find "$home/db/ID" -name '*.json' | wc -l) reports into $home/db"
}

install_static_checks() {
	wrapper_tool staticcheck "$STATICCHECK_VERSION" honnef.co/go/tools honnef.co/go/tools/cmd/staticcheck
	wrapper_tool govulncheck "$GOVULNCHECK_VERSION" golang.org/x/vuln golang.org/x/vuln/cmd/govulncheck
	install_vulndb
}

start=$SECONDS
with_lock apt install_debian_packages
copy_anope_conf
# One build at a time: the machines have two cores.
with_lock build install_dendrite
with_lock build install_versitygw
with_lock build install_static_checks
say "done in $((SECONDS - start))s (tools in $TOOLS)"
