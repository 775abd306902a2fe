//! The fuzz targets' input layouts: how raw bytes become a script, and back.
//!
//! Each layout is written out by hand rather than derived, so that
//! [`Encode`] can write the exact bytes of a script: the seed corpora are
//! real handshakes recorded as scripts. Every byte string decodes to some
//! script (missing bytes read as zero), so the fuzzer wastes no input.
//!
//! Numbers are little-endian. `chunk` is a length byte, then that many bytes
//! (fewer if the input ends first).
//!
//! - `decoder`: a flags byte (bit 0: the child's end, else the parent's;
//!   bit 1: [`SMALL_LIMITS`], else the defaults), then chunks to the end.
//! - `launch`: a shape byte (bit 0: setns, else init; bit 1: cgroup; bit 2:
//!   user namespace; bits 3–4: veth pairs; bit 5: loopback; bit 6: hold;
//!   bit 7: a setns process cloned into the container, else forked by a
//!   helper), then ops to the end, each a tag byte (mod 13) and its
//!   fields: `0` spawned (u16 pid, 0 read as 1), `1` done (bit 0 of a
//!   byte: ok), `2` reply (a byte mod 3: ready, error, or pid and an i32),
//!   `3` bytes (a chunk), `4` EOF, `5` read error, `6` exit (a byte mod 3:
//!   spawned, adopted, or a u16 pid; a byte whose bit 0 means signaled; a
//!   code byte), `7` timeout (u16 ms), `8` cancel, `9` advance (u16 ms),
//!   `10` start, `11` hand off, `12` start when ready.
//! - `child`: a flags byte (bit 0: [`SMALL_LIMITS`]), then ops to the end,
//!   each a tag byte (mod 5) and its fields: `0` bytes (a chunk), `1` config
//!   (u32 version), `2` EOF, `3` ready, `4` fail (a step byte, mod 24:
//!   [`ChildStep::ALL`]).
//! - `message`: the bytes are the line.
//! - `pair`: a plan byte (mod 6: full init, bare init, full setns, bare
//!   setns, full and bare setns cloned into the container), a schedule
//!   byte (bit 0: exits first; bits 1–3: the chunk size, from [`CHUNKS`];
//!   bits 4–5: the send buffer, from [`BUFFERS`]), a cancel byte (0:
//!   none, else the step [`CANCEL_STEPS`]`[(n - 1) % len]`), then
//!   faults to the end, each a tag byte (mod 14) and its fields: `0` fail
//!   (command, errno byte, 0 read as 1), `1` slow (command, u16 ms), `2`
//!   die (point, status), `3`–`9` stall, garbage, oversized, truncated,
//!   unexpected, refuse, hangup (point), `10` socket error (point, errno
//!   byte), `11` forged pid (a byte mod 7: zero, negative, helper,
//!   stranger, sibling, vacant, or raw and an i32), `12` fail partway
//!   (command, a part byte mod 16, errno byte), `13` slow to die (bit 0
//!   of a byte: the helper, else the container process; u16 ms). A
//!   command is a byte mod 18 (create cgroup, spawn, write id maps,
//!   release, apply cgroup, create interface, adopt, reap, enter cgroup,
//!   send, shut down writing, kill, remove interface, destroy cgroup,
//!   close, reap strays, start, hand off), and for the two interface
//!   commands an index byte (mod 3); a point is a byte mod 3 (command,
//!   process point mod their count, helper point mod theirs) and its byte;
//!   the process points are awaiting release, reading the config, the
//!   set-up steps of an init in order ([`INIT_SET_UP`]; a setns process
//!   runs some of them), `exec`, running, held after `ready` awaiting the
//!   start, and joining the container's namespaces (a setns process cloned
//!   into it). A status is a byte whose bit 0 means signaled, and a code
//!   byte. Faults, kinds, points and cancel steps added later come last,
//!   so that the older ones keep their bytes.

use std::time::Duration;

use arbitrary::{Arbitrary, Result, Unstructured};
use cradle_core::launch::Who;
use cradle_core::{ChildStep, Direction, ExitStatus, Kind, Limits, Pid, SetnsEntry, Step};
use cradle_mock::{
    At, CommandKind, Fault, Forgery, HelperPoint, ProcessPoint, Schedule, INIT_SET_UP, SOCKET_BUFFER,
};

