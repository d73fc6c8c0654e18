//! Netlink transport for generic netlink (IPVS) and rtnetlink (links, addresses): one socket
//! (neli's `NlSocket`), generic family resolution, dumps, and pipelined requests whose ACKs
//! are matched by sequence number. Replies are parsed here from raw bytes with every length
//! checked, so no kernel reply can make us panic.

use super::error::KernelError;
use neli::ToBytes;
use neli::consts::genl::{CtrlAttr, CtrlCmd};
use neli::consts::nl::{GenlId, NlmF};
use neli::consts::socket::{Msg, NlFamily};
use neli::genl::{
    AttrTypeBuilder, Genlmsghdr, GenlmsghdrBuilder, Nlattr, NlattrBuilder, NoUserHeader,
};
use neli::nl::{NlPayload, NlmsghdrBuilder};
use neli::socket::NlSocket;
use neli::types::{Buffer, GenlBuffer};
use neli::utils::Groups;
use std::io::Cursor;

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
const SOCKET_RCVBUF: usize = 8 << 20;

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
pub fn attr_string(payload: &[u8]) -> String {
    let end = payload
        .iter()
        .position(|b| *b == 0)
        .unwrap_or(payload.len());
    String::from_utf8_lossy(&payload[..end]).into_owned()
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Splits a datagram into messages.
pub fn parse_messages(buf: &[u8]) -> Result<Vec<Message<'_>>, String> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + NLMSG_HDRLEN <= buf.len() {
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
        out.push(Message {
            kind,
            flags,
            seq,
            body,
        });
        at += align4(len);
    }
    Ok(out)
}

/// Iterates over attributes: (type without the nested/byte-order flags, payload).
/// Stops at the first malformed attribute, reporting it.
pub fn attributes(buf: &[u8]) -> impl Iterator<Item = Result<(u16, &[u8]), String>> {
    let mut at = 0;
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || at + 4 > buf.len() {
            return None;
        }
        let len = u16_at(buf, at).unwrap_or(0) as usize;
        let kind = u16_at(buf, at + 2).unwrap_or(0) & NLA_TYPE_MASK;
        if len < 4 || at + len > buf.len() {
            failed = true;
            return Some(Err(format!(
                "attribute length {len} at offset {at} overruns {} bytes",
                buf.len()
            )));
        }
        let payload = &buf[at + 4..at + len];
        at += align4(len);
        Some(Ok((kind, payload)))
    })
}

/// Builds one attribute with neli.
pub fn attr<P>(kind: u16, payload: P) -> Result<Nlattr<u16, Buffer>, String>
where
    P: neli::Size + ToBytes,
{
    let ty = AttrTypeBuilder::default()
        .nla_type(kind)
        .build()
        .map_err(|e| e.to_string())?;
    NlattrBuilder::default()
        .nla_type(ty)
        .nla_payload(payload)
        .build()
        .map_err(|e| e.to_string())
}

/// Builds a nested attribute holding `children` (neli sets NLA_F_NESTED).
pub fn nested(kind: u16, children: &[Nlattr<u16, Buffer>]) -> Result<Nlattr<u16, Buffer>, String> {
    let mut outer = attr(kind, Vec::<u8>::new())?;
    for child in children {
        outer = outer.nest(child).map_err(|e| e.to_string())?;
    }
    Ok(outer)
}

/// Serializes one generic netlink request.
pub fn encode_request(
    family: u16,
    flags: NlmF,
    seq: u32,
    cmd: u8,
    version: u8,
    attrs: Vec<Nlattr<u16, Buffer>>,
) -> Result<Vec<u8>, String> {
    let genl: Genlmsghdr<u8, u16, NoUserHeader> = GenlmsghdrBuilder::default()
        .cmd(cmd)
        .version(version)
        .attrs(attrs.into_iter().collect::<GenlBuffer<u16, Buffer>>())
        .build()
        .map_err(|e| e.to_string())?;
    let msg = NlmsghdrBuilder::default()
        .nl_type(family)
        .nl_flags(NlmF::REQUEST | flags)
        .nl_seq(seq)
        .nl_pid(0)
        .nl_payload(NlPayload::Payload(genl))
        .build()
        .map_err(|e| e.to_string())?;
    let mut cursor = Cursor::new(Vec::new());
    msg.to_bytes(&mut cursor).map_err(|e| e.to_string())?;
    Ok(cursor.into_inner())
}

