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
        let mut backend = LlamaBackend::init().expect("llama.cpp backend initialises once, guarded by OnceLock");
        if !verbose {
            backend.void_logs();
        }
        backend
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    pub arch: String,
    pub name: String,
    pub n_layer: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    pub n_ctx_train: usize,
    /// Recurrent or hybrid memory: no attention KV cache to compress.
    pub recurrent: bool,
    /// Sliding-window size when the model has sliding-window layers (iSWA cache).
    pub n_swa: Option<usize>,
    pub head_dim_k: usize,
    pub head_dim_v: usize,
}

impl ModelInfo {
    /// KV bytes one cell takes over all layers for the given cache types.
    pub fn kv_bytes_per_cell(&self, type_k: super::KvType, type_v: super::KvType) -> usize {
        let k = super::ffi::row_size(type_k.0.into(), self.head_dim_k * self.n_head_kv);
        let v = super::ffi::row_size(type_v.0.into(), self.head_dim_v * self.n_head_kv);
        self.n_layer * (k + v)
    }
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
        let n_swa = inner
            .meta_val_str(&format!("{arch}.attention.sliding_window"))
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
            .filter(|&n| n > 0);

        let meta_usize = |key: &str| inner.meta_val_str(&format!("{arch}.{key}")).ok().and_then(|s| s.parse::<usize>().ok());
        let head_dim = inner.n_embd() as usize / (inner.n_head() as usize).max(1);
        let info = ModelInfo {
            head_dim_k: meta_usize("attention.key_length").unwrap_or(head_dim),
            head_dim_v: meta_usize("attention.value_length").unwrap_or(head_dim),
            n_layer: inner.n_layer() as usize,
            n_head: inner.n_head() as usize,
            n_head_kv: inner.n_head_kv() as usize,
            n_ctx_train: inner.n_ctx_train() as usize,
            recurrent: inner.is_recurrent() || inner.is_hybrid(),
            n_swa,
            arch,
            name,
        };
        Ok(Model { inner, info, path: path.to_path_buf() })
    }
}
