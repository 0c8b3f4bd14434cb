//! Question answering over real paragraphs (SQuAD, HotpotQA), RULER's `qa_1`/`qa_2`: the
//! paragraphs that answer a question among distractor paragraphs, as numbered documents. Pure:
//! parsing and generation only; the files come from `fetch`.

use std::collections::HashMap;

use serde::Deserialize;

/// Paragraphs and the questions they answer.
#[derive(Debug, Clone, Default)]
pub struct QaSet {
    pub paragraphs: Vec<String>,
    pub items: Vec<QaItem>,
}

#[derive(Debug, Clone)]
pub struct QaItem {
    pub question: String,
    /// Alternative gold answers: any one of them in the output is correct.
    pub answers: Vec<String>,
    /// Paragraphs that hold the answer, in reading order.
    pub gold: Vec<usize>,
    /// Preferred distractors (SQuAD: other paragraphs of the same article, as RULER takes them).
    pub near: Vec<usize>,
}

/// Whether `question` already holds `answer` (ignoring case). Graded by containment, such an
/// answer proves nothing: "Who is older, A or B?" is "answered" by repeating it.
pub fn echoes(question: &str, answer: &str) -> bool {
    question.to_lowercase().contains(&answer.to_lowercase())
}

/// The question a QA case asks about its numbered documents.
fn prompt(item: &QaItem) -> String {
    format!("Answer the question based on the given documents, in a few words. Question: {}", item.question)
}

impl QaItem {
    /// Whether some answer is left to grade once those the question holds are set aside.
    pub fn gradable(&self) -> bool {
        let question = prompt(self);
        self.answers.iter().any(|a| !echoes(&question, a))
    }
}

/// The text of RULER's `PaulGrahamEssays.json` (`{"text": ...}`).
pub fn essays(json: &str) -> Result<String, String> {
    #[derive(Deserialize)]
    struct Essays {
        text: String,
    }
    let e: Essays = serde_json::from_str(json).map_err(|e| format!("not RULER's essays JSON: {e}"))?;
    if e.text.trim().is_empty() {
        return Err("the essays' text is empty".into());
    }
    Ok(e.text)
}

/// Interns paragraph texts, so one paragraph shared by several items is stored once.
#[derive(Default)]
struct Paragraphs {
    texts: Vec<String>,
    index: HashMap<String, usize>,
}

impl Paragraphs {
    fn id(&mut self, text: String) -> usize {
        if let Some(&i) = self.index.get(&text) {
            return i;
        }
        self.texts.push(text.clone());
        self.index.insert(text, self.texts.len() - 1);
        self.texts.len() - 1
    }
}

#[derive(Deserialize)]
struct Squad {
    data: Vec<SquadArticle>,
}
#[derive(Deserialize)]
struct SquadArticle {
    paragraphs: Vec<SquadParagraph>,
}
#[derive(Deserialize)]
struct SquadParagraph {
    context: String,
    qas: Vec<SquadQa>,
}
#[derive(Deserialize)]
struct SquadQa {
    question: String,
    answers: Vec<SquadAnswer>,
    #[serde(default)]
    is_impossible: bool,
}
#[derive(Deserialize)]
struct SquadAnswer {
    text: String,
}

#[derive(Deserialize)]
struct Hotpot {
    question: String,
    answer: String,
    supporting_facts: Vec<(String, serde_json::Value)>,
    context: Vec<(String, Vec<String>)>,
}

impl QaSet {
    /// SQuAD 2.0 (`squad.json`): answerable questions only.
    pub fn squad(json: &str) -> Result<QaSet, String> {
        let squad: Squad = serde_json::from_str(json).map_err(|e| format!("not SQuAD JSON: {e}"))?;
        let mut p = Paragraphs::default();
        let mut items = Vec::new();
        for article in squad.data {
            let ids: Vec<usize> = article.paragraphs.iter().map(|q| p.id(q.context.clone())).collect();
            for (para, &id) in article.paragraphs.into_iter().zip(&ids) {
                for qa in para.qas.into_iter().filter(|q| !q.is_impossible && !q.answers.is_empty()) {
                    let mut answers: Vec<String> = qa.answers.into_iter().map(|a| a.text).collect();
                    answers.dedup();
                    let near = ids.iter().copied().filter(|&i| i != id).collect();
                    items.push(QaItem { question: qa.question, answers, gold: vec![id], near });
                }
            }
        }
        QaSet::new(p.texts, items, "SQuAD")
    }

