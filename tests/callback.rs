//! Installing (and arming) the eval callback does not change what llama.cpp computes.

use kvcompose::llama::callback::PassScope;
use kvcompose::llama::{FlashAttn, Session, SessionParams};
use kvcompose::prompt;
use llama_cpp_2::sampling::LlamaSampler;

use crate::util::{doc_prefix, session_params, smollm2, LONG_QUESTION};

/// Prefills the whole prompt (all but its last token through a scoring pass when `arm`),
/// returns the logits of the first generated token and 24 greedy tokens of answer.
fn run(params: &SessionParams, arm: bool) -> (Vec<f32>, String) {
    let model = smollm2();
    let toks = prompt::template(&model.inner).tokenize(&model.inner, doc_prefix(3000), LONG_QUESTION).unwrap();
    let mut all = toks.prefix.clone();
    all.extend(&toks.document);
    all.extend(&toks.tail);
    let n = all.len();
    let mut s = Session::new(model, &SessionParams { n_ctx: n + 64, ..params.clone() }).unwrap();
    let layers: Vec<usize> = (0..model.info.n_layer).collect();
    if arm {
        let maxima = s.score_pass(&all[..n - 1], PassScope::default(), 0, &layers, &vec![n - 1; layers.len()]).unwrap();
        assert!(maxima.iter().all(|m| m.as_ref().unwrap().data.iter().any(|&p| p > 0.0)), "scores were gathered");
    } else {
        s.decode(&all[..n - 1], 0, false).unwrap();
    }
    s.decode(&all[n - 1..], n as i32 - 1, true).unwrap();
    let logits = s.logits().to_vec();
    let (text, _) = s.generate(&mut LlamaSampler::greedy(), n as i32, 24, |_| {}).unwrap();
    (logits, text)
}

fn check(fa: FlashAttn) {
    let plain = session_params(fa, "f16", "f16");
    let (logits, text) = run(&plain, false);
    let probed = SessionParams { probe: true, ..plain };
    for arm in [false, true] {
        let (l, t) = run(&probed, arm);
        assert!(l == logits, "first-token logits differ with the callback installed (armed: {arm}, {fa:?})");
        assert_eq!(t, text, "greedy answers differ with the callback installed (armed: {arm}, {fa:?})");
    }
}

#[test]
fn eval_callback_leaves_logits_and_answers_unchanged_without_flash_attention() {
    check(FlashAttn::Off);
}

#[test]
fn eval_callback_leaves_logits_and_answers_unchanged_with_flash_attention() {
    check(FlashAttn::On);
}