use super::child::{ChildInput, ChildOp};
use super::framing::{DecoderInput, SMALL_LIMITS};
use super::launch::{ExitOf, LaunchInput, Op, Reply, Shape};
use super::pair::{PairInput, PairPlan};

/// Decodes a raw fuzz input. Total: any bytes give a script.
pub fn decode<T: for<'a> Arbitrary<'a>>(data: &[u8]) -> T {
    match T::arbitrary_take_rest(Unstructured::new(data)) {
        Ok(value) => value,
        Err(error) => panic!("the input layouts accept any bytes, but: {error}"),
    }
}

/// The inverse of [`decode`]: the bytes that decode to this script.
pub trait Encode {
    /// Appends the encoding to `out`.
    fn encode(&self, out: &mut Vec<u8>);

    /// The encoding.
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

fn byte(u: &mut Unstructured<'_>) -> Result<u8> {
    u8::arbitrary(u)
}

fn chunk(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
    let len = usize::from(byte(u)?).min(u.len());
    Ok(u.bytes(len)?.to_vec())
}

fn put_chunk(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u8::try_from(bytes.len()).expect("a chunk of at most 255 bytes");
    out.push(len);
    out.extend_from_slice(bytes);
}

fn pid(u: &mut Unstructured<'_>) -> Result<Pid> {
    let raw = u16::arbitrary(u)?.max(1);
    Ok(Pid::new(i32::from(raw)).expect("a positive pid"))
}

fn put_pid(out: &mut Vec<u8>, pid: Pid) {
    let raw = u16::try_from(pid.as_raw()).expect("a pid below 65536");
    out.extend_from_slice(&raw.to_le_bytes());
}

fn status(u: &mut Unstructured<'_>) -> Result<ExitStatus> {
    let signaled = byte(u)? & 1 == 1;
    let code = i32::from(byte(u)?);
    Ok(if signaled {
        ExitStatus::Signaled(code)
    } else {
        ExitStatus::Exited(code)
    })
}

fn put_status(out: &mut Vec<u8>, status: ExitStatus) {
    let (signaled, code) = match status {
        ExitStatus::Exited(code) => (0, code),
        ExitStatus::Signaled(signal) => (1, signal),
    };
    out.extend([
        signaled,
        u8::try_from(code).expect("an exit code or signal below 256"),
    ]);
}

fn millis(u: &mut Unstructured<'_>) -> Result<Duration> {
    Ok(Duration::from_millis(u16::arbitrary(u)?.into()))
}

fn put_millis(out: &mut Vec<u8>, duration: Duration) {
    let millis = u16::try_from(duration.as_millis()).expect("a duration below 65536 ms");
    out.extend_from_slice(&millis.to_le_bytes());
}

fn limits(small: bool) -> Limits {
    if small {
        SMALL_LIMITS
    } else {
        Limits::default()
    }
}

impl<'a> Arbitrary<'a> for DecoderInput {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let flags = byte(u)?;
        let mut chunks = Vec::new();
        while !u.is_empty() {
            chunks.push(chunk(u)?);
        }
        Ok(DecoderInput {
            direction: if flags & 1 == 1 {
                Direction::ToChild
            } else {
                Direction::ToParent
            },
            limits: limits(flags & 2 == 2),
            chunks,
        })
    }
}

impl Encode for DecoderInput {
    fn encode(&self, out: &mut Vec<u8>) {
        let to_child = u8::from(self.direction == Direction::ToChild);
        let small = u8::from(self.limits == SMALL_LIMITS);
        out.push(to_child | small << 1);
        for chunk in &self.chunks {
            put_chunk(out, chunk);
        }
    }
}

impl<'a> Arbitrary<'a> for Shape {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let bits = byte(u)?;
        Ok(Shape {
            kind: if bits & 1 == 1 { Kind::Setns } else { Kind::Init },
            cgroup: bits & 2 != 0,
            user_namespace: bits & 4 != 0,
            veths: (bits >> 3) & 0b11,
            loopback: bits & 32 != 0,
            hold: bits & 64 != 0,
            setns_entry: if bits & 128 != 0 {
                SetnsEntry::Clone
            } else {
                SetnsEntry::Helper
            },
        })
    }
}

