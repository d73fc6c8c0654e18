//! Netlink transport for generic netlink (IPVS) and rtnetlink (links, addresses): one socket
//! (neli's `NlSocket`), generic family resolution, dumps, and pipelined requests whose ACKs
//! are matched by sequence number. Replies are parsed here from raw bytes with every length
//! checked, so no kernel reply can make us panic. Receives are page-sized (see
//! [`small_recv_len`]); a reply that does not fit is asked for again with a large buffer.

use super::error::KernelError;
use neli::consts::genl::{CtrlAttr, CtrlCmd};
use neli::consts::nl::GenlId;
use neli::consts::socket::{Msg, NlFamily};
use neli::socket::NlSocket;
use neli::utils::Groups;
use std::borrow::Cow;
use std::fmt;

pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
pub const NLMSG_OVERRUN: u16 = 4;
const NLMSG_HDRLEN: usize = 16;
const GENL_HDRLEN: usize = 4;
const NLA_TYPE_MASK: u16 = 0x3fff;

/// Requests sent in one `send` before their ACKs are read: small enough that the ACKs fit
/// the receive buffer even at the kernel's default size (about 256 ACKs fit in 212992 bytes).
pub const BATCH: usize = 128;
const RECV_BUF: usize = 1 << 20;
/// What a dump can use of a `recv`: the kernel caps the buffer of each dump step at 32 KiB
/// (`max_recvmsg_len` in af_netlink.c) unless a family asks for more for one message, which
/// MSG_TRUNC shows (then [`RECV_BUF`]). Offering 1 MiB only cost the allocation.
const DUMP_RECV: usize = 32 << 10;
const SOCKET_RCVBUF: usize = 8 << 20;
/// The kernel's skb_shared_info on x86_64 and arm64 (17 fragments), as NLMSG_GOODSIZE
/// subtracts it.
const SKB_SHARED_INFO: usize = 320;

/// How many bytes to offer each `recv` at first. The kernel sizes every dump step's buffer
/// to the largest `recv` length the socket has seen (up to 32 KiB) and, with init_on_alloc
/// (on by default in Debian's kernels), zeroes all of it: offering 1 MiB made each of the
/// thousands of destination dumps zero 32 KiB. Offering NLMSG_GOODSIZE (a page less the
/// skb overhead) keeps each step at one page. A reply bigger than that (another page size or
/// skb layout, or a family that asks for bigger dump buffers) is seen through MSG_TRUNC, and
/// the request is sent again on a fresh socket that offers the whole buffer.
fn small_recv_len() -> usize {
    if let Some(n) = test_recv_len() {
        return n;
    }
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let page = usize::try_from(page).unwrap_or(4096).clamp(4096, 8192);
    page - SKB_SHARED_INFO
}

/// `PORTFWD_TEST_RECV_LEN`, for the VM tests of the fallback: a length that truncates
/// replies, offered by every socket (the services dump's too).
fn test_recv_len() -> Option<usize> {
    std::env::var("PORTFWD_TEST_RECV_LEN")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .map(|n| n.clamp(NLMSG_HDRLEN, RECV_BUF))
}

/// One parsed netlink message from a reply datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    pub kind: u16,
    pub flags: u16,
    pub seq: u32,
    pub body: Body<'a>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body<'a> {
    /// NLMSG_ERROR: 0 is an ACK, otherwise a negative errno; `seq` names the request.
    Error(i32),
    /// NLMSG_DONE, with the dump's status (0 or a negative errno).
    Done(i32),
    /// A protocol message (type 16 and up): the bytes after the netlink header.
    Data(&'a [u8]),
    Other,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

pub fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// An attribute's string: up to its first NUL (the kernel sends one), lossily UTF-8.
pub fn attr_string(payload: &[u8]) -> Cow<'_, str> {
    let end = payload
        .iter()
        .position(|b| *b == 0)
        .unwrap_or(payload.len());
    String::from_utf8_lossy(&payload[..end])
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// The messages of a datagram, in order; a malformed one ends it with an error.
pub fn messages(buf: &[u8]) -> impl Iterator<Item = Result<Message<'_>, String>> {
    let mut at = 0;
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || at + NLMSG_HDRLEN > buf.len() {
            return None;
        }
        let message = message_at(buf, at);
        match &message {
            Ok((_, len)) => at += align4(*len),
            Err(_) => failed = true,
        }
        Some(message.map(|(m, _)| m))
    })
}

