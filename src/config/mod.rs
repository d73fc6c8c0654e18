//! The config file: its model (format v1), JSON Schema, decoding and validation.
//!
//! [`load`] reads a file (bounded in size), parses it, decodes it into [`Config`] and checks
//! every rule, collecting all problems at once. A config with any error is never returned as
//! usable, so nothing downstream can act on half of it.

pub mod decode;
pub mod diagnostic;
pub mod endpoint;
pub mod json;
pub mod model;
pub mod path;
pub mod programs;
pub mod schema;
pub mod trust;
pub mod validate;

pub use diagnostic::{Diagnostic, Place, Severity};
pub use model::{Config, Forward};

use std::io::Read;
use std::path::Path;

/// The largest config portfwd reads.
pub const MAX_CONFIG_BYTES: u64 = 32 * 1024 * 1024;

/// Where the config comes from; `-` means standard input.
pub const STDIN_NAME: &str = "-";

/// How messages name an input: its path, or `<stdin>` for `-`.
pub fn source_name(path: &Path) -> String {
    if path.as_os_str() == STDIN_NAME {
        "<stdin>".to_string()
    } else {
        path.display().to_string()
    }
}

/// Text that should be UTF-8 (rules, scripts, keepalived.conf), decoded the one way every
/// reader shares: bytes that are not UTF-8 (a Latin-1 comment, say) become U+FFFD, and each
/// line that had some is named in a note (`NAME:LINE: ...`), so nothing changes silently.
pub fn decode_text(bytes: &[u8], name: &str) -> (String, Vec<String>) {
    match std::str::from_utf8(bytes) {
        Ok(text) => (text.to_string(), Vec::new()),
        Err(_) => {
            let notes = bytes
                .split(|b| *b == b'\n')
                .enumerate()
                .filter(|(_, line)| std::str::from_utf8(line).is_err())
                .map(|(i, _)| {
                    format!(
                        "{name}:{}: bytes that are not UTF-8 were replaced (U+FFFD)",
                        i + 1
                    )
                })
                .collect();
            (String::from_utf8_lossy(bytes).into_owned(), notes)
        }
    }
}

/// The outcome of reading a config.
#[derive(Debug)]
pub struct Checked {
    /// The name to show for the source: the path, or `<stdin>`.
    pub source: String,
    /// The config, present only when there is no error.
    pub config: Option<Config>,
    /// Every problem found, errors first, each in file order.
    pub diagnostics: Vec<Diagnostic>,
}

impl Checked {
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Warning)
    }
}

/// Reads and checks the config at `path` (`-` for standard input).
pub fn load(path: &Path) -> Checked {
    load_with_text(path).0
}

/// Like [`load`], also returning the bytes read (for saved plans, which carry the config).
pub fn load_with_text(path: &Path) -> (Checked, Vec<u8>) {
    let source = source_name(path);
    match read_input(path) {
        Ok(bytes) => {
            let mut checked = check(source, &bytes);
            if let Some(config) = &checked.config {
                programs::check(config, &mut checked.diagnostics);
            }
            (checked, bytes)
        }
        Err(e) => {
            let loaded = Checked {
                diagnostics: vec![Diagnostic::error(
                    "read",
                    "",
                    format!("cannot read the config: {e}"),
                )],
                source,
                config: None,
            };
            (loaded, Vec::new())
        }
    }
}

/// Checks config text already in memory; `source` names it in messages.
pub fn check(source: String, bytes: &[u8]) -> Checked {
    let mut diagnostics = Vec::new();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        diagnostics.push(Diagnostic::error(
            "syntax",
            "",
            "the config is empty (expected a JSON object)",
        ));
        return Checked {
            source,
            config: None,
            diagnostics,
        };
    }
    let root = match json::parse(bytes) {
        Ok(root) => root,
        Err(e) => {
            diagnostics.push(Diagnostic {
                severity: Severity::Error,
                rule: "syntax",
                place: Place::Position {
                    line: e.line,
                    column: e.column,
                },
                message: e.message,
            });
            return Checked {
                source,
                config: None,
                diagnostics,
            };
        }
    };
    let config = decode::decode(&root, &mut diagnostics);
    drop(root);
    validate::validate(&config, &mut diagnostics);
    // Stable sort: errors before warnings, each kind in the order found (file order).
    diagnostics.sort_by_key(|d| d.severity);
    let valid = !diagnostics.iter().any(|d| d.severity == Severity::Error);
    Checked {
        source,
        config: valid.then_some(config),
        diagnostics,
    }
}

