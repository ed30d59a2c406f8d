//! plantsync: a local-first agent that keeps solar plants and alerts from vendor monitoring
//! portals in a SQLite file.
//!
//! # Architecture
//!
//! Triggers (the schedule, the loopback API, the CLI) reach one engine, which talks to the
//! vendors at one edge and to the store at the other:
//!
//! * **domain** holds plain types (ids, kinds, records, the original system's summary
//!   shape, [`domain::Secret`]) and imports nothing of ours.
//! * **config** resolves settings once: built-in defaults, then the TOML file, then the
//!   environment (`PLANTSYNC_*` and the original system's names), then CLI flags, from one
//!   table of keys; it validates into typed settings before anything is written.
//! * **datadir** owns the files beside the database: the lock that lets one process sync
//!   a data dir at a time, and the control API's admin token.
//! * **secrets** is where an install keeps vendor secrets: the OS keyring (the `keyring`
//!   crate) or the database file, chosen per install; only the store calls it.
//! * **store** owns every SQL statement: one writer thread, read-only connections for
//!   listings, migrations from `schema.sql`, the change sequence for upstream.
//! * **upstream** pushes the store's changed rows to a central PostgreSQL many agents
//!   share: batches after a watermark, idempotent upserts, the stale-replay rule.
//! * **vendors** has one folder per portal behind the `VendorClient` trait, the session
//!   (token reuse, one re-login, retries, request budget) and lenient decoding.
//! * **simulator** serves the vendors' wire formats on loopback with fault switches, for
//!   the demo and the tests.
//! * **sync** is the only place vendors and the store meet: runs, batches with a row-by-row
//!   fallback, the success rule, the summary in the original shape.
//! * **schedule** decides when: the restricted window, due times and the one rule for
//!   scheduled runs (pure), the cron loop, and the `Coordinator` through which every
//!   trigger's [`domain::RunRequest`] goes (single flight that respects the selection).
//! * **api** is the loopback control API and its wire types; **agent** is `plantsync run`,
//!   a composition of components (recovery, notifications, the API, the run drain, the
//!   schedule).
//! * **logging** renders the original's context line
//!   `[timestamp] [SOURCE] [OPERATION] [LEVEL] [Vendor:ID] [Org:ID] message` from tracing
//!   spans, so nested work inherits its context.
//! * **tray** is `plantsync tray` (feature `tray`): the desktop's tray icon and menu, a
//!   client of the running agent's API in a process of its own.
//! * **cli** defines the commands and their table, JSON and CSV output; **app** is the
//!   composition root that `main` hands the command line to.

mod agent;
pub mod api;
mod app;
mod cli;
mod config;
pub mod datadir;
pub mod domain;
mod logging;
pub mod schedule;
pub mod secrets;
pub mod simulator;
pub mod store;
pub mod sync;
mod tray;
mod upstream;
pub mod vendors;

pub use app::main;
pub use cli::Cli;
