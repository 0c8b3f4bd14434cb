//! The Q&A prompt, split so the document can be prefilled (and compressed) on its own:
//! `prefix` (template start, BOS) + `document` + `tail` (question and the assistant turn).

use llama_cpp_2::model::{LlamaChatMessage, LlamaModel};
use llama_cpp_2::token::LlamaToken;

use crate::error::{Error, Result};

const DOC_MARK: &str = "\u{1}KVCOMPOSE_DOCUMENT\u{1}";
const QUESTION_MARK: &str = "\u{1}KVCOMPOSE_QUESTION\u{1}";

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PromptText {
    pub prefix: String,
    pub tail_before_question: String,
    pub tail_after_question: String,
    pub templated: bool,
}

#[derive(Debug, Clone)]
pub struct PromptTokens {
    pub prefix: Vec<LlamaToken>,
    pub document: Vec<LlamaToken>,
    pub tail: Vec<LlamaToken>,
}

impl PromptTokens {
    pub fn len(&self) -> usize {
        self.prefix.len() + self.document.len() + self.tail.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The word of each prefix and document token (what the cache holds of the prompt), from
    /// the tokens' text pieces.
    pub fn word_ids(&self, model: &LlamaModel) -> Vec<u32> {
        let vocab = model.vocab();
        let pieces: Vec<Vec<u8>> = self.prefix.iter().chain(&self.document).map(|&t| vocab.token_to_piece(t, false, None)).collect();
        crate::compress::words::word_ids(&pieces)
    }
}

/// The model's chat template with the document then the question in the user turn, or a plain
/// "Document / Question / Answer" prompt when the GGUF has no template.
pub fn template(model: &LlamaModel) -> PromptText {
    let rendered = model.chat_template(None).ok().and_then(|tmpl| {
        let msg = LlamaChatMessage::new("user".into(), format!("{DOC_MARK}\n\n{QUESTION_MARK}")).ok()?;
        model.apply_chat_template(&tmpl, &[msg], true).ok()
    });
    if let Some((prefix, rest)) = rendered.as_deref().and_then(|r| r.split_once(DOC_MARK)) {
        if let Some((mid, end)) = rest.split_once(QUESTION_MARK) {
            return PromptText { prefix: prefix.to_string(), tail_before_question: mid.to_string(), tail_after_question: end.to_string(), templated: true };
        }
    }
    PromptText { prefix: "Document:\n".into(), tail_before_question: "\n\nQuestion: ".into(), tail_after_question: "\nAnswer:".into(), templated: false }
}

impl PromptText {
    /// Tokenizes the pieces. Only the template's own text may contain special tokens; the
    /// document and the question are plain text.
    pub fn tokenize(&self, model: &LlamaModel, document: &str, question: &str) -> Result<PromptTokens> {
        let vocab = model.vocab();
        let prefix = vocab.tokenize(self.prefix.as_bytes(), true, true);
        let document = vocab.tokenize(document.as_bytes(), false, false);
        if document.is_empty() {
            return Err(Error::DocumentEmpty("(no tokens)".into()));
        }
        Ok(PromptTokens { prefix, document, tail: self.tail_tokens(model, question) })
    }

    /// The whole prompt as text, for tools that tokenize it themselves (stock llama.cpp).
    pub fn render(&self, document: &str, question: &str) -> String {
        format!("{}{document}{}{question}{}", self.prefix, self.tail_before_question, self.tail_after_question)
    }

    /// Tokens of the question turn that follows the document.
    pub fn tail_tokens(&self, model: &LlamaModel, question: &str) -> Vec<LlamaToken> {
        let vocab = model.vocab();
        let mut tail = vocab.tokenize(self.tail_before_question.as_bytes(), false, true);
        tail.extend(vocab.tokenize(question.as_bytes(), false, false));
        tail.extend(vocab.tokenize(self.tail_after_question.as_bytes(), false, true));
        tail
    }
}
