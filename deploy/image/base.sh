#!/usr/bin/env bash
# The base image to build on, printed as the last line: PYTHON_IMAGE when the engine has it or can pull it,
# otherwise a stand-in of the same Python built from Debian's own packages (debootstrap's minimal base of a
# Debian release whose python3 is that minor version: bookworm has 3.11), imported as a one-layer image.
# The stand-in is built once; later runs find its tag and reuse it.
#
#   deploy/image/base.sh PYTHON_IMAGE STAND_IN_TAG [SUITE]
#
# The mirror is the one this machine's apt already uses (DEBIAN_MIRROR overrides it). debootstrap needs root.
set -euo pipefail
wanted=${1:?usage: base.sh PYTHON_IMAGE STAND_IN_TAG [SUITE]}
tag=${2:?usage: base.sh PYTHON_IMAGE STAND_IN_TAG [SUITE]}
suite=${3:-bookworm}
if docker image inspect "$wanted" >/dev/null 2>&1 || timeout 60 docker pull -q "$wanted" >/dev/null 2>&1; then
  echo "$wanted"
  exit 0
fi
if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "base: $wanted cannot be pulled; the stand-in $tag is present, reused" >&2
  echo "$tag"
  exit 0
fi
echo "base: $wanted cannot be pulled; building the stand-in $tag from Debian $suite (debootstrap)" >&2
command -v debootstrap >/dev/null 2>&1 || apt-get install -y -qq -o DPkg::Lock::Timeout=600 debootstrap >/dev/null \
  || { apt-get update -qq && apt-get install -y -qq -o DPkg::Lock::Timeout=600 debootstrap >/dev/null; }
mirror=${DEBIAN_MIRROR:-$(grep -hoE '^(URIs:|deb) +[^ ]+' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
  | grep -v security | head -n1 | awk '{print $2}' || true)}
[ -n "$mirror" ] || { echo "base: no Debian mirror found in apt's sources; set DEBIAN_MIRROR" >&2; exit 1; }
root=$(mktemp -d)
trap 'rm -rf "$root" "$root.log"' EXIT
started=$(date +%s)
# python3-venv: the build stage makes a virtual environment (ensurepip); python-is-python3: `python`, as in the
# official image; passwd: useradd; ca-certificates: what the official image has, for the upstreams' TLS.
debootstrap --variant=minbase --include=python3,python3-venv,python-is-python3,passwd,ca-certificates \
  "$suite" "$root" "$mirror" >"$root.log" 2>&1 || { tail -n 20 "$root.log" >&2; exit 1; }
# What an image does not need at run time: apt's lists and caches, documentation.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
  "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*
tar -C "$root" -c . | docker import \
  --change 'ENV LANG=C.UTF-8' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["python3"]' - "$tag" >/dev/null
echo "base: built $tag from Debian $suite ($(docker run --rm "$tag" python --version)) in $(($(date +%s) - started)) s" >&2
echo "$tag"
