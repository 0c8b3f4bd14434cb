//! The llama.cpp glue: model loading, the eval-callback probe, the sequence-state codec and the
//! session that decodes, scores and rewrites the live KV cache. Knows nothing of the CLI.

pub mod cache;
pub mod callback;
pub mod ffi;
pub mod model;
pub mod session;
pub mod state;

pub use model::{Model, ModelIdentity, ModelInfo};
pub use session::{FlashAttn, KvType, LayerInput, ScoreReduction, Session, SessionParams};