impl Encode for Shape {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(
            u8::from(self.kind == Kind::Setns)
                | u8::from(self.cgroup) << 1
                | u8::from(self.user_namespace) << 2
                | (self.veths & 0b11) << 3
                | u8::from(self.loopback) << 5
                | u8::from(self.hold) << 6
                | u8::from(self.setns_entry == SetnsEntry::Clone) << 7,
        );
    }
}

impl<'a> Arbitrary<'a> for Op {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(match byte(u)? % 13 {
            0 => Op::Spawned(pid(u)?),
            1 => Op::Done {
                ok: byte(u)? & 1 == 1,
            },
            2 => Op::Reply(match byte(u)? % 3 {
                0 => Reply::Ready,
                1 => Reply::Error,
                _ => Reply::Pid(i32::arbitrary(u)?),
            }),
            3 => Op::Bytes(chunk(u)?),
            4 => Op::Eof,
            5 => Op::ReadError,
            6 => {
                let of = match byte(u)? % 3 {
                    0 => ExitOf::Spawned,
                    1 => ExitOf::Adopted,
                    _ => ExitOf::Pid(pid(u)?),
                };
                Op::Exit {
                    of,
                    status: status(u)?,
                }
            }
            7 => Op::Timeout { after: millis(u)? },
            8 => Op::Cancel,
            9 => Op::Advance { by: millis(u)? },
            11 => Op::HandOff,
            12 => Op::StartWhenReady,
            _ => Op::Start,
        })
    }
}

impl Encode for Op {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Op::Spawned(p) => {
                out.push(0);
                put_pid(out, *p);
            }
            Op::Done { ok } => out.extend([1, u8::from(*ok)]),
            Op::Reply(Reply::Ready) => out.extend([2, 0]),
            Op::Reply(Reply::Error) => out.extend([2, 1]),
            Op::Reply(Reply::Pid(pid)) => {
                out.extend([2, 2]);
                out.extend_from_slice(&pid.to_le_bytes());
            }
            Op::Bytes(bytes) => {
                out.push(3);
                put_chunk(out, bytes);
            }
            Op::Eof => out.push(4),
            Op::ReadError => out.push(5),
            Op::Exit { of, status } => {
                out.push(6);
                match of {
                    ExitOf::Spawned => out.push(0),
                    ExitOf::Adopted => out.push(1),
                    ExitOf::Pid(p) => {
                        out.push(2);
                        put_pid(out, *p);
                    }
                }
                put_status(out, *status);
            }
            Op::Timeout { after } => {
                out.push(7);
                put_millis(out, *after);
            }
            Op::Cancel => out.push(8),
            Op::Advance { by } => {
                out.push(9);
                put_millis(out, *by);
            }
            Op::Start => out.push(10),
            Op::HandOff => out.push(11),
            Op::StartWhenReady => out.push(12),
        }
    }
}

impl<'a> Arbitrary<'a> for LaunchInput {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let shape = Shape::arbitrary(u)?;
        let mut ops = Vec::new();
        while !u.is_empty() {
            ops.push(Op::arbitrary(u)?);
        }
        Ok(LaunchInput { shape, ops })
    }
}

impl Encode for LaunchInput {
    fn encode(&self, out: &mut Vec<u8>) {
        self.shape.encode(out);
        for op in &self.ops {
            op.encode(out);
        }
    }
}

impl<'a> Arbitrary<'a> for ChildOp {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(match byte(u)? % 5 {
            0 => ChildOp::Bytes(chunk(u)?),
            1 => ChildOp::Config {
                version: u32::arbitrary(u)?,
            },
            2 => ChildOp::Eof,
            3 => ChildOp::Ready,
            _ => ChildOp::Fail(ChildStep::ALL[usize::from(byte(u)?) % ChildStep::ALL.len()]),
        })
    }
}

