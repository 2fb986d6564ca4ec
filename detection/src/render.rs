//! Placeholder until the render module lands.
