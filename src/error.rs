//! One error type for the library; each variant names the problem in words a user can act on.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("model file not found: {0}")]
    ModelNotFound(PathBuf),
    #[error("{path} is not a GGUF model file: {reason}")]
    ModelInvalid { path: PathBuf, reason: String },
    #[error("model architecture not supported for --kv-compose: {0}")]
    UnsupportedArch(String),
    #[error("unsupported KV cache type `{0}` (expected one of: f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1)")]
    UnknownCacheType(String),
    #[error("KV cache type {0} is not supported by --kv-compose (use f16, q8_0 or q4_0)")]
    UnsupportedCacheType(String),
    #[error("--kv-compose ratio must be in (0, 1], got {0}")]
    RatioOutOfRange(f64),
    #[error("document {0} is empty")]
    DocumentEmpty(String),
    #[error("document {name} is not valid UTF-8 (first invalid byte at offset {offset})")]
    DocumentNotUtf8 { name: String, offset: usize },
    #[error("prompt of {tokens} tokens does not fit the context of {n_ctx} tokens{hint}")]
    ContextTooLong { tokens: usize, n_ctx: usize, hint: &'static str },
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Fetch(String),
    #[error("llama.cpp: {0}")]
    Llama(String),
    #[error("cache file {path}: {reason}")]
    KvFile { path: PathBuf, reason: String },
    #[error("malformed KV sequence state: {0}")]
    StateFormat(String),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }

    pub fn llama(e: impl std::fmt::Display) -> Error {
        Error::Llama(e.to_string())
    }
}
