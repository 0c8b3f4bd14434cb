//! The fidelity suite: the four kinds of long-document question users ask (one inserted fact, a
//! fact reached through another, one key among similar keys, reading comprehension among
//! distractor paragraphs), at about 1.5k, 3k, 5k and 7k tokens, over haystacks of three styles.
//! Deterministic from the seed. Pure: no model involved.

use super::datasets::QaSet;
use super::tasks::{self, Case, Sources, TaskKind};

/// Document lengths, in SmolLM2 tokens.
pub const LENGTHS: [usize; 4] = [1500, 3000, 5000, 7000];

/// The kinds, in table order; `Squad` stands for the reading-comprehension kind, whose cases
/// alternate between SQuAD and HotpotQA.
pub const KINDS: [TaskKind; 4] = [TaskKind::Needle, TaskKind::Twohop, TaskKind::Twokey, TaskKind::Squad];

/// A text the retrieval kinds hide their facts in, and its characters per SmolLM2 token.
pub struct Haystack<'a> {
    pub name: &'static str,
    pub text: &'a str,
    pub chars_per_token: f64,
}

/// The suite's haystacks: prose essays, 17th-century pamphlet prose, encyclopedia paragraphs.
pub struct Haystacks<'a> {
    pub all: Vec<Haystack<'a>>,
}

impl Haystacks<'_> {
    /// The haystack for case `i` of `tokens` tokens: they take turns among those long enough.
    fn pick(&self, i: usize, tokens: usize) -> &Haystack<'_> {
        let long: Vec<&Haystack<'_>> = self.all.iter().filter(|h| h.text.len() as f64 >= 1.05 * tokens as f64 * h.chars_per_token).collect();
        let pool = if long.is_empty() { self.all.iter().collect() } else { long };
        pool[i % pool.len()]
    }
}

/// Characters per SmolLM2 token of the QA kind's paragraphs, from the suite's cases at 1.5k-5k
/// tokens (`docs/results/2026-12-05-fidelity`): SQuAD's 4.0-4.9, HotpotQA's 3.4-4.0 (names,
/// dates and numbers). HotpotQA once shared SQuAD's 4.4, which made a 7k case 8.2k tokens, more
/// than SmolLM2's 8,192-token context.
const SQUAD_CHARS_PER_TOKEN: f64 = 4.4;
const HOTPOTQA_CHARS_PER_TOKEN: f64 = 3.85;

/// SQuAD items (in `QaSet::squad` order) that SmolLM2-135M-Instruct answers, greedy, from their
/// own paragraph alone (of the first 1,206: `docs/results/2026-12-01-fidelity/answerable.py`)
/// and still with it among about 1.5k tokens of its article's other paragraphs, at half depth
/// (`docs/results/2026-12-07-qa-calibration/answerable-in-context.py`): the suite asks only these,
/// so that the full cache answers most of its QA cases (a third of the items answered alone are).
pub const SQUAD_ANSWERABLE: &[usize] = &[
    0, 5, 7, 25, 30, 48, 51, 54, 67, 70, 76, 79, 87, 90, 91, 95, 97, 108, 129, 130, 132, 137, 144, 146, 148, 150, 155, 160, 165, 171, 188, 234, 247, 252, 268,
    275, 312, 314, 319, 323, 328, 330, 332, 338, 349, 350, 351, 360, 363, 370, 371, 375, 377, 386, 402, 409, 414, 425, 449, 450, 455, 462, 495, 513, 519, 535,
    536, 542, 547, 554, 555, 564, 585, 595, 611, 615, 625, 629, 630, 634, 637, 642, 647, 651, 656, 657, 658, 659, 661, 662, 665, 671, 672, 675, 685, 686, 693,
    729, 747, 750, 771, 786, 792, 793, 795, 807, 815, 842, 850, 911, 924, 927, 928, 932, 933, 955, 959, 973, 974, 976, 979, 986, 990, 999, 1002, 1003, 1019,
    1031, 1034, 1041, 1046, 1051, 1052, 1053, 1077, 1088, 1097, 1104, 1107, 1114, 1132, 1137, 1142, 1143, 1148, 1150, 1158, 1161, 1164, 1165, 1169, 1170, 1177,
    1179, 1183, 1194, 1197,
];

/// The same for HotpotQA (in `QaSet::hotpotqa` order, of the first 300 items), its two supporting
/// paragraphs among the item's own distractors.
pub const HOTPOTQA_ANSWERABLE: &[usize] = &[2, 9, 11, 22, 24, 35, 38, 40, 60, 74, 80, 85, 92, 98, 112, 114, 126, 134, 146, 154, 174, 212, 235, 282, 293];

/// `set` asking only the items `keep` (all paragraphs stay, as distractors).
pub fn only_items(set: &QaSet, keep: &[usize]) -> QaSet {
    QaSet { paragraphs: set.paragraphs.clone(), items: keep.iter().filter_map(|&i| set.items.get(i).cloned()).collect() }
}

