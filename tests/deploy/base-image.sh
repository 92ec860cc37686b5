#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# tests/deploy/base-image.sh - make the local debian:bookworm-slim image that
# deploy/Dockerfile builds FROM, where no image registry is reachable.
#
#   bash tests/deploy/base-image.sh            # no-op when the image exists
#   SPANBPF_DEBIAN_MIRROR=http://host/debian bash tests/deploy/base-image.sh
#
# The root file system comes from `debootstrap --variant=minbase bookworm`,
# fetched from the Debian mirror this machine's apt already uses (read from
# /etc/apt/sources.list*, never written down here), slimmed the way the
# official -slim images are (no docs, man pages or locales installed by later
# apt-get runs), and imported with `podman import`.  The image stays in
# podman's store, so later runs reuse it.
set -euo pipefail

IMAGE=${SPANBPF_BASE_IMAGE:-debian:bookworm-slim}
SUITE=bookworm
DEBOOTSTRAP_TIMEOUT=${SPANBPF_DEBOOTSTRAP_TIMEOUT:-1200}

say() { printf '# base-image: %s\n' "$*" >&2; }
die() { printf 'base-image.sh: %s\n' "$*" >&2; exit 1; }

if podman image exists "$IMAGE"; then
	say "$IMAGE is in podman's store: nothing to do"
	exit 0
fi
command -v debootstrap >/dev/null 2>&1 || die "debootstrap not found (apt-get install debootstrap)"

# The first enabled Debian archive (not -security) apt uses: deb822 .sources
# stanzas (URIs/Suites/Enabled) and one-line "deb [opts] URI SUITE ..." entries.
apt_mirror() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -f $f ]] || continue
		awk -v suite="$SUITE" '
			function flush() {
				if (uris != "" && enabled && suites ~ ("(^| )" suite "( |$)") && types ~ /(^| )deb( |$)/) {
					split(uris, u, " "); print u[1]; found = 1; exit
				}
				uris = ""; suites = ""; types = ""; enabled = 1
			}
			BEGIN { enabled = 1 }
			/^[ \t]*#/ { next }
			/^[ \t]*$/ { flush(); next }
			tolower($1) == "uris:" { $1 = ""; uris = substr($0, 2) }
			tolower($1) == "suites:" { $1 = ""; suites = substr($0, 2) }
			tolower($1) == "types:" { $1 = ""; types = substr($0, 2) }
			tolower($1) == "enabled:" && tolower($2) == "no" { enabled = 0 }
			END { if (!found) flush() }' "$f"
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[[ -f $f ]] || continue
		awk -v suite="$SUITE" '
			$1 != "deb" { next }
			{ i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ } }
			$(i + 1) == suite { print $i; exit }' "$f"
	done
}

MIRROR=${SPANBPF_DEBIAN_MIRROR:-$(apt_mirror | head -n1)}
[[ -n $MIRROR ]] || die "no Debian $SUITE mirror found in /etc/apt/sources.list*; set SPANBPF_DEBIAN_MIRROR"

ROOTFS=$(mktemp -d /var/tmp/spanbpf-rootfs.XXXXXX)
trap 'rm -rf "$ROOTFS" "$ROOTFS.log"' EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

say "debootstrap --variant=minbase $SUITE from $MIRROR (a few minutes; bounded to ${DEBOOTSTRAP_TIMEOUT}s)"
t0=$SECONDS
if ! timeout "$DEBOOTSTRAP_TIMEOUT" debootstrap --variant=minbase "$SUITE" "$ROOTFS" "$MIRROR" \
	>"$ROOTFS.log" 2>&1; then
	tail -n 30 "$ROOTFS.log" >&2
	rm -f "$ROOTFS.log"
	die "debootstrap failed or timed out after $((SECONDS - t0))s"
fi
rm -f "$ROOTFS.log"
say "debootstrap done in $((SECONDS - t0))s"

# Slim: later apt-get runs in the image install no documentation or
# translations, and the package caches of the bootstrap itself are dropped.
cat >"$ROOTFS/etc/dpkg/dpkg.cfg.d/spanbpf-slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
CFG
cat >"$ROOTFS/etc/apt/apt.conf.d/spanbpf-slim" <<'CFG'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
CFG
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/* \
	"$ROOTFS"/var/log/* "$ROOTFS"/tmp/* "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* \
	"$ROOTFS"/usr/share/info/* "$ROOTFS"/usr/share/locale/*
# A bootstrapped root names the build host; an image must not.
: >"$ROOTFS/etc/hostname"
rm -f "$ROOTFS/etc/resolv.conf"

say "importing as $IMAGE"
tar --numeric-owner -C "$ROOTFS" -c . | podman import \
	--change 'CMD ["bash"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
	- "$IMAGE" >/dev/null
podman image exists "$IMAGE" || die "podman import did not create $IMAGE"
say "$IMAGE ready ($(podman image inspect --format '{{.Size}}' "$IMAGE") bytes) in $((SECONDS - t0))s"
