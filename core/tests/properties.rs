//! Properties of the wire format and the launch machine over generated
//! inputs.
//!
//! The decoder and launch checkers are the ones the fuzz targets run: this
//! crate cannot depend on `cradle-tests` (which depends on it), so it
//! compiles their source, which uses only `cradle-core`, `serde_json` and
//! `std`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use cradle_core::config::{
    Hook, HookStage, Interface, IpNet, Mount, Rlimit, RlimitResource, Terminal, User, Veth, WindowSize,
};
use cradle_core::confinement::{
    BpfInstruction, Capabilities, Capability, DeviceKind, DeviceNode, SeccompProgram,
};
use cradle_core::framing::encode_to_bytes;
use cradle_core::message::{ChildError, ChildStep, StepTime};
use cradle_core::{
    Config, Decoder, Direction, ExitStatus, Kind, Limits, Message, Namespace, NamespaceKind, Pid, SetnsEntry,
};
use proptest::collection::{btree_map, btree_set, vec};
use proptest::option;
use proptest::prelude::*;

// Compiled here from the checkers' crate; not every item is used by this
// test binary.
#[allow(dead_code, unreachable_pub)]
#[path = "../../tests/src/invariants/framing.rs"]
mod framing_invariants;
#[allow(dead_code, unreachable_pub)]
#[path = "../../tests/src/invariants/launch.rs"]
mod launch_invariants;

use framing_invariants::{check_decoder, check_round_trip, DecoderInput};
use launch_invariants::{check_launch, ExitOf, LaunchInput, Op, Reply, Shape, MAX_VETHS};

// ---- Strategies for every message, every config field included.

fn text() -> impl Strategy<Value = String> {
    // Any characters, newlines and quotes included: JSON must escape them.
    prop_oneof![
        any::<String>(),
        "[a-z0-9_./-]{0,12}",
        Just("a\nb\"c\\".to_owned())
    ]
}

fn path() -> impl Strategy<Value = PathBuf> {
    text().prop_map(PathBuf::from)
}

fn namespace_kind() -> impl Strategy<Value = NamespaceKind> {
    proptest::sample::select(NamespaceKind::ALL.to_vec())
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(IpAddr::from),
        any::<[u8; 16]>().prop_map(IpAddr::from)
    ]
}

fn interface() -> impl Strategy<Value = Interface> {
    let veth = (
        (text(), text(), text(), option::of(text())),
        (option::of(any::<u32>()), option::of(text())),
        vec(
            (ip(), any::<u8>()).prop_map(|(address, prefix)| IpNet { address, prefix }),
            0..3,
        ),
        (option::of(ip()), option::of(ip())),
    )
        .prop_map(
            |((host_name, peer_name, name, bridge), (mtu, mac), addresses, (gateway, gateway6))| {
                Interface::Veth(Veth {
                    host_name,
                    peer_name,
                    name,
                    bridge,
                    mtu,
                    mac,
                    addresses,
                    gateway,
                    gateway6,
                })
            },
        );
    prop_oneof![Just(Interface::Loopback), veth]
}

fn rlimit() -> impl Strategy<Value = Rlimit> {
    let resources = vec![
        RlimitResource::As,
        RlimitResource::Core,
        RlimitResource::Cpu,
        RlimitResource::Data,
        RlimitResource::Fsize,
        RlimitResource::Locks,
        RlimitResource::Memlock,
        RlimitResource::Msgqueue,
        RlimitResource::Nice,
        RlimitResource::Nofile,
        RlimitResource::Nproc,
        RlimitResource::Rss,
        RlimitResource::Rtprio,
        RlimitResource::Rttime,
        RlimitResource::Sigpending,
        RlimitResource::Stack,
    ];
    (proptest::sample::select(resources), any::<u64>(), any::<u64>())
        .prop_map(|(resource, soft, hard)| Rlimit { resource, soft, hard })
}

fn mount() -> impl Strategy<Value = Mount> {
    (option::of(path()), path(), option::of(text()), vec(text(), 0..3)).prop_map(
        |(source, destination, fstype, options)| Mount {
            source,
            destination,
            fstype,
            options,
        },
    )
}