/// The message at `at` of `buf` and its length.
fn message_at(buf: &[u8], at: usize) -> Result<(Message<'_>, usize), String> {
    let len = u32_at(buf, at).unwrap_or(0) as usize;
    if len < NLMSG_HDRLEN || at + len > buf.len() {
        return Err(format!(
            "message length {len} at offset {at} does not fit the {} bytes received",
            buf.len()
        ));
    }
    let kind = u16_at(buf, at + 4).unwrap_or(0);
    let flags = u16_at(buf, at + 6).unwrap_or(0);
    let seq = u32_at(buf, at + 8).unwrap_or(0);
    let payload = &buf[at + NLMSG_HDRLEN..at + len];
    let body = match kind {
        NLMSG_ERROR => Body::Error(u32_at(payload, 0).ok_or("short NLMSG_ERROR")? as i32),
        NLMSG_DONE => Body::Done(u32_at(payload, 0).map_or(0, |v| v as i32)),
        k if k >= 16 => Body::Data(payload),
        _ => Body::Other,
    };
    let message = Message {
        kind,
        flags,
        seq,
        body,
    };
    Ok((message, len))
}

/// Iterates over attributes: (type without the nested/byte-order flags, payload).
/// Stops at the first malformed attribute, reporting it; trailing bytes shorter than a
/// header are ignored, as the kernel's `nla_for_each_attr` does.
pub fn attributes(buf: &[u8]) -> impl Iterator<Item = Result<(u16, &[u8]), String>> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        let (&[l0, l1, k0, k1], _) = rest.split_first_chunk::<4>()?;
        let len = usize::from(u16::from_ne_bytes([l0, l1]));
        let Some(payload) = rest.get(4..len) else {
            let at = buf.len() - rest.len();
            rest = &[];
            return Some(Err(format!(
                "attribute length {len} at offset {at} overruns {} bytes",
                buf.len()
            )));
        };
        let kind = u16::from_ne_bytes([k0, k1]) & NLA_TYPE_MASK;
        rest = rest.get(align4(len)..).unwrap_or(&[]);
        Some(Ok((kind, payload)))
    })
}

pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_DUMP: u16 = 0x300;
const NLA_F_NESTED: u16 = 0x8000;

/// Builds one generic netlink request in a single buffer: the headers, then attributes
/// written in place, a nest's length patched when it is closed. The tests check its bytes
/// against neli's builders.
pub struct GenlWriter {
    buf: Vec<u8>,
    /// An attribute or the message outgrew its 16- or 32-bit length field.
    too_long: bool,
}

impl GenlWriter {
    /// A request of generic `family` running `cmd`; `flags` besides NLM_F_REQUEST. The
    /// sequence number is left 0 for the socket to set.
    pub fn new(family: u16, flags: u16, cmd: u8, version: u8) -> Self {
        let mut buf = Vec::with_capacity(256);
        put_request_header(&mut buf, 0, family, flags); // length set by finish
        buf.extend_from_slice(&[cmd, version, 0, 0]);
        GenlWriter {
            buf,
            too_long: false,
        }
    }

    /// Appends one attribute, padded to 4 bytes.
    pub fn put(&mut self, kind: u16, payload: &[u8]) -> &mut Self {
        self.header(kind, payload.len());
        self.buf.extend_from_slice(payload);
        self.pad();
        self
    }

    pub fn put_u16(&mut self, kind: u16, value: u16) -> &mut Self {
        self.put(kind, &value.to_ne_bytes())
    }

    pub fn put_u32(&mut self, kind: u16, value: u32) -> &mut Self {
        self.put(kind, &value.to_ne_bytes())
    }

    /// A NUL-terminated string, as the kernel's NLA_NUL_STRING policy wants.
    pub fn put_str(&mut self, kind: u16, value: &str) -> &mut Self {
        self.header(kind, value.len() + 1);
        self.buf.extend_from_slice(value.as_bytes());
        self.buf.push(0);
        self.pad();
        self
    }

    /// Opens a nested attribute; close it with [`Self::end_nested`] and what this returned.
    pub fn begin_nested(&mut self, kind: u16) -> usize {
        let at = self.buf.len();
        let [k0, k1] = (kind | NLA_F_NESTED).to_ne_bytes();
        self.buf.extend_from_slice(&[0, 0, k0, k1]);
        at
    }

    pub fn end_nested(&mut self, at: usize) {
        let len = self.buf.len() - at;
        self.too_long |= len > usize::from(u16::MAX);
        self.buf[at..at + 2].copy_from_slice(&(len as u16).to_ne_bytes());
    }

