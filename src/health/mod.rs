//! Health checking of real servers.
//!
//! - [`state`]: the rise/fall state machine of one server (pure);
//! - [`effective()`]: the spec a director runs, weights as health says (pure);
//! - [`probe()`]: one check (tcp, http, https, udp, dns, exec);
//! - [`HealthMonitor`]: the checks of one spec on tokio, with their states
//!   and a notification per change, for the local director and agents alike;
//! - [`DirectorChecks`]: one cluster's monitor on one director, and the
//!   spec it reconciles toward, for the local director and agents alike;
//! - [`view`]: what the API shows.
//!
//! Checks change the weights in the kernel, never the revision: a director
//! reconciles toward the effective spec, so its drift check compares the
//! kernel with what health wants and does not undo it.

mod director;
mod effective;
mod monitor;
mod probe;
mod state;
mod view;

pub use director::{DirectorChecks, Target};
pub use effective::effective;
pub use monitor::{HealthEvent, HealthMonitor, MonitorOptions};
pub use probe::probe;
pub use state::{ServerState, Transition};
pub use view::{ServerHealthView, ServiceHealthView, views};
