#!/usr/bin/env bash
# image.sh: builds the container image with podman from a locally built static binary (no base
# image is pulled: the final stage is the Dockerfile's own, FROM scratch) and checks it:
#   - podman image inspect: numeric non-root user, entrypoint, exposed port 8080, the
#     /var/lib/nocbot volume, the size (at most IMAGE_MAX_MB);
#   - its file system (podman image mount): the binary runs chrooted into the image as the
#     image's user, with no zoneinfo or CA files but those inside: check-config of a config naming
#     a time zone passes, and the state volume is writable.
# Containers cannot be run here, the chroot stands in for podman run.
set -euo pipefail
cd "$(dirname "$0")/.."
# Rootless podman: the build needs subordinate ids (65532 and the rest of the image's owners map
# into them), and the checks below (image mount, chroot) need podman's user namespace, where this
# user is root. So a non-root run checks the ids and re-runs itself inside "podman unshare".
if [ "$(id -u)" -ne 0 ] && [ -z "${NOCBOT_IMAGE_UNSHARED:-}" ]; then
	me=$(id -un)
	for f in /etc/subuid /etc/subgid; do
		if ! grep -qE "^($me|$(id -u)):" "$f" 2>/dev/null; then
			echo "image.sh: rootless podman needs subordinate ids for $me in $f:" >&2
			echo "  sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 $me" >&2
			exit 1
		fi
	done
	command -v newuidmap >/dev/null || { echo "image.sh: rootless podman needs newuidmap (Debian package uidmap)" >&2; exit 1; }
	exec env NOCBOT_IMAGE_UNSHARED=1 podman unshare "$0" "$@"
fi
TAG=${IMAGE_TAG:-localhost/nocbot:dev}
IMAGE_MAX_MB=${IMAGE_MAX_MB:-40}
say() { printf 'image.sh: %s\n' "$*"; }
fail() { printf 'image.sh: FAIL: %s\n' "$*" >&2; exit 1; }

ctx=$(mktemp -d)
mnt=
cleanup() {
	[ -z "$mnt" ] || podman image unmount "$TAG" >/dev/null || true
	rm -rf "$ctx"
}
trap cleanup EXIT

scripts/image-rootfs.sh "$ctx"
# The local build stage only unpacks what image-rootfs.sh made; the final stage is copied from the
# Dockerfile verbatim, so the two builds cannot drift apart.
{
	printf 'FROM scratch AS build\nADD rootfs.tar /out/rootfs/\n\n'
	awk '/^FROM /{n++} {lines[NR]=$0; stage[NR]=n} END{for(i=1;i<=NR;i++) if(stage[i]==n) print lines[i]}' Dockerfile
} >"$ctx/Containerfile"
grep -q '^FROM scratch$' "$ctx/Containerfile" || fail "the Dockerfile's final stage is not FROM scratch"
old=$(podman image inspect --format '{{.Id}}' "$TAG" 2>/dev/null || true)
# --layers=false: no cached intermediate image per instruction piling up at every run.
new=$(podman build --quiet --pull=never --layers=false -f "$ctx/Containerfile" -t "$TAG" "$ctx")
# The previous build, now untagged (kept if something else still uses it).
[ -z "$old" ] || [[ $new == "$old"* ]] || podman rmi "$old" >/dev/null 2>&1 || true
say "built $TAG ($new)"

inspect() { podman image inspect --format "$1" "$TAG"; }
user=$(inspect '{{.Config.User}}')
[[ $user =~ ^[1-9][0-9]*(:[0-9]+)?$ ]] || fail "user is $user: want a numeric non-root uid"
entry=$(inspect '{{json .Config.Entrypoint}}')
[ "$entry" = '["/usr/local/bin/nocbot"]' ] || fail "entrypoint is $entry"
ports=$(inspect '{{json .Config.ExposedPorts}}')
[ "$ports" = '{"8080/tcp":{}}' ] || fail "exposed ports are $ports: want 8080/tcp only"
volumes=$(inspect '{{json .Config.Volumes}}')
[ "$volumes" = '{"/var/lib/nocbot":{}}' ] || fail "volumes are $volumes: want /var/lib/nocbot"
size=$(inspect '{{.Size}}')
[ "$size" -le $((IMAGE_MAX_MB * 1024 * 1024)) ] || fail "image is $size bytes, more than $IMAGE_MAX_MB MiB"
say "user $user, entrypoint $entry, ports $ports, volumes $volumes, size $size bytes ($((size / 1024)) KiB)"

mnt=$(podman image mount "$TAG")
for f in usr/local/bin/nocbot etc/ssl/certs/ca-certificates.crt etc/nocbot/config.example.toml; do
	[ -s "$mnt/$f" ] || fail "/$f missing from the image"
done
[ -z "$(find "$mnt" -path "$mnt/usr/share/zoneinfo" -print -quit)" ] || fail "the image has /usr/share/zoneinfo: tzdata must be in the binary"
owner=$(stat -c '%u:%g %a' "$mnt/var/lib/nocbot")
[ "$owner" = "65532:0 770" ] || fail "/var/lib/nocbot is $owner: want 65532:0 770"
# A writable copy of the image's root: chroot needs no runtime, and the image stays untouched.
run="$ctx/run"
CHROOT=$(command -v chroot || echo /usr/sbin/chroot)
mkdir "$run"
cp -a "$mnt/." "$run/"
printf '[scheduler]\nzone = "Europe/Prague"\n\n[[schedule]]\nname = "x"\nspec = "0 9 * * 1"\nzone = "America/New_York"\ntext = "t"\n' >"$run/var/lib/nocbot/zone.toml"
chown 65532:0 "$run/var/lib/nocbot/zone.toml"
out=$(env -i NOCBOT_BOT_STATE=/var/lib/nocbot/nocbot.db "$CHROOT" --userspec="$user" "$run" \
	/usr/local/bin/nocbot check-config -offline /var/lib/nocbot/zone.toml 2>&1) || fail "check-config in the image: $out"
say "in the image as $user: $out"
# Real work as the image's user: import the old page's history into the volume, publish it there.
install -m 0644 statusfpo/testdata/outages.main-content.json "$run/var/lib/nocbot/outages.json"
in_image() { env -i HOME=/var/lib/nocbot NOCBOT_BOT_STATE=/var/lib/nocbot/nocbot.db \
	NOCBOT_PUBLISHER_DIR=/var/lib/nocbot/public "$CHROOT" --userspec="$user" "$run" /usr/local/bin/nocbot "$@"; }
in_image import-statusfpo /var/lib/nocbot/outages.json >"$ctx/import.log" 2>&1 || fail "import-statusfpo in the image: $(cat "$ctx/import.log")"
in_image publish >"$ctx/publish.log" 2>&1 || fail "publish in the image: $(cat "$ctx/publish.log")"
[ -s "$run/var/lib/nocbot/public/index.html" ] || fail "publish in the image wrote no index.html"
say "in the image as $user: imported the old page's history and published $(find "$run/var/lib/nocbot/public" -type f | wc -l) files into the volume"
say "ok"