/// An owned record from a dump or a reply: its message type and the bytes after the
/// netlink header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub kind: u16,
    pub payload: Vec<u8>,
}

impl Record {
    /// The attributes of a generic netlink record (after its 4-byte genl header).
    pub fn genl_attrs(&self) -> &[u8] {
        self.payload.get(GENL_HDRLEN..).unwrap_or(&[])
    }
}

/// A request for [`NetlinkSocket::pipeline`]: its bytes (with a placeholder seq that the socket
/// overwrites) and what it does, for messages.
pub struct Request {
    pub bytes: Vec<u8>,
    pub action: String,
}

/// A netlink socket of one protocol.
pub struct NetlinkSocket {
    sock: NlSocket,
    seq: u32,
    buf: Vec<u8>,
}

impl NetlinkSocket {
    /// A generic netlink socket (IPVS).
    pub fn generic() -> Result<Self, KernelError> {
        Self::connect(NlFamily::Generic, "opening a generic netlink socket")
    }

    /// An rtnetlink socket (links, addresses).
    pub fn route() -> Result<Self, KernelError> {
        Self::connect(NlFamily::Route, "opening an rtnetlink socket")
    }

    fn connect(family: NlFamily, action: &str) -> Result<Self, KernelError> {
        let sock = NlSocket::connect(family, None, Groups::empty())
            .map_err(|e| KernelError::io(action, &e))?;
        // Best effort: bounded by net.core.rmem_max; batches are sized for the default too.
        let _ = sock.set_recv_buffer_size(SOCKET_RCVBUF);
        Ok(NetlinkSocket {
            sock,
            seq: 1,
            buf: vec![0; RECV_BUF],
        })
    }