/// Encyclopedia paragraphs (SQuAD's contexts) joined into one text, a haystack of another style.
pub fn wiki_text(src: &Sources) -> Option<String> {
    Some(src.squad.as_ref()?.paragraphs.join("\n\n"))
}

/// `per_kind` cases of every kind at every length in `lengths` (tokens); depths spread evenly
/// over the document with a jitter, haystacks and QA sets taking turns. `src` needs SQuAD and
/// HotpotQA.
pub fn cases(hay: &Haystacks<'_>, src: &Sources, lengths: &[usize], per_kind: usize, seed: u64) -> Option<Vec<Case>> {
    let mut out = Vec::new();
    for &tokens in lengths {
        for kind in KINDS {
            for i in 0..per_kind {
                let s = seed ^ (tokens as u64).wrapping_mul(0x9e37_79b9) ^ ((kind as u64) << 40) ^ ((i as u64) << 20);
                let jitter = (tasks::unit(s) - 0.5) * 0.6 / per_kind as f64;
                let depth = (0.05 + 0.85 * (i as f64 + 0.5) / per_kind as f64 + jitter).clamp(0.02, 0.95);
                let case = match kind {
                    TaskKind::Squad | TaskKind::Hotpotqa => {
                        let (task, chars_per_token) =
                            if i % 2 == 0 { (TaskKind::Squad, SQUAD_CHARS_PER_TOKEN) } else { (TaskKind::Hotpotqa, HOTPOTQA_CHARS_PER_TOKEN) };
                        tasks::generate_in(task, "", src, (tokens as f64 * chars_per_token) as usize, depth, s)?
                    }
                    _ => {
                        let h = hay.pick(i, tokens);
                        let mut c = tasks::generate_in(kind, h.text, src, (tokens as f64 * h.chars_per_token) as usize, depth, s)?;
                        c.haystack = h.name.to_string();
                        c
                    }
                };
                out.push(Case { tokens, ..case });
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::datasets::QaItem;

    fn set(n: usize) -> QaSet {
        QaSet {
            paragraphs: (0..n).map(|i| format!("Paragraph {i} says that item {i} is blue. ").repeat(8)).collect(),
            items: (0..n)
                .map(|i| QaItem { question: format!("What colour is item {i}?"), answers: vec!["blue".into()], gold: vec![i], near: vec![] })
                .collect(),
        }
    }

    #[test]
    fn answerable_lists_name_each_item_once_in_order() {
        for list in [SQUAD_ANSWERABLE, HOTPOTQA_ANSWERABLE] {
            assert!(list.windows(2).all(|w| w[0] < w[1]), "{list:?}");
        }
        // The lists as chosen (157 and 25 items), not cut short by an edit.
        assert!(SQUAD_ANSWERABLE.len() >= 100 && HOTPOTQA_ANSWERABLE.len() >= 20);
    }

    #[test]
    fn every_kind_and_length_gets_its_cases_deterministically() {
        let src = Sources { haystack: String::new(), squad: Some(set(200)), hotpotqa: Some(set(200)) };
        let essays = "The essay goes on. ".repeat(3000);
        let short = "Old prose here. ".repeat(700);
        let hay = Haystacks {
            all: vec![Haystack { name: "essays", text: &essays, chars_per_token: 4.0 }, Haystack { name: "short", text: &short, chars_per_token: 4.0 }],
        };
        let a = cases(&hay, &src, &[1500, 7000], 4, 1).unwrap();
        let b = cases(&hay, &src, &[1500, 7000], 4, 1).unwrap();
        assert_eq!(a.len(), 2 * 4 * 4);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!((&x.document, &x.question, &x.gold), (&y.document, &y.question, &y.gold));
            assert!(x.gold.iter().all(|g| x.document.contains(g.as_str())), "{:?}: gold not in the document", x.task);
        }
        // Short haystacks serve short documents only.
        assert!(a.iter().filter(|c| c.tokens == 7000 && c.task != TaskKind::Squad && c.task != TaskKind::Hotpotqa).all(|c| c.haystack == "essays"));
        assert!(a.iter().any(|c| c.tokens == 1500 && c.haystack == "short"));
        // The reading-comprehension kind alternates between the two QA sets.
        assert!(a.iter().any(|c| c.task == TaskKind::Hotpotqa) && a.iter().any(|c| c.task == TaskKind::Squad));
        // Depths spread over the document.
        let depths: Vec<f64> = a.iter().filter(|c| c.task == TaskKind::Needle && c.tokens == 1500).map(|c| c.depth).collect();
        assert!(depths.windows(2).all(|w| w[0] < w[1]) && depths[0] < 0.2 && depths[3] > 0.7, "{depths:?}");
    }
}