    /// The finished request.
    pub fn finish(mut self) -> Result<Vec<u8>, String> {
        let len = u32::try_from(self.buf.len()).map_err(|_| "request too long".to_string())?;
        if self.too_long {
            return Err("an attribute is longer than netlink allows".into());
        }
        self.buf[..4].copy_from_slice(&len.to_ne_bytes());
        Ok(self.buf)
    }

    /// An attribute's length and type, for a payload of `payload_len` bytes.
    fn header(&mut self, kind: u16, payload_len: usize) {
        let len = 4 + payload_len;
        self.too_long |= len > usize::from(u16::MAX);
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
    }

    fn pad(&mut self) {
        let padded = align4(self.buf.len());
        self.buf.resize(padded, 0);
    }
}

/// A request's netlink header: type `kind`, NLM_F_REQUEST and `flags`, sequence 0 (the
/// socket sets it), port id 0 (the kernel's).
fn put_request_header(buf: &mut Vec<u8>, len: u32, kind: u16, flags: u16) {
    buf.extend_from_slice(&len.to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(&(NLM_F_REQUEST | flags).to_ne_bytes());
    buf.extend_from_slice(&0u32.to_ne_bytes());
    buf.extend_from_slice(&0u32.to_ne_bytes());
}

/// A request whose body is one fixed struct and no attributes (sock_diag's).
pub fn fixed_request(kind: u16, flags: u16, body: &[u8]) -> Result<Vec<u8>, String> {
    let len = u32::try_from(NLMSG_HDRLEN + body.len()).map_err(|_| "request too long")?;
    let mut buf = Vec::with_capacity(NLMSG_HDRLEN + body.len());
    put_request_header(&mut buf, len, kind, flags);
    buf.extend_from_slice(body);
    Ok(buf)
}

/// An owned record from a dump or a reply: its message type and the bytes after the
/// netlink header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub kind: u16,
    pub payload: Vec<u8>,
}

/// The attributes of a generic netlink message's payload (after its 4-byte genl header).
pub fn genl_attrs(payload: &[u8]) -> &[u8] {
    payload.get(GENL_HDRLEN..).unwrap_or(&[])
}

/// A netlink socket of one protocol.
pub struct NetlinkSocket {
    sock: NlSocket,
    family: NlFamily,
    seq: u32,
    /// Each `recv` offers all of it: page-sized at first (see [`small_recv_len`]),
    /// [`RECV_BUF`] after a truncated reply.
    buf: Vec<u8>,
}

impl NetlinkSocket {
    /// A generic netlink socket (IPVS) for many small dumps: page-sized receives.
    pub fn generic() -> Result<Self, KernelError> {
        Self::connect(NlFamily::Generic, small_recv_len())
    }

    /// A generic netlink socket for one large dump (all services): the dump walks the
    /// kernel's table from the start for every buffer it fills, so fewer, larger buffers.
    pub fn generic_bulk() -> Result<Self, KernelError> {
        Self::connect(NlFamily::Generic, test_recv_len().unwrap_or(DUMP_RECV))
    }

    /// An rtnetlink socket (links, addresses): page-sized receives too. Every step of a dump,
    /// the closing NLMSG_DONE included, gets a kernel buffer the size of the largest `recv`
    /// and zeroed whole: a host's few links and addresses fit a page, and offering 32 KiB
    /// made each dump zero three to four times as much as it sent. A link message larger
    /// than a page (very many VFs) is truncated and asked again with [`RECV_BUF`].
    pub fn route() -> Result<Self, KernelError> {
        Self::connect(NlFamily::Route, small_recv_len())
    }

    /// A sock_diag socket (the host's listening sockets): a few small dumps.
    pub fn sock_diag() -> Result<Self, KernelError> {
        Self::connect(NlFamily::SockOrInetDiag, small_recv_len())
    }

    fn connect(family: NlFamily, recv_len: usize) -> Result<Self, KernelError> {
        Ok(NetlinkSocket {
            sock: Self::open(family)?,
            family,
            seq: 1,
            buf: vec![0; recv_len],
        })
    }

    fn open(family: NlFamily) -> Result<NlSocket, KernelError> {
        let sock = NlSocket::connect(family, None, Groups::empty())
            .map_err(|e| KernelError::io("opening a netlink socket", &e))?;
        // Best effort: bounded by net.core.rmem_max; batches are sized for the default too.
        let _ = sock.set_recv_buffer_size(SOCKET_RCVBUF);
        Ok(sock)
    }

