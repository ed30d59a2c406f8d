//! The files plantsync keeps in its data dir beside the database, and who may use the dir.
//!
//! * `agent.lock`: an exclusive lock. The agent (`plantsync run`) holds it while it runs; a
//!   CLI sync holds it while it syncs, so two processes never sync one database at once and
//!   an agent never mistakes a live CLI run for one a crash left behind.
//! * `agent.json`: the running agent's pid and API address, for the CLI to find it. It is
//!   removed on a clean stop, so finding it when taking the lock means the last agent died.
//! * `sync.json`: the pid of the CLI sync holding the lock (removed when it ends).
//! * `admin-token`: the control API's bearer token (mode 0600).
//!
//! [`dir`] prepares the data dir itself (created 0700, checked, probed for writing) and
//! holds the helpers every file plantsync creates goes through (0600).
//!
//! The API, the agent and the CLI all use this module; none of them owns these files.

pub mod dir;
pub mod lock;
pub mod token;
