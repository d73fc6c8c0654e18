//! Terminal colors, decided once from `--color`, NO_COLOR and whether the stream is a terminal.

use super::args::ColorChoice;
pub use crate::plan::style::Painter;
use std::io::IsTerminal;

/// Resolves `choice` for standard output (`stderr == false`) or standard error.
pub fn painter(choice: ColorChoice, stderr: bool) -> Painter {
    let enabled = match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            let tty = if stderr {
                std::io::stderr().is_terminal()
            } else {
                std::io::stdout().is_terminal()
            };
            let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
            let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
            tty && !no_color && !dumb
        }
    };
    Painter { enabled }
}