    /// After a truncated reply: a fresh socket (the old one's unread replies go with it) that
    /// offers the whole buffer to every `recv` from now on.
    fn reopen_large(&mut self) -> Result<(), KernelError> {
        self.sock = Self::open(self.family)?;
        self.buf = vec![0; RECV_BUF];
        Ok(())
    }

    pub fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1).max(1);
        self.seq
    }

    fn send(&self, bytes: &[u8], action: &dyn fmt::Display) -> Result<(), KernelError> {
        self.sock
            .send(bytes, Msg::empty())
            .map(|_| ())
            .map_err(|e| KernelError::io(action.to_string(), &e))
    }

    /// Receives one datagram into the internal buffer and returns its length; `None` when it
    /// did not fit (MSG_TRUNC: its tail is lost).
    fn recv(&mut self, action: &dyn fmt::Display) -> Result<Option<usize>, KernelError> {
        let (n, _) = self
            .sock
            .recv(&mut self.buf[..], Msg::TRUNC)
            .map_err(|e| KernelError::io(action.to_string(), &e))?;
        Ok((n <= self.buf.len()).then_some(n))
    }

    /// Resolves a generic netlink family's id through nlctrl.
    pub fn resolve_family(&mut self, name: &str) -> Result<u16, KernelError> {
        let action = format!("looking up the {name} family");
        let mut w = GenlWriter::new(
            u16::from(GenlId::Ctrl),
            NLM_F_ACK,
            u8::from(CtrlCmd::Getfamily),
            2,
        );
        w.put_str(u16::from(CtrlAttr::FamilyName), name);
        let mut request = w.finish().map_err(|e| KernelError::protocol(&action, e))?;
        for record in self.exchange(&mut request, &action)? {
            for a in attributes(genl_attrs(&record.payload)) {
                let (kind, payload) = a.map_err(|e| KernelError::protocol(&action, e))?;
                if kind == u16::from(CtrlAttr::FamilyId) {
                    return u16_at(payload, 0).ok_or_else(|| {
                        KernelError::protocol(&action, "invalid CTRL_ATTR_FAMILY_ID")
                    });
                }
            }
        }
        Err(KernelError::protocol(&action, "no family id in the reply"))
    }

    /// Sends one request and collects the records answering it until its end: the ACK of a
    /// doit request or the NLMSG_DONE of a dump; a negative status is the request's error.
    /// A reply that did not fit a small receive is asked for again with the whole buffer
    /// (only a read's reply can be that large: an ACK is the size of its request).
    /// `action` (what the request does, for errors) is only formatted on failure.
    pub fn exchange(
        &mut self,
        request: &mut [u8],
        action: &dyn fmt::Display,
    ) -> Result<Vec<Record>, KernelError> {
        if let Some(records) = self.exchange_once(request, action)? {
            return Ok(records);
        }
        if self.buf.len() < RECV_BUF {
            self.reopen_large()?;
            if let Some(records) = self.exchange_once(request, action)? {
                return Ok(records);
            }
        }
        Err(KernelError::protocol(
            action.to_string(),
            "a reply larger than the receive buffer",
        ))
    }

    /// One try of [`Self::exchange`]; `None` when a datagram was truncated.
    fn exchange_once(
        &mut self,
        request: &mut [u8],
        action: &dyn fmt::Display,
    ) -> Result<Option<Vec<Record>>, KernelError> {
        let seq = self.next_seq();
        set_seq(request, seq);
        self.send(request, action)?;
        let mut records = Vec::new();
        loop {
            let Some(n) = self.recv(action)? else {
                return Ok(None);
            };
            for m in messages(&self.buf[..n]) {
                let m = m.map_err(|e| KernelError::protocol(action.to_string(), e))?;
                if m.seq != seq {
                    continue;
                }
                match m.body {
                    Body::Data(payload) => records.push(Record {
                        kind: m.kind,
                        payload: payload.to_vec(),
                    }),
                    Body::Done(0) | Body::Error(0) => return Ok(Some(records)),
                    Body::Done(e) | Body::Error(e) => {
                        return Err(KernelError::errno(action.to_string(), e.saturating_neg()));
                    }
                    Body::Other => {}
                }
            }
        }
    }

    /// Sends requests (each with NLM_F_ACK) many per `send`, and returns one result per
    /// request, in order. The kernel executes every request even when an earlier one fails.
    /// `action_of(i)` says what request `i` does, for its error.
    pub fn pipeline(
        &mut self,
        requests: &mut [Vec<u8>],
        action_of: &dyn Fn(usize) -> String,
    ) -> Vec<Result<(), KernelError>> {
        let mut results: Vec<Option<Result<(), KernelError>>> = vec![None; requests.len()];
        let mut buffer = Vec::new();
        for (chunk_index, chunk) in requests.chunks_mut(BATCH).enumerate() {
            let base = chunk_index * BATCH;
            let first_seq = self.seq.wrapping_add(1);
            buffer.clear();
            for request in chunk.iter_mut() {
                let seq = self.next_seq();
                set_seq(request, seq);
                buffer.extend_from_slice(request);
            }
            let count = chunk.len();
            let fail_rest = |results: &mut [Option<Result<(), KernelError>>], e: &KernelError| {
                for (i, slot) in results[base..base + count].iter_mut().enumerate() {
                    if slot.is_none() {
                        *slot = Some(Err(KernelError {
                            action: action_of(base + i),
                            ..e.clone()
                        }));
                    }
                }
            };
            if let Err(e) = self.send(&buffer, &"sending a batch of netlink requests") {
                fail_rest(&mut results, &e);
                continue;
            }
            let mut pending = count;
            while pending > 0 {
                let action = "reading netlink acknowledgements";
                let received = self.recv(&action).and_then(|n| {
                    // An ACK is the size of its request, far below a page: not expected.
                    n.ok_or_else(|| {
                        KernelError::protocol(
                            action,
                            "an acknowledgement larger than the receive buffer",
                        )
                    })
                });
                let n = match received {
                    Ok(n) => n,
                    Err(e) => {
                        // ENOBUFS: ACKs were dropped, though the kernel ran the requests.
                        fail_rest(&mut results, &e);
                        break;
                    }
                };
                // A malformed message ends the datagram; the ACKs before it count.
                for m in messages(&self.buf[..n]).map_while(Result::ok) {
                    let Body::Error(code) = m.body else { continue };
                    let offset = m.seq.wrapping_sub(first_seq) as usize;
                    if offset >= count || results[base + offset].is_some() {
                        continue;
                    }
                    results[base + offset] = Some(if code == 0 {
                        Ok(())
                    } else {
                        Err(KernelError::errno(action_of(base + offset), -code))
                    });
                    pending -= 1;
                }
            }
        }
        results
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                r.unwrap_or_else(|| Err(KernelError::protocol(action_of(i), "no acknowledgement")))
            })
            .collect()
    }
}