/// The bytes of the file at `path` (`-` for standard input), at most [`MAX_CONFIG_BYTES`]:
/// a larger input (or an endless one, like /dev/zero) is an error.
pub fn read_input(path: &Path) -> std::io::Result<Vec<u8>> {
    if path.as_os_str() == STDIN_NAME {
        read_bounded(std::io::stdin().lock())
    } else {
        std::fs::File::open(path).and_then(read_bounded)
    }
}

/// Writes `contents` beside `path`, then renames it over `path`: a reader never sees half a
/// file.
pub fn write_atomic(path: &Path, contents: impl AsRef<[u8]>) -> std::io::Result<()> {
    let tmp = path.with_extension("portfwd-tmp");
    std::fs::write(&tmp, contents).and_then(|()| std::fs::rename(&tmp, path))
}

fn read_bounded(reader: impl Read) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader.take(MAX_CONFIG_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(std::io::Error::other(format!(
            "it is larger than {} MiB",
            MAX_CONFIG_BYTES / (1024 * 1024)
        )));
    }
    Ok(bytes)
}

/// Counts for the one-line summary of a valid config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub forwards: usize,
    pub backends: usize,
    pub bridges: usize,
    pub public: usize,
    /// IPVS services after port ranges are expanded.
    pub services: u64,
}

impl Summary {
    pub fn of(config: &Config) -> Self {
        Summary {
            forwards: config.forwards.len(),
            backends: config.forwards.iter().map(|f| f.backends.len()).sum(),
            bridges: config.bridges.len(),
            public: config.public.len(),
            services: config.forwards.iter().map(Forward::service_count).sum(),
        }
    }
}

impl std::fmt::Display for Summary {
    /// `2 forwards, 3 backends, 1 bridge`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        write!(
            f,
            "{}, {}, {}",
            plural(self.forwards, "forward"),
            plural(self.backends, "backend"),
            plural(self.bridges, "bridge")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors_of(text: &str) -> Vec<String> {
        let loaded = check("t.json".into(), text.as_bytes());
        loaded.errors().map(|d| d.to_string()).collect()
    }

    fn accepted(text: &str) -> Config {
        let loaded = check("t.json".into(), text.as_bytes());
        let errors: Vec<String> = loaded.errors().map(|d| d.to_string()).collect();
        loaded
            .config
            .unwrap_or_else(|| panic!("refused: {errors:?}"))
    }

    const PUBLIC: &str = r#""public":[{"address":"203.0.113.10"},{"address":"2001:db8::10"}]"#;

    #[test]
    fn defaults_follow_ipvsadm() {
        let c = accepted(&format!(
            r#"{{{PUBLIC},"forwards":[{{"name":"a","listen":"203.0.113.10:80","backends":["10.0.0.2"]}}]}}"#
        ));
        let f = &c.forwards[0];
        assert_eq!(f.protocol, model::Protocol::Tcp);
        assert_eq!(f.scheduler, model::Scheduler::Wlc);
        assert_eq!(f.method, model::Method::Masq);
        assert_eq!(f.backends[0].weight, 1);
        assert_eq!(f.backends[0].address.ports, None);
    }

    #[test]
    fn tunnel_may_mix_families_and_keep_ports() {
        accepted(&format!(
            r#"{{{PUBLIC},"forwards":[{{"name":"a","listen":"203.0.113.10:80","method":"tunnel","backends":["fd00::2","10.0.0.2:80"]}}]}}"#
        ));
    }

