//! Loading a GGUF model (validated first) and what kvcompose needs to know of its architecture.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;

use super::ffi;
use crate::error::{Error, Result};

static BACKEND: OnceLock<LlamaBackend> = OnceLock::new();

/// The process-wide llama.cpp backend. llama.cpp's own log goes to stderr only when `verbose`
/// is set by the first caller.
pub fn backend(verbose: bool) -> &'static LlamaBackend {
    BACKEND.get_or_init(|| {
        super::ffi::map_large_allocations();
        let mut backend = LlamaBackend::init().expect("llama.cpp backend initialises once, guarded by OnceLock");
        if !verbose {
            backend.void_logs();
        }
        backend
    })
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ModelInfo {
    pub arch: String,
    pub name: String,
    pub n_layer: usize,
    /// Hidden-state width.
    pub n_embd: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    pub n_ctx_train: usize,
    /// Recurrent or hybrid memory: no attention KV cache to compress.
    pub recurrent: bool,
    /// Sliding-window size when the model has sliding-window layers (iSWA cache).
    pub n_swa: Option<usize>,
    /// Per layer: whether it attends through the sliding window (all false without iSWA);
    /// `None` when the model has window layers but kvcompose does not know which.
    pub swa_layers: Option<Vec<bool>>,
    pub head_dim_k: usize,
    pub head_dim_v: usize,
}

impl ModelInfo {
    /// KV bytes one cell takes in one layer for the given cache types.
    pub fn kv_bytes_per_layer_cell(&self, type_k: super::KvType, type_v: super::KvType) -> usize {
        let k = super::ffi::row_size(type_k.ggml(), self.head_dim_k * self.n_head_kv);
        let v = super::ffi::row_size(type_v.ggml(), self.head_dim_v * self.n_head_kv);
        k + v
    }

    /// Whether each KV head's K and V are whole blocks of `ty`: cells are composed per head as
    /// raw bytes.
    pub fn heads_split_into(&self, ty: super::KvType) -> bool {
        let b = super::ffi::block_size(ty.ggml());
        b != 0 && self.head_dim_k % b == 0 && self.head_dim_v % b == 0
    }

    /// KV caches in a sequence state: the window cache follows the global one on iSWA models.
    pub fn n_kv_caches(&self) -> usize {
        if self.n_swa.is_some() {
            2
        } else {
            1
        }
    }

    /// Layers with full (global) attention: the whole cache, the one KVCompose compresses.
    pub fn global_layers(&self) -> Option<Vec<usize>> {
        let swa = self.swa_layers.as_ref()?;
        Some((0..self.n_layer).filter(|&l| !swa[l]).collect())
    }

    /// Cells the window layers hold of a sequence of `n` tokens (llama.cpp keeps the unmasked
    /// ones: the last `n_swa`).
    pub fn window_cells(&self, n: usize) -> usize {
        self.n_swa.map_or(n, |w| n.min(w))
    }

    /// KV bytes of `global` cells in every global layer and `window` cells in every window layer.
    pub fn kv_bytes(&self, type_k: super::KvType, type_v: super::KvType, global: usize, window: usize) -> usize {
        let n_window = self.swa_layers.as_ref().map_or(0, |s| s.iter().filter(|&&s| s).count());
        self.kv_bytes_per_layer_cell(type_k, type_v) * ((self.n_layer - n_window) * global + n_window * window)
    }
}

/// Which layers use the sliding window: the GGUF's `sliding_window_pattern` when it is a
/// period, else llama.cpp's built-in period for the architecture (layer `il` slides unless
/// `il % period == period - 1`). `None` for an architecture whose pattern kvcompose does not know.
fn swa_layers(arch: &str, n_layer: usize, pattern_meta: Option<usize>) -> Option<Vec<bool>> {
    let period = pattern_meta.or(match arch {
        "gemma3" => Some(6),
        _ => None,
    })?;
    Some((0..n_layer).map(|il| period == 0 || il % period < period - 1).collect())
}

/// What makes a compressed cache belong to a model: its shapes, and a hash of the GGUF's header,
/// metadata and tensor table (the same file gives the same hash; a re-quantized or other model
/// does not, even under the same name).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ModelIdentity {
    #[serde(flatten)]
    pub info: ModelInfo,
    pub gguf_sha256: String,
}

#[derive(Debug)]
pub struct Model {
    pub inner: LlamaModel,
    pub info: ModelInfo,
    pub path: PathBuf,
}

impl Model {
    pub fn load(path: &Path, n_gpu_layers: u32, verbose: bool) -> Result<Model> {
        ffi::gguf_check(path)?;
        let params = LlamaModelParams::default().with_n_gpu_layers(n_gpu_layers);
        let inner = LlamaModel::load_from_file(backend(verbose), path, &params).map_err(|_| Error::ModelInvalid {
            path: path.to_path_buf(),
            reason: "llama.cpp could not load it (unknown architecture or damaged tensors; --verbose shows llama.cpp's log)".into(),
        })?;
        let arch = inner.meta_val_str("general.architecture").unwrap_or_default();
        let name = inner.meta_val_str("general.name").unwrap_or_else(|_| arch.clone());
        let n_swa = inner.meta_val_str(&format!("{arch}.attention.sliding_window")).ok().and_then(|s| s.parse::<usize>().ok()).filter(|&n| n > 0);

        let meta_usize = |key: &str| inner.meta_val_str(&format!("{arch}.{key}")).ok().and_then(|s| s.parse::<usize>().ok());
        let head_dim = inner.n_embd() as usize / (inner.n_head() as usize).max(1);
        let n_layer = inner.n_layer() as usize;
        let swa_layers = match n_swa {
            None => Some(vec![false; n_layer]),
            Some(_) => swa_layers(&arch, n_layer, meta_usize("attention.sliding_window_pattern")),
        };
        let info = ModelInfo {
            head_dim_k: meta_usize("attention.key_length").unwrap_or(head_dim),
            head_dim_v: meta_usize("attention.value_length").unwrap_or(head_dim),
            n_layer,
            n_embd: inner.n_embd() as usize,
            n_head: inner.n_head() as usize,
            n_head_kv: inner.n_head_kv() as usize,
            n_ctx_train: inner.n_ctx_train() as usize,
            recurrent: inner.is_recurrent() || inner.is_hybrid(),
            n_swa,
            swa_layers,
            arch,
            name,
        };
        Ok(Model { inner, info, path: path.to_path_buf() })
    }
}

impl Model {
    /// The model's identity, hashing the GGUF's first megabytes (its metadata and tensor table).
    pub fn identity(&self) -> Result<ModelIdentity> {
        use sha2::{Digest, Sha256};
        use std::io::Read;
        let n = ffi::gguf_meta_size(&self.path)?;
        let mut meta = Vec::new();
        std::fs::File::open(&self.path).and_then(|f| f.take(n).read_to_end(&mut meta)).map_err(Error::io(format!("reading {}", self.path.display())))?;
        Ok(ModelIdentity { info: self.info.clone(), gguf_sha256: format!("{:x}", Sha256::digest(&meta)) })
    }
}

#[cfg(test)]
mod tests {
    use super::swa_layers;

    #[test]
    fn gemma3_has_a_global_layer_every_sixth() {
        let s = swa_layers("gemma3", 18, None).unwrap();
        let global: Vec<usize> = (0..18).filter(|&l| !s[l]).collect();
        assert_eq!(global, [5, 11, 17]);
        assert_eq!(swa_layers("gemma3", 4, Some(2)).unwrap(), [true, false, true, false]);
        assert!(swa_layers("unknown", 4, None).is_none());
    }
}
