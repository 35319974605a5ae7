//! Retained messages indexed by topic for filter lookups (placeholder).
