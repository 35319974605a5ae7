//! Subscription trie (placeholder).
