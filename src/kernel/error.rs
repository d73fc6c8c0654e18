//! Kernel errors that say what to do about them.

use std::fmt;

/// A failed kernel operation: what was asked, and the errno (or a protocol problem).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelError {
    /// What portfwd was doing, e.g. `adding service tcp 203.0.113.10:2222`.
    pub action: String,
    pub kind: ErrorKind,
    /// What to do about it, set by the layer that knows (e.g. which module to load);
    /// otherwise a generic hint for the errno is shown.
    pub hint: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// The kernel answered with this errno (positive).
    Errno(i32),
    /// The socket failed (I/O error text).
    Io(String),
    /// A reply we could not make sense of.
    Protocol(String),
}

impl KernelError {
    pub fn errno(action: impl Into<String>, errno: i32) -> Self {
        KernelError {
            action: action.into(),
            kind: ErrorKind::Errno(errno),
            hint: None,
        }
    }

    pub fn io(action: impl Into<String>, e: &std::io::Error) -> Self {
        match e.raw_os_error() {
            Some(errno) => Self::errno(action, errno),
            None => KernelError {
                action: action.into(),
                kind: ErrorKind::Io(e.to_string()),
                hint: None,
            },
        }
    }

    /// A failure that is neither an errno nor a bad reply (a helper program, a signal).
    pub fn other(action: impl Into<String>, what: impl Into<String>) -> Self {
        KernelError {
            action: action.into(),
            kind: ErrorKind::Io(what.into()),
            hint: None,
        }
    }

    pub fn protocol(action: impl Into<String>, what: impl Into<String>) -> Self {
        KernelError {
            action: action.into(),
            kind: ErrorKind::Protocol(what.into()),
            hint: None,
        }
    }

    pub fn errno_value(&self) -> Option<i32> {
        match self.kind {
            ErrorKind::Errno(e) => Some(e),
            _ => None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// What a user can do about it, when we know.
    fn advice(&self) -> Option<String> {
        if self.hint.is_some() {
            return self.hint.clone();
        }
        match self.errno_value()? {
            libc::EPERM | libc::EACCES => {
                Some("IPVS needs root (CAP_NET_ADMIN in the initial user namespace); run portfwd as root".into())
            }
            libc::ESRCH => Some("the service does not exist".into()),
            libc::EPROTONOSUPPORT | libc::EAFNOSUPPORT => {
                Some("the kernel does not support this (is IPVS or IPv6 built in?)".into())
            }
            _ => None,
        }
    }
}

/// The C library's text for an errno with its symbolic name, e.g.
/// `File exists (EEXIST)`.
pub fn errno_text(errno: i32) -> String {
    let text = std::io::Error::from_raw_os_error(errno).to_string();
    let text = match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    };
    let name = match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::EACCES => "EACCES",
        libc::EEXIST => "EEXIST",
        libc::EINVAL => "EINVAL",
        libc::ERANGE => "ERANGE",
        libc::ENOBUFS => "ENOBUFS",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        libc::EBUSY => "EBUSY",
        libc::EMSGSIZE => "EMSGSIZE",
        _ => return format!("{text} (errno {errno})"),
    };
    format!("{text} ({name})")
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::Errno(errno) => write!(f, "{}: {}", self.action, errno_text(*errno))?,
            ErrorKind::Io(text) => write!(f, "{}: {text}", self.action)?,
            ErrorKind::Protocol(text) => write!(
                f,
                "{}: unexpected reply from the kernel: {text}",
                self.action
            )?,
        }
        if let Some(hint) = self.advice() {
            write!(f, "; {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for KernelError {}
