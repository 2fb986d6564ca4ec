//! Placeholder until the spl module lands.
