//! Network interfaces through rtnetlink (no `ip` command is run): the host
//! side of a veth pair in the parent, the container side in the child.
//!
//! - [`validate`]: check a configuration before anything is created.
//! - [`host`]: create a veth pair with its peer placed straight into the
//!   container's network namespace; remove it.
//! - [`container`]: inside that namespace, bring `lo` up and finish each
//!   peer (name, MAC, MTU, addresses, up, default routes).
//! - [`host_name`] and [`temp_peer_name`]: names that cannot collide.
//! - [`bridge`] and [`inspect`]: create bridges to attach to, and read
//!   links and routes back.
//!
//! Every function acts on the network namespace of the calling *thread*:
//! a netlink socket belongs to the namespace it was opened in, and each
//! call opens its own.

pub mod bridge;
pub mod container;
mod error;
pub mod host;
pub mod inspect;
mod link;
mod names;
mod netlink;
mod validate;

pub use self::error::{NetError, Operation};
pub use self::names::{check_name, host_name, temp_peer_name, MAX_NAME_LEN};
pub use self::validate::validate;
