//! The main job: load a long document into a llama.cpp session (whole, or compressed with
//! KVCompose), then answer questions about it.

use std::time::Instant;

use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;

use crate::error::{Error, Result};
use crate::kvfile::{self, Header, KvFile};
use crate::llama::callback::LiveSlots;
use crate::llama::state::Layout;
use crate::llama::{FlashAttn, Model, Session, SessionParams};
use crate::pipeline::{self, BudgetMode, CompressOptions, CompressStats, Inputs, Lengths, Plan, Prefill, ScoredDocument, Scorer, ScoringCopy, Store};
use crate::prompt::{self, PromptText};
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

/// Where a load's document comes from, which decides what the options may ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    /// Read from its text (the main command), for this many questions.
    Document { questions: usize },
    /// Scored whole once, compressed on the host (the benchmark's `--scores`).
    Scored,
    /// Restored from a cache file, whose compression it keeps.
    CacheFile,
}

impl QaOptions {
    /// Every check that the options decide alone, in one place: the CLI makes it before the
    /// model loads, and every load makes it again before it reads anything. What needs the
    /// model and the prompt's lengths is checked by [`pipeline::Plan::new`], before the
    /// context exists.
    pub fn check(&self, load: Load) -> Result<()> {
        if self.query_aware && (self.compress.is_none() || load != (Load::Document { questions: 1 })) {
            return Err(Error::Usage("--kv-query-aware compresses the document for one question: give --kv-compose, -f and exactly one -p".into()));
        }
        let Some(c) = &self.compress else { return Ok(()) };
        if !(c.ratio > 0.0 && c.ratio <= 1.0) {
            return Err(Error::RatioOutOfRange(c.ratio));
        }
        if let Some(f) = c.layer_floor.filter(|f| !(0.0..=1.0).contains(f)) {
            return Err(Error::Usage(format!("--kv-floor must be in [0, 1], got {f}")));
        }
        let c = c.effective();
        if c.local && c.budget_mode != BudgetMode::Uniform {
            return Err(Error::Usage("--kv-local scores with uniform layer budgets only (--kv-budget uniform)".into()));
        }
        if c.prefill == Prefill::Layers && (c.local || c.budget_mode == BudgetMode::GlobalMasked || c.chunk != 0) {
            return Err(Error::Usage(
                "--kv-prefill layers reads the document whole, layer by layer: it takes no --kv-chunk, --kv-local or --kv-budget global-masked".into(),
            ));
        }
        // Masked budgets hide cells from a layer's or a head's softmax, which flash attention never forms.
        let masked = matches!(c.budget_mode, BudgetMode::GlobalMasked | BudgetMode::Heads);
        if masked && self.session.flash_attn != FlashAttn::Off {
            let what = if c.budget_mode == BudgetMode::Heads { "per-head budgets (KVzip's)" } else { "--kv-budget global-masked" };
            return Err(Error::Usage(format!("{what} mask attention probabilities, which flash attention never forms: add -fa off")));
        }
        if c.store == Store::Q8_0 && self.session.flash_attn == FlashAttn::Off {
            return Err(Error::Usage("--kv-store q8_0 keeps a quantized V, which needs flash attention: drop -fa off or use --kv-store cache".into()));
        }
        if c.budget_mode == BudgetMode::Heads && !c.method.method().needs_scores() {
            return Err(Error::Usage("per-head budgets follow the scores: a method that reads none keeps one token set".into()));
        }
        match load {
            Load::Document { .. } if c.scorer == Scorer::Kvzip || c.budget_mode == BudgetMode::Heads => {
                Err(Error::Usage("KVzip's scorer and per-head budgets work on scored documents, in the benchmark (bench --scores DIR)".into()))
            }
            Load::Scored if c.local || c.budget_mode == BudgetMode::GlobalMasked => Err(Error::Usage(
                "a scored document (bench --scores) is compressed with uniform, global or per-head budgets, scored whole: no --kv-local or global-masked"
                    .into(),
            )),
            _ => Ok(()),
        }
    }
}

