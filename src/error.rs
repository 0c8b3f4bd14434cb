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
    /// llama.cpp failed or refused: what was asked of it and, where it said why, its own error.
    #[error("llama.cpp: {what}")]
    Llama {
        what: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The stock llama.cpp binary the benchmark runs beside kvcompose failed.
    #[error("stock llama.cpp: {0}")]
    Stock(String),
    #[error("cache file {path}: {reason}")]
    KvFile { path: PathBuf, reason: String },
    #[error("malformed KV sequence state: {0}")]
    StateFormat(String),
    #[error("{context}")]
    Io { context: String, source: std::io::Error },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }

    /// A llama.cpp failure that llama.cpp gave no error for.
    pub fn llama(what: impl Into<String>) -> Error {
        Error::Llama { what: what.into(), source: None }
    }

    /// `what` failed in llama.cpp with `source`, kept as this error's source.
    pub fn llama_failed<E: std::error::Error + Send + Sync + 'static>(what: impl Into<String>) -> impl FnOnce(E) -> Error {
        let what = what.into();
        move |source| Error::Llama { what, source: Some(Box::new(source)) }
    }

    /// The error and each of its causes, `: `-separated, as `main` prints it.
    pub fn chain(&self) -> String {
        let mut out = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(c) = cause {
            out += &format!(": {c}");
            cause = c.source();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::Error;

    #[test]
    fn the_chain_names_each_cause_once() {
        let e = Error::llama_failed("decode of 3 tokens at position 0")(std::io::Error::other("NoKvCacheSlot"));
        assert_eq!(e.to_string(), "llama.cpp: decode of 3 tokens at position 0");
        assert_eq!(e.chain(), "llama.cpp: decode of 3 tokens at position 0: NoKvCacheSlot");
        let e = Error::io("reading doc.txt")(std::io::Error::new(std::io::ErrorKind::NotFound, "No such file"));
        assert_eq!(e.chain(), "reading doc.txt: No such file");
        assert_eq!(Error::llama("no hidden states").chain(), "llama.cpp: no hidden states");
    }
}
