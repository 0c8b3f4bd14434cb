#!/usr/bin/env bash
# The QA kind's item lists (src/bench/suite.rs), screened in Rust (`bench --answerable`): the items
# the full cache answers, as the suite grades them, from their gold paragraphs alone, then among
# about 1.5k and then 3k tokens of distractors (gold at half depth). Never compressed. Screened:
# - the items of the lists before (*-before.json: chosen at 1.5k by
#   ../../2026-12-07-qa-calibration/lists of SQuAD's first 1,206 items and HotpotQA's first 300);
# - from scratch, SQuAD's items 1,206-1,699 and HotpotQA's 300-599 (*-1206-1700.json, *-300-600.json).
# The suite's lists are the union of what each screen keeps.
set -euo pipefail
out=docs/results/2026-12-07-qa-3k/lists
bin=${BIN:-target/release/kvcompose}
screen() {
    "$bin" bench --answerable "$out/$2.json" --tasks "$1" --lengths 0,1500,3000 -n 32 > "$out/$3.json" 2> "$out/$3.log"
}
screen squad squad-before squad
screen hotpotqa hotpotqa-before hotpotqa
screen hotpotqa hotpotqa-300-600 hotpotqa-more
screen squad squad-1206-1700 squad-more