impl Encode for ChildOp {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            ChildOp::Bytes(bytes) => {
                out.push(0);
                put_chunk(out, bytes);
            }
            ChildOp::Config { version } => {
                out.push(1);
                out.extend_from_slice(&version.to_le_bytes());
            }
            ChildOp::Eof => out.push(2),
            ChildOp::Ready => out.push(3),
            ChildOp::Fail(step) => {
                let index = ChildStep::ALL
                    .iter()
                    .position(|s| s == step)
                    .expect("every step is listed");
                out.extend([4, u8::try_from(index).expect("fewer than 256 steps")]);
            }
        }
    }
}

impl<'a> Arbitrary<'a> for ChildInput {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let small = byte(u)? & 1 == 1;
        let mut ops = Vec::new();
        while !u.is_empty() {
            ops.push(ChildOp::arbitrary(u)?);
        }
        Ok(ChildInput {
            limits: limits(small),
            ops,
        })
    }
}

impl Encode for ChildInput {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(self.limits == SMALL_LIMITS));
        for op in &self.ops {
            op.encode(out);
        }
    }
}

/// The chunk sizes a pair schedule picks from.
pub const CHUNKS: [usize; 8] = [64 << 10, 1, 2, 3, 7, 64, 512, 4096];

/// The send buffers a pair schedule picks from.
pub const BUFFERS: [usize; 4] = [SOCKET_BUFFER, 1, 64, 4096];

/// The steps a pair scenario may cancel at (the hold's last, as they came
/// later).
pub const CANCEL_STEPS: [Step; 18] = [
    Step::CreateCgroup,
    Step::Spawn,
    Step::IdMaps,
    Step::Release,
    Step::ApplyCgroup,
    Step::Network { index: 0 },
    Step::Network { index: 2 },
    Step::ReportPid,
    Step::Adopt,
    Step::HelperExit,
    Step::ReapHelper,
    Step::EnterCgroup,
    Step::SendConfig,
    Step::HalfClose,
    Step::AwaitReady,
    Step::AwaitExec,
    Step::AwaitStart,
    Step::Start,
];

const PAIR_PLANS: [PairPlan; 6] = [
    PairPlan::FullInit,
    PairPlan::BareInit,
    PairPlan::FullSetns,
    PairPlan::BareSetns,
    PairPlan::FullSetnsCloned,
    PairPlan::BareSetnsCloned,
];

/// Where `item` is in `list`, as a byte.
fn index_of<T: PartialEq + std::fmt::Debug>(list: &[T], item: &T) -> u8 {
    let index = list
        .iter()
        .position(|x| x == item)
        .unwrap_or_else(|| panic!("{item:?} has no encoding"));
    u8::try_from(index).expect("short lists")
}

fn pick<T: Copy>(u: &mut Unstructured<'_>, list: &[T]) -> Result<T> {
    Ok(list[usize::from(byte(u)?) % list.len()])
}

fn command_kind(u: &mut Unstructured<'_>) -> Result<CommandKind> {
    Ok(match byte(u)? % 18 {
        0 => CommandKind::CreateCgroup,
        1 => CommandKind::Spawn,
        2 => CommandKind::WriteIdMaps,
        3 => CommandKind::Release,
        4 => CommandKind::ApplyCgroup,
        5 => CommandKind::CreateInterface {
            index: usize::from(byte(u)? % 3),
        },
        6 => CommandKind::Adopt,
        7 => CommandKind::Reap,
        8 => CommandKind::EnterCgroup,
        9 => CommandKind::Send,
        10 => CommandKind::ShutdownWrite,
        11 => CommandKind::Kill,
        12 => CommandKind::RemoveInterface {
            index: usize::from(byte(u)? % 3),
        },
        13 => CommandKind::DestroyCgroup,
        14 => CommandKind::Close,
        15 => CommandKind::ReapStrays,
        17 => CommandKind::HandOff,
        _ => CommandKind::Start,
    })
}

