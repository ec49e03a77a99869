#!/bin/sh
# One line per fuzz log (fuzz/logs/<target>.log): executions, seconds fuzzed, corpus
# entries and size on disk, and crashes / OOMs / timeouts, as libFuzzer printed them.
cd "$(dirname "$0")"
printf '| target | executions | time (s) | corpus (files, size) | crashes/ooms/timeouts |\n| --- | --- | --- | --- | --- |\n'
for log in logs/*.log; do
    t=$(basename "$log" .log)
    last=$(grep '^#[0-9]' "$log" | tail -1)
    execs=$(echo "$last" | sed -n 's/^#\([0-9]*\).*/\1/p')
    secs=$(echo "$last" | sed -n 's/.* time: \([0-9]*\)s.*/\1/p')
    bad=$(echo "$last" | sed -n 's/.*oom\/timeout\/crash: \([0-9]*\)\/\([0-9]*\)\/\([0-9]*\).*/\3\/\1\/\2/p')
    files=$(ls "corpus/$t" 2>/dev/null | wc -l)
    size=$(du -sh "corpus/$t" 2>/dev/null | cut -f1)
    printf '| `%s` | %s | %s | %s, %s | %s |\n' "$t" "$execs" "$secs" "$files" "$size" "$bad"
done
