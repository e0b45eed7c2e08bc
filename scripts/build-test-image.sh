#!/usr/bin/env bash
# Builds the docker image `airlock-test:latest` used by e2e tests.
#
# No image registry is reachable on the test machines, so the image is assembled from this
# machine's own files (sh, bash, a few coreutils, node, git, curl, python3 with its stdlib,
# CA certificates and the shared libraries all of them need) and loaded with `docker import`.
# The image carries a label with a hash of the file list (path, size, mtime) and of this
# script; when an image with that hash exists the build is skipped, so running it again is
# cheap. Concurrent runs (several test workers) are serialised with flock.
set -euo pipefail

IMAGE="${AIRLOCK_TEST_IMAGE:-airlock-test:latest}"
LABEL_KEY='airlock.test-image.hash'
SCRIPT_PATH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"

log() { printf '[build-test-image] %s\n' "$*" >&2; }

command -v docker >/dev/null || { log 'docker not found'; exit 1; }

WORK="$(mktemp -d /tmp/airlock-test-image.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
LIST="$WORK/files.txt" # absolute paths to copy, one per line (dirs not recursed)
: >"$LIST"

# ---------------------------------------------------------------------------------------
# Collect the file list.
# ---------------------------------------------------------------------------------------

# add PATH...: records a path and, when it is a symlink, the chain of targets it points to.
# The directory part is canonicalised first so that merged-/usr aliases (/lib -> usr/lib)
# are stored once, under their real location; the aliases themselves are recreated below.
add() {
  local p dir real target hops
  for p in "$@"; do
    [[ -e "$p" || -L "$p" ]] || continue
    dir="$(readlink -f "${p%/*}/")"
    real="$dir/${p##*/}"
    printf '%s\n' "$real" >>"$LIST"
    hops=0
    while [[ -L "$real" && $hops -lt 16 ]]; do
      target="$(readlink "$real")"
      [[ "$target" == /* ]] || target="${real%/*}/$target"
      dir="$(readlink -f "${target%/*}/")"
      real="$dir/${target##*/}"
      printf '%s\n' "$real" >>"$LIST"
      hops=$((hops + 1))
    done
  done
}

# add_tree DIR [find predicates...]: records every file and symlink under DIR (canonical
# location) plus the final targets of its symlinks. Batched, because the python stdlib alone
# has thousands of files and a fork per file would take many seconds.
add_tree() {
  local d
  [[ -d "$1" ]] || return 0
  d="$(readlink -f "$1")"
  shift
  find "$d" "$@" \( -type f -o -type l \) -print >>"$LIST"
  find "$d" "$@" -type l -print0 | xargs -0 -r readlink -f >>"$LIST" || true
}

# need_bin NAME: the machine's program, skipping node_modules/.bin (npm scripts put a
# package's node first on PATH; the image must get the machine's own).
need_bin() {
  local p
  while IFS= read -r p; do
    [[ "$p" == */node_modules/* ]] && continue
    printf '%s\n' "$p"
    return 0
  done < <(type -aP "$1" 2>/dev/null || true)
  log "required program not found on this machine: $1"
  exit 1
}

BINS=()
for b in sh dash bash ls cat env id mkdir rm cp mv touch chmod chown ln sleep head tail wc \
  grep sed tr printf test '[' true false stat find basename dirname readlink pwd uname tee \
  sort uniq cut xargs date; do
  # type -P: shell builtins (printf, test, true, ...) must resolve to the real file.
  p="$(type -P "$b" 2>/dev/null || true)"
  if [[ -z "$p" ]]; then
    case "$b" in dash) continue ;; esac
    log "required program not found on this machine: $b"
    exit 1
  fi
  BINS+=("$p")
done
BINS+=("$(need_bin node)" "$(need_bin git)" "$(need_bin curl)")

# Prefer the distribution's python (its stdlib lives in /usr/lib); fall back to whatever
# python3 is on PATH (e.g. pyenv), resolving shims through the interpreter itself.
if [[ -x /usr/bin/python3 ]]; then PY=/usr/bin/python3; else PY="$(need_bin python3)"; fi
mapfile -t PYINFO < <("$PY" -c '
import os, sys, sysconfig
print(os.path.realpath(sys.executable))
print(sysconfig.get_path("stdlib"))
print(sysconfig.get_path("platstdlib"))
print(sys.version_info[0], sys.version_info[1])
')
PY_EXE="${PYINFO[0]}"
PY_STDLIB="${PYINFO[1]}"
PY_PLATSTDLIB="${PYINFO[2]}"
read -r PY_MAJ PY_MIN <<<"${PYINFO[3]}"
BINS+=("$PY_EXE")
if [[ -e /usr/bin/python3 ]]; then add /usr/bin/python3; fi

add "${BINS[@]}"

# git's helpers: the https transport (git-remote-https), git-http-*, scripts git runs.
# A few large programs that nothing in a test calls are left out to keep the image small.
GIT_EXEC="$(git --exec-path)"
add_tree "$GIT_EXEC" \( -name scalar -o -name git-daemon -o -name git-imap-send \
  -o -name git-shell -o -name git-instaweb \) -prune -o
add_tree /usr/share/git-core/templates

# python stdlib without tests, GUI toolkits and the 25 MB static library in config-*.
for d in "$PY_STDLIB" "$PY_PLATSTDLIB"; do
  c="$(readlink -f "$d")"
  add_tree "$c" \( -path "$c/test" -o -path "$c/idlelib" -o -path "$c/tkinter" \
    -o -path "$c/turtledemo" -o -path "$c/ensurepip" -o -path "$c/lib2to3" \
    -o -path "$c/site-packages" -o -path "$c/dist-packages" -o -path "$c/config-*" \) -prune -o
done
add_tree "/etc/python${PY_MAJ}.${PY_MIN}"

# CA certificates: /etc/ssl/certs holds symlinks into /usr/share/ca-certificates.
add_tree /etc/ssl/certs
add_tree /usr/share/ca-certificates
add_tree /usr/lib/ssl

# Libraries loaded with dlopen (name resolution, and what native agent binaries such as
# Claude Code's link against) are not visible to ldd on the programs, so add them by name.
LIBDIRS=()
for d in /lib/x86_64-linux-gnu /usr/lib/x86_64-linux-gnu /lib/aarch64-linux-gnu \
  /usr/lib/aarch64-linux-gnu /lib64 /usr/lib64; do
  if [[ -d "$d" ]]; then LIBDIRS+=("$(readlink -f "$d")"); fi
done
for d in $(printf '%s\n' "${LIBDIRS[@]}" | sort -u); do
  for pat in 'libnss_*.so*' 'libresolv.so*' 'librt.so*' 'libpthread.so*' 'libdl.so*' \
    'libm.so*' 'libc.so.6' 'libutil.so*' 'libanl.so*' 'libgcc_s.so*' 'libstdc++.so.6*' \
    'ld-linux*.so*'; do
    while IFS= read -r f; do add "$f"; done < <(find "$d" -maxdepth 1 -name "$pat" \( -type f -o -type l \))
  done
done

# ldd closure over every ELF file collected so far (ldd already resolves transitively).
sort -u "$LIST" -o "$LIST"
ELF_DEPS="$WORK/deps.txt"
: >"$ELF_DEPS"
while IFS= read -r f; do
  [[ -f "$f" && ! -L "$f" ]] || continue
  # Only programs and shared objects can be ELF files worth scanning (skips the stdlib).
  [[ -x "$f" || "$f" == *.so || "$f" == *.so.* ]] || continue
  # Cheap ELF test: the first four bytes are 0x7f 'E' 'L' 'F'.
  [[ "$(head -c 4 "$f" | od -An -c | tr -d ' \n')" == '177ELF' ]] || continue
  { ldd "$f" 2>/dev/null || true; } | awk '/=> \//{print $3} /^[[:space:]]*\//{print $1}' >>"$ELF_DEPS"
done <"$LIST"
while IFS= read -r f; do add "$f"; done < <(sort -u "$ELF_DEPS")
sort -u "$LIST" -o "$LIST"

# ---------------------------------------------------------------------------------------
# Hash and skip when unchanged.
# ---------------------------------------------------------------------------------------
HASH="$(
  {
    cat "$SCRIPT_PATH"
    tr '\n' '\0' <"$LIST" | xargs -0 stat -c '%n %s %Y %a'
  } | sha256sum | cut -c1-32
)"

build_lock="/tmp/airlock-test-image.lock"
exec 9>"$build_lock"
flock 9

existing="$(docker images -q --filter "label=$LABEL_KEY=$HASH" | head -n1)"
if [[ -n "$existing" ]]; then
  current="$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)"
  if [[ "$current" != *"$existing"* ]]; then docker tag "$existing" "$IMAGE"; fi
  log "up to date: $IMAGE (hash $HASH)"
  docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "[build-test-image] image size: %.1f MB\n", $1/1e6}'
  exit 0
fi

# ---------------------------------------------------------------------------------------
# Assemble the root filesystem.
# ---------------------------------------------------------------------------------------
ROOTFS="$WORK/rootfs"
mkdir -p "$ROOTFS"
sed 's|^/||' "$LIST" | tar -C / --no-recursion -cf - -T - | tar -C "$ROOTFS" -xf -

# Merged-/usr aliases exactly as on this machine.
for a in bin lib lib64 sbin; do
  if [[ -L "/$a" && ! -e "$ROOTFS/$a" ]]; then ln -s "$(readlink "/$a")" "$ROOTFS/$a"; fi
done
mkdir -p "$ROOTFS/usr/local/bin" "$ROOTFS/usr/bin" "$ROOTFS/etc" "$ROOTFS/root" \
  "$ROOTFS/workspace" "$ROOTFS/home/airlock" "$ROOTFS/tmp" "$ROOTFS/var/tmp" \
  "$ROOTFS/dev" "$ROOTFS/proc" "$ROOTFS/sys"
chmod 0700 "$ROOTFS/root"
chmod 1777 "$ROOTFS/tmp" "$ROOTFS/var/tmp" "$ROOTFS/home/airlock"
chmod 0755 "$ROOTFS/workspace"
# Every program reachable by name on the image's PATH, wherever it lives on this machine
# (e.g. a node from nvm, a pyenv python).
link_on_path() {
  local name="$1" real="$2"
  [[ -e "$ROOTFS/usr/local/bin/$name" || -e "$ROOTFS/usr/bin/$name" || -e "$ROOTFS/bin/$name" ]] ||
    ln -s "$real" "$ROOTFS/usr/local/bin/$name"
}
for p in "${BINS[@]}"; do link_on_path "${p##*/}" "$(readlink -f "$p")"; done
link_on_path python3 "$PY_EXE"
# /bin/sh must exist even on a host whose sh lives elsewhere.
[[ -e "$ROOTFS/bin/sh" ]] || ln -s "$(readlink -f "$(command -v sh)")" "$ROOTFS/bin/sh"

cat >"$ROOTFS/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
airlock:x:1001:1001:airlock:/home/airlock:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$ROOTFS/etc/group" <<'EOF'
root:x:0:
airlock:x:1001:
nogroup:x:65534:
EOF
cat >"$ROOTFS/etc/nsswitch.conf" <<'EOF'
passwd: files
group: files
shadow: files
hosts: files dns
networks: files
protocols: files
services: files
EOF
printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' >"$ROOTFS/etc/hosts"
: >"$ROOTFS/etc/resolv.conf"
chmod 0644 "$ROOTFS"/etc/{passwd,group,nsswitch.conf,hosts,resolv.conf}

# ---------------------------------------------------------------------------------------
# Import.
# ---------------------------------------------------------------------------------------
log "importing $IMAGE ($(du -sh "$ROOTFS" | cut -f1) root filesystem)"
tar -C "$ROOTFS" --numeric-owner -cf - . |
  docker import \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
    --change "LABEL $LABEL_KEY=$HASH" \
    --change 'CMD ["/bin/sh"]' \
    - "$IMAGE" >/dev/null
docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "[build-test-image] image size: %.1f MB\n", $1/1e6}'
log "built $IMAGE (hash $HASH)"
# Earlier builds that lost the tag are only dead weight; remove those (ours, by label).
stale="$(docker images -q --filter "label=$LABEL_KEY" --filter dangling=true)"
if [[ -n "$stale" ]]; then docker rmi $stale >/dev/null 2>&1 || true; fi
