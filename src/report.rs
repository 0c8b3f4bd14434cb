//! What a run reports: `--json` on stdout, or a llama.cpp-style summary on stderr.

use serde::Serialize;

use crate::compress::MethodName;
use crate::pipeline::{BudgetMode, Prefill};

#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct Report {
    pub answer: String,
    pub model: String,
    pub doc_tokens: usize,
    pub prompt_tokens: usize,
    /// The fraction of the document's KV cache kept, or null without compression.
    pub kv_compose: Option<f64>,
    /// Which tokens each head kept (`kvcompose` or a baseline), or null without compression.
    pub kv_method: Option<MethodName>,
    pub kv_type_k: String,
    pub kv_type_v: String,
    /// The types the compressed layers keep their cells in (`--kv-store`): q8_0 where f16 cells
    /// were rounded, else the cache's own.
    #[serde(default)]
    pub kv_kept_type_k: String,
    #[serde(default)]
    pub kv_kept_type_v: String,
    /// Cells of the prompt prefix and document, as stock llama.cpp holds them.
    pub kv_cells_full: usize,
    /// Cells held for them after compression.
    pub kv_cells_kept: usize,
    /// KV bytes stock llama.cpp holds for the whole prompt.
    pub kv_bytes_full: usize,
    /// KV bytes held for the whole prompt after compression.
    pub kv_bytes_kept: usize,
    /// The most KV buffer allocated at once: the context's (n_ctx cells, or each layer's own
    /// size), or, layer by layer, what the prefill held while one layer held the whole document.
    pub kv_alloc_bytes: usize,
    /// The most K/V rows held in host memory at once while the document was read: the
    /// layer-by-layer prefill's candidates (0 for the other prefills).
    #[serde(default)]
    pub kv_host_peak_bytes: usize,
    pub n_ctx: usize,
    pub peak_rss_bytes: u64,
    pub t_prefill_ms: f64,
    pub t_score_ms: f64,
    pub t_compress_ms: f64,
    pub t_decode_ms: f64,
    pub decode_tokens: usize,
    pub decode_tokens_per_s: f64,
    /// Cells kept per layer as realised in the cache (llama.cpp shares cells across layers).
    pub layer_budgets: Vec<usize>,
    /// `uniform`: every layer keeps the same number of cells, the realised budgets above;
    /// `global-masked`: every layer holds that many cells but attends to its
    /// `layer_budgets_global` share only.
    pub budget_mode: BudgetMode,
    /// KVCompose's global allocation of the same total over the compressed layers.
    pub layer_budgets_global: Vec<usize>,
    pub compress_steps: usize,
    /// How the document was read: `layers` or `chunks` (null without compression).
    pub kv_prefill: Option<Prefill>,
    /// `softmax`, `flash_attn` or null when no scoring pass ran.
    pub attention_path: Option<String>,
}

impl Report {
    /// The summary printed on stderr, in the shape of llama.cpp's timings.
    pub fn summary(&self) -> String {
        let per = |ms: f64, n: usize| if n == 0 { (0.0, 0.0) } else { (ms / n as f64, n as f64 * 1e3 / ms.max(1e-9)) };
        let (pp_ms, pp_tps) = per(self.t_prefill_ms, self.prompt_tokens);
        let (tg_ms, _) = per(self.t_decode_ms, self.decode_tokens);
        let mut s = String::new();
        s += &format!(
            "prompt eval time = {:10.2} ms / {:5} tokens ({:8.2} ms per token, {:8.2} tokens per second)\n",
            self.t_prefill_ms, self.prompt_tokens, pp_ms, pp_tps
        );
        if self.kv_compose.is_some() {
            s +=
                &format!("      score time = {:10.2} ms\n   compress time = {:10.2} ms / {} steps\n", self.t_score_ms, self.t_compress_ms, self.compress_steps);
        }
        s += &format!(
            "       eval time = {:10.2} ms / {:5} runs   ({:8.2} ms per token, {:8.2} tokens per second)\n",
            self.t_decode_ms, self.decode_tokens, tg_ms, self.decode_tokens_per_s
        );
        s += &format!(
            "kv cache: {} of {} document cells kept{}, {:.2} MiB vs {:.2} MiB stock ({:.1}%); allocated {:.2} MiB for {} cells ({} K, {} V)\n",
            self.kv_cells_kept,
            self.kv_cells_full,
            if (&self.kv_kept_type_k, &self.kv_kept_type_v) == (&self.kv_type_k, &self.kv_type_v) || self.kv_kept_type_k.is_empty() {
                String::new()
            } else {
                format!(" in {} K / {} V", self.kv_kept_type_k, self.kv_kept_type_v)
            },
            mib(self.kv_bytes_kept as u64),
            mib(self.kv_bytes_full as u64),
            100.0 * self.kv_bytes_kept as f64 / self.kv_bytes_full.max(1) as f64,
            mib(self.kv_alloc_bytes as u64),
            self.n_ctx,
            self.kv_type_k,
            self.kv_type_v
        );
        if self.kv_host_peak_bytes > 0 {
            s += &format!("kv rows held on the host while reading: {:.2} MiB\n", mib(self.kv_host_peak_bytes as u64));
        }
        s += &format!("peak RSS: {:.2} MiB\n", mib(self.peak_rss_bytes));
        s
    }
}

/// Bytes in a MiB, as llama.cpp reports sizes.
pub const MIB: f64 = 1024.0 * 1024.0;

pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / MIB
}

/// Peak resident set size of this process (`VmHWM`), 0 where /proc is unavailable.
pub fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status").ok().and_then(|s| vm_hwm(&s)).unwrap_or(0)
}

/// The peak resident set size in a `/proc/PID/status` text, in bytes.
pub fn vm_hwm(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
}