fn hook() -> impl Strategy<Value = Hook> {
    (
        prop_oneof![Just(HookStage::CreateContainer), Just(HookStage::StartContainer)],
        path(),
        vec(text(), 0..3),
        vec(text(), 0..3),
        option::of(any::<u32>()),
    )
        .prop_map(|(stage, path, args, env, timeout)| Hook {
            stage,
            path,
            args,
            env,
            timeout,
        })
}

fn terminal() -> impl Strategy<Value = Terminal> {
    prop_oneof![
        Just(Terminal::None),
        Just(Terminal::Stdin),
        option::of((any::<u16>(), any::<u16>())).prop_map(|size| Terminal::Console {
            size: size.map(|(rows, cols)| WindowSize { rows, cols })
        }),
    ]
}

fn config() -> impl Strategy<Value = Config> {
    let who =
        (any::<u32>(), any::<u32>(), vec(any::<u32>(), 0..3)).prop_map(|(uid, gid, additional_gids)| User {
            uid,
            gid,
            additional_gids,
        });
    (
        (
            any::<u32>(),
            vec((namespace_kind(), option::of(path())), 0..4),
            option::of(text()),
            vec(rlimit(), 0..3),
            vec(interface(), 0..3),
        ),
        (
            option::of(path()),
            vec(mount(), 0..3),
            vec(path(), 0..3),
            vec(path(), 0..3),
            (any::<bool>(), option::of(text()), option::of(any::<u32>())),
        ),
        (
            who,
            path(),
            vec(text(), 0..3),
            (
                any::<bool>(),
                terminal(),
                (any::<bool>(), any::<bool>()),
                any::<bool>(),
            ),
            any::<u32>(),
            vec(text(), 0..4),
        ),
        confinement(),
        (vec(hook(), 0..3), option::of(text())),
    )
        .prop_map(
            |(
                (version, namespaces, hostname, rlimits, networks),
                (rootfs, mounts, readonly_paths, masked_paths, (default_mounts, rootfs_propagation, umask)),
                (
                    user,
                    cwd,
                    env,
                    (no_new_privileges, terminal, (reaper, report_timings), hold),
                    preserved_fds,
                    args,
                ),
                (capabilities, seccomp, devices, sysctls, oom_score_adj, readonly_rootfs),
                (hooks, hook_state),
            )| Config {
                version,
                namespaces: namespaces
                    .into_iter()
                    .map(|(kind, path)| Namespace { kind, path })
                    .collect(),
                hostname,
                rlimits,
                oom_score_adj,
                networks,
                rootfs,
                default_mounts,
                mounts,
                rootfs_propagation,
                devices,
                sysctls,
                readonly_paths,
                masked_paths,
                readonly_rootfs,
                user,
                umask,
                capabilities,
                cwd,
                env,
                no_new_privileges,
                terminal,
                preserved_fds,
                seccomp,
                hooks,
                hook_state,
                reaper,
                report_timings,
                hold,
                args,
            },
        )
}

