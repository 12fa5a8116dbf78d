#!/usr/bin/env bash
# Disk trouble: the store on a small filesystem that fills up. While it is full, ingest must
# answer 503 (never 2xx for an event it did not store) and /readyz must say so; when space comes
# back, netpulse must recover by itself, /readyz included (before any write proves it). Needs root (it mounts a size-limited tmpfs).
#   bench/disk-full.sh [size of the filesystem, default 24m]
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${1:-24m}
if [ "$(id -u)" != 0 ]; then
    echo "disk-full: needs root to mount a size-limited tmpfs; skipped" >&2
    exit 0
fi
cargo build --release --quiet
BIN=target/release/netpulse
WORK=$(mktemp -d)
DISK="$WORK/disk"
mkdir -p "$DISK"
mount -t tmpfs -o "size=$SIZE" tmpfs "$DISK"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() {
    [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    umount "$DISK" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
cat > "$WORK/netpulse.yaml" <<YAML
# Ready again with 8 MiB free (default 16 MiB, more than this small filesystem can offer).
store: { path: $DISK/netpulse.db, min_free_bytes: 8388608 }
http: { listen: "127.0.0.1:$PORT" }
sources:
  - name: vmanage
    type: webhook
    provider: sdwan
    path: /hooks/sdwan
    auth: { none: true }
YAML
NETPULSE_LOG=error "$BIN" run -c "$WORK/netpulse.yaml" &
PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done
post() { # post N alarms; prints "2xx 503 other"
    "$BIN" sim sdwan --target "http://127.0.0.1:$PORT/hooks/sdwan" --password x --concurrency 4 \
        --count "$1" --seed "$2" 2>&1 | tail -1
}
ready() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/readyz"; }
echo "disk-full: store on a $SIZE tmpfs; filling it with alarms"
# Leave a few MiB free, then post until the store is full.
FREE_KB=$(df -k --output=avail "$DISK" | tail -1)
dd if=/dev/zero of="$DISK/filler" bs=1k count=$((FREE_KB - 3072)) status=none
accepted() { grep -o '200: [0-9]*' <<<"$1" | awk '{print $2}' || echo 0; }
round=1
ACCEPTED=0
while :; do
    line=$(post 2000 "$round")
    echo "  round $round: $line"
    ACCEPTED=$((ACCEPTED + $(accepted "$line")))
    round=$((round + 1))
    case "$line" in *503*) break ;; esac
    [ "$round" -gt 30 ] && { echo "disk-full: the store never filled up" >&2; exit 1; }
done
FULL_READY=$(ready)
echo "  /readyz while full: $FULL_READY $(curl -s "http://127.0.0.1:$PORT/readyz")"
rm -f "$DISK/filler"
sleep 1
SPACE_READY=$(ready)
echo "  /readyz once space came back, before any new write: $SPACE_READY $(curl -s "http://127.0.0.1:$PORT/readyz")"
AFTER=$(post 500 99)
echo "  after space came back: $AFTER"
ACCEPTED=$((ACCEPTED + $(accepted "$AFTER")))
AFTER_READY=$(ready)
echo "  /readyz after those writes: $AFTER_READY"
kill "$PID"; wait "$PID" || true; PID=
STORED=$(sqlite3 "$DISK/netpulse.db" "select count(*) from events")
echo
echo "| figure | value |"
echo "|---|---|"
echo "| /readyz while full | $FULL_READY |"
echo "| /readyz once space came back, before any write | $SPACE_READY |"
echo "| answers after space came back | ${AFTER#*answers } |"
echo "| /readyz after those writes | $AFTER_READY |"
echo "| alarms acknowledged (2xx), all rounds | $ACCEPTED |"
echo "| events in the store after a clean stop | $STORED |"
[ "$STORED" -ge "$ACCEPTED" ] || { echo "disk-full: $ACCEPTED acknowledged but only $STORED stored" >&2; exit 1; }
[ "$FULL_READY" = 503 ] || { echo "disk-full: /readyz did not say the store cannot write" >&2; exit 1; }
case "$AFTER" in *"{200: 500}"*) ;; *) echo "disk-full: ingest did not recover by itself" >&2; exit 1 ;; esac
[ "$SPACE_READY" = 200 ] || { echo "disk-full: /readyz did not see the space come back" >&2; exit 1; }
[ "$AFTER_READY" = 200 ] || { echo "disk-full: /readyz did not recover" >&2; exit 1; }