/// A document held in a live session, ready for questions.
pub struct DocumentSession<'m> {
    pub session: Session<'m>,
    text: PromptText,
    n_prefix: usize,
    n_doc: usize,
    /// sha256 of the document's tokens (what a cache file records).
    doc_sha256: String,
    opts: QaOptions,
    /// Position after the document: where each question's tail starts.
    doc_end: i32,
    stats: CompressStats,
    t_load_ms: f64,
    /// The document's sequence state, restored before every question after the first, when the
    /// session was saved to or opened from a cache file (each question then starts from exactly
    /// what the file holds), or holds a window cache and has several questions to answer.
    image: Option<Vec<u8>>,
    /// A question was decoded since the document was loaded or restored.
    asked: bool,
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
    /// Tokens of the question turn.
    pub n_tail: usize,
}

/// The turn that asks the model to reproduce the document, before the scoring copy.
pub const REPEAT_REQUEST: &str = "Repeat the previous context exactly.";
/// KVzip's turn before the copy of a later chunk, which the previous chunk's last tokens follow.
pub const REPEAT_PART_REQUEST: &str = "Repeat the part of the previous context exactly, starting with";

impl<'m> DocumentSession<'m> {
    /// Tokenizes, sizes the context and prefills the document (compressing when asked).
    /// `questions` size the context (the longest counts) and, with `query_aware`, the one
    /// question scores the cache.
    pub fn load(model: &'m Model, document: &str, questions: &[&str], opts: &QaOptions) -> Result<DocumentSession<'m>> {
        Self::load_with_progress(model, document, questions, opts, &mut |_, _, _| {})
    }

    /// [`DocumentSession::load`], reporting the load's progress.
    pub fn load_with_progress(
        model: &'m Model,
        document: &str,
        questions: &[&str],
        opts: &QaOptions,
        progress: &mut pipeline::Progress<'_>,
    ) -> Result<DocumentSession<'m>> {
        opts.check(Load::Document { questions: questions.len() })?;
        let text = prompt::template(&model.inner);
        let question = longest_tail(&text, model, questions).1;
        let prompt = text.tokenize(&model.inner, document, question)?;
        let n_doc = prompt.prefix.len() + prompt.document.len();
        let n_prompt = prompt.len();
        let info = &model.info;
        fits_training(model, n_prompt)?;
        // The scorer made concrete for this model, as the report and a cache file name it.
        let opts = &QaOptions { compress: opts.compress.clone().map(|c| CompressOptions { scorer: c.scorer.resolve(&c, info), ..c }), ..opts.clone() };
        let scorer = opts.compress.as_ref().map_or(Scorer::Repeat, |c| c.scorer);
        let copies = Self::copies(model, &text, scorer, &prompt.document);
        // A streaming prefill leads each chunk's copy in with the whole copy's repeat turn.
        let copy_intro: &[LlamaToken] = match scorer {
            Scorer::Repeat => &copies[0].intro,
            _ => &[],
        };
        let len = Lengths {
            prefix: prompt.prefix.len(),
            doc: prompt.document.len(),
            copy_intro: copy_intro.len(),
            copy: copies.iter().map(ScoringCopy::n_tokens).max().unwrap_or(0),
            question: prompt.tail.len(),
            query_aware: opts.query_aware,
            n_predict: opts.n_predict,
        };
        // The compression as it will run (its prefill mode and chunk made concrete, for the
        // report and a cache file) and its plan.
        let planned = match opts.compress.clone() {
            Some(mut c) => {
                let plan = Plan::new(&c, info, len, &opts.session, opts.n_ctx)?;
                (c.prefill, c.chunk, c.layer_floor) = (plan.prefill, plan.chunk, Some(plan.layer_floor));
                Some((c, plan))
            }
            None => None,
        };
        let n_ctx = match &planned {
            Some((_, plan)) => plan.n_ctx,
            None => {
                let n_ctx = opts.n_ctx.unwrap_or((n_prompt + opts.n_predict).min(info.n_ctx_train));
                if n_prompt >= n_ctx {
                    return Err(Error::ContextTooLong { tokens: n_prompt, n_ctx, hint: " (raise -c, or use --kv-compose)" });
                }
                n_ctx
            }
        };
        let copy_seq = planned.as_ref().is_some_and(|(_, plan)| plan.prefill == Prefill::Layers && copies.iter().any(|c| c.alone));
        let params = SessionParams { n_ctx, probe: planned.is_some(), copy_seq, ..opts.session.clone() };
        let mut session = Session::new(model, &params)?;
        let t0 = Instant::now();
        let stats = match &planned {
            None => {
                let mut doc = prompt.prefix.clone();
                doc.extend_from_slice(&prompt.document);
                // The batches `decode` would make of the whole, one at a time for the progress.
                let n_batch = session.n_batch();
                for (i, batch) in doc.chunks(n_batch).enumerate() {
                    session.decode(batch, (i * n_batch) as i32, false)?;
                    progress("reading", ((i + 1) * n_batch).min(doc.len()), doc.len());
                }
                CompressStats { cells_full: n_doc, mean_layer_cells: n_doc, t_prefill_ms: t0.elapsed().as_secs_f64() * 1e3, ..Default::default() }
            }
            Some((c, plan)) => {
                let words = prompt.word_ids(&model.inner);
                let input = Inputs {
                    prefix: &prompt.prefix,
                    doc: &prompt.document,
                    copy_intro,
                    copies: &copies,
                    query: opts.query_aware.then_some(prompt.tail.as_slice()),
                    words: &words,
                };
                match plan.prefill {
                    Prefill::Layers => pipeline::prefill_layers(&mut session, input, c, plan, progress)?,
                    _ => pipeline::prefill_chunks(&mut session, input, c, plan, progress)?,
                }
            }
        };
        let t_load_ms = t0.elapsed().as_secs_f64() * 1e3;
        // llama.cpp may reuse a window cache's cells that fall outside the window while an answer
        // grows, which truncation cannot bring back: with more questions to come, keep the
        // document's state and restore it before each (a safeguard; not seen to matter at 700
        // answer tokens on 1.2k-token documents).
        let image = if questions.len() > 1 && info.n_swa.is_some() { Some(session.state_bytes()?) } else { None };
        Ok(DocumentSession {
            session,
            text,
            n_prefix: prompt.prefix.len(),
            n_doc: prompt.document.len(),
            doc_sha256: document_sha256(&prompt.document),
            opts: QaOptions { compress: planned.map(|(c, _)| c), ..opts.clone() },
            doc_end: n_doc as i32,
            stats,
            t_load_ms,
            image,
            asked: false,
        })
    }

