//! The main job: load a long document into a llama.cpp session (whole, or compressed with
//! KVCompose), then answer questions about it.

use std::time::Instant;

use llama_cpp_2::sampling::LlamaSampler;

use crate::compressor::{self, BudgetMode, CompressOptions, CompressStats, Inputs, Prefill, Scorer};
use crate::error::{Error, Result};
use crate::llama::{Model, Session, SessionParams};
use crate::prompt::{self, PromptText, PromptTokens};
use crate::report::{peak_rss_bytes, Report};

#[derive(Debug, Clone)]
pub struct QaOptions {
    /// Context size; derived from the prompt (and budget) when `None`.
    pub n_ctx: Option<usize>,
    /// Session parameters; `n_ctx` and `probe` are set by `DocumentSession::load`.
    pub session: SessionParams,
    pub n_predict: usize,
    pub temp: f32,
    pub seed: u32,
    pub compress: Option<CompressOptions>,
    /// Also score cells with the question's queries (one compressed cache per question).
    pub query_aware: bool,
}

impl QaOptions {
    pub fn check(&self) -> Result<()> {
        if let Some(c) = &self.compress {
            if !(c.ratio > 0.0 && c.ratio <= 1.0) {
                return Err(Error::RatioOutOfRange(c.ratio));
            }
            if !(0.0..=1.0).contains(&c.layer_floor) {
                return Err(Error::Usage(format!("--kv-floor must be in [0, 1], got {}", c.layer_floor)));
            }
            if c.local && c.budget_mode != BudgetMode::Uniform {
                return Err(Error::Usage("--kv-local scores with uniform layer budgets only (--kv-budget uniform)".into()));
            }
        }
        Ok(())
    }
}

/// A document held in a live session, ready for questions.
pub struct DocumentSession<'m> {
    pub session: Session<'m>,
    text: PromptText,
    prompt: PromptTokens,
    opts: QaOptions,
    /// Position after the document: where each question's tail starts.
    doc_end: i32,
    stats: CompressStats,
    t_load_ms: f64,
}

/// One answer and its measurements.
#[derive(Debug, Clone)]
pub struct Answer {
    pub text: String,
    pub n_tokens: usize,
    pub t_tail_ms: f64,
    pub t_decode_ms: f64,
    /// Logits of the first generated token.
    pub first_logits: Vec<f32>,
}

/// The turn that asks the model to reproduce the document, before the scoring copy.
pub const REPEAT_REQUEST: &str = "Repeat the previous context exactly.";

/// Chunk size that keeps the cache within budget + chunk: an eighth of the budget, 64..=512.
pub fn default_chunk(budget: usize) -> usize {
    (budget / 8).clamp(64, 512)
}

