//! Which (layer, KV head) of a compressed cache still holds the tokens of a string: a
//! diagnostic for the needle tasks. Takes the main command's flags, plus `--needle`.
//!
//! cargo run --release --example needle_map -- -f doc.txt -p "question" --kv-compose 0.25 --needle 4516273
//!
//! Prints, per compressed layer, its cells and one row of marks per KV head over the needle's
//! tokens and the 12 before them (`#` kept, `.` dropped); then, per head, the percentage of
//! each tenth of the prompt it keeps (where in the document a layer's budget went); then the answer.

use clap::Parser;
use kvcompose::cli::QaArgs;
use kvcompose::qa::DocumentSession;
use kvcompose::{commands, document, prompt};

#[derive(Parser)]
struct Args {
    /// Text whose tokens to look for (it must be in the document)
    #[arg(long)]
    needle: String,
    #[command(flatten)]
    qa: QaArgs,
}

fn main() -> kvcompose::Result<()> {
    let args = Args::parse_from(kvcompose::cli::normalize_args(std::env::args_os()));
    let run = &args.qa.run;
    let doc = document::read(args.qa.file.as_ref().expect("-f"))?;
    let question = args.qa.prompt.first().map(String::as_str).expect("-p");
    let model = commands::load_model(run)?;
    let mut ds = DocumentSession::load(&model, &doc, &[question], &run.qa_options(kvcompose::qa::Load::Document { questions: 1 })?)?;

    // The needle's document tokens, found through their pieces.
    let tokens = prompt::template(&model.inner).tokenize(&model.inner, &doc, question)?;
    let pieces: Vec<String> =
        tokens.document.iter().map(|&t| String::from_utf8_lossy(&model.inner.vocab().token_to_piece(t, false, None)).into_owned()).collect();
    let at = pieces.concat().find(&args.needle).unwrap_or_else(|| panic!("{:?} is not in the document's tokens", args.needle));
    let (mut start, mut span) = (0, Vec::new());
    for (i, p) in pieces.iter().enumerate() {
        if start + p.len() > at && start < at + args.needle.len() {
            span.push(i);
        }
        start += p.len();
    }
    let (first, last) = (span[0].saturating_sub(12), *span.last().unwrap());
    let offset = tokens.prefix.len();
    eprintln!("needle at tokens {}..={}: {:?}", span[0] + offset, last + offset, &pieces[first..=last]);
    let stats = ds.stats().clone();
    let n_prompt = offset + tokens.document.len();
    for (l, heads) in stats.compressed_layers.iter().zip(&stats.origins) {
        let marks: Vec<String> = heads.iter().map(|h| (first..=last).map(|p| if h.contains(&((p + offset) as i32)) { '#' } else { '.' }).collect()).collect();
        let kept: Vec<String> = heads.iter().map(|h| kept_per_tenth(h, n_prompt)).collect();
        println!("layer {l:2} cells {:5}  {}  |{}", heads.first().map_or(0, Vec::len), marks.join(" "), kept.join(" |"));
    }
    let answer = ds.ask(&model, question, &mut |_| {})?;
    println!("answer: {}", answer.text.trim());
    Ok(())
}

/// Percentage of each tenth of the `n` prompt positions that a head's slots hold.
fn kept_per_tenth(origins: &[i32], n: usize) -> String {
    // One mapping from position to tenth, for the kept positions and the tenths' sizes alike.
    let tenth = |p: usize| (p * 10 / n).min(9);
    let (mut kept, mut size) = ([0usize; 10], [0usize; 10]);
    origins.iter().filter(|&&o| o >= 0).for_each(|&o| kept[tenth(o as usize)] += 1);
    (0..n).for_each(|p| size[tenth(p)] += 1);
    kept.iter().zip(size).map(|(k, s)| format!("{:4}", 100 * k / s.max(1))).collect()
}
