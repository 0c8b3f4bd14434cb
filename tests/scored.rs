//! The benchmark's scored documents: read and scored once, then compressed on the host. They
//! must give what the CLI's layer-by-layer prefill gives, and per-head budgets must hold and
//! attend to exactly each head's own selection.

use crate::util::*;
use kvcompose::compress::MethodName;
use kvcompose::llama::{FlashAttn, ScoreReduction};
use kvcompose::pipeline::{BudgetMode, Scorer, ALONE_CHUNK};
use kvcompose::prompt;
use kvcompose::qa::{DocumentSession, QaOptions};

#[test]
fn a_scored_document_compresses_as_the_layer_by_layer_prefill_does() {
    let model = smollm2();
    let doc = doc_prefix(5000);
    // Global budgets (per-layer sizes); uniform ones differ only in the pure selection.
    let budget_mode = BudgetMode::Global;
    let mut opts = qa_options(FlashAttn::On, "f16", "f16", Some(0.25));
    opts.compress.as_mut().unwrap().budget_mode = budget_mode;
    let mut live = DocumentSession::load(model, doc, &[LONG_QUESTION], &opts).unwrap();
    let scored = DocumentSession::score(model, doc, &opts).unwrap();
    let mut host = DocumentSession::from_scored(model, doc, &scored, &[LONG_QUESTION], &opts).unwrap();
    assert_eq!(live.stats().origins, host.stats().origins, "{budget_mode:?}: the same tokens in every head");
    assert_eq!(live.stats().layer_cells, host.stats().layer_cells);
    let (a, b) = (live.ask(model, LONG_QUESTION, &mut |_| {}).unwrap(), host.ask(model, LONG_QUESTION, &mut |_| {}).unwrap());
    assert_eq!(a.text, b.text, "{budget_mode:?}");
    let d = a.first_logits.iter().zip(&b.first_logits).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    assert!(d < 1e-3, "{budget_mode:?}: first-token logits differ by {d}");
    // The whole cache from the same scored document is stock llama.cpp's.
    let whole = qa_options(FlashAttn::On, "f16", "f16", None);
    let mut stock = DocumentSession::load(model, doc, &[LONG_QUESTION], &whole).unwrap();
    let mut full = DocumentSession::from_scored(model, doc, &scored, &[LONG_QUESTION], &whole).unwrap();
    let (a, b) = (stock.ask(model, LONG_QUESTION, &mut |_| {}).unwrap(), full.ask(model, LONG_QUESTION, &mut |_| {}).unwrap());
    assert_eq!(a.first_logits, b.first_logits, "the restored whole cache is the prefilled one");
}

/// Copies that see only their own chunk (`Scorer::Chunks`): a document within one chunk is
/// scored exactly as by the whole copy (same positions, same cells seen, through a second
/// sequence sharing the document's cells); in a longer one every chunk's cells are scored, and
/// the layer-by-layer prefill with the same copies keeps what the scored document keeps.
#[test]
fn copies_alone_score_a_one_chunk_document_as_the_whole_copy_does_and_every_chunk_of_a_longer_one() {
    let model = smollm2();
    let mut opts = qa_options(FlashAttn::On, "f16", "f16", Some(0.25));
    // Scores formed in the flash-attention kernel, as the benchmark forms them.
    opts.session.scores = ScoreReduction::Auto;
    opts.compress.as_mut().unwrap().scorer = Scorer::Repeat;
    let short = doc_prefix(3000);
    let whole = DocumentSession::score(model, short, &opts).unwrap();
    opts.compress.as_mut().unwrap().scorer = Scorer::Chunks;
    let alone = DocumentSession::score(model, short, &opts).unwrap();
    assert_eq!(whole.state, alone.state, "the same document read");
    for (l, (a, b)) in whole.maxima.iter().zip(&alone.maxima).enumerate() {
        assert_eq!(a.data, b.data, "layer {l}: one chunk, the whole copy's scores");
    }
    let long = doc_prefix(12000);
    let s = DocumentSession::score(model, long, &opts).unwrap();
    let n = s.maxima[0].n_cells;
    assert!(n > ALONE_CHUNK + s.n_prefix + 256, "two chunks ({n} cells)");
    for (l, m) in s.maxima.iter().enumerate() {
        let unscored = (s.n_prefix..n).filter(|&c| m.data.chunks(n).all(|head| head[c] <= 0.0)).count();
        assert_eq!(unscored, 0, "layer {l}: every cell scored by its chunk's copy");
    }
    let mut live = DocumentSession::load(model, long, &[LONG_QUESTION], &opts).unwrap();
    let mut host = DocumentSession::from_scored(model, long, &s, &[LONG_QUESTION], &opts).unwrap();
    assert_eq!(live.stats().origins, host.stats().origins, "layer by layer, the same tokens in every head");
    assert_eq!(live.stats().layer_cells, host.stats().layer_cells);
    let (a, b) = (live.ask(model, LONG_QUESTION, &mut |_| {}).unwrap(), host.ask(model, LONG_QUESTION, &mut |_| {}).unwrap());
    assert_eq!(a.text, b.text);
    // A window cache slides per sequence: refused on Gemma 3, before any decode.
    let e = DocumentSession::score(gemma3(), short, &opts).expect_err("refused").to_string();
    assert!(e.contains("sliding-window"), "{e}");
    let e = DocumentSession::load(gemma3(), short, &[LONG_QUESTION], &opts).err().expect("refused").to_string();
    assert!(e.contains("sliding-window"), "{e}");
}