fn put_command_kind(out: &mut Vec<u8>, kind: CommandKind) {
    let interface = |tag: u8, index: usize| [tag, u8::try_from(index).expect("an index below 256")];
    match kind {
        CommandKind::CreateCgroup => out.push(0),
        CommandKind::Spawn => out.push(1),
        CommandKind::WriteIdMaps => out.push(2),
        CommandKind::Release => out.push(3),
        CommandKind::ApplyCgroup => out.push(4),
        CommandKind::CreateInterface { index } => out.extend(interface(5, index)),
        CommandKind::Adopt => out.push(6),
        CommandKind::Reap => out.push(7),
        CommandKind::EnterCgroup => out.push(8),
        CommandKind::Send => out.push(9),
        CommandKind::ShutdownWrite => out.push(10),
        CommandKind::Kill => out.push(11),
        CommandKind::RemoveInterface { index } => out.extend(interface(12, index)),
        CommandKind::DestroyCgroup => out.push(13),
        CommandKind::Close => out.push(14),
        CommandKind::ReapStrays => out.push(15),
        CommandKind::Start => out.push(16),
        CommandKind::HandOff => out.push(17),
    }
}

/// The container process's points in the order of its life: each of the
/// init's set-up steps (a setns process runs some of them) between reading
/// its config and `exec`. The hold after `ready`, then the join of a
/// cloned setns process, which came later, are last, so that the others
/// keep their bytes.
const PROCESS_POINTS: [ProcessPoint; INIT_SET_UP.len() + 6] = {
    let mut points = [ProcessPoint::AwaitRelease; INIT_SET_UP.len() + 6];
    points[1] = ProcessPoint::ReadConfig;
    let mut i = 0;
    while i < INIT_SET_UP.len() {
        points[2 + i] = ProcessPoint::SetUp(INIT_SET_UP[i]);
        i += 1;
    }
    points[2 + i] = ProcessPoint::Exec;
    points[3 + i] = ProcessPoint::Run;
    points[4 + i] = ProcessPoint::AwaitStart;
    points[5 + i] = ProcessPoint::Join;
    points
};

/// Last the one added last, so that the seeds' encodings keep their
/// meaning.
const HELPER_POINTS: [HelperPoint; 5] = [
    HelperPoint::Join,
    HelperPoint::Fork,
    HelperPoint::Report,
    HelperPoint::Exit,
    HelperPoint::JoinCgroups,
];

fn at(u: &mut Unstructured<'_>) -> Result<At> {
    Ok(match byte(u)? % 3 {
        0 => At::Command(command_kind(u)?),
        1 => At::Process(pick(u, &PROCESS_POINTS)?),
        _ => At::Helper(pick(u, &HELPER_POINTS)?),
    })
}

fn put_at(out: &mut Vec<u8>, at: At) {
    match at {
        At::Command(kind) => {
            out.push(0);
            put_command_kind(out, kind);
        }
        At::Process(point) => out.extend([1, index_of(&PROCESS_POINTS, &point)]),
        At::Helper(point) => out.extend([2, index_of(&HELPER_POINTS, &point)]),
    }
}

fn errno(u: &mut Unstructured<'_>) -> Result<i32> {
    Ok(i32::from(byte(u)?.max(1)))
}

fn put_errno(out: &mut Vec<u8>, errno: i32) {
    out.push(u8::try_from(errno).expect("an errno below 256"));
}

fn fault(u: &mut Unstructured<'_>) -> Result<Fault> {
    Ok(match byte(u)? % 14 {
        0 => Fault::Fail {
            command: command_kind(u)?,
            errno: errno(u)?,
        },
        1 => Fault::Slow {
            command: command_kind(u)?,
            by: millis(u)?,
        },
        2 => Fault::Die {
            at: at(u)?,
            status: status(u)?,
        },
        3 => Fault::Stall { at: at(u)? },
        4 => Fault::Garbage { at: at(u)? },
        5 => Fault::Oversized { at: at(u)? },
        6 => Fault::Truncated { at: at(u)? },
        7 => Fault::Unexpected { at: at(u)? },
        8 => Fault::Refuse {
            at: at(u)?,
            errno: errno(u)?,
        },
        9 => Fault::Hangup { at: at(u)? },
        10 => Fault::SocketError {
            at: at(u)?,
            errno: errno(u)?,
        },
        11 => Fault::ForgedPid(match byte(u)? % 7 {
            0 => Forgery::Zero,
            1 => Forgery::Negative,
            2 => Forgery::Helper,
            3 => Forgery::Stranger,
            4 => Forgery::Sibling,
            5 => Forgery::Vacant,
            _ => Forgery::Raw(i32::arbitrary(u)?),
        }),
        12 => Fault::FailPartway {
            command: command_kind(u)?,
            // Past the last hierarchy too: a fault that never strikes.
            after: usize::from(byte(u)? % 16),
            errno: errno(u)?,
        },
        _ => Fault::SlowToDie {
            who: if byte(u)? & 1 == 0 {
                Who::Process
            } else {
                Who::Helper
            },
            by: millis(u)?,
        },
    })
}

