//! Long-document cases, generated deterministically (RULER-style): facts inserted into a
//! haystack text at chosen depths, or dataset paragraphs among distractors; one question, gold
//! answers. Pure: no model involved.

use serde::{Deserialize, Serialize};

use super::datasets::{echoes, QaItem, QaSet};

/// The kinds of case, after RULER's retrieval and tracing tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskKind {
    /// One magic number; asked for it.
    Needle,
    /// Four magic numbers under different keys; asked for one.
    Multikey,
    /// Three magic numbers under one key; asked for all of them.
    Multivalue,
    /// A value assigned to one variable, then copied through a chain of others; asked for all.
    Vartrack,
    /// A fact reached through another: who runs a place, and that person's magic number (another
    /// person runs another place); asked for the number of the place's person.
    Twohop,
    /// A SQuAD question, its paragraph among others of its article and of the dataset.
    Squad,
    /// A HotpotQA question, its two supporting paragraphs among distractors (two hops).
    Hotpotqa,
    /// Two magic numbers under two similar keys; asked for one (the suite's similar-keys kind:
    /// SmolLM2's full cache answers about half of the four-key cases, three quarters of these).
    Twokey,
}

impl TaskKind {
    pub const ALL: [TaskKind; 8] = [
        TaskKind::Needle,
        TaskKind::Multikey,
        TaskKind::Twokey,
        TaskKind::Multivalue,
        TaskKind::Vartrack,
        TaskKind::Twohop,
        TaskKind::Squad,
        TaskKind::Hotpotqa,
    ];
}

/// What cases are generated from; a QA set is needed only when its task is asked.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub haystack: String,
    pub squad: Option<QaSet>,
    pub hotpotqa: Option<QaSet>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Case {
    pub task: TaskKind,
    /// Haystack size asked for, in characters.
    pub chars: usize,
    /// Depth of the (first) inserted fact, as a fraction of the haystack.
    pub depth: f64,
    #[serde(skip)]
    pub document: String,
    pub question: String,
    /// Every one of these must appear in the answer (retrieval), or any one (`gold_any`, QA:
    /// the dataset's alternative answers, matched ignoring case as RULER does).
    pub gold: Vec<String>,
    #[serde(default)]
    pub gold_any: bool,
    /// The suite's target length in tokens (0 outside the suite).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tokens: usize,
    /// The haystack's name, for the suite's retrieval kinds.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub haystack: String,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Case {
    /// Whether `answer` holds the gold; a gold answer the question itself holds is not counted
    /// (`datasets::echoes`), and a case left without any is never answered.
    pub fn is_correct(&self, answer: &str) -> bool {
        if self.gold_any {
            // A QA answer is a word or phrase, so "ten" is not in "often"; a small count may
            // come in digits or in words ("2 customaries" answers "two").
            let answer = answer.to_lowercase();
            let gold = self.gold.iter().map(|g| g.to_lowercase()).flat_map(|g| number_in_other_form(&g).into_iter().chain([g]));
            gold.filter(|g| !echoes(&self.question, g)).any(|g| stands_alone(&answer, &g, char::is_alphanumeric))
        } else {
            let gold: Vec<&String> = self.gold.iter().filter(|g| !echoes(&self.question, g)).collect();
            !gold.is_empty() && gold.iter().all(|g| mentions(answer, g))
        }
    }
}

/// A count up to twenty in the other form: "two" as "2", "2" as "two".
fn number_in_other_form(gold: &str) -> Option<String> {
    let mut words =
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty".split(' ');
    match gold.parse::<usize>() {
        Ok(n) => words.nth(n).map(String::from),
        Err(_) => words.position(|w| w == gold).map(|n| n.to_string()),
    }
}

/// Whether `answer` contains `gold`; a number must stand alone, so that "28378888" (a digit
/// too many) does not answer 2837888.
fn mentions(answer: &str, gold: &str) -> bool {
    if gold.is_empty() || !gold.bytes().all(|b| b.is_ascii_digit()) {
        return answer.contains(gold);
    }
    stands_alone(answer, gold, |c| c.is_ascii_digit())
}

/// Whether `gold` occurs in `answer` with no `part` character on either side.
fn stands_alone(answer: &str, gold: &str, part: impl Fn(char) -> bool) -> bool {
    !gold.is_empty()
        && answer
            .match_indices(gold)
            .any(|(i, _)| !answer[..i].chars().next_back().is_some_and(&part) && !answer[i + gold.len()..].chars().next().is_some_and(&part))
}

