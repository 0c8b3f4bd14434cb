//! Sliding-window models (Gemma 3, 512-token window) compressed at every document length from
//! one window to a few thousand tokens, through the binary: none fails. Contexts sized for the
//! budget alone once left the window cache no cell for a chunk (NoKvCacheSlot on 1.3k-1.6k
//! tokens at 0.25). Their few global layers share the budget evenly unless `--kv-floor` says
//! otherwise.

use crate::util::{kvcompose, model_path, stderr, LONG_DOC};
use kvcompose::fetch;

#[test]
fn gemma3_compresses_every_length_from_one_window_to_3k_tokens() {
    let model = model_path(&fetch::GEMMA3).display().to_string();
    let dir = std::env::temp_dir().join(format!("kvcompose-window-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut tokens = Vec::new();
    // About 190 tokens apart (Gemma reads about 4.6 characters a token here), cut at a word,
    // the ratios taking turns: budgets from about 70 to 1,350 cells.
    for (i, chars) in (2_400..=12_500).step_by(900).enumerate() {
        let ratio = ["0.25", "0.125", "0.5"][i % 3];
        let doc = dir.join(format!("doc-{chars}.txt"));
        let cut = LONG_DOC[..chars].rfind(char::is_whitespace).unwrap_or(chars);
        std::fs::write(&doc, &LONG_DOC[..cut]).unwrap();
        let out = kvcompose(&["-m", &model, "-f", doc.to_str().unwrap(), "-p", "Who wrote this?", "-n", "4", "--kv-compose", ratio, "--json"]);
        assert!(out.status.success(), "{chars} characters at {ratio}: {}", stderr(&out));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        tokens.push(report["doc_tokens"].as_u64().unwrap());
        // By default the global layers share the budget evenly (a quarter's floor gave layer 5
        // about 73% of it and starved the others).
        let shares = report["layer_budgets_global"].as_array().unwrap();
        assert!(shares.len() == 3 && shares.iter().all(|s| *s == shares[0]), "{chars} characters at {ratio}: {shares:?}");
    }
    assert!(tokens[0] <= 560 && *tokens.last().unwrap() >= 2_600, "lengths covered: {tokens:?}");
    assert!(tokens.windows(2).all(|w| w[0] < w[1] && w[1] - w[0] <= 230), "steps of at most 230 tokens: {tokens:?}");
}

#[test]
fn gemma3_document_beyond_its_context_is_a_clear_error() {
    let model = model_path(&fetch::GEMMA3).display().to_string();
    let dir = std::env::temp_dir().join(format!("kvcompose-window-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let doc = dir.join("too-long.txt");
    std::fs::write(&doc, LONG_DOC.repeat(6)).unwrap();
    for extra in [&[][..], &["--kv-compose", "0.25"]] {
        let out = kvcompose(&[&["-m", &model, "-f", doc.to_str().unwrap(), "-p", "q"][..], extra].concat());
        let err = stderr(&out);
        assert!(!out.status.success() && !err.contains("panicked"), "{err}");
        assert!(err.lines().any(|l| l.starts_with("error:") && l.contains("does not fit the context of 32768 tokens")), "{err}");
        assert!(out.stdout.is_empty());
    }
}