    /// HotpotQA distractor dev set (`hotpotqa.json`): the supporting paragraphs are the gold,
    /// the item's other paragraphs the near distractors. Yes/no questions are left out: "yes"
    /// appears in too many wrong answers to score by containment.
    pub fn hotpotqa(json: &str) -> Result<QaSet, String> {
        let items: Vec<Hotpot> = serde_json::from_str(json).map_err(|e| format!("not HotpotQA JSON: {e}"))?;
        let mut p = Paragraphs::default();
        let mut out = Vec::new();
        for h in items.into_iter().filter(|h| h.answer != "yes" && h.answer != "no") {
            let (mut gold, mut near) = (Vec::new(), Vec::new());
            for (title, sentences) in h.context {
                let supporting = h.supporting_facts.iter().any(|(t, _)| *t == title);
                let id = p.id(format!("{title}\n{}", sentences.concat()));
                if supporting {
                    gold.push(id)
                } else {
                    near.push(id)
                }
            }
            if !gold.is_empty() {
                out.push(QaItem { question: h.question, answers: vec![h.answer], gold, near });
            }
        }
        QaSet::new(p.texts, out, "HotpotQA")
    }

    /// A set draws its cases by item index, so one without items is refused where it is read.
    fn new(paragraphs: Vec<String>, items: Vec<QaItem>, what: &str) -> Result<QaSet, String> {
        if items.is_empty() {
            return Err(format!("the {what} file holds no question to ask"));
        }
        Ok(QaSet { paragraphs, items })
    }

    /// Item `pick % len` as numbered documents of about `chars` characters: the gold paragraphs
    /// (the first at `depth`, later ones spread after it) among distractors, near ones first.
    /// Returns the document, the question and the gold answers.
    pub fn case(&self, pick: usize, chars: usize, depth: f64, mut draw: impl FnMut(usize) -> usize) -> (String, String, Vec<String>) {
        let item = &self.items[pick % self.items.len()];
        let mut pool: Vec<usize> = item.near.clone();
        let mut others: Vec<usize> = (0..self.paragraphs.len()).filter(|i| !item.gold.contains(i) && !item.near.contains(i)).collect();
        // A partial Fisher-Yates over each pool: deterministic in `draw`, no whole-set shuffle.
        let mut distractors = Vec::new();
        let gold_chars: usize = item.gold.iter().map(|&g| self.paragraphs[g].len()).sum();
        let mut total = gold_chars;
        for list in [&mut pool, &mut others] {
            let mut i = 0;
            while total < chars && i < list.len() {
                let j = i + draw(list.len() - i);
                list.swap(i, j);
                total += self.paragraphs[list[i]].len() + 16;
                distractors.push(list[i]);
                i += 1;
            }
        }
        let n = distractors.len() + item.gold.len();
        let mut order = distractors;
        let n_gold = item.gold.len();
        for (k, &g) in item.gold.iter().enumerate() {
            let d = depth + (1.0 - depth) * 0.9 * k as f64 / n_gold as f64;
            let at = ((d * n as f64) as usize).min(order.len());
            // Later gold paragraphs never go before earlier ones.
            let at = at.max(order.iter().rposition(|i| item.gold.contains(i)).map_or(0, |p| p + 1));
            order.insert(at, g);
        }
        let document = order.iter().enumerate().map(|(i, &p)| format!("Document {}:\n{}", i + 1, self.paragraphs[p])).collect::<Vec<_>>().join("\n\n");
        let (question, answers) = self.question(pick);
        (document, question, answers)
    }