    #[test]
    fn ranges_map_to_a_range_or_one_port() {
        let c = accepted(&format!(
            r#"{{{PUBLIC},"forwards":[{{"name":"a","protocol":"udp","listen":"203.0.113.10:6000-6009","backends":["10.0.0.2:7000-7009","10.0.0.3:53","10.0.0.4"]}}]}}"#
        ));
        assert_eq!(Summary::of(&c).services, 10);
    }

    #[test]
    fn same_port_on_other_protocol_or_address_is_no_conflict() {
        accepted(&format!(
            r#"{{{PUBLIC},"forwards":[
              {{"name":"a","listen":"203.0.113.10:53","backends":["10.0.0.2"]}},
              {{"name":"b","protocol":"udp","listen":"203.0.113.10:53","backends":["10.0.0.2"]}},
              {{"name":"c","listen":"[2001:db8::10]:53","backends":["fd00::2"]}}]}}"#
        ));
    }

    #[test]
    fn ipv6_persistence_takes_a_prefix_length() {
        accepted(&format!(
            r#"{{{PUBLIC},"forwards":[{{"name":"a","listen":"[2001:db8::10]:443","persistence":300,"persistence_netmask":64,"backends":["[fd00::2]:443"]}}]}}"#
        ));
    }

    #[test]
    fn an_empty_object_is_a_valid_empty_config() {
        let c = accepted("{}");
        assert_eq!(
            Summary::of(&c).to_string(),
            "0 forwards, 0 backends, 0 bridges"
        );
    }

    #[test]
    fn too_many_services_are_refused_before_expansion() {
        let forwards: Vec<String> = (0..5)
            .map(|i| format!(r#"{{"name":"f{i}","protocol":"udp","listen":"203.0.113.10:1-65535","backends":["10.0.0.{}"]}}"#, i + 2))
            .collect();
        let errors = errors_of(&format!(
            r#"{{{PUBLIC},"forwards":[{}]}}"#,
            forwards.join(",")
        ));
        assert_eq!(
            errors,
            vec![
                "forwards: the forwards expand to 327675 IPVS services; at most 200000 are supported"
            ]
        );
    }

    #[test]
    fn a_bad_item_does_not_shift_the_paths_of_later_items() {
        let errors = errors_of(&format!(
            r#"{{{PUBLIC},"forwards":[
              {{"name":"bad name","listen":"203.0.113.10:80"}},
              {{"name":"b","listen":"198.51.100.1:80","backends":["nope",{{"address":"10.0.0.2","lower_threshold":3}}]}}]}}"#
        ));
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors[0].starts_with("forwards[0].name:"));
        assert!(errors[1].starts_with("forwards[1].backends[0]:"));
        assert!(
            errors[2]
                .starts_with("forwards[1].listen: 198.51.100.1 is not one of public[].address")
        );
        assert!(errors[3].starts_with("forwards[1].backends[1]: lower_threshold 3"));
    }

    #[test]
    fn many_backends_outside_the_bridges_are_one_warning() {
        let forwards: Vec<String> = (0..10)
            .map(|i| format!(r#"{{"name":"f{i}","listen":"203.0.113.10:{}","backends":["192.168.{i}.2:22"]}}"#, 1000 + i))
            .collect();
        let text = format!(
            r#"{{{PUBLIC},"bridges":[{{"name":"br1","address":"10.0.0.1/24"}}],"forwards":[{}]}}"#,
            forwards.join(",")
        );
        let loaded = check("t.json".into(), text.as_bytes());
        let warnings: Vec<String> = loaded.warnings().map(|d| d.to_string()).collect();
        assert_eq!(
            warnings,
            vec![
                "forwards: 10 masq backends are outside every declared bridge subnet (br1 10.0.0.1/24), e.g. 192.168.0.2 at forwards[0].backends[0], 192.168.1.2 at forwards[1].backends[0], 192.168.2.2 at forwards[2].backends[0]; their replies must route back through this host"
            ]
        );
    }
}
