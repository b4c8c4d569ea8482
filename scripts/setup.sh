#!/usr/bin/env bash
# Installs the Debian packages Boxyard and its tests need. Idempotent and fast
# when everything is present: it only calls apt when a package is missing.
set -euo pipefail

BACKPORTS_LIST=/etc/apt/sources.list.d/boxyard-bookworm-backports.list
# Packages from bookworm itself. Each entry is "package:command-or-path-to-check".
BASE_PACKAGES=(
  postgresql:/usr/lib/postgresql/15/bin/postgres
  postgresql-contrib:/usr/lib/postgresql/15/bin/pg_amcheck
  iproute2:/usr/sbin/ip
  nftables:/usr/sbin/nft
  busybox-static:/bin/busybox
  mmdebstrap:/usr/bin/mmdebstrap
  util-linux:/usr/bin/unshare
  openssh-client:/usr/bin/ssh
  openssh-server:/usr/sbin/sshd
  git:/usr/bin/git
  tmux:/usr/bin/tmux
  e2fsprogs:/sbin/mkfs.ext4
  procps:/usr/bin/pgrep
  chromium:/usr/bin/chromium
  rsync:/usr/bin/rsync
  xz-utils:/usr/bin/xz
  gcc:/usr/bin/gcc
  libc6-dev:/usr/lib/x86_64-linux-gnu/libc.a
  socat:/usr/bin/socat
  curl:/usr/bin/curl
)

log() { printf 'setup: %s\n' "$*"; }

if [ "$(id -u)" != 0 ]; then
  log "not root: skipping system packages (run 'sudo scripts/setup.sh' once)"
  exit 0
fi

missing=()
for entry in "${BASE_PACKAGES[@]}"; do
  pkg=${entry%%:*}; check=${entry#*:}
  [ -e "$check" ] || missing+=("$pkg")
done

need_runsc=0
# The backports build's version is 0.0~YYYYMMDD; anything from 2024 on will do.
# (Read into a variable first: with pipefail, grep -q closing the pipe early
# would make the whole check fail at random.)
runsc_version=$(runsc --version 2>/dev/null | head -n 1 || true)
if ! command -v runsc >/dev/null 2>&1 || ! [[ "$runsc_version" =~ 0\.0~20(2[4-9]|[3-9][0-9]) ]]; then
  need_runsc=1
fi

apt_updated=0
apt_update() {
  if [ "$apt_updated" = 0 ]; then
    log "apt-get update"
    apt-get update -qq
    apt_updated=1
  fi
}

if [ "${#missing[@]}" -gt 0 ]; then
  apt_update
  log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "$need_runsc" = 1 ]; then
  # bookworm's own runsc (2022) breaks statx inside boxes and lacks systrap;
  # the backports build is the one Boxyard supports (machine-notes.md).
  if [ ! -f "$BACKPORTS_LIST" ]; then
    echo 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm-backports main' >"$BACKPORTS_LIST"
    apt_updated=0
  fi
  apt_update
  log "installing runsc from bookworm-backports"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -t bookworm-backports runsc >/dev/null
fi

# PostgreSQL refuses to run as root; the private database runs as this user.
if ! id boxyard >/dev/null 2>&1; then
  log "creating system user boxyard"
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin boxyard
fi

# Debian starts a default cluster on install; Boxyard never uses it.
if command -v pg_lsclusters >/dev/null 2>&1 && pg_lsclusters -h 2>/dev/null | grep -q ' online'; then
  pg_lsclusters -h | awk '$4=="online"{print $1, $2}' | while read -r v c; do pg_ctlcluster "$v" "$c" stop || true; done
fi

log "system packages ok (runsc $(runsc --version 2>/dev/null | head -1 | awk '{print $3}'))"
