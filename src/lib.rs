//! kvcompose: KVCompose KV-cache compression inside a running llama.cpp.
//!
//! - [`compress`]: the algorithm (scores, per-head selection, composite slots, budgets), pure.
//! - [`llama`]: the llama.cpp glue (eval-callback probe, state codec, cache rewrite, session).
//! - [`pipeline`]: KVCompose run on a live session: planned, prefilled (in chunks, layer by
//!   layer, or scored once), chosen and written back.
//! - [`qa`]: the main job, a document in a session answering questions.
//! - [`kvfile`]: compressed-cache files, written once and answered from many times.
//! - [`bench`]: generated long-document cases, every method and ratio side by side.
//! - [`cli`], [`commands`]: flags and subcommands; `main.rs` only parses and dispatches.

pub mod bench;
pub mod cli;
pub mod commands;
pub mod compress;
pub mod document;
pub mod error;
pub mod fetch;
pub mod kvfile;
pub mod llama;
pub mod pipeline;
pub mod prompt;
pub mod qa;
pub mod report;

pub use error::{Error, Result};