const KEYS: [&str; 12] = [
    "printing house",
    "licensing order",
    "parliament",
    "bookseller",
    "university",
    "library",
    "city of London",
    "star chamber",
    "council of Trent",
    "inquisition",
    "academy of Athens",
    "censor",
];
const PEOPLE: [&str; 10] =
    ["Marlowe Quint", "Tobias Renn", "Ada Vell", "Corin Hale", "Mira Stroud", "Jonas Pike", "Elsa Marrow", "Silas Orme", "Nora Fell", "Quentin Ashby"];
const VARS: [&str; 10] = ["QXMBT", "LRAPE", "ZKUVW", "HJDOS", "NBCFY", "TWQLE", "PMZRA", "GKSOV", "YDHUN", "EXWJB"];

/// A small deterministic generator (splitmix64), so cases are the same on every machine.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn number(&mut self) -> String {
        (1_000_000 + self.below(9_000_000)).to_string()
    }

    /// `k` distinct indices below `n`.
    fn pick(&mut self, n: usize, k: usize) -> Vec<usize> {
        let mut all: Vec<usize> = (0..n).collect();
        for i in 0..k {
            let j = i + self.below(n - i);
            all.swap(i, j);
        }
        all.truncate(k);
        all
    }
}

/// A number in [0, 1) drawn from `seed`.
pub fn unit(seed: u64) -> f64 {
    (Rng(seed).next() >> 11) as f64 / (1u64 << 53) as f64
}

/// The first `chars` characters of `haystack`, cut at a paragraph end when one is near the end
/// (within the last fifth), else at a sentence end: RULER's essays have few paragraph breaks.
pub fn cut(haystack: &str, chars: usize) -> &str {
    if chars >= haystack.len() {
        return haystack;
    }
    let mut end = chars;
    while !haystack.is_char_boundary(end) {
        end -= 1;
    }
    let head = &haystack[..end];
    let near = |i: &usize| *i >= end - end / 5;
    match head.rfind("\n\n").filter(near) {
        Some(i) => &head[..i],
        None => head.rfind(". ").filter(near).map_or(head, |i| &head[..i + 1]),
    }
}

/// Inserts each `(depth, sentence)` after the first sentence end past that depth.
fn insert(text: &str, facts: &[(f64, String)]) -> String {
    let mut at: Vec<(usize, &str)> = facts
        .iter()
        .map(|(d, s)| {
            let from = ((text.len() as f64 * d) as usize).min(text.len());
            let from = (from..=text.len()).find(|&i| text.is_char_boundary(i)).unwrap_or(text.len());
            let pos = text[from..].find(". ").map_or(text.len(), |i| from + i + 2);
            (pos, s.as_str())
        })
        .collect();
    at.sort_by_key(|&(p, _)| p);
    let mut out = String::with_capacity(text.len() + facts.len() * 80);
    let mut last = 0;
    for (pos, s) in at {
        out.push_str(&text[last..pos]);
        out.push_str(s);
        out.push(' ');
        last = pos;
    }
    out.push_str(&text[last..]);
    out
}

fn magic(key: &str, value: &str) -> String {
    format!("One of the special magic numbers for the {key} is: {value}.")
}

/// One case of `task` of about `chars` characters, the (first) fact at `depth`; `seed` draws
/// the keys, numbers and questions. `None` when the task's QA set is not in `src`.
pub fn generate(task: TaskKind, src: &Sources, chars: usize, depth: f64, seed: u64) -> Option<Case> {
    generate_in(task, &src.haystack, src, chars, depth, seed)
}

