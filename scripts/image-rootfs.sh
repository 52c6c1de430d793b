#!/usr/bin/env bash
# image-rootfs.sh OUT: builds nocbot as a static binary and writes OUT/rootfs.tar, the whole file
# system of the FROM-scratch image. Both the Dockerfile's build stage and scripts/image.sh (the
# local build, which cannot pull a base image) run it, so the final stage gets the same files.
#
# Owners are set inside the tar (a non-root builder cannot chown), and COPY --from keeps them:
# everything is root's except the state volume /var/lib/nocbot, 65532:0 mode 0770 (group 0, so an
# arbitrary OpenShift UID, which runs in group 0, can write it too).
set -euo pipefail
out=${1:?usage: image-rootfs.sh OUT}
cd "$(dirname "$0")/.."
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
[ -s "$CA_BUNDLE" ] || { echo "image-rootfs.sh: no CA bundle at $CA_BUNDLE (Debian package ca-certificates)" >&2; exit 1; }

root="$out/rootfs"
rm -rf "$root" "$out/rootfs.tar"
mkdir -p "$root/usr/local/bin" "$root/etc/ssl/certs" "$root/etc/nocbot" "$root/var/lib/nocbot" "$root/tmp"
# time/tzdata is linked in by cmd/nocbot (scratch has no /usr/share/zoneinfo).
CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$root/usr/local/bin/nocbot" ./cmd/nocbot
install -m 0644 "$CA_BUNDLE" "$root/etc/ssl/certs/ca-certificates.crt"
install -m 0644 config.example.toml "$root/etc/nocbot/config.example.toml"
# A name for the numeric user, so tools in the image that look the user up find one.
printf 'root:x:0:0:root:/:/sbin/nologin\nnocbot:x:65532:0:nocbot:/var/lib/nocbot:/sbin/nologin\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
chmod 0644 "$root/etc/passwd" "$root/etc/group"
chmod 0770 "$root/var/lib/nocbot"
chmod 1777 "$root/tmp"

tarflags=(--numeric-owner --sort=name --mtime=@0 --format=gnu -C "$root")
tar -cf "$out/rootfs.tar" "${tarflags[@]}" --owner=0 --group=0 --exclude=./var/lib/nocbot .
tar -rf "$out/rootfs.tar" "${tarflags[@]}" --owner=65532 --group=0 ./var/lib/nocbot
rm -rf "$root"
