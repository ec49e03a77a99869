#!/bin/sh
# Fuzzes each named target (all of them when none is named) for FUZZ_SECONDS seconds
# (default 600), one after another, one job at a time, logging to fuzz/logs/<target>.log.
# Crashes do not stop a run (-fork=1 -ignore_crashes=1): each lands in
# fuzz/artifacts/<target>/ and the run goes on to the end of its time.
set -u
cd "$(dirname "$0")"
mkdir -p logs
targets="${*:-bundle bp7_differential cloak change_scan batch envelope grant signal card beacon quic_frames config social stick import}"
for t in $targets; do
    mkdir -p "corpus/$t"
    echo "== $t: $(date -u +%FT%TZ)" >"logs/$t.log"
    RUSTC_BOOTSTRAP=1 cargo fuzz run "$t" --sanitizer address -- \
        -max_total_time="${FUZZ_SECONDS:-600}" -rss_limit_mb=512 -timeout=10 \
        -fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1 >>"logs/$t.log" 2>&1
    echo "== $t: exit $? $(date -u +%FT%TZ)" >>"logs/$t.log"
done