/// [`generate`] with the facts hidden in `haystack` (the QA sets still from `src`).
pub fn generate_in(task: TaskKind, haystack: &str, src: &Sources, chars: usize, depth: f64, seed: u64) -> Option<Case> {
    let text = cut(haystack, chars);
    let mut rng = Rng(seed ^ (chars as u64).rotate_left(17) ^ (depth * 1e6) as u64);
    // Later facts spread over the rest of the document after the first.
    let spread = |i: usize, n: usize| depth + (1.0 - depth) * 0.9 * i as f64 / n as f64;
    let (facts, question, gold) = match task {
        TaskKind::Needle => {
            let key = KEYS[rng.below(KEYS.len())];
            let v = rng.number();
            (vec![(depth, magic(key, &v))], format!("What is the special magic number for the {key} mentioned in the provided text?"), vec![v])
        }
        TaskKind::Multikey | TaskKind::Twokey => {
            let n = if task == TaskKind::Multikey { 4 } else { 2 };
            let keys = rng.pick(KEYS.len(), n);
            let values: Vec<String> = keys.iter().map(|_| rng.number()).collect();
            let facts = keys.iter().zip(&values).enumerate().map(|(i, (&k, v))| (spread(i, n), magic(KEYS[k], v))).collect();
            // Ask for a random one of them, not always the first.
            let asked = rng.below(n);
            (facts, format!("What is the special magic number for the {} mentioned in the provided text?", KEYS[keys[asked]]), vec![values[asked].clone()])
        }
        TaskKind::Multivalue => {
            let key = KEYS[rng.below(KEYS.len())];
            let values: Vec<String> = (0..3).map(|_| rng.number()).collect();
            let facts = values.iter().enumerate().map(|(i, v)| (spread(i, 3), magic(key, v))).collect();
            (facts, format!("What are all the special magic numbers for the {key} mentioned in the provided text?"), values)
        }
        TaskKind::Vartrack => {
            let names: Vec<&str> = rng.pick(VARS.len(), 4).into_iter().map(|i| VARS[i]).collect();
            let v = rng.number();
            let mut facts = vec![(depth, format!("VAR {} = {v}.", names[0]))];
            facts.extend((1..names.len()).map(|i| (spread(i, names.len()), format!("VAR {} = VAR {}.", names[i], names[i - 1]))));
            (
                facts,
                format!("Which variables in the provided text are assigned the value {v}, directly or through other variables?"),
                names.iter().map(|s| s.to_string()).collect(),
            )
        }
        TaskKind::Twohop => {
            let keys = rng.pick(KEYS.len(), 2);
            let who = rng.pick(PEOPLE.len(), 2);
            let (place, person, other) = (KEYS[keys[0]], PEOPLE[who[0]], PEOPLE[who[1]]);
            let v = rng.number();
            let mut sentences = vec![
                format!("{person} runs the {place}."),
                format!("The special magic number of {person} is {v}."),
                format!("{other} runs the {}.", KEYS[keys[1]]),
                format!("{other} likes to walk in the park."),
            ];
            // Either of the two hops may come first.
            if rng.below(2) == 1 {
                sentences.swap(0, 1);
            }
            let facts = sentences.into_iter().enumerate().map(|(i, s)| (spread(i, 4), s)).collect();
            (facts, format!("What is the special magic number of the person who runs the {place}?"), vec![v])
        }
        TaskKind::Squad | TaskKind::Hotpotqa => {
            let set = if task == TaskKind::Squad { src.squad.as_ref() } else { src.hotpotqa.as_ref() }?;
            // An item the question already answers is passed over for the next one; other
            // cases draw as before (each case has its own generator).
            let n = set.items.len();
            let first = rng.below(n);
            let pick = (first..first + n).find(|&p| set.items.get(p % n).is_some_and(QaItem::gradable)).unwrap_or(first);
            let (document, question, gold) = set.case(pick, chars, depth, |n| rng.below(n));
            return Some(Case { task, chars, depth, document, question, gold, gold_any: true, tokens: 0, haystack: String::new() });
        }
    };
    Some(Case { task, chars, depth, document: insert(text, &facts), question, gold, gold_any: false, tokens: 0, haystack: String::new() })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HAY: &str = "First sentence here. Second one follows. Third is longer than the others.\n\nA new paragraph. And its end.\n\nLast words here.";

    fn hay() -> Sources {
        Sources { haystack: HAY.into(), ..Default::default() }
    }

    #[test]
    fn a_number_answers_only_standing_alone() {
        let c = generate(TaskKind::Needle, &hay(), 1000, 0.3, 7).unwrap();
        let n = &c.gold[0];
        assert!(n.bytes().all(|b| b.is_ascii_digit()));
        assert!(c.is_correct(&format!("The number is {n}.")) && c.is_correct(n));
        assert!(c.is_correct(&format!("1{n}, no: {n}")));
        assert!(!c.is_correct(&format!("The number is {n}8.")) && !c.is_correct(&format!("9{n}")));
        assert!(!c.is_correct(&n[..n.len() - 1]));
    }

    #[test]
    fn cases_are_deterministic_and_hold_their_facts() {
        for task in [TaskKind::Needle, TaskKind::Multikey, TaskKind::Twokey, TaskKind::Multivalue, TaskKind::Vartrack, TaskKind::Twohop] {
            let a = generate(task, &hay(), 1000, 0.3, 7).unwrap();
            let b = generate(task, &hay(), 1000, 0.3, 7).unwrap();
            assert_eq!((a.document.clone(), a.question.clone(), a.gold.clone()), (b.document, b.question, b.gold));
            assert!(a.gold.iter().all(|g| a.document.contains(g.as_str())), "{task:?}: gold not in the document");
            assert!(a.is_correct(&a.gold.join(", ")) && !a.is_correct("I do not know"));
            // The haystack is all there, in order, with whole sentences added between its sentences.
            let mut rest = a.document.as_str();
            for piece in cut(HAY, 1000).split(". ") {
                let at = rest.find(piece).unwrap_or_else(|| panic!("{task:?}: lost {piece:?}"));
                rest = &rest[at + piece.len()..];
            }
        }
    }

    #[test]
    fn cut_stops_at_a_paragraph_and_insert_after_a_sentence() {
        assert_eq!(cut(HAY, 90), "First sentence here. Second one follows. Third is longer than the others.");
        // No paragraph end near the cut: the last sentence end.
        assert_eq!(cut(HAY, 45), "First sentence here. Second one follows.");
        assert_eq!(cut("No end in sight at all", 10), "No end in ");
        let s = insert("One. Two. Three.", &[(0.0, "X.".into())]);
        assert_eq!(s, "One. X. Two. Three.");
        let seeds: std::collections::HashSet<String> = (0..20).map(|s| generate(TaskKind::Needle, &hay(), 1000, 0.5, s).unwrap().gold[0].clone()).collect();
        assert!(seeds.len() > 15, "numbers vary with the seed");
    }

    #[test]
    fn qa_cases_need_their_set_and_match_any_answer_ignoring_case() {
        assert!(generate(TaskKind::Squad, &hay(), 1000, 0.5, 1).is_none());
        let squad = QaSet {
            paragraphs: vec!["Paris is in France.".into(), "Rome is in Italy.".into()],
            items: vec![super::super::datasets::QaItem {
                question: "Where is Paris?".into(),
                answers: vec!["France".into(), "in France".into()],
                gold: vec![0],
                near: vec![1],
            }],
        };
        let src = Sources { squad: Some(squad), ..hay() };
        let c = generate(TaskKind::Squad, &src, 1000, 0.5, 1).unwrap();
        assert!(c.gold_any && c.document.contains("Paris is in France.") && c.question.contains("Where is Paris?"));
        assert!(c.is_correct("It is in FRANCE.") && !c.is_correct("Italy"));
    }

    #[test]
    fn answers_the_question_holds_are_not_graded_and_their_items_not_asked() {
        let item = |question: &str, answers: &[&str], gold| QaItem {
            question: question.into(),
            answers: answers.iter().map(|a| a.to_string()).collect(),
            gold: vec![gold],
            near: vec![],
        };
        let squad = QaSet {
            paragraphs: vec!["Ann was born in 1950, Bo in 1960.".into(), "P is a complexity class.".into()],
            items: vec![item("Who is older, Ann or Bo?", &["Ann"], 0), item("What class is easy?", &["complexity class P", "P"], 1)],
        };
        assert!(!squad.items[0].gradable() && squad.items[1].gradable());
        let src = Sources { squad: Some(squad), ..hay() };
        for seed in 0..8 {
            let c = generate(TaskKind::Squad, &src, 1000, 0.5, seed).unwrap();
            assert!(c.question.contains("What class is easy?"), "{seed}: {}", c.question);
            // "P" must stand alone: "a simple problem" holds a p, not the answer.
            assert!(c.is_correct("the complexity class P") && c.is_correct("P.") && !c.is_correct("a simple problem"));
        }
        let mut c = generate(TaskKind::Squad, &src, 1000, 0.5, 0).unwrap();
        c.question = "Who is older, Ann or Bo?".into();
        c.gold = vec!["Ann".into()];
        assert!(!c.is_correct("Ann is older than Bo."), "an answer that repeats the question");
    }

    #[test]
    fn a_small_count_answers_in_digits_or_in_words() {
        let qa = |question: &str, gold: &str| Case {
            task: TaskKind::Squad,
            chars: 0,
            depth: 0.5,
            document: String::new(),
            question: question.into(),
            gold: vec![gold.into()],
            gold_any: true,
            tokens: 0,
            haystack: String::new(),
        };
        let c = qa("How many customaries does Norman law have?", "two");
        assert!(c.is_correct("Norman customary law has 2 customaries") && c.is_correct("Two."));
        assert!(!c.is_correct("It has 12 customaries") && !c.is_correct("2014 is the year"), "2 stands alone");
        assert!(qa("How many counties?", "7").is_correct("seven counties") && !qa("How many counties?", "7").is_correct("seventeen"));
        // Larger numbers and other words have no other form.
        assert!(!qa("How many men?", "30,000").is_correct("thirty thousand") && !qa("Who?", "Ann").is_correct("1"));
        // Nor does a form the question holds count: "one or 2?" is not answered by "2".
        assert!(!qa("Is it one or 2?", "two").is_correct("2") && qa("Is it one or 2?", "two").is_correct("two"));
    }
}
