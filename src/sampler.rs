//! Logits to next token.