    /// Reads `document` whole and scores every cell once, for [`DocumentSession::from_scored`]:
    /// the benchmark's way to try many compressions of one document without reading it again.
    /// `opts.compress` gives the scorer; its ratio, method and budgets do not matter here.
    pub fn score(model: &Model, document: &str, opts: &QaOptions) -> Result<ScoredDocument> {
        let text = prompt::template(&model.inner);
        let prompt = text.tokenize(&model.inner, document, "")?;
        let n = prompt.document.len();
        let scorer = opts.compress.as_ref().map_or(Scorer::Repeat, |c| c.scorer.resolve(c, &model.info));
        let copies = Self::copies(model, &text, scorer, &prompt.document);
        fits_training(model, prompt.prefix.len() + n)?;
        // The copy runs past the document, beyond the training context for long ones, as in the
        // layer-by-layer prefill.
        let longest = copies.iter().map(ScoringCopy::n_tokens).max().unwrap_or(0);
        let n_ctx = prompt.prefix.len() + n + longest + 1;
        let copy_seq = copies.iter().any(|c| c.alone);
        if copy_seq && pipeline::CompressedLayers::of(&model.info)?.window {
            // A window cache slides per sequence: a copy beside the document is not modelled.
            return Err(Error::Usage("copies alone in chunks (--kv-score chunks) need a model without sliding-window layers".into()));
        }
        let mut session = Session::new(model, &SessionParams { n_ctx, probe: true, copy_seq, ..opts.session.clone() })?;
        pipeline::prefill_scored(&mut session, &prompt.prefix, &prompt.document, &copies, &mut |_, _, _| {})
    }

