//! plantsync: a local-first agent that keeps solar plants and alerts from vendor monitoring
//! portals in a SQLite file.
//!
//! # Architecture
//!
//! Data flows from triggers through one engine to the edges:
//!
//! * **domain** holds plain types (ids, kinds, records, the original system's summary
//!   shape, [`domain::Secret`]) and imports nothing of ours.
//! * **config** resolves settings once: built-in defaults, then the TOML file, then the
//!   environment (`PLANTSYNC_*` and the original system's names), then CLI flags; it
//!   validates into typed [`config::Settings`] before anything is written.
//! * **store** owns every SQL statement: one writer thread, read-only connections for
//!   listings, migrations from `schema.sql`, the change sequence for upstream.
//! * **logging** renders the original's context line
//!   `[timestamp] [SOURCE] [OPERATION] [LEVEL] [Vendor:ID] [Org:ID] message` from tracing
//!   spans, so nested work inherits its context.
//! * **cli** defines the commands and their table, JSON and CSV output.
//! * **app** is the composition root that wires them together for `main`.
//!
//! Arrows point inwards: `store` and (later) `vendors` never import each other; the sync
//! engine is the only place where they meet.

pub mod agent;
pub mod api;
pub mod app;
pub mod cli;
pub mod config;
pub mod domain;
pub mod logging;
pub mod schedule;
pub mod simulator;
pub mod store;
pub mod sync;
pub mod vendors;
