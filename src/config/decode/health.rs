//! The `health` object of a forward.

use super::Decoder;
use crate::config::json::Json;
use crate::config::model::{CheckKind, Health, OnFailure};
use crate::config::path::JsonPath;
use std::time::Duration;

pub const HEALTH_FIELDS: &[&str] = &[
    "check",
    "interval",
    "timeout",
    "rise",
    "fall",
    "port",
    "path",
    "host",
    "expect_status",
    "command",
    "on_failure",
    "verify_tls",
];

impl Decoder<'_> {
    pub(super) fn health(&mut self, value: &Json, path: &JsonPath) -> Option<Health> {
        let mark = self.diags.len();
        let fields = self.object(value, path, HEALTH_FIELDS)?;
        let check = self
            .required(&fields, path, "check")
            .and_then(|v| self.named::<CheckKind>(v, &path.key("check"), "check"));
        let mut seconds = |key: &str, default: f64| match fields.get(key) {
            None => Some(Duration::from_secs_f64(default)),
            Some(v) => self.seconds(v, &path.key(key)),
        };
        let interval = seconds("interval", 2.0);
        let timeout = seconds("timeout", 1.0);
        let mut count = |key: &str, default: u32| match fields.get(key) {
            None => Some(default),
            Some(v) => self.integer(v, &path.key(key), 1, 100).map(|n| n as u32),
        };
        let rise = count("rise", 2);
        let fall = count("fall", 3);
        let port = fields
            .get("port")
            .and_then(|v| self.integer(v, &path.key("port"), 1, 65535))
            .map(|p| p as u16);
        let request_path = match fields.get("path") {
            None => Some("/".to_string()),
            Some(v) => self.http_text(v, &path.key("path"), true),
        };
        let host = fields
            .get("host")
            .and_then(|v| self.http_text(v, &path.key("host"), false));
        let expect_status = match fields.get("expect_status") {
            None => Some((200, 399)),
            Some(v) => self.status_range(v, &path.key("expect_status")),
        };
        let command = match fields.get("command") {
            None => Vec::new(),
            Some(v) => self.list(v, &path.key("command"), |d, v, p| {
                d.string(v, p).map(str::to_string)
            }),
        };
        let on_failure = match fields.get("on_failure") {
            None => Some(OnFailure::Inhibit),
            Some(v) => self.named(v, &path.key("on_failure"), "on_failure"),
        };
        let verify_tls = match fields.get("verify_tls") {
            None => Some(false),
            Some(v) => self.boolean(v, &path.key("verify_tls")),
        };
        // The rules between fields run on whatever decoded: every problem at once.
        self.health_rules(check, interval.zip(timeout), &command, &fields, path);
        if self.errors_since(mark) {
            return None;
        }
        Some(Health {
            check: check?,
            interval: interval?,
            timeout: timeout?,
            rise: rise?,
            fall: fall?,
            port,
            path: request_path?,
            host,
            expect_status: expect_status?,
            command,
            on_failure: on_failure?,
            verify_tls: verify_tls?,
        })
    }

    /// Rules between the fields of one `health` object.
    fn health_rules(
        &mut self,
        check: Option<CheckKind>,
        timing: Option<(Duration, Duration)>,
        command: &[String],
        fields: &super::Fields,
        path: &JsonPath,
    ) {
        if let Some((interval, timeout)) = timing
            && timeout >= interval
        {
            self.error(
                "health",
                &path.key("timeout"),
                format!(
                    "timeout {} s must be less than interval {} s",
                    timeout.as_secs_f64(),
                    interval.as_secs_f64()
                ),
            );
        }
        let Some(check) = check else {
            return;
        };
        let http = matches!(check, CheckKind::Http | CheckKind::Https);
        for key in ["path", "host", "expect_status"] {
            if fields.get(key).is_some() && !http {
                self.error(
                    "health",
                    &path.key(key),
                    format!("{key} applies to check \"http\" and \"https\" only"),
                );
            }
        }
        if fields.get("verify_tls").is_some() && check != CheckKind::Https {
            self.error(
                "health",
                &path.key("verify_tls"),
                "verify_tls applies to check \"https\" only",
            );
        }
        match (check, command.is_empty()) {
            (CheckKind::Exec, true) => self.error(
                "health",
                &path.key("command"),
                "check \"exec\" needs a command: [\"/path/to/program\", \"{address}\", \"{port}\"]",
            ),
            (CheckKind::Exec, false) if !command[0].starts_with('/') => self.error(
                "health",
                &path.key("command").index(0),
                "the program must be an absolute path (the daemon's PATH is not yours)",
            ),
            (CheckKind::Exec, false) => {}
            (_, false) => self.error(
                "health",
                &path.key("command"),
                "command applies to check \"exec\" only",
            ),
            (_, true) => {}
        }
    }

    /// Seconds as a number, fractions allowed, from 0.01 to 3600.
    fn seconds(&mut self, value: &Json, path: &JsonPath) -> Option<Duration> {
        let Json::Number(n) = value else {
            self.wrong_type(path, "a number of seconds", value);
            return None;
        };
        match n.as_f64() {
            Some(s) if (0.01..=3600.0).contains(&s) => Some(Duration::from_secs_f64(s)),
            _ => {
                self.error(
                    "range",
                    path,
                    format!(
                        "{} is not a number of seconds from 0.01 to 3600",
                        super::shown(n)
                    ),
                );
                None
            }
        }
    }

    /// A request path (starting with `/`) or host name: printable ASCII without spaces, so
    /// it cannot break the request line.
    fn http_text(&mut self, value: &Json, path: &JsonPath, is_path: bool) -> Option<String> {
        let text = self.string(value, path)?;
        let printable = !text.is_empty() && text.bytes().all(|b| b.is_ascii_graphic());
        if !printable || (is_path && !text.starts_with('/')) {
            let what = if is_path {
                "a path starting with / (printable ASCII, no spaces)"
            } else {
                "a host name (printable ASCII, no spaces)"
            };
            self.error(
                "health",
                path,
                format!("{} is not {what}", crate::config::diagnostic::quote(text)),
            );
            return None;
        }
        Some(text.to_string())
    }

    /// `[FIRST, LAST]` or one status code, each from 100 to 599.
    fn status_range(&mut self, value: &Json, path: &JsonPath) -> Option<(u16, u16)> {
        let (first, last) = match value {
            Json::Number(_) => {
                let c = self.integer(value, path, 100, 599)? as u16;
                (c, c)
            }
            Json::Array(items) if items.len() == 2 => {
                let a = self.integer(&items[0], &path.index(0), 100, 599)? as u16;
                let b = self.integer(&items[1], &path.index(1), 100, 599)? as u16;
                (a, b)
            }
            other => {
                self.wrong_type(path, "a status code or [FIRST, LAST]", other);
                return None;
            }
        };
        if first > last {
            self.error(
                "range",
                path,
                format!("the range {first}-{last} runs backwards"),
            );
            return None;
        }
        Some((first, last))
    }
}
