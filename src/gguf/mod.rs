//! GGUF reader and writer (zero-copy over memmap2).