/// KVzip's per-head budgets: heads of a layer keep different numbers of tokens, each the top of
/// its own scores (max over its query group), one threshold over all layers and heads, the layer
/// as long as its longest head; flash attention, which cannot mask per head, is refused.
#[test]
fn per_head_budgets_keep_each_heads_own_top_tokens_and_mask_the_padding() {
    let model = smollm2();
    let doc = doc_prefix(4000);
    let mut opts = qa_options(FlashAttn::Off, "f16", "f16", Some(0.25));
    opts.compress.as_mut().unwrap().method = MethodName::Kvzip;
    let c = opts.compress.as_ref().unwrap().effective();
    opts.compress = Some(c.clone());
    let scored = DocumentSession::score(model, doc, &opts).unwrap();
    let mut ds = DocumentSession::from_scored(model, doc, &scored, &[LONG_QUESTION], &opts).unwrap();
    let s = ds.stats().clone();
    assert_eq!(s.head_cells.len(), s.layer_cells.len());
    let n_total = s.cells_full;
    let mut differ = 0;
    for (l, (heads, &cells)) in s.head_cells.iter().zip(&s.layer_cells).enumerate() {
        assert_eq!(heads.iter().copied().max(), Some(cells), "layer {l}: as long as its longest head");
        differ += usize::from(heads.iter().any(|&h| h != heads[0]));
        for (h, &n) in heads.iter().enumerate() {
            // Each head's live cells are its own n best tokens (the prefix always among them).
            let live: Vec<i32> = s.origins[l][h][..n].to_vec();
            assert!(live.windows(2).all(|w| w[0] < w[1]), "layer {l} head {h}: live cells in position order");
            let group = model.info.n_head / model.info.n_head_kv;
            let score = |p: i32| scored.maxima[l].data.chunks(n_total).skip(h * group).take(group).map(|q| q[p as usize]).fold(f32::MIN, f32::max);
            let worst_kept = live.iter().filter(|&&p| p as usize >= scored.n_prefix).map(|&p| score(p)).fold(f32::INFINITY, f32::min);
            let best_dropped = (scored.n_prefix as i32..n_total as i32).filter(|p| !live.contains(p)).map(score).fold(f32::NEG_INFINITY, f32::max);
            assert!(best_dropped <= worst_kept, "layer {l} head {h}: dropped {best_dropped} > kept {worst_kept}");
        }
    }
    assert!(differ > s.head_cells.len() / 2, "heads of most layers keep different numbers ({differ})");
    let kept_pairs: usize = s.head_cells.iter().flatten().sum();
    let budget = (0.25 * n_total as f64).ceil() as usize;
    assert_eq!(kept_pairs, budget * s.head_cells.len() * model.info.n_head_kv, "one threshold over every layer and head");
    let answer = ds.ask(model, LONG_QUESTION, &mut |_| {}).unwrap();
    assert!(answer.n_tokens > 0);
    // Flash attention forms no probabilities to mask: refused, not silently unmasked.
    let mut on = opts.clone();
    on.session.flash_attn = FlashAttn::On;
    assert!(DocumentSession::from_scored(model, doc, &scored, &[LONG_QUESTION], &on).is_err());
}

/// Words pooled (the default): every head keeps each word of the document whole or not at all,
/// but for the one word its budget cuts. Scored token by token, the same document cuts many.
#[test]
fn heads_keep_words_whole_but_the_one_their_budget_cuts() {
    let model = smollm2();
    let doc = doc_prefix(4000);
    let opts = qa_options(FlashAttn::On, "f16", "f16", Some(0.125));
    assert!(opts.compress.as_ref().unwrap().scores.words, "words are pooled by default");
    let scored = DocumentSession::score(model, doc, &opts).unwrap();
    let words = prompt::template(&model.inner).tokenize(&model.inner, doc, "").unwrap().word_ids(&model.inner);
    // Per (layer, head): the words it keeps part of, those reaching into the prefix (always
    // kept) aside.
    let cut_words = |opts: &QaOptions| -> Vec<usize> {
        let ds = DocumentSession::from_scored(model, doc, &scored, &[LONG_QUESTION], opts).unwrap();
        let prefix_words = words[scored.n_prefix - 1];
        let n_words = *words.last().unwrap() as usize + 1;
        let mut size = vec![0usize; n_words];
        words.iter().for_each(|&w| size[w as usize] += 1);
        ds.stats()
            .origins
            .iter()
            .flatten()
            .map(|kept| {
                let mut held = vec![0usize; n_words];
                kept.iter().for_each(|&p| held[words[p as usize] as usize] += 1);
                (0..n_words).filter(|&w| w as u32 > prefix_words && held[w] > 0 && held[w] < size[w]).count()
            })
            .collect()
    };
    let pooled = cut_words(&opts);
    assert!(pooled.iter().all(|&n| n <= 1), "a head cuts more than one word: {pooled:?}");
    let mut plain = opts.clone();
    plain.compress.as_mut().unwrap().scores.words = false;
    let unpooled = cut_words(&plain);
    assert!(unpooled.iter().sum::<usize>() > 5 * unpooled.len(), "token by token, heads cut words often: {unpooled:?}");
}
