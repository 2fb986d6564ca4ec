//! Placeholder until the content module lands.
