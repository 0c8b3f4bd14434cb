#!/usr/bin/env bash
# The QA kind's item lists (src/bench/suite.rs): the items SmolLM2 answers from their gold
# paragraphs alone (the first 1,206 SQuAD items, the first 300 HotpotQA ones), then those it still
# answers among about 1.5k tokens of distractors (../answerable-in-context.py).
source "$(dirname "$0")/../../../../scripts/bench-lib.sh"
out=docs/results/2026-12-07-qa-calibration/lists
python3 docs/results/2026-12-01-fidelity/answerable.py squad 1200 "$bin" > "$out/squad-alone.json"
python3 docs/results/2026-12-01-fidelity/answerable.py hotpotqa 300 "$bin" > "$out/hotpotqa-alone.json"
for set in squad hotpotqa; do
    python3 docs/results/2026-12-07-qa-calibration/answerable-in-context.py "$set" "$out/$set-alone.json" "$bin" > "$out/$set-in-context.json"
done