    pub fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1).max(1);
        self.seq
    }

    fn send(&self, bytes: &[u8], action: &str) -> Result<(), KernelError> {
        self.sock
            .send(bytes, Msg::empty())
            .map(|_| ())
            .map_err(|e| KernelError::io(action, &e))
    }

    /// Receives one datagram into the internal buffer and returns its length.
    fn recv(&mut self, action: &str) -> Result<usize, KernelError> {
        self.sock
            .recv(&mut self.buf[..], Msg::empty())
            .map(|(n, _)| n)
            .map_err(|e| KernelError::io(action, &e))
    }

    /// Resolves a generic netlink family's id through nlctrl.
    pub fn resolve_family(&mut self, name: &str) -> Result<u16, KernelError> {
        let action = format!("looking up the {name} family");
        let request = attr(u16::from(CtrlAttr::FamilyName), name)
            .and_then(|family_name| {
                encode_request(
                    u16::from(GenlId::Ctrl),
                    NlmF::ACK,
                    0,
                    u8::from(CtrlCmd::Getfamily),
                    2,
                    vec![family_name],
                )
            })
            .map_err(|e| KernelError::protocol(&action, e))?;
        for record in self.exchange(request, &action)? {
            for a in attributes(record.genl_attrs()) {
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
    pub fn exchange(
        &mut self,
        mut request: Vec<u8>,
        action: &str,
    ) -> Result<Vec<Record>, KernelError> {
        let seq = self.next_seq();
        set_seq(&mut request, seq);
        self.send(&request, action)?;
        let mut records = Vec::new();
        loop {
            let n = self.recv(action)?;
            for m in parse_messages(&self.buf[..n]).map_err(|e| KernelError::protocol(action, e))? {
                if m.seq != seq {
                    continue;
                }
                match m.body {
                    Body::Data(payload) => records.push(Record {
                        kind: m.kind,
                        payload: payload.to_vec(),
                    }),
                    Body::Done(0) | Body::Error(0) => return Ok(records),
                    Body::Done(e) | Body::Error(e) => {
                        return Err(KernelError::errno(action, e.saturating_neg()));
                    }
                    Body::Other => {}
                }
            }
        }
    }

    /// Sends requests (each with NLM_F_ACK) many per `send`, and returns one result per
    /// request, in order. The kernel executes every request even when an earlier one fails.
    pub fn pipeline(&mut self, requests: &mut [Request]) -> Vec<Result<(), KernelError>> {
        let mut results: Vec<Option<Result<(), KernelError>>> = vec![None; requests.len()];
        for (chunk_index, chunk) in requests.chunks_mut(BATCH).enumerate() {
            let base = chunk_index * BATCH;
            let first_seq = self.seq.wrapping_add(1);
            let mut buffer = Vec::with_capacity(chunk.iter().map(|r| r.bytes.len()).sum());
            for request in chunk.iter_mut() {
                let seq = self.next_seq();
                set_seq(&mut request.bytes, seq);
                buffer.extend_from_slice(&request.bytes);
            }
            let count = chunk.len();
            if let Err(e) = self.send(&buffer, "sending a batch of netlink requests") {
                for (i, r) in chunk.iter().enumerate() {
                    results[base + i] = Some(Err(KernelError {
                        action: r.action.clone(),
                        ..e.clone()
                    }));
                }
                continue;
            }
            let mut pending = count;
            while pending > 0 {
                let n = match self.recv("reading netlink acknowledgements") {
                    Ok(n) => n,
                    Err(e) => {
                        // ENOBUFS: ACKs were dropped, though the kernel ran the requests.
                        for (i, r) in chunk.iter().enumerate() {
                            if results[base + i].is_none() {
                                results[base + i] = Some(Err(KernelError {
                                    action: r.action.clone(),
                                    ..e.clone()
                                }));
                            }
                        }
                        break;
                    }
                };
                let messages = match parse_messages(&self.buf[..n]) {
                    Ok(m) => m,
                    Err(_) => continue,
                };
                for m in messages {
                    let Body::Error(code) = m.body else { continue };
                    let offset = m.seq.wrapping_sub(first_seq) as usize;
                    if offset >= count || results[base + offset].is_some() {
                        continue;
                    }
                    let action = &chunk[offset].action;
                    results[base + offset] = Some(if code == 0 {
                        Ok(())
                    } else {
                        Err(KernelError::errno(action.clone(), -code))
                    });
                    pending -= 1;
                }
            }
        }
        results
            .into_iter()
            .zip(requests.iter())
            .map(|(r, req)| {
                r.unwrap_or_else(|| {
                    Err(KernelError::protocol(
                        req.action.clone(),
                        "no acknowledgement",
                    ))
                })
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
        let bytes = encode_request(0x1d, NlmF::ACK, 7, 4, 1, vec![attr(1, 2u16).expect("attr")])
            .expect("encodes");
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
        let outer = nested(1, &[attr(2, 6u16).expect("child")]).expect("nested");
        let bytes = encode_request(0x1d, NlmF::ACK, 1, 1, 1, vec![outer]).expect("encodes");
        let attrs = &bytes[20..];
        assert_eq!(&attrs[..4], &[12, 0, 1, 0x80]);
        assert_eq!(&attrs[4..12], &[6, 0, 2, 0, 6, 0, 0, 0]);
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
        let m = parse_messages(&buf).expect("parses");
        assert_eq!(m[0].body, Body::Error(0));
        assert_eq!(m[0].seq, 5);
        assert_eq!(m[1].body, Body::Error(-17));
    }

    #[test]
    fn truncated_and_garbage_replies_are_errors_not_panics() {
        assert!(parse_messages(&[200, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(
            parse_messages(&[1, 2, 3])
                .expect("too short: nothing")
                .is_empty()
        );
        let bad: Vec<_> = attributes(&[9, 0, 1, 0, 1]).collect();
        assert!(bad[0].is_err());
        let zero: Vec<_> = attributes(&[0, 0, 1, 0]).collect();
        assert!(zero[0].is_err());
        for len in 0..64u8 {
            let junk: Vec<u8> = (0..len).map(|i| i.wrapping_mul(37)).collect();
            let _ = parse_messages(&junk);
            let _ = attributes(&junk).count();
        }
    }
}