fn put_fault(out: &mut Vec<u8>, fault: &Fault) {
    match *fault {
        Fault::Fail { command, errno } => {
            out.push(0);
            put_command_kind(out, command);
            put_errno(out, errno);
        }
        Fault::Slow { command, by } => {
            out.push(1);
            put_command_kind(out, command);
            put_millis(out, by);
        }
        Fault::Die { at, status } => {
            out.push(2);
            put_at(out, at);
            put_status(out, status);
        }
        Fault::Stall { at } => {
            out.push(3);
            put_at(out, at);
        }
        Fault::Garbage { at } => {
            out.push(4);
            put_at(out, at);
        }
        Fault::Oversized { at } => {
            out.push(5);
            put_at(out, at);
        }
        Fault::Truncated { at } => {
            out.push(6);
            put_at(out, at);
        }
        Fault::Unexpected { at } => {
            out.push(7);
            put_at(out, at);
        }
        Fault::Refuse { at, errno } => {
            out.push(8);
            put_at(out, at);
            put_errno(out, errno);
        }
        Fault::Hangup { at } => {
            out.push(9);
            put_at(out, at);
        }
        Fault::SocketError { at, errno } => {
            out.push(10);
            put_at(out, at);
            put_errno(out, errno);
        }
        Fault::ForgedPid(forgery) => {
            out.push(11);
            match forgery {
                Forgery::Zero => out.push(0),
                Forgery::Negative => out.push(1),
                Forgery::Helper => out.push(2),
                Forgery::Stranger => out.push(3),
                Forgery::Sibling => out.push(4),
                Forgery::Vacant => out.push(5),
                Forgery::Raw(pid) => {
                    out.push(6);
                    out.extend_from_slice(&pid.to_le_bytes());
                }
            }
        }
        Fault::FailPartway {
            command,
            after,
            errno,
        } => {
            out.push(12);
            put_command_kind(out, command);
            out.push(u8::try_from(after).expect("a part below 256"));
            put_errno(out, errno);
        }
        Fault::SlowToDie { who, by } => {
            out.push(13);
            out.push(match who {
                Who::Process => 0,
                Who::Helper => 1,
            });
            put_millis(out, by);
        }
    }
}

impl<'a> Arbitrary<'a> for PairInput {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let plan = pick(u, &PAIR_PLANS)?;
        let flags = byte(u)?;
        let schedule = Schedule {
            chunk: CHUNKS[usize::from(flags >> 1 & 0b111)],
            exits_first: flags & 1 == 1,
            buffer: BUFFERS[usize::from(flags >> 4 & 0b11)],
        };
        let cancel_at = match byte(u)? {
            0 => None,
            n => Some(CANCEL_STEPS[usize::from(n - 1) % CANCEL_STEPS.len()]),
        };
        let mut faults = Vec::new();
        while !u.is_empty() {
            faults.push(fault(u)?);
        }
        Ok(PairInput {
            plan,
            schedule,
            cancel_at,
            faults,
        })
    }
}

impl Encode for PairInput {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(index_of(&PAIR_PLANS, &self.plan));
        let schedule = &self.schedule;
        out.push(
            u8::from(schedule.exits_first)
                | index_of(&CHUNKS, &schedule.chunk) << 1
                | index_of(&BUFFERS, &schedule.buffer) << 4,
        );
        out.push(
            self.cancel_at
                .map_or(0, |step| index_of(&CANCEL_STEPS, &step) + 1),
        );
        for fault in &self.faults {
            put_fault(out, fault);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shape_byte_round_trips() {
        for bits in 0..=u8::MAX {
            let shape: Shape = decode(&[bits]);
            assert_eq!(shape.to_bytes(), [bits], "{shape:?}");
        }
    }
}
