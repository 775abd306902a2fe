//! Checks a network configuration before anything is created, so that a
//! bad one fails as a whole instead of half-way through.

use std::collections::HashSet;
use std::net::IpAddr;

use cradle_core::config::{IpNet, Veth};
use cradle_core::Interface;

use super::error::NetError;
use super::names::check_name;

/// The name of the loopback interface, in every network namespace.
pub(crate) const LOOPBACK: &str = "lo";

/// Checks every interface of a configuration: names the kernel accepts and
/// that do not clash with each other or with `lo`, MAC addresses, prefix
/// lengths, and gateways of the right family.
///
/// [`host::create`](super::host::create) and
/// [`container::configure`](super::container::configure) call it too; a
/// launcher calls it first to refuse a bad configuration before the launch.
pub fn validate(interfaces: &[Interface]) -> Result<(), NetError> {
    let mut host_names = HashSet::new();
    let mut container_names = HashSet::from([LOOPBACK]);
    for veth in interfaces.iter().filter_map(|interface| match interface {
        Interface::Loopback => None,
        Interface::Veth(veth) => Some(veth),
    }) {
        validate_veth(veth)?;
        claim(&mut host_names, &veth.host_name)?;
        claim(&mut container_names, &veth.peer_name)?;
        if veth.name != veth.peer_name {
            claim(&mut container_names, &veth.name)?;
        }
    }
    Ok(())
}

/// Checks one veth on its own.
pub(crate) fn validate_veth(veth: &Veth) -> Result<(), NetError> {
    check_name(&veth.host_name)?;
    check_name(&veth.peer_name)?;
    check_name(&veth.name)?;
    if let Some(bridge) = &veth.bridge {
        check_name(bridge)?;
    }
    if let Some(mac) = &veth.mac {
        parse_mac(&veth.name, mac)?;
    }
    for net in &veth.addresses {
        check_prefix(&veth.name, net)?;
    }
    check_gateway(&veth.name, veth.gateway, "IPv4", IpAddr::is_ipv4)?;
    check_gateway(&veth.name, veth.gateway6, "IPv6", IpAddr::is_ipv6)?;
    Ok(())
}

fn claim<'a>(names: &mut HashSet<&'a str>, name: &'a str) -> Result<(), NetError> {
    if names.insert(name) {
        Ok(())
    } else {
        Err(NetError::DuplicateName {
            name: name.to_owned(),
        })
    }
}

/// Parses `aa:bb:cc:dd:ee:ff` into a unicast Ethernet address, the only
/// kind the kernel accepts for an interface (`is_valid_ether_addr`).
pub(crate) fn parse_mac(interface: &str, mac: &str) -> Result<[u8; 6], NetError> {
    let invalid = || NetError::InvalidMac {
        interface: interface.to_owned(),
        mac: mac.to_owned(),
    };
    let mut bytes = [0u8; 6];
    let mut parts = mac.split(':');
    for byte in &mut bytes {
        let part = parts.next().filter(|part| part.len() == 2).ok_or_else(invalid)?;
        *byte = u8::from_str_radix(part, 16).map_err(|_| invalid())?;
    }
    let multicast = bytes[0] & 1 != 0;
    if parts.next().is_some() || multicast || bytes == [0; 6] {
        return Err(invalid());
    }
    Ok(bytes)
}

fn check_prefix(interface: &str, net: &IpNet) -> Result<(), NetError> {
    let bits = match net.address {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    };
    if net.prefix > bits {
        return Err(NetError::InvalidPrefix {
            interface: interface.to_owned(),
            address: net.address,
            prefix: net.prefix,
        });
    }
    Ok(())
}

