//! The KVCompose algorithm, free of llama.cpp: per-head scores from attention maxima, per-head
//! top-k selection, composite-token alignment and the global layer budget allocation.
//!
//! A compressed layer is a table of composite slots: slot `i` holds, for KV head `h`, the
//! token `origin[h][i]`. All layers share the number of slots (llama.cpp shares cells across
//! layers), each layer and head chooses its own tokens.

pub mod budget;
pub mod methods;
pub mod scores;
pub mod select;
pub mod words;

pub use budget::{allocate_global, allocate_heads};
pub use methods::{Method, MethodName};
pub use scores::{Aggregation, ScoreOptions};
pub use select::{LayerSlots, Selection};
