#!/usr/bin/env bash
# Installs the real servers and tools that nocbot's integration tests start on 127.0.0.1.
#
# Idempotent: everything already present is left alone, so a second run takes about a second.
#   - Debian packages: inspircd, anope, chromium, awscli, krb5-kdc + krb5-admin-server (a throwaway Kerberos realm)
#   - Dendrite and versitygw, built once per version into a cache outside the clone:
#       ${NOCBOT_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/nocbot/tools}/<tool>-<version>/bin/
# internal/testsrv looks the binaries up in the same place.
set -euo pipefail

DENDRITE_VERSION=v0.13.8
VERSITYGW_VERSION=v1.8.0
APT_PACKAGES=(inspircd anope chromium awscli tidy rabbitmq-server python3-pika python3-jsonschema krb5-kdc krb5-admin-server)

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

start=$SECONDS
with_lock apt install_debian_packages
copy_anope_conf
# One build at a time: the machines have two cores.
with_lock build install_dendrite
with_lock build install_versitygw
say "done in $((SECONDS - start))s (tools in $TOOLS)"
