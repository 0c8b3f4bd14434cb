//! The main job: load a long document into a llama.cpp session (whole, or compressed with
//! KVCompose), then answer questions about it.

use std::time::Instant;

use llama_cpp_2::sampling::LlamaSampler;

use crate::compress::MethodName;
use crate::compressor::{self, BudgetMode, CompressOptions, CompressStats, Inputs, Prefill, ScoredDocument, Scorer, ScoringCopy};
use crate::error::{Error, Result};
use crate::kvfile::{self, Header, KvFile};
use crate::llama::callback::LiveSlots;
use crate::llama::state::Layout;
use crate::llama::{FlashAttn, Model, Session, SessionParams};
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
/// KVzip's scoring chunk, in document tokens.
pub const KVZIP_CHUNK: usize = 2048;

/// Chunk size that keeps the cache within budget + chunk: an eighth of the budget, 64..=512.
pub fn default_chunk(budget: usize) -> usize {
    (budget / 8).clamp(64, 512)
}

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
        progress: &mut compressor::Progress<'_>,
    ) -> Result<DocumentSession<'m>> {
        opts.check()?;
        if opts.compress.as_ref().is_some_and(|c| c.scorer == Scorer::Kvzip || c.budget_mode == BudgetMode::Heads || c.method == MethodName::Kvzip) {
            return Err(Error::Usage("KVzip's scorer and per-head budgets work on scored documents, in the benchmark (bench --scores DIR)".into()));
        }
        if opts.query_aware && questions.len() != 1 {
            return Err(Error::Usage("--kv-query-aware compresses the document for one question: ask exactly one".into()));
        }
        let text = prompt::template(&model.inner);
        let question = longest_tail(&text, model, questions).1;
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
                    _ => {
                        let pass = (prompt.prefix.len() + c.chunk).max(intro + c.chunk).max(q);
                        // Window layers hold a whole window beside each decode (llama.cpp sizes
                        // their cache from the context): a context sized for a small budget
                        // left no cell for a chunk once the document outgrew the window.
                        let window = info.n_swa.map_or(0, |w| w + pass);
                        (held + c.chunk + (intro + c.chunk).max(q)).max(held + prompt.tail.len() + opts.n_predict).max(window)
                    }
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
                // The batches `decode` would make of the whole, one at a time for the progress.
                let n_batch = session.n_batch();
                for (i, batch) in doc.chunks(n_batch).enumerate() {
                    session.decode(batch, (i * n_batch) as i32, false)?;
                    progress("reading", ((i + 1) * n_batch).min(doc.len()), doc.len());
                }
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
                    Prefill::Layers => compressor::prefill_layerwise(&mut session, input, c, progress)?,
                    _ => compressor::prefill(&mut session, input, c, progress)?,
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
            opts: QaOptions { compress, ..opts.clone() },
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
        let scorer = opts.compress.as_ref().map_or(Scorer::Repeat, |c| c.scorer);
        let whole = |intro: Vec<_>| vec![ScoringCopy { intro, doc: 0..n, local: false }];
        let copies = match scorer {
            Scorer::Repeat => whole(text.tail_tokens(&model.inner, REPEAT_REQUEST)),
            Scorer::Refeed => whole(Vec::new()),
            Scorer::Kvzip => (0..n)
                .step_by(KVZIP_CHUNK)
                .map(|at| {
                    let intro = match at {
                        0 => text.tail_tokens(&model.inner, REPEAT_REQUEST),
                        _ => [text.tail_tokens(&model.inner, REPEAT_PART_REQUEST), prompt.document[at - compressor::LEAD_IN.min(at)..at].to_vec()].concat(),
                    };
                    ScoringCopy { intro, doc: at..(at + KVZIP_CHUNK).min(n), local: true }
                })
                .collect(),
        };
        if prompt.prefix.len() + n + 1 > model.info.n_ctx_train {
            return Err(Error::ContextTooLong { tokens: prompt.prefix.len() + n, n_ctx: model.info.n_ctx_train, hint: " the model was trained for" });
        }
        // The copy runs past the document, beyond the training context for long ones, as in the
        // layer-by-layer prefill.
        let longest = copies.iter().map(|c| c.intro.len() + c.doc.len()).max().unwrap_or(0);
        let n_ctx = prompt.prefix.len() + n + longest + 1;
        let mut session = Session::new(model, &SessionParams { n_ctx, probe: true, ..opts.session.clone() })?;
        compressor::prefill_scored(&mut session, &prompt.prefix, &prompt.document, &copies, &mut |_, _, _| {})
    }

    /// A scored document in a fresh context sized for `questions`: compressed on the host with
    /// `opts.compress` (no decode), or its whole cache without it.
    pub fn from_scored(model: &'m Model, document: &str, doc: &ScoredDocument, questions: &[&str], opts: &QaOptions) -> Result<DocumentSession<'m>> {
        opts.check()?;
        let t0 = Instant::now();
        let text = prompt::template(&model.inner);
        let prompt = text.tokenize(&model.inner, document, "")?;
        if prompt.prefix.len() != doc.n_prefix {
            return Err(Error::Usage("the scored document was read with another prompt template".into()));
        }
        let n_total = prompt.prefix.len() + prompt.document.len();
        let (state, stats) = match &opts.compress {
            Some(c) => compressor::compress_scored(&model.info, doc, c)?,
            None => (doc.state.clone(), CompressStats { cells_full: n_total, cells_kept: n_total, t_prefill_ms: doc.t_prefill_ms, ..Default::default() }),
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
        let stats = CompressStats { t_prefill_ms: 0.0, t_score_ms: 0.0, t_compress_ms: 0.0, alloc_cells_peak: 0, ..header.stats };
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
            doc_tokens: self.n_doc,
            prompt_tokens: self.n_prefix + self.n_doc + tail,
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
    // Cells one cache holds of the document: the compressed one's, or the window's.
    let held = stats.cells_kept.max(layout.caches.get(1).map_or(0, |c| c.n_cells()));
    let tail = longest_tail(text, model, questions).0;
    let p = &opts.session;
    let need = (held + tail + opts.n_predict).max(p.n_ubatch.min(p.n_batch));
    let n_ctx = opts.n_ctx.unwrap_or(need.min(info.n_ctx_train));
    if held + tail >= n_ctx {
        return Err(Error::ContextTooLong { tokens: held + tail, n_ctx, hint: " (the cached document and the question; raise -c)" });
    }
    // Per-head budgets mask each head's padding, in the softmax that flash attention never forms.
    let masked = !stats.head_cells.is_empty();
    if masked && p.flash_attn != FlashAttn::Off {
        return Err(Error::Usage("per-head budgets mask attention probabilities, which flash attention never forms: add -fa off".into()));
    }
    let mut session = Session::new(model, &SessionParams { n_ctx, probe: masked, ..p.clone() })?;
    if per_layer {
        let mut n_comp = vec![0; info.n_layer];
        for (&l, &n) in stats.compressed_layers.iter().zip(&stats.layer_cells) {
            n_comp[l] = n;
        }
        session.set_layer_cells(n_ctx - stats.cells_kept, &n_comp)?;
    }
    if masked {
        let mut live = vec![None; info.n_layer];
        for ((&l, heads), &slots) in stats.compressed_layers.iter().zip(&stats.head_cells).zip(&stats.layer_cells) {
            live[l] = Some(LiveSlots { live: heads.clone(), slots });
        }
        session.set_live_slots(live)?;
    }
    session.write_state(image)?;
    if session.pos_max() != doc_end - 1 {
        return Err(Error::Llama(format!("the restored cache ends at position {}, expected {}", session.pos_max(), doc_end - 1)));
    }
    Ok(session)
}