impl<'m> DocumentSession<'m> {
    /// Tokenizes, sizes the context and prefills the document (compressing when asked).
    /// `question` is used for sizing and, with `query_aware`, for scoring.
    pub fn load(model: &'m Model, document: &str, question: &str, opts: &QaOptions) -> Result<DocumentSession<'m>> {
        opts.check()?;
        let text = prompt::template(&model.inner);
        let prompt = text.tokenize(&model.inner, document, question)?;
        let n_doc = prompt.prefix.len() + prompt.document.len();
        let n_prompt = prompt.len();
        let info = &model.info;
        if n_prompt + 1 > info.n_ctx_train {
            return Err(Error::ContextTooLong { tokens: n_prompt, n_ctx: info.n_ctx_train, hint: " the model was trained for" });
        }
        let mut compress = opts.compress.clone();
        let copy_intro = match &compress {
            Some(CompressOptions { scorer: Scorer::Repeat, .. }) => text.tail_tokens(&model.inner, REPEAT_REQUEST),
            _ => Vec::new(),
        };
        let need = match &mut compress {
            None => n_prompt + opts.n_predict,
            Some(c) => {
                let budget = ((c.ratio * n_doc as f64).ceil() as usize).max(prompt.prefix.len());
                c.prefill = compressor::resolve_prefill(c, info)?;
                // A scoring pass decodes the repeat turn, the lead-in and a copy of the chunk.
                let intro = copy_intro.len() + if c.local { compressor::LEAD_IN } else { 0 };
                if c.chunk == 0 {
                    c.chunk = default_chunk(budget);
                    if info.n_swa.is_some() {
                        // Each scoring pass must fit one ubatch; see compressor.
                        let ubatch = opts.session.n_ubatch.min(opts.session.n_batch);
                        c.chunk = c.chunk.min(ubatch.saturating_sub(intro).max(1));
                    }
                }
                c.chunk = c.chunk.min(prompt.document.len());
                let q = if opts.query_aware { prompt.tail.len() } else { 0 };
                // Masked global budgets hold the largest layer budget, up to the whole document.
                let held = if c.budget_mode == BudgetMode::GlobalMasked { n_doc } else { budget };
                match c.prefill {
                    // The passes hold the document in one layer's tensors, sized apart from the
                    // context; but llama.cpp caps the batch at the context, and the passes decode
                    // in the ubatches stock would (same arithmetic, and fast).
                    Prefill::Layers => (held + prompt.tail.len() + opts.n_predict).max(opts.session.n_ubatch.min(opts.session.n_batch)),
                    _ => (held + c.chunk + (intro + c.chunk).max(q)).max(held + prompt.tail.len() + opts.n_predict),
                }
            }
        };
        let n_ctx = opts.n_ctx.unwrap_or(need.min(info.n_ctx_train));
        let fits = match &compress {
            None => n_prompt < n_ctx,
            Some(_) => need <= n_ctx,
        };
        if !fits {
            let hint = if compress.is_some() { " (with the budget, one chunk and the question; raise -c)" } else { " (raise -c, or use --kv-compose)" };
            return Err(Error::ContextTooLong { tokens: if compress.is_some() { need } else { n_prompt }, n_ctx, hint });
        }
        let params = SessionParams { n_ctx, probe: compress.is_some(), ..opts.session.clone() };
        let mut session = Session::new(model, &params)?;
        let t0 = Instant::now();
        let stats = match &compress {
            None => {
                let mut doc = prompt.prefix.clone();
                doc.extend_from_slice(&prompt.document);
                session.decode(&doc, 0, false)?;
                CompressStats { cells_full: n_doc, cells_kept: n_doc, t_prefill_ms: t0.elapsed().as_secs_f64() * 1e3, ..Default::default() }
            }
            Some(c) => {
                let input = Inputs {
                    prefix: &prompt.prefix,
                    doc: &prompt.document,
                    copy_intro: &copy_intro,
                    query: opts.query_aware.then_some(prompt.tail.as_slice()),
                };
                match c.prefill {
                    Prefill::Layers => compressor::prefill_layerwise(&mut session, input, c)?,
                    _ => compressor::prefill(&mut session, input, c)?,
                }
            }
        };
        let t_load_ms = t0.elapsed().as_secs_f64() * 1e3;
        Ok(DocumentSession {
            session,
            text,
            prompt,
            opts: QaOptions { compress, ..opts.clone() },
            doc_end: n_doc as i32,
            stats,
            t_load_ms,
        })
    }

    /// Answers `question` from the document; earlier questions and answers are forgotten.
    pub fn ask(&mut self, model: &Model, question: &str, on_text: &mut dyn FnMut(&str)) -> Result<Answer> {
        if self.session.pos_max() >= self.doc_end {
            self.session.truncate(self.doc_end)?;
        }
        let tail = self.text.tail_tokens(&model.inner, question);
        if self.stats.cells_kept + tail.len() + 1 > self.session.n_ctx() {
            return Err(Error::ContextTooLong { tokens: self.stats.cells_kept + tail.len(), n_ctx: self.session.n_ctx(), hint: " (question too long)" });
        }
        let t0 = Instant::now();
        self.session.decode(&tail, self.doc_end, true)?;
        let t_tail_ms = t0.elapsed().as_secs_f64() * 1e3;
        let first_logits = self.session.logits().to_vec();
        let mut sampler = if self.opts.temp <= 0.0 {
            LlamaSampler::greedy()
        } else {
            LlamaSampler::chain_simple([LlamaSampler::temp(self.opts.temp), LlamaSampler::dist(self.opts.seed)])
        };
        let room = self.session.n_ctx().saturating_sub(self.stats.cells_kept + tail.len());
        let t0 = Instant::now();
        let (text, n_tokens) = self.session.generate(&mut sampler, self.doc_end + tail.len() as i32, self.opts.n_predict.min(room), on_text)?;
        let t_decode_ms = t0.elapsed().as_secs_f64() * 1e3;
        Ok(Answer { text, n_tokens, t_tail_ms, t_decode_ms, first_logits })
    }

    pub fn stats(&self) -> &CompressStats {
        &self.stats
    }

    /// The report of this document session and one of its answers.
    pub fn report(&self, model: &Model, answer: &Answer) -> Report {
        let p = &self.opts.session;
        let info = &model.info;
        let tail = self.prompt.tail.len();
        let s = &self.stats;
        let n_ctx = self.session.n_ctx();
        // Global layers hold the (compressed) document and the question; window layers hold the
        // last window of the prompt either way.
        let window = info.window_cells(s.cells_full + tail);
        let bytes = |global: usize, window: usize| info.kv_bytes(p.type_k, p.type_v, global, window);
        let swa = info.swa_layers.as_deref().unwrap_or_default();
        // Cells per model layer: the window in window layers, else what the layer holds of the
        // document (its own count with per-layer sizes), as realised.
        let mut held: Vec<usize> = (0..info.n_layer).map(|l| if swa.get(l) == Some(&true) { window } else { s.cells_kept }).collect();
        for (&l, &n) in s.compressed_layers.iter().zip(&s.layer_cells) {
            held[l] = n;
        }
        let per_cell = info.kv_bytes_per_layer_cell(p.type_k, p.type_v);
        // The global layers also hold the question; window layers already count it.
        let kept_cells: usize = held.iter().enumerate().map(|(l, &n)| if swa.get(l) == Some(&true) { n } else { n + tail }).sum();
        // What llama.cpp allocated, layer by layer.
        // The most it held at once: a layer-by-layer prefill peaks while one layer holds the
        // whole document.
        let alloc_cells: usize = (0..info.n_layer).map(|l| self.session.layer_cells(l)).sum::<usize>().max(s.alloc_cells_peak);
        let paths = self.session.seen_paths();
        Report {
            answer: answer.text.trim().to_string(),
            model: model.path.file_name().map_or_else(|| model.info.name.clone(), |f| f.to_string_lossy().into_owned()),
            doc_tokens: self.prompt.document.len(),
            prompt_tokens: self.prompt.len(),
            kv_compose: self.opts.compress.as_ref().map(|c| c.ratio),
            kv_method: self.opts.compress.as_ref().map(|c| c.method),
            kv_type_k: p.type_k.name().to_string(),
            kv_type_v: p.type_v.name().to_string(),
            kv_cells_full: s.cells_full,
            kv_cells_kept: s.cells_kept,
            kv_bytes_full: bytes(s.cells_full + tail, window),
            kv_bytes_kept: per_cell * kept_cells,
            kv_alloc_bytes: per_cell * alloc_cells,
            n_ctx,
            peak_rss_bytes: peak_rss_bytes(),
            t_prefill_ms: self.t_load_ms - s.t_score_ms - s.t_compress_ms + answer.t_tail_ms,
            t_score_ms: s.t_score_ms,
            t_compress_ms: s.t_compress_ms,
            t_decode_ms: answer.t_decode_ms,
            decode_tokens: answer.n_tokens,
            decode_tokens_per_s: if answer.t_decode_ms > 0.0 { answer.n_tokens as f64 * 1e3 / answer.t_decode_ms } else { 0.0 },
            layer_budgets: held,
            budget_mode: self.opts.compress.as_ref().map_or(BudgetMode::Uniform, |c| c.budget_mode),
            layer_budgets_global: s.layer_budgets_global.clone(),
            compress_steps: s.steps,
            kv_prefill: self.opts.compress.as_ref().map(|c| c.prefill),
            attention_path: match (self.opts.compress.is_some(), paths.flash_attn, paths.softmax) {
                (false, ..) => None,
                (true, true, _) => Some("flash_attn"),
                (true, false, true) => Some("softmax"),
                _ => None,
            }
            .map(str::to_string),
        }
    }
}
