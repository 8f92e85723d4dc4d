//! gateway-local: the whole gateway on one machine. The real webhook, send and forward handlers
//! behind a local HTTP server and an SQS poller that plays Lambda's event source mapping, with
//! tables and queues created from template.yaml itself so local and cloud cannot drift.

pub mod demo_client;
pub mod demo_receiver;
pub mod emulator;
pub mod fake_graph;
pub mod http_server;
pub mod poller;
pub mod provision;
pub mod realtime;
pub mod stack;

pub use stack::{LocalStack, StackOptions};
