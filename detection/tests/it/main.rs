//! Behaviour tests of the `detection` crate, one module per area, data-driven from
//! `fixtures/` and, when present, the shared real datasets in `../shared/datasets/`.

mod bad_input;
mod cli_paths;
mod combine;
mod datamodel;
mod events;
mod fields;
mod functions;
mod hits;
mod pipeline;
mod properties;
mod render;
mod rules;
mod scan;
mod spl;
mod support;
