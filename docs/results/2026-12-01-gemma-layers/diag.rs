// The scores near the needle (scores-near-the-needle.txt): copy this file to tests/zz_diag.rs, add
// `mod zz_diag;` to tests/tests.rs and run `cargo test --release --test tests zz_diag -- --nocapture`.
use kvcompose::llama::FlashAttn;
use kvcompose::prompt;
use kvcompose::qa::DocumentSession;
use crate::util::*;

#[test]
fn diag() {
    for (name, model) in [("gemma", gemma3()), ("smollm2", smollm2())] {
        let doc = doc_window(5500, 11_000);
        let opts = qa_options(FlashAttn::Auto, "f16", "f16", Some(0.5));
        let scored = DocumentSession::score(model, doc, &opts).unwrap();
        let t = prompt::template(&model.inner).tokenize(&model.inner, doc, "").unwrap();
        let vocab = model.inner.vocab();
        let pieces: Vec<String> = t.document.iter().map(|&tk| String::from_utf8_lossy(&vocab.token_to_piece(tk, false, None)).into_owned()).collect();
        let text: String = pieces.concat();
        let at = text.find("4516273").unwrap();
        let mut acc = 0;
        let mut start = 0;
        for (i, p) in pieces.iter().enumerate() {
            if acc + p.len() > at { start = i; break; }
            acc += p.len();
        }
        let np = scored.n_prefix;
        eprintln!("{name}: {} layers scored, prefix {np}, doc {}", scored.maxima.len(), pieces.len());
        for (li, m) in scored.maxima.iter().enumerate() {
            if name == "smollm2" && li % 6 != 5 { continue; }
            // mean over query heads, rank among doc cells
            let s: Vec<f32> = (0..m.n_cells).map(|c| (0..m.n_head).map(|h| m.head(h)[c]).sum::<f32>() / m.n_head as f32).collect();
            let mut sorted: Vec<f32> = s[np..].to_vec();
            sorted.sort_by(|a, b| b.total_cmp(a));
            let rank = |v: f32| sorted.iter().position(|&x| x <= v).unwrap_or(sorted.len()) as f32 / sorted.len() as f32;
            let mut line = String::new();
            for i in start.saturating_sub(4)..(start + 9).min(pieces.len()) {
                let v = s[np + i];
                line += &format!(" [{:?} {:.3} r{:.2}]", pieces[i], v, rank(v));
            }
            eprintln!("  layer {li}:{line}");
        }
    }
}
