//! Tests of the spl area.