    /// The copies that score `doc` with `scorer`, their turns in this model's template.
    fn copies(model: &Model, text: &PromptText, scorer: Scorer, doc: &[LlamaToken]) -> Vec<ScoringCopy> {
        let turn = |request: &str| text.tail_tokens(&model.inner, request);
        pipeline::scoring_copies(scorer, doc, &turn(REPEAT_REQUEST), &turn(REPEAT_PART_REQUEST))
    }

    /// A scored document in a fresh context sized for `questions`: compressed on the host with
    /// `opts.compress` (no decode), or its whole cache without it.
    pub fn from_scored(model: &'m Model, document: &str, doc: &ScoredDocument, questions: &[&str], opts: &QaOptions) -> Result<DocumentSession<'m>> {
        opts.check(Load::Scored)?;
        let t0 = Instant::now();
        let text = prompt::template(&model.inner);
        let prompt = text.tokenize(&model.inner, document, "")?;
        if prompt.prefix.len() != doc.n_prefix {
            return Err(Error::Usage("the scored document was read with another prompt template".into()));
        }
        let n_total = prompt.prefix.len() + prompt.document.len();
        let (state, stats) = match &opts.compress {
            Some(c) => {
                let c = CompressOptions { store: c.store.resolve(c, &model.info, &opts.session, false), ..c.clone() };
                pipeline::compress_scored(&model.info, doc, &prompt.word_ids(&model.inner), &c)?
            }
            None => (doc.state.clone(), CompressStats { cells_full: n_total, mean_layer_cells: n_total, t_prefill_ms: doc.t_prefill_ms, ..Default::default() }),
        };
        if stats.cells_full != n_total {
            return Err(Error::Usage(format!("the scored document holds {} cells, this document {n_total}", stats.cells_full)));
        }
        let session = restored(model, opts, &stats, &text, n_total as i32, questions, &state)?;
        Ok(DocumentSession {
            session,
            text,
            n_prefix: prompt.prefix.len(),
            n_doc: prompt.document.len(),
            doc_sha256: document_sha256(&prompt.document),
            opts: opts.clone(),
            doc_end: n_total as i32,
            t_load_ms: stats.t_prefill_ms + stats.t_score_ms + t0.elapsed().as_secs_f64() * 1e3,
            stats,
            image: Some(state),
            asked: false,
        })
    }

    /// Opens a cache file written by [`DocumentSession::save`]: checks it against this model and
    /// these options, then restores it into a fresh context sized for `questions`. Nothing reaches
    /// llama.cpp before the checks pass.
    pub fn open(model: &'m Model, path: &std::path::Path, file: KvFile, questions: &[&str], opts: &QaOptions) -> Result<DocumentSession<'m>> {
        let t0 = Instant::now();
        let KvFile { header, state } = file;
        let p = &opts.session;
        header.check(&model.identity()?, p.type_k, p.type_v, p.flash_attn).map_err(|reason| Error::KvFile { path: path.to_path_buf(), reason })?;
        let opts = QaOptions {
            compress: header.compress.clone(),
            // The file's attention path, which `check` allowed: its V layout needs it.
            session: SessionParams { flash_attn: FlashAttn::from_on(header.flash_attn), ..opts.session.clone() },
            ..opts.clone()
        };
        let doc_end = (header.prefix_tokens + header.doc_tokens) as i32;
        // The file's timings and memory peak describe the run that wrote it, not this one.
        let stats = CompressStats { t_prefill_ms: 0.0, t_score_ms: 0.0, t_compress_ms: 0.0, alloc_cells_peak: 0, host_cells_peak: 0, ..header.stats };
        let session = restored(model, &opts, &stats, &header.template, doc_end, questions, &state)?;
        Ok(DocumentSession {
            session,
            text: header.template,
            n_prefix: header.prefix_tokens,
            n_doc: header.doc_tokens,
            doc_sha256: header.doc_sha256,
            doc_end,
            stats,
            opts,
            t_load_ms: t0.elapsed().as_secs_f64() * 1e3,
            image: Some(state),
            asked: false,
        })
    }

    /// Writes the document's cache to `path` (atomically), then goes on from the file's image in
    /// a fresh context, exactly as a later [`DocumentSession::open`] of the file does, so that
    /// this run's answers are the ones the file gives.
    pub fn save(mut self, model: &'m Model, path: &std::path::Path, questions: &[&str]) -> Result<DocumentSession<'m>> {
        let state = self.session.state_bytes()?;
        let n_blocks = model.info.n_kv_caches();
        let layout = Layout::parse(&state, n_blocks)?;
        let cache = &layout.caches[0];
        let data = cache.data.as_ref().ok_or_else(|| Error::StateFormat("the document's cache is empty".into()))?;
        if self.stats.layer_cells.is_empty() {
            // A whole cache: every layer of the block holds every cell.
            self.stats.layer_cells = vec![cache.n_cells(); data.layers.len()];
        }
        let p = &self.opts.session;
        let header = Header {
            model: model.identity()?,
            type_k: p.type_k.name().into(),
            type_v: p.type_v.name().into(),
            flash_attn: !data.v_trans,
            compress: self.opts.compress.clone(),
            template: self.text.clone(),
            prefix_tokens: self.n_prefix,
            doc_tokens: self.n_doc,
            doc_sha256: self.doc_sha256.clone(),
            stats: self.stats.clone(),
            positions: cache.positions.clone(),
            n_blocks,
        };
        kvfile::write_atomic(path, &kvfile::encode(&header, &state))?;
        self.opts.session.flash_attn = FlashAttn::from_on(header.flash_attn);
        // The old context goes before the new one is made: one holds memory at a time.
        drop(self.session);
        self.session = restored(model, &self.opts, &self.stats, &self.text, self.doc_end, questions, &state)?;
        self.image = Some(state);
        self.asked = false;
        Ok(self)
    }

    /// Answers `question` from the document; earlier questions and answers are forgotten.
    pub fn ask(&mut self, model: &Model, question: &str, on_text: &mut dyn FnMut(&str)) -> Result<Answer> {
        match &self.image {
            Some(image) if self.asked => self.session.write_state(image)?,
            _ if self.session.pos_max() >= self.doc_end => self.session.truncate(self.doc_end)?,
            _ => {}
        }
        self.asked = true;
        let tail = self.text.tail_tokens(&model.inner, question);
        // The context was sized in cells of the cache's types: kept cells in others take the
        // bytes of fewer of them, and the cells for new tokens are the rest.
        let p = &self.opts.session;
        let held = self.stats.held_cells(&model.info, p.type_k, p.type_v);
        if held + tail.len() + 1 > self.session.n_ctx() {
            return Err(Error::ContextTooLong { tokens: held + tail.len(), n_ctx: self.session.n_ctx(), hint: " (question too long)" });
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
        let room = self.session.n_ctx().saturating_sub(held + tail.len());
        let t0 = Instant::now();
        let (text, n_tokens) = self.session.generate(&mut sampler, self.doc_end + tail.len() as i32, self.opts.n_predict.min(room), on_text)?;
        let t_decode_ms = t0.elapsed().as_secs_f64() * 1e3;
        Ok(Answer { text, n_tokens, t_tail_ms, t_decode_ms, first_logits, n_tail: tail.len() })
    }

    pub fn stats(&self) -> &CompressStats {
        &self.stats
    }

    /// The report of this document session and one of its answers.
    pub fn report(&self, model: &Model, answer: &Answer) -> Report {
        let p = &self.opts.session;
        let info = &model.info;
        let tail = answer.n_tail;
        let s = &self.stats;
        let n_ctx = self.session.n_ctx();
        // Global layers hold the (compressed) document and the question; window layers hold the
        // last window of the prompt either way.
        let window = info.window_cells(s.cells_full + tail);
        let bytes = |global: usize, window: usize| info.kv_bytes(p.type_k, p.type_v, global, window);
        let swa = info.swa_layers.as_deref().unwrap_or_default();
        // Cells per model layer: the window in window layers, else what the layer holds of the
        // document (its own count with per-layer sizes), as realised.
        let mut held: Vec<usize> = (0..info.n_layer).map(|l| if swa.get(l) == Some(&true) { window } else { s.mean_layer_cells }).collect();
        for (&l, &n) in s.compressed_layers.iter().zip(&s.layer_cells) {
            held[l] = n;
        }
        let per_cell = info.kv_bytes_per_layer_cell(p.type_k, p.type_v);
        // Bytes of a cell in each layer: the compressed ones keep theirs in the stored types.
        let (kept_k, kept_v) = s.store.kept_types(p.type_k, p.type_v);
        let mut layer_cell = vec![per_cell; info.n_layer];
        for &l in &s.compressed_layers {
            layer_cell[l] = info.kv_bytes_per_layer_cell(kept_k, kept_v);
        }
        // The global layers also hold the question; window layers already count it.
        let kept_bytes: usize = held.iter().enumerate().map(|(l, &n)| layer_cell[l] * if swa.get(l) == Some(&true) { n } else { n + tail }).sum();
        // What llama.cpp allocated, layer by layer.
        // The most it held at once: a layer-by-layer prefill peaks while one layer holds the
        // whole document (in the cache's types).
        let alloc_bytes = (0..info.n_layer).map(|l| layer_cell[l] * self.session.layer_cells(l)).sum::<usize>().max(per_cell * s.alloc_cells_peak);
        let paths = self.session.seen_paths();
        Report {
            answer: answer.text.trim().to_string(),
            model: model.path.file_name().map_or_else(|| model.info.name.clone(), |f| f.to_string_lossy().into_owned()),
            doc_tokens: self.n_doc,
            prompt_tokens: self.n_prefix + self.n_doc + tail,
            kv_compose: self.opts.compress.as_ref().map(|c| c.ratio),
            kv_method: self.opts.compress.as_ref().map(|c| c.method),
            kv_type_k: p.type_k.name().to_string(),
            kv_type_v: p.type_v.name().to_string(),
            kv_kept_type_k: kept_k.name().to_string(),
            kv_kept_type_v: kept_v.name().to_string(),
            kv_cells_full: s.cells_full,
            kv_cells_kept: s.mean_layer_cells,
            kv_bytes_full: bytes(s.cells_full + tail, window),
            kv_bytes_kept: kept_bytes,
            kv_alloc_bytes: alloc_bytes,
            kv_host_peak_bytes: per_cell * s.host_cells_peak,
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

/// A prompt of `tokens` tokens, and the first token answered, within the context the model was
/// trained for.
pub fn fits_training(model: &Model, tokens: usize) -> Result<()> {
    if tokens + 1 > model.info.n_ctx_train {
        return Err(Error::ContextTooLong { tokens, n_ctx: model.info.n_ctx_train, hint: " the model was trained for" });
    }
    Ok(())
}

/// sha256 of a document's tokens, as a cache file records it.
fn document_sha256(tokens: &[llama_cpp_2::token::LlamaToken]) -> String {
    kvfile::tokens_sha256(&tokens.iter().map(|t| t.0).collect::<Vec<i32>>())
}

/// Tokens of the longest question turn among `questions`, and that question.
fn longest_tail<'q>(text: &PromptText, model: &Model, questions: &[&'q str]) -> (usize, &'q str) {
    questions.iter().map(|q| (text.tail_tokens(&model.inner, q).len(), *q)).max_by_key(|&(n, _)| n).unwrap_or((0, ""))
}

/// A fresh context holding the document's `image`, sized for `questions`: the compressed layers
/// keep their own cell counts when the state counts rows per layer (per-layer KV sizes), else
/// llama.cpp's stock layout. `save` and `open` both go through here, so their answers agree.
fn restored<'m>(
    model: &'m Model,
    opts: &QaOptions,
    stats: &CompressStats,
    text: &PromptText,
    doc_end: i32,
    questions: &[&str],
    image: &[u8],
) -> Result<Session<'m>> {
    let info = &model.info;
    let layout = Layout::parse(image, info.n_kv_caches())?;
    let per_layer = layout.caches[0].data.as_ref().is_some_and(|d| d.rows_counted);
    // The compressed cache's types, where its cells are kept in others than the run's (the
    // state's rows are in them: `compress_scored` made them so, `kvfile::decode` checked them).
    let p = &opts.session;
    let kept = stats.store.converts(p.type_k, p.type_v);
    // The kept cells' bytes in cells of the run's types: the context allocates those until the
    // kept cells are installed.
    let kept_cells = stats.held_cells(info, p.type_k, p.type_v);
    // Cells one cache holds of the document: the compressed one's, or the window's.
    let held = kept_cells.max(layout.caches.get(1).map_or(0, |c| c.n_cells()));
    let tail = longest_tail(text, model, questions).0;
    let need = (held + tail + opts.n_predict).max(p.n_ubatch.min(p.n_batch));
    let n_ctx = opts.n_ctx.unwrap_or(need.min(info.n_ctx_train));
    if held + tail >= n_ctx {
        return Err(Error::ContextTooLong { tokens: held + tail, n_ctx, hint: " (the cached document and the question; raise -c)" });
    }
    // Per-head budgets mask each head's padding (`QaOptions::check` asked for -fa off).
    let masked = !stats.head_cells.is_empty();
    debug_assert!(!masked || p.flash_attn == FlashAttn::Off);
    let mut session = Session::new(model, &SessionParams { n_ctx, probe: masked, ..p.clone() })?;
    let layers = &stats.compressed_layers;
    // The tail: what the context holds beyond the kept cells (llama.cpp pads the context).
    let tail_cells = session.n_ctx() - kept_cells;
    if per_layer {
        let n_comp = pipeline::per_model_layer(info.n_layer, layers, stats.layer_cells.iter().copied(), 0);
        session.set_layer_cells(tail_cells, &n_comp, kept)?;
    } else if kept.is_some() {
        // Stock's layout, in the kept types.
        session.set_layer_cells(stats.mean_layer_cells + tail_cells, &vec![0; info.n_layer], kept)?;
    }
    if masked {
        let live = stats.head_cells.iter().zip(&stats.layer_cells).map(|(heads, &slots)| Some(LiveSlots { live: heads.clone(), slots }));
        session.set_live_slots(pipeline::per_model_layer(info.n_layer, layers, live, None))?;
    }
    session.write_state(image)?;
    if session.pos_max() != doc_end - 1 {
        return Err(Error::llama(format!("the restored cache ends at position {}, expected {}", session.pos_max(), doc_end - 1)));
    }
    Ok(session)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compress::{MethodName, ScoreOptions};
    use crate::llama::{KvType, ScoreReduction};

    fn opts(fa: FlashAttn, compress: Option<CompressOptions>) -> QaOptions {
        let f16 = KvType::parse("f16").unwrap();
        QaOptions {
            n_ctx: None,
            session: SessionParams {
                n_ctx: 0,
                n_batch: 2048,
                n_ubatch: 512,
                n_threads: 1,
                flash_attn: fa,
                type_k: f16,
                type_v: f16,
                probe: false,
                scores: ScoreReduction::Auto,
                copy_seq: false,
            },
            n_predict: 8,
            temp: 0.0,
            seed: 0,
            compress,
            query_aware: false,
        }
    }

    fn compress(method: MethodName, budget_mode: BudgetMode) -> Option<CompressOptions> {
        Some(CompressOptions {
            ratio: 0.25,
            method,
            chunk: 0,
            prefill: Prefill::Auto,
            scorer: Scorer::Repeat,
            scores: ScoreOptions::default(),
            local: false,
            budget_mode,
            layer_floor: None,
            store: Store::Cache,
        })
    }

    fn usage(r: Result<()>) -> String {
        match r {
            Err(Error::Usage(m)) => m,
            other => panic!("{other:?}"),
        }
    }

    const ONE: Load = Load::Document { questions: 1 };

    #[test]
    fn each_flag_combination_the_loads_cannot_run_is_refused_before_loading() {
        use BudgetMode::*;
        use MethodName::*;
        assert!(opts(FlashAttn::Auto, compress(Kvcompose, Global)).check(ONE).is_ok());
        assert!(opts(FlashAttn::Auto, None).check(Load::CacheFile).is_ok());
        // Masks need the softmax path, asked for explicitly.
        assert!(usage(opts(FlashAttn::Auto, compress(Kvcompose, GlobalMasked)).check(ONE)).contains("add -fa off"));
        assert!(opts(FlashAttn::Off, compress(Kvcompose, GlobalMasked)).check(ONE).is_ok());
        // KVzip (per-head budgets) only on scored documents, and with -fa off.
        assert!(usage(opts(FlashAttn::Off, compress(Kvzip, Global)).check(ONE)).contains("scored documents"));
        assert!(usage(opts(FlashAttn::Auto, compress(Kvzip, Global)).check(Load::Scored)).contains("add -fa off"));
        assert!(opts(FlashAttn::Off, compress(Kvzip, Global)).check(Load::Scored).is_ok());
        // Copies alone in chunks load as scored documents do (`Plan::new` checks the model).
        let mut alone = opts(FlashAttn::Auto, compress(Kvcompose, Global));
        alone.compress.as_mut().unwrap().scorer = Scorer::Chunks;
        assert!(alone.check(ONE).is_ok() && alone.check(Load::Scored).is_ok());
        assert!(usage(opts(FlashAttn::Off, compress(Streaming, Heads)).check(Load::Scored)).contains("follow the scores"));
        assert!(usage(opts(FlashAttn::Off, compress(Kvcompose, GlobalMasked)).check(Load::Scored)).contains("scored whole"));
        // Local scoring needs uniform budgets; layer by layer takes no chunk.
        let mut local = opts(FlashAttn::Auto, compress(Kvcompose, Global));
        local.compress.as_mut().unwrap().local = true;
        assert!(usage(local.check(ONE)).contains("--kv-local"));
        let mut chunked = opts(FlashAttn::Auto, compress(Kvcompose, Global));
        chunked.compress.as_mut().unwrap().prefill = Prefill::Layers;
        chunked.compress.as_mut().unwrap().chunk = 64;
        assert!(usage(chunked.check(ONE)).contains("--kv-prefill layers"));
        // Query-aware: one question, compressed, read from the document.
        let mut qa = opts(FlashAttn::Auto, compress(Kvcompose, Global));
        qa.query_aware = true;
        assert!(qa.check(ONE).is_ok());
        assert!(usage(qa.check(Load::Document { questions: 2 })).contains("exactly one -p"));
        qa.compress = None;
        assert!(usage(qa.check(ONE)).contains("--kv-compose"));
        // Ranges.
        let mut r = opts(FlashAttn::Auto, compress(Kvcompose, Global));
        r.compress.as_mut().unwrap().ratio = 1.5;
        assert!(matches!(r.check(ONE), Err(Error::RatioOutOfRange(_))));
        r.compress.as_mut().unwrap().ratio = 0.5;
        r.compress.as_mut().unwrap().layer_floor = Some(-0.1);
        assert!(usage(r.check(ONE)).contains("--kv-floor"));
    }
}
