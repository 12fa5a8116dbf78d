#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser and normalizer (`netpulse::fuzz_targets`) on stable Rust:
# libFuzzer from the libfuzzer-sys crate and LLVM's sanitizer coverage, without cargo-fuzz or
# nightly. Each target runs for a fixed budget; the inputs that reach new code are merged into the
# kept corpus fuzz/corpus/<target>/ (which `cargo test` replays); crashes, timeouts and
# out-of-memory inputs are written to fuzz/artifacts/<target>/ and make the script exit 1.
#
#   bench/fuzz.sh [--seconds-per-target N] [--jobs N] [--seed] [target...]
#
#   --seconds-per-target N  budget of each target (default 60)
#   --jobs N                targets fuzzed at once (default 1; each uses one core)
#   --seed                  (re)write the seed-* inputs from tests/data and exit
#
# A crash reproduces with: fuzz/target/<host>/release/<target> fuzz/artifacts/<target>/<file>
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=60
jobs=1
seed_only=0
targets=()
while (($#)); do
    case "$1" in
        --seconds-per-target) seconds="$2"; shift 2 ;;
        --jobs) jobs="$2"; shift 2 ;;
        --seed) seed_only=1; shift ;;
        -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
        *) targets+=("$1"); shift ;;
    esac
done
all_targets=$(basename -s .rs fuzz/fuzz_targets/*.rs)
if ((${#targets[@]} == 0)); then
    read -r -d '' -a targets <<<"$all_targets" || true
fi
for target in "${targets[@]}"; do
    grep -qx "$target" <<<"$all_targets" || { echo "no fuzz target $target; known: $(echo $all_targets)" >&2; exit 2; }
done

# The seeds: real payloads from tests/data, and hand-written inputs where there is no fixture.
seed() {
    local target=$1 name=$2
    mkdir -p "fuzz/corpus/$target"
    cat >"fuzz/corpus/$target/seed-$name"
}
seed_fixtures() {
    local target=$1 file
    shift
    for file in "$@"; do seed "$target" "$(basename "$file")" <"$file"; done
}
stomp_message() {
    local body LC_ALL=C
    body=$(cat "$1")
    printf 'MESSAGE\ndestination:/topic/com.cisco.ise.session\nsubscription:0\nmessage-id:1\ncontent-length:%d\n\n%s\0\n' "${#body}" "$body"
}
write_seeds() {
    local data=tests/data
    seed_fixtures webhook_sdwan $data/sdwan/*.json
    seed_fixtures webhook_meraki $data/meraki/*.json
    seed_fixtures webhook_catalyst_center $data/catalyst-center/*.json
    seed_fixtures webhook_thousandeyes $data/thousandeyes/*.json
    seed_fixtures webhook_intersight $data/intersight/*.json
    seed_fixtures webhook_webex $data/webex/webhook-*.json
    seed_fixtures webhook_generic $data/generic/*.json
    seed_fixtures dme $data/dme/*.json
    seed_fixtures pxgrid_control $data/pxgrid/*.json
    seed_fixtures webex_mercury $data/webex/mercury-*.json
    seed_fixtures config examples/netpulse.yaml
    # Two pushes of one device in one input (parts are NUL-separated): created, then modified.
    { cat $data/dme/notification-l1PhysIf-modified.json; printf '\0'; cat $data/dme/event-fvBD-modified-sparse.json; } |
        seed dme two-pushes
    { printf 'CONNECTED\nversion:1.2\nheart-beat:0,30000\nserver:ISE\n\n\0\n'; } | seed pxgrid_stomp connected
    stomp_message $data/pxgrid/sessionTopic-message-STARTED.json | seed pxgrid_stomp session-started
    stomp_message $data/pxgrid/sessionTopic-message-DISCONNECTED.json | seed pxgrid_stomp session-disconnected
    printf 'MESSAGE\ndestination:/topic/com.cisco.ise.config.anc.status\nmessage\\cid:a\\\\b\n\n{"operationId":"x","status":"SUCCESS"}\0' |
        seed pxgrid_stomp anc-status
    printf 'ERROR\nmessage:not authorized\n\nno\0' | seed pxgrid_stomp error
    # Signed requests that pass their verifier (the secrets are in src/fuzz_targets/webhook.rs).
    { printf 'x-spark-signature: 4a7d8a9f8adc87192c16b10d8e4345022c74f2ab\ncontent-type: application/json\n\n'
      cat $data/webex/webhook-messages-created-doc-example-compact-exact-bytes.json; } | seed webhook_verify webex-hmac-sha1
    { printf 'webhook-id: msg_27UH4WbU6Z5A5EzD8u03UvzRbpk\nwebhook-timestamp: 1649367553\n'
      printf 'webhook-signature: v1,Zm9v v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=\n\n'
      cat $data/generic/standard-webhooks-test-vector-body-exact-bytes.json; } | seed webhook_verify standard-webhooks
    local body digest date signature
    body=$(cat $data/intersight/webhookresult-cond-alarm-modified-trimmed.json)
    digest="SHA-256=$(printf '%s' "$body" | openssl dgst -sha256 -binary | base64 -w0)"
    date='Thu, 07 Apr 2022 21:39:13 GMT'
    signature=$(printf '(request-target): post /hooks/fuzz?x=1\nhost: gw.example\ndate: %s\ndigest: %s' "$date" "$digest" |
        openssl dgst -sha256 -hmac intersight-secret -binary | base64 -w0)
    { printf 'host: gw.example\ndate: %s\ndigest: %s\n' "$date" "$digest"
      printf 'authorization: Signature keyId="k",algorithm="hmac-sha256",headers="(request-target) host date digest",signature="%s"\n\n%s' "$signature" "$body"; } |
        seed webhook_verify intersight-http-signature
    { printf 'authorization: Basic dXNlcjpwYXNz\nx-auth-token: token\n\n'; cat $data/meraki/official-example-port-connected.json; } |
        seed webhook_verify basic-and-token
    { printf 'authorization: Bearer meraki-secret\nce-specversion: 1.0\nce-id: 1\nce-source: /s\nce-type: t\n\n{"a":1}'; } |
        seed webhook_verify bearer-cloudevent
    for text in 30s 500ms 5m '2 h' 7d 120 'Wed, 21 Oct 2015 07:28:00 GMT' '"10s"' 18446744073709551615; do
        printf '%s' "$text" | seed durations "$(printf '%s' "$text" | tr -c 'a-zA-Z0-9' _)"
    done
    printf 'source=sw1&device=leaf%%201&type_prefix=com.cisco.&min_severity=major&alarmstate=raised&since=2026-11-28T10:00:00Z&until=2026-11-29T00:00:00%%2B01:00&limit=50&order=oldest&cursor=42' |
        seed api_query events
    printf 'after=7&subject_prefix=sys%%2Fintf&type=com.cisco.dme.modified&access_token=x+y' | seed api_query feed
    printf '\x40**Link down** on [leaf-1](https://x) <@all>\n# eth1/1 \\ `code` | ~x~\nnetpulse alarms?' | seed webex_markdown mixed
    printf '\x00help' | seed webex_markdown help
}

if ((seed_only)); then
    write_seeds
    echo "seeds written to fuzz/corpus/*/seed-*"
    exit 0
fi

# Stable rustc has no -Zsanitizer, but LLVM's sanitizer-coverage pass and its options are reached
# through -Cpasses and -Cllvm-args: the same instrumentation cargo-fuzz asks for. --target keeps
# the flags off build scripts and proc macros.
host=$(rustc -vV | sed -n 's/^host: //p')
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cforce-frame-pointers=yes"
bins=()
for target in "${targets[@]}"; do bins+=(--bin "$target"); done
echo "building ${#targets[@]} fuzz targets (fuzz/target)..."
cargo build --release --manifest-path fuzz/Cargo.toml --target "$host" --target-dir fuzz/target "${bins[@]}"

work=fuzz/target/run
rm -rf "$work"
mkdir -p "$work"

# The number of files in a folder, 0 when it does not exist.
count_files() {
    find "$1" -type f 2>/dev/null | wc -l || true
}

# Fuzzes one target, merges what it found, writes one line of results to $work/<target>.tsv.
fuzz_one() {
    local target=$1
    local binary=fuzz/target/$host/release/$target
    local corpus=fuzz/corpus/$target artifacts=fuzz/artifacts/$target new=$work/new/$target
    local log=$work/$target.log options=(-max_len=65536 -timeout=5 -rss_limit_mb=2048)
    mkdir -p "$corpus" "$artifacts" "$new"
    local crashes_before
    crashes_before=$(count_files "$artifacts")
    # New inputs go to the first folder; the kept corpus is read, never written, while fuzzing.
    "$binary" "${options[@]}" -max_total_time="$seconds" -print_final_stats=1 \
        -artifact_prefix="$artifacts/" "$new" "$corpus" >"$log" 2>&1 || true
    # The corpus is rebuilt each time: the seeds and fixed crashes, then the smallest inputs that
    # reach code they do not, from the old corpus and from this run (libFuzzer's merge tries
    # smaller inputs first), so it stays minimal instead of piling up. Only edges count here, not
    # hit counts as while fuzzing: that keeps a third of the files for the same code reached.
    local minimal=$work/minimal/$target
    mkdir -p "$minimal"
    find "$corpus" -type f \( -name 'seed-*' -o -name 'regression-*' \) -exec cp {} "$minimal"/ \;
    local kept_before
    kept_before=$(count_files "$corpus")
    if "$binary" "${options[@]}" -merge=1 -use_counters=0 "$minimal" "$corpus" "$new" >"$work/$target.merge.log" 2>&1; then
        find "$corpus" -type f -delete
        cp "$minimal"/* "$corpus"/
    else
        # The merge crashed or failed: keep the old corpus and everything new, and say so.
        echo "$target: merge failed, see $work/$target.merge.log; new inputs kept unmerged" >&2
        cp -n "$new"/* "$corpus"/ 2>/dev/null || true
    fi
    rmdir "$artifacts" 2>/dev/null || true
    local crashes runs execs cov ft files kib added
    crashes=$(($(count_files "$artifacts") - crashes_before))
    runs=$(sed -n 's/^stat::number_of_executed_units: //p' "$log" | tail -1)
    execs=$(sed -n 's/^stat::average_exec_per_sec: //p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    files=$(count_files "$corpus")
    added=$((files - kept_before))
    kib=$(($(find "$corpus" -type f -exec cat {} + | wc -c) / 1024))
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$target" "${runs:--}" "${execs:--}" "${cov:--}" \
        "${ft:--}" "${added:--}" "$files" "$kib" "$crashes" >"$work/$target.tsv"
    echo "$target: done (log $log)"
}

started=$(date +%s)
echo "fuzzing ${#targets[@]} targets, ${seconds}s each, $jobs at a time, $(date -u +%FT%TZ)"
running=0
for target in "${targets[@]}"; do
    if ((running >= jobs)); then
        wait -n
        running=$((running - 1))
    fi
    fuzz_one "$target" &
    running=$((running + 1))
done
wait
rmdir fuzz/artifacts 2>/dev/null || true

crashed=0
echo
printf '%-24s %10s %8s %6s %7s %6s %7s %9s %8s\n' target runs exec/s cov ft '+/-' corpus 'size KiB' crashes
for target in "${targets[@]}"; do
    IFS=$'\t' read -r name runs execs cov ft added files kib crashes <"$work/$target.tsv"
    printf '%-24s %10s %8s %6s %7s %6s %7s %9s %8s\n' "$name" "$runs" "$execs" "$cov" "$ft" "$added" "$files" "$kib" "$crashes"
    if ((crashes > 0)); then
        crashed=1
    fi
done
echo
echo "$(date -u +%FT%TZ), $(($(date +%s) - started)) s of fuzzing, ${seconds}s per target; logs in $work/"
if ((crashed)); then
    echo "CRASHES: see fuzz/artifacts/<target>/ and the logs; reproduce with fuzz/target/$host/release/<target> <file>" >&2
    exit 1
fi
