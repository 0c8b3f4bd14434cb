#!/usr/bin/env bash
# Issue 17's "scoring beyond decoding the copy": the defaults' load (`now`) against the same load
# with the copies decoded but no scores formed (`copyonly`: copy-only.patch, a build of its own
# in COPY_ONLY, else built at HEAD in a fresh worktree by bench-lib's build_at; its selection is
# meaningless, only its time counts), in one run, interleaved, three times, at 2.8k and 6.1k
# tokens: ../2026-12-06-scores-in-kernel/time.sh.
# Writes copy-only.tsv here (the second 6.1k run: BYTES=27000 REPS=4 TSV=$here/copy-only-6k.tsv).
here=$(cd "$(dirname "$0")" && pwd)
if [[ -z ${COPY_ONLY:-} ]]; then
    COPY_ONLY=$(source "$here/../../../scripts/bench-lib.sh" > /dev/null && build_at HEAD "$here/copy-only.patch")
    export COPY_ONLY
fi
OUT=$here TSV=${TSV:-$here/copy-only.tsv} SETTINGS="now copyonly" REPS=${REPS:-3} "$here/../2026-12-06-scores-in-kernel/time.sh"
