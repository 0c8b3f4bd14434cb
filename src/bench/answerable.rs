//! Which QA items the suite may ask: those the full cache answers from their gold paragraphs
//! alone and still among distractors at each length asked, tried in turn (an item missed at one
//! length is not tried at the next). The suite's QA kind draws only from the items this keeps
//! (`suite::SQUAD_ANSWERABLE`), so that the full cache answers most of its cases; nothing here is
//! ever compressed, so the lists favour no method.

use crate::error::Result;
use crate::llama::Model;
use crate::qa::{DocumentSession, QaOptions};

use super::datasets::QaSet;
use super::tasks::{Case, Rng, TaskKind};

/// The `items` of `set` that the full cache answers at every length of `chars` (0:
/// the gold paragraphs alone), the gold at half depth. Items that share their gold paragraphs
/// share one document, drawn from the first of them, and are asked in one load.
/// `progress` gets one line per document.
pub fn screen(
    model: &Model,
    set: &QaSet,
    task: TaskKind,
    items: &[usize],
    chars: &[usize],
    opts: &QaOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<usize>> {
    let mut alive: Vec<usize> = items.iter().copied().filter(|&i| set.items[i].gradable()).collect();
    for &c in chars {
        let groups = by_gold(set, &alive);
        let mut kept = Vec::new();
        for (g, group) in groups.iter().enumerate() {
            let mut rng = Rng(group[0] as u64 ^ (c as u64).rotate_left(32));
            let (document, _, _) = set.case(group[0], c, 0.5, |n| rng.below(n));
            let cases: Vec<Case> = group
                .iter()
                .map(|&i| {
                    let (question, gold) = set.question(i);
                    Case { task, chars: c, depth: 0.5, document: String::new(), question, gold, gold_any: true, tokens: 0, haystack: String::new() }
                })
                .collect();
            let questions: Vec<&str> = cases.iter().map(|q| q.question.as_str()).collect();
            let mut ds = DocumentSession::load(model, &document, &questions, opts)?;
            let mut right = 0;
            for (case, &i) in cases.iter().zip(group) {
                if case.is_correct(&ds.ask(model, &case.question, &mut |_| {})?.text) {
                    kept.push(i);
                    right += 1;
                }
            }
            progress(&format!("{c} chars: document {}/{} answers {right} of items {group:?}", g + 1, groups.len()));
        }
        kept.sort_unstable();
        alive = kept;
    }
    Ok(alive)
}

/// `items` grouped by their gold paragraphs, groups in order of their first item.
fn by_gold(set: &QaSet, items: &[usize]) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for &i in items {
        match groups.iter_mut().find(|g| set.items[g[0]].gold == set.items[i].gold) {
            Some(g) => g.push(i),
            None => groups.push(vec![i]),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::datasets::QaItem;

    #[test]
    fn items_that_share_their_gold_share_a_document() {
        let item = |gold: Vec<usize>| QaItem { question: "Q?".into(), answers: vec!["a".into()], gold, near: vec![] };
        let set = QaSet { paragraphs: vec!["p".into(); 4], items: vec![item(vec![0]), item(vec![1]), item(vec![0]), item(vec![2, 3]), item(vec![2, 3])] };
        assert_eq!(by_gold(&set, &[0, 1, 2, 3, 4]), [vec![0, 2], vec![1], vec![3, 4]]);
        assert_eq!(by_gold(&set, &[1, 2]), [vec![1], vec![2]]);
    }
}