/// Overwrites the sequence number of a serialized request.
fn set_seq(request: &mut [u8], seq: u32) {
    if let Some(field) = request.get_mut(8..12) {
        field.copy_from_slice(&seq.to_ne_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_have_the_uapi_layout() {
        // nlmsghdr (16) + genlmsghdr (4) + one u16 attribute padded to 8.
        let mut w = GenlWriter::new(0x1d, NLM_F_ACK, 4, 1);
        w.put_u16(1, 2);
        let mut bytes = w.finish().expect("encodes");
        set_seq(&mut bytes, 7);
        let mut expected = Vec::new();
        expected.extend_from_slice(&28u32.to_ne_bytes()); // length
        expected.extend_from_slice(&0x1du16.to_ne_bytes()); // family id
        expected.extend_from_slice(&(0x1u16 | 0x4).to_ne_bytes()); // REQUEST | ACK
        expected.extend_from_slice(&7u32.to_ne_bytes()); // seq
        expected.extend_from_slice(&0u32.to_ne_bytes()); // pid
        expected.extend_from_slice(&[4, 1, 0, 0]); // cmd, version, reserved
        expected.extend_from_slice(&[6, 0, 1, 0, 2, 0, 0, 0]); // nla_len 6, type 1, u16 2, pad
        assert_eq!(bytes, expected);
    }

    #[test]
    fn nested_attributes_set_the_nested_flag() {
        let mut w = GenlWriter::new(0x1d, NLM_F_ACK, 1, 1);
        let at = w.begin_nested(1);
        w.put_u16(2, 6);
        w.end_nested(at);
        let bytes = w.finish().expect("encodes");
        let attrs = &bytes[20..];
        assert_eq!(&attrs[..4], &[12, 0, 1, 0x80]);
        assert_eq!(&attrs[4..12], &[6, 0, 2, 0, 6, 0, 0, 0]);
    }

    /// The same request through neli's builders, an independent encoder: nested
    /// attributes, odd-length payloads and a string.
    #[test]
    fn the_writer_encodes_as_neli_does() {
        use neli::ToBytes;
        use neli::consts::nl::NlmF;
        use neli::genl::{AttrTypeBuilder, GenlmsghdrBuilder, Nlattr, NlattrBuilder, NoUserHeader};
        use neli::nl::{NlPayload, NlmsghdrBuilder};
        use neli::types::{Buffer, GenlBuffer};

        fn attr<P: neli::Size + ToBytes>(kind: u16, payload: P) -> Nlattr<u16, Buffer> {
            let ty = AttrTypeBuilder::default()
                .nla_type(kind)
                .build()
                .expect("type");
            NlattrBuilder::default()
                .nla_type(ty)
                .nla_payload(payload)
                .build()
                .expect("attr")
        }
        let mut outer = attr(1, Vec::<u8>::new());
        for child in [attr(2, 6u16), attr(3, [1u8, 2, 3]), attr(4, "wlc")] {
            outer = outer.nest(&child).expect("nest");
        }
        let attrs = [outer, attr(5, 0xdead_beefu32)];
        let genl = GenlmsghdrBuilder::<u8, u16, NoUserHeader>::default()
            .cmd(5)
            .version(1)
            .attrs(attrs.into_iter().collect::<GenlBuffer<u16, Buffer>>())
            .build()
            .expect("genl");
        let msg = NlmsghdrBuilder::default()
            .nl_type(0x1d_u16)
            .nl_flags(NlmF::REQUEST | NlmF::ACK)
            .nl_seq(0)
            .nl_pid(0)
            .nl_payload(NlPayload::Payload(genl))
            .build()
            .expect("msg");
        let mut cursor = std::io::Cursor::new(Vec::new());
        msg.to_bytes(&mut cursor).expect("bytes");

        let mut w = GenlWriter::new(0x1d, NLM_F_ACK, 5, 1);
        let at = w.begin_nested(1);
        w.put_u16(2, 6).put(3, &[1, 2, 3]).put_str(4, "wlc");
        w.end_nested(at);
        w.put_u32(5, 0xdead_beef);
        assert_eq!(w.finish().expect("encodes"), cursor.into_inner());
    }

    #[test]
    fn an_attribute_too_long_for_its_length_field_is_an_error() {
        let mut w = GenlWriter::new(0x1d, NLM_F_ACK, 1, 1);
        w.put(1, &vec![0; 70_000]);
        assert!(w.finish().is_err());
    }

    #[test]
    fn parses_ack_error_done_and_records() {
        let mut buf = Vec::new();
        // An ACK for seq 5: nlmsghdr + error 0 + echoed header (16 bytes).
        buf.extend_from_slice(&36u32.to_ne_bytes());
        buf.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        buf.extend_from_slice(&0u16.to_ne_bytes());
        buf.extend_from_slice(&5u32.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes());
        buf.extend_from_slice(&0i32.to_ne_bytes());
        buf.extend_from_slice(&[0; 16]);
        // An error -17 (EEXIST) for seq 6.
        buf.extend_from_slice(&36u32.to_ne_bytes());
        buf.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        buf.extend_from_slice(&0u16.to_ne_bytes());
        buf.extend_from_slice(&6u32.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes());
        buf.extend_from_slice(&(-17i32).to_ne_bytes());
        buf.extend_from_slice(&[0; 16]);
        let m: Vec<_> = messages(&buf).collect::<Result<_, _>>().expect("parses");
        assert_eq!(m[0].body, Body::Error(0));
        assert_eq!(m[0].seq, 5);
        assert_eq!(m[1].body, Body::Error(-17));
    }

    #[test]
    fn truncated_and_garbage_replies_are_errors_not_panics() {
        let parse = |b: &[u8]| messages(b).collect::<Result<Vec<_>, _>>().map(|m| m.len());
        assert!(parse(&[200, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert_eq!(parse(&[1, 2, 3]), Ok(0), "too short: nothing");
        let bad: Vec<_> = attributes(&[9, 0, 1, 0, 1]).collect();
        assert!(bad[0].is_err());
        let zero: Vec<_> = attributes(&[0, 0, 1, 0]).collect();
        assert!(zero[0].is_err());
        for len in 0..64u8 {
            let junk: Vec<u8> = (0..len).map(|i| i.wrapping_mul(37)).collect();
            let _ = parse(&junk);
            let _ = attributes(&junk).count();
        }
    }
}
