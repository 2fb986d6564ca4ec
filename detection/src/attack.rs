//! Placeholder until the attack module lands.
