//! The container's side of its network interfaces: `lo` up, and each veth
//! peer the parent created in the container's network namespace renamed,
//! addressed, up and routed ([`net::container::configure`]).
//!
//! Only what the config lists is touched: a new network namespace without
//! [`Interface::Loopback`] in `networks` keeps its `lo` down, as the
//! kernel made it.

use cradle_core::{ChildError, ChildStep, Config, Interface, NamespaceKind};

use super::refused;
use crate::net;

/// Finishes the config's interfaces, in the network namespace the child is
/// in by now (a new one, or one it joined).
pub(super) fn configure(config: &Config) -> Result<(), ChildError> {
    let step = ChildStep::Network;
    if let Some(reason) = misplaced(config) {
        return Err(refused(step, reason));
    }
    if config.networks.is_empty() {
        return Ok(());
    }
    net::container::configure(&config.networks).map_err(|error| ChildError {
        message: error.to_string(),
        step,
        errno: error.errno(),
    })
}

/// Why `config`'s interfaces cannot go where it would put them, if they
/// cannot: the parent checks this before the launch, the child again
/// before it changes anything.
///
/// Any interface needs a network namespace other than the caller's (or
/// `lo` up and veth addresses and routes would land on the host). A veth
/// needs a *new* one: the parent creates the peer in the child's namespace
/// before the child has joined any by path.
pub(crate) fn misplaced(config: &Config) -> Option<&'static str> {
    let has_netns = config.namespaces.iter().any(|ns| ns.kind == NamespaceKind::Net);
    if !config.networks.is_empty() && !has_netns {
        return Some("network interfaces need a network namespace of the container's own");
    }
    let has_veth = config.networks.iter().any(Interface::has_host_side);
    if has_veth && !config.creates(NamespaceKind::Net) {
        return Some("a veth interface needs a new network namespace, not one joined by path");
    }
    None
}

#[cfg(test)]
mod tests {
    use cradle_core::config::Veth;
    use cradle_core::Namespace;

    use super::*;

    fn config(namespaces: Vec<Namespace>, networks: Vec<Interface>) -> Config {
        let mut config = Config::new(["/bin/true"]);
        config.namespaces = namespaces;
        config.networks = networks;
        config
    }

    #[test]
    fn interfaces_stay_out_of_the_callers_namespace() {
        let veth = Interface::Veth(Veth::default());
        let new = || vec![Namespace::new(NamespaceKind::Net)];
        let joined = || vec![Namespace::join(NamespaceKind::Net, "/proc/1/ns/net")];
        assert_eq!(misplaced(&config(vec![], vec![])), None);
        assert!(misplaced(&config(vec![], vec![Interface::Loopback])).is_some());
        assert!(misplaced(&config(vec![], vec![veth.clone()])).is_some());
        assert_eq!(misplaced(&config(joined(), vec![Interface::Loopback])), None);
        assert!(misplaced(&config(joined(), vec![veth.clone()])).is_some());
        assert_eq!(misplaced(&config(new(), vec![Interface::Loopback, veth])), None);
    }
}