    /// Item `pick % len`'s question, as a case asks it, and its gold answers.
    pub fn question(&self, pick: usize) -> (String, Vec<String>) {
        let item = &self.items[pick % self.items.len()];
        (prompt(item), item.answers.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SQUAD: &str = r#"{"version": "v2.0", "data": [
        {"title": "A", "paragraphs": [
            {"context": "Paris is the capital of France.", "qas": [
                {"question": "What is the capital of France?", "answers": [{"text": "Paris"}, {"text": "Paris"}], "is_impossible": false},
                {"question": "What is the capital of Mars?", "answers": [], "is_impossible": true}]},
            {"context": "Lyon is a city in France.", "qas": []}]},
        {"title": "B", "paragraphs": [
            {"context": "Rome is the capital of Italy.", "qas": [
                {"question": "What is the capital of Italy?", "answers": [{"text": "Rome"}, {"text": "the city of Rome"}], "is_impossible": false}]}]}]}"#;

    const HOTPOT: &str = r#"[
        {"question": "Which river flows through the city where X was born?", "answer": "Seine",
         "supporting_facts": [["X", 0], ["Paris", 1]],
         "context": [["X", ["X was born in Paris."]], ["Y", ["Y is a painter."]], ["Paris", ["Paris is a city.", " The Seine flows through it."]]]},
        {"question": "Is Y a painter?", "answer": "yes", "supporting_facts": [["Y", 0]], "context": [["Y", ["Y is a painter."]]]}]"#;

    #[test]
    fn essays_are_the_text_field() {
        assert_eq!(essays(r#"{"text": "April 2012A nurse."}"#).unwrap(), "April 2012A nurse.");
        assert!(essays(r#"{"text": " "}"#).unwrap_err().contains("empty"));
        assert!(essays("[]").unwrap_err().contains("not RULER's essays JSON"));
    }

    #[test]
    fn squad_keeps_answerable_questions_with_their_article_as_near_distractors() {
        let s = QaSet::squad(SQUAD).unwrap();
        assert_eq!(s.paragraphs.len(), 3);
        assert_eq!(s.items.len(), 2);
        let it = &s.items[0];
        assert_eq!((it.answers.clone(), s.paragraphs[it.gold[0]].as_str()), (vec!["Paris".to_string()], "Paris is the capital of France."));
        assert_eq!(it.near.iter().map(|&i| s.paragraphs[i].as_str()).collect::<Vec<_>>(), ["Lyon is a city in France."]);
        assert!(QaSet::squad("[]").unwrap_err().contains("not SQuAD JSON"));
        assert!(QaSet::squad(r#"{"data": []}"#).unwrap_err().contains("no question"));
    }

    #[test]
    fn hotpot_gold_is_the_supporting_paragraphs_in_order_and_yes_no_is_left_out() {
        let h = QaSet::hotpotqa(HOTPOT).unwrap();
        assert_eq!(h.items.len(), 1);
        let it = &h.items[0];
        let gold: Vec<&str> = it.gold.iter().map(|&i| h.paragraphs[i].as_str()).collect();
        assert_eq!(gold, ["X\nX was born in Paris.", "Paris\nParis is a city. The Seine flows through it."]);
        assert_eq!(h.paragraphs.len(), 3, "Y is shared by both items, stored once");
        assert!(QaSet::hotpotqa("[]").unwrap_err().contains("no question"));
    }

    #[test]
    fn cases_hold_every_gold_paragraph_in_order_at_about_the_length_asked() {
        let h = QaSet::hotpotqa(HOTPOT).unwrap();
        let s = QaSet::squad(SQUAD).unwrap();
        let mut state = 0usize;
        let mut draw = |n: usize| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 33) % n
        };
        for depth in [0.0, 0.5, 1.0] {
            let (doc, q, gold) = h.case(0, 1000, depth, &mut draw);
            assert!(q.ends_with("Which river flows through the city where X was born?") && gold == ["Seine"]);
            let (a, b) = (doc.find("X was born").unwrap(), doc.find("The Seine").unwrap());
            assert!(a < b, "gold paragraphs keep their order at depth {depth}: {doc}");
            assert!(doc.starts_with("Document 1:\n") && doc.contains("Y is a painter."));
            // Short on paragraphs: every one is used once.
            let (doc, _, gold) = s.case(1, 10_000, depth, &mut draw);
            assert_eq!(gold, ["Rome", "the city of Rome"]);
            assert_eq!(doc.matches("Document ").count(), 3, "{doc}");
        }
        // Long enough pools stop near the length asked.
        let (doc, ..) = s.case(0, 40, 0.5, &mut draw);
        assert_eq!(doc.matches("Document ").count(), 2, "{doc}");
    }
}
