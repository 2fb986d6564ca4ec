//! Placeholder until the eval module lands.