fn check_gateway(
    interface: &str,
    gateway: Option<IpAddr>,
    expected: &'static str,
    is_expected: fn(&IpAddr) -> bool,
) -> Result<(), NetError> {
    match gateway {
        Some(gateway) if !is_expected(&gateway) => Err(NetError::GatewayFamily {
            interface: interface.to_owned(),
            gateway,
            expected,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn veth(index: u8) -> Veth {
        Veth {
            host_name: format!("h{index}"),
            peer_name: format!("p{index}"),
            name: format!("eth{index}"),
            ..Veth::default()
        }
    }

    fn invalid(veth: Veth) -> NetError {
        validate(&[Interface::Veth(veth)]).unwrap_err()
    }

    #[test]
    fn accepts_a_full_veth() {
        let veth = Veth {
            bridge: Some("br0".into()),
            mtu: Some(1400),
            mac: Some("02:00:0a:d5:00:02".into()),
            addresses: vec![
                IpNet {
                    address: "10.213.0.2".parse().unwrap(),
                    prefix: 24,
                },
                IpNet {
                    address: "fd63:7264:6c00::2".parse().unwrap(),
                    prefix: 64,
                },
            ],
            gateway: Some("10.213.0.1".parse().unwrap()),
            gateway6: Some("fd63:7264:6c00::1".parse().unwrap()),
            ..veth(0)
        };
        validate(&[
            Interface::Loopback,
            Interface::Veth(veth),
            Interface::Veth(self::veth(1)),
        ])
        .unwrap();
    }

    #[test]
    fn macs() {
        assert_eq!(
            parse_mac("e", "02:Ab:cd:00:01:ff").unwrap(),
            [2, 0xab, 0xcd, 0, 1, 0xff]
        );
        for bad in [
            "",
            "02:00:00:00:00",
            "02:00:00:00:00:00:00",
            "02:0:00:00:00:01",
            "02:00:00:00:00:0g",
        ] {
            assert!(
                matches!(parse_mac("e", bad), Err(NetError::InvalidMac { .. })),
                "{bad}"
            );
        }
        // Multicast and all-zero addresses are refused by the kernel.
        assert!(parse_mac("e", "01:00:5e:00:00:01").is_err());
        assert!(parse_mac("e", "00:00:00:00:00:00").is_err());
    }

    #[test]
    fn refuses_bad_fields() {
        let long_name = Veth {
            name: "a-very-long-name".into(),
            ..veth(0)
        };
        assert!(matches!(invalid(long_name), NetError::InvalidName { .. }));
        let bad_bridge = Veth {
            bridge: Some("br 0".into()),
            ..veth(0)
        };
        assert!(matches!(invalid(bad_bridge), NetError::InvalidName { .. }));
        let long_prefix = Veth {
            addresses: vec![IpNet {
                address: "10.0.0.1".parse().unwrap(),
                prefix: 33,
            }],
            ..veth(0)
        };
        assert!(matches!(
            invalid(long_prefix),
            NetError::InvalidPrefix { prefix: 33, .. }
        ));
        let v6_as_v4 = Veth {
            gateway: Some("fd63::1".parse().unwrap()),
            ..veth(0)
        };
        assert!(matches!(
            invalid(v6_as_v4),
            NetError::GatewayFamily { expected: "IPv4", .. }
        ));
        let v4_as_v6 = Veth {
            gateway6: Some("10.0.0.1".parse().unwrap()),
            ..veth(0)
        };
        assert!(matches!(
            invalid(v4_as_v6),
            NetError::GatewayFamily { expected: "IPv6", .. }
        ));
    }

    #[test]
    fn refuses_clashing_names() {
        let named_lo = Veth {
            name: "lo".into(),
            ..veth(0)
        };
        assert!(matches!(invalid(named_lo), NetError::DuplicateName { .. }));
        let same_host = [
            Interface::Veth(veth(0)),
            Interface::Veth(Veth {
                host_name: "h0".into(),
                ..veth(1)
            }),
        ];
        assert!(matches!(
            validate(&same_host),
            Err(NetError::DuplicateName { .. })
        ));
        // One peer's final name is another's temporary name: the renames
        // would depend on their order.
        let crossing = [
            Interface::Veth(veth(0)),
            Interface::Veth(Veth {
                name: "p0".into(),
                ..veth(1)
            }),
        ];
        assert!(matches!(validate(&crossing), Err(NetError::DuplicateName { .. })));
        let unrenamed = Veth {
            name: "p0".into(),
            ..veth(0)
        };
        validate(&[Interface::Veth(unrenamed)]).unwrap();
    }
}