/// Capability sets, a seccomp program, device nodes, sysctls,
/// `oom_score_adj` and a read-only root: any values, as a decoder meets
/// them.
fn confinement() -> impl Strategy<Value = Confinement> {
    let capability = proptest::sample::select(Capability::ALL.to_vec());
    let set = || btree_set(capability.clone(), 0..4);
    let capabilities = (set(), set(), set(), set(), set()).prop_map(
        |(bounding, effective, permitted, inheritable, ambient)| Capabilities {
            bounding,
            effective,
            permitted,
            inheritable,
            ambient,
        },
    );
    let instruction = (any::<u16>(), any::<u8>(), any::<u8>(), any::<u32>())
        .prop_map(|(code, jt, jf, k)| BpfInstruction { code, jt, jf, k });
    let seccomp = (vec(instruction, 0..8), any::<u32>())
        .prop_map(|(instructions, flags)| SeccompProgram { instructions, flags });
    let kind = prop_oneof![Just(DeviceKind::Char), Just(DeviceKind::Block)];
    let device = (
        path(),
        kind,
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(|(path, kind, major, minor, mode, uid, gid)| DeviceNode {
            path,
            kind,
            major,
            minor,
            mode,
            uid,
            gid,
        });
    (
        option::of(capabilities),
        option::of(seccomp),
        vec(device, 0..3),
        btree_map(text(), text(), 0..3),
        option::of(any::<i32>()),
        any::<bool>(),
    )
}

type Confinement = (
    Option<Capabilities>,
    Option<SeccompProgram>,
    Vec<DeviceNode>,
    BTreeMap<String, String>,
    Option<i32>,
    bool,
);

fn child_step() -> impl Strategy<Value = ChildStep> {
    proptest::sample::select(ChildStep::ALL.to_vec())
}

/// A message the child sends.
fn reply() -> impl Strategy<Value = Message> {
    prop_oneof![
        any::<i32>().prop_map(|pid| Message::Pid { pid }),
        vec((child_step(), any::<u64>()), 0..ChildStep::ALL.len()).prop_map(|steps| Message::Ready {
            timings: steps
                .into_iter()
                .map(|(step, nanos)| StepTime { step, nanos })
                .collect()
        }),
        (text(), child_step(), option::of(any::<i32>()))
            .prop_map(|(message, step, errno)| Message::Error(ChildError { message, step, errno })),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![reply(), config().prop_map(|c| Message::Config(Box::new(c)))]
}

/// Cuts `stream` at `cuts` (each taken modulo the length).
fn cut(stream: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
    at.extend([0, stream.len()]);
    at.sort_unstable();
    at.windows(2).map(|w| stream[w[0]..w[1]].to_vec()).collect()
}

fn decode_whole(direction: Direction, stream: &[u8]) -> Vec<Message> {
    let mut decoder = Decoder::new(direction, Limits::default());
    let mut rest = stream;
    let mut messages = Vec::new();
    while !rest.is_empty() {
        messages.extend(decoder.decode(&mut rest).expect("a valid stream decodes"));
    }
    assert_eq!(decoder.decode_eof(), Ok(()));
    messages
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// (a) Every message survives encoding and decoding, one line each.
    #[test]
    fn every_message_round_trips(message in message()) {
        check_round_trip(&message);
    }

    /// (b) Any chunking of a valid stream decodes to its messages, as one
    /// chunk does.
    #[test]
    fn chunking_a_valid_stream_changes_nothing(
        messages in vec(reply(), 1..6),
        cuts in vec(any::<usize>(), 0..12),
    ) {
        let stream: Vec<u8> = messages.iter().flat_map(|m| encode_to_bytes(m).unwrap().to_vec()).collect();
        prop_assert_eq!(&decode_whole(Direction::ToParent, &stream), &messages);
        let input = DecoderInput { direction: Direction::ToParent, limits: Limits::default(), chunks: cut(&stream, &cuts) };
        check_decoder(&input);
    }

    /// (b) The same for the config, the child's one message.
    #[test]
    fn chunking_a_config_changes_nothing(config in config(), cuts in vec(any::<usize>(), 0..12)) {
        let message = Message::Config(Box::new(config));
        let stream = encode_to_bytes(&message).unwrap();
        prop_assert_eq!(decode_whole(Direction::ToChild, &stream), vec![message]);
        let input = DecoderInput { direction: Direction::ToChild, limits: Limits::default(), chunks: cut(&stream, &cuts) };
        check_decoder(&input);
    }

    /// (c) Any bytes, in any chunks, under any caps: no panic, never more
    /// held than the line cap, and the same outcome as one chunk.
    #[test]
    fn any_bytes_in_any_chunks_stay_within_the_cap(
        fragments in vec(prop_oneof![
            vec(any::<u8>(), 0..48),
            reply().prop_map(|m| encode_to_bytes(&m).unwrap().to_vec()),
            Just(b"\n".to_vec()),
        ], 0..8),
        cuts in vec(any::<usize>(), 0..16),
        to_child in any::<bool>(),
        caps in (0..200usize, 0..200usize, 0..200usize, 0..200usize),
    ) {
        let stream = fragments.concat();
        let (config, pid, ready, error) = caps;
        let direction = if to_child { Direction::ToChild } else { Direction::ToParent };
        let limits = Limits { config, pid, ready, error };
        check_decoder(&DecoderInput { direction, limits, chunks: cut(&stream, &cuts) });
    }

}

proptest! {
    // Deep states need long lucky scripts: more cases than the rest.
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// (d) Any interleaving of a driver's and a child's inputs keeps the
    /// launch's invariants (see `tests/src/invariants/launch.rs`).
    #[test]
    fn any_interleaving_keeps_the_launch_invariants(shape in shape(), ops in vec(op(), 0..48)) {
        check_launch(&LaunchInput { shape, ops });
    }

    /// (e) The same from the hold on: an init that holds, driven to
    /// `ready` (so `Held`, unless what comes in the same read fails it),
    /// then any interleaving, the caller's start included. Random scripts
    /// seldom get this far.
    #[test]
    fn any_interleaving_of_a_hold_keeps_the_launch_invariants(
        shape in shape().prop_map(|shape| Shape { kind: Kind::Init, hold: true, ..shape }),
        with_ready in prop_oneof![
            3 => Just(Vec::new()),
            1 => reply().prop_map(|reply| encode_to_bytes(&reply).expect("a reply encodes").to_vec()),
            1 => vec(any::<u8>(), 1..8),
        ],
        ops in vec(op(), 0..24),
    ) {
        let mut script = to_held(shape, with_ready);
        script.extend(ops);
        check_launch(&LaunchInput { shape, ops: script });
    }
}

/// The inputs that take an init launch of `shape` through its commands to
/// `ready`, which comes in one read with `with_ready` after it.
fn to_held(shape: Shape, with_ready: Vec<u8>) -> Vec<Op> {
    let done = Op::Done { ok: true };
    let mut ops = Vec::new();
    if shape.cgroup {
        ops.push(done.clone());
    }
    ops.push(Op::Spawned(Pid::new(100).expect("positive")));
    // Id maps and release, cgroup, veths, config, half-close.
    let after_spawn =
        2 * usize::from(shape.user_namespace) + usize::from(shape.cgroup) + usize::from(shape.veths) + 2;
    ops.extend(std::iter::repeat_n(done, after_spawn));
    let mut ready = encode_to_bytes(&Message::ready())
        .expect("ready encodes")
        .to_vec();
    ready.extend(with_ready);
    ops.push(Op::Bytes(ready));
    ops
}

fn shape() -> impl Strategy<Value = Shape> {
    (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        0..=MAX_VETHS,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(setns, clone, cgroup, user_namespace, veths, loopback, hold)| Shape {
                kind: if setns { Kind::Setns } else { Kind::Init },
                setns_entry: if clone {
                    SetnsEntry::Clone
                } else {
                    SetnsEntry::Helper
                },
                cgroup,
                user_namespace,
                veths,
                loopback,
                hold,
            },
        )
}

fn small_pid() -> impl Strategy<Value = Pid> {
    prop_oneof![Just(100), Just(200), 1..=400i32].prop_map(|raw| Pid::new(raw).expect("positive"))
}

fn exit_status() -> impl Strategy<Value = ExitStatus> {
    prop_oneof![
        3 => Just(ExitStatus::Exited(0)),
        1 => (1..=255i32).prop_map(ExitStatus::Exited),
        1 => (1..=64i32).prop_map(ExitStatus::Signaled),
    ]
}

/// Weighted towards what moves a launch forward (successful completions,
/// the right replies), so that scripts reach the late steps often.
fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => Just(Op::Done { ok: true }),
        1 => Just(Op::Done { ok: false }),
        3 => small_pid().prop_map(Op::Spawned),
        2 => Just(Op::Reply(Reply::Ready)),
        1 => Just(Op::Reply(Reply::Error)),
        2 => prop_oneof![Just(200), Just(100), any::<i32>()].prop_map(|pid| Op::Reply(Reply::Pid(pid))),
        1 => vec(any::<u8>(), 0..24).prop_map(Op::Bytes),
        2 => Just(Op::Eof),
        1 => Just(Op::ReadError),
        3 => (
            prop_oneof![Just(ExitOf::Spawned), Just(ExitOf::Adopted), small_pid().prop_map(ExitOf::Pid)],
            exit_status(),
        )
            .prop_map(|(of, status)| Op::Exit { of, status }),
        2 => (0..1500u64).prop_map(|ms| Op::Timeout { after: Duration::from_millis(ms) }),
        1 => (0..1500u64).prop_map(|ms| Op::Advance { by: Duration::from_millis(ms) }),
        1 => Just(Op::Cancel),
        2 => Just(Op::Start),
        1 => Just(Op::StartWhenReady),
    ]
}
