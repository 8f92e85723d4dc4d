//! All integration and end-to-end tests in one binary: the real adapters and handlers against
//! the AWS emulator started by `make test`, and real HTTP servers on loopback.

mod abuse;
mod adapters;
mod contract;
mod cost;
mod deliveries;
mod fake_graph;
mod fidelity;
mod forward;
mod handlers;
mod ingest;
mod isolation;
mod media;
mod neighbours;
mod realtime;
mod retry;
mod sdks;
mod send;
mod send_media;
mod send_outcomes;
mod soak;
mod template;
