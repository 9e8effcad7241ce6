//! The CLI's error: a message with the cause chain, rendered as one line, and an exit code.

use std::error::Error as StdError;
use std::fmt::Display;

/// Exit status for a failed run (bad input, I/O, verification failure, …).
pub const EXIT_FAILURE: u8 = 1;
/// Exit status for an invalid command line (unknown flag, malformed value, conflicting options).
pub const EXIT_USAGE: u8 = 2;

/// Why a subcommand failed.
#[derive(Debug)]
pub struct CliError {
    usage: bool,
    message: String,
    source: Option<Box<dyn StdError + Send + Sync + 'static>>,
}

impl CliError {
    /// A usage error (exit status 2): the command line or environment asks for something
    /// invalid.
    pub fn usage(message: impl Into<String>) -> Self {
        CliError { usage: true, message: message.into(), source: None }
    }

    /// A failure with no underlying error.
    pub fn failure(message: impl Into<String>) -> Self {
        CliError { usage: false, message: message.into(), source: None }
    }

    /// The process exit status.
    pub fn exit_code(&self) -> u8 {
        if self.usage { EXIT_USAGE } else { EXIT_FAILURE }
    }

    /// The message and every cause, joined by `: ` on one line. Causes whose text is already
    /// part of the line (many error types repeat their source in their own message) are not
    /// repeated.
    pub fn render(&self) -> String {
        let mut out = self.message.clone();
        let mut next: Option<&(dyn StdError + 'static)> =
            self.source.as_deref().map(|e| e as &(dyn StdError + 'static));
        while let Some(e) = next {
            let s = printable(&e.to_string());
            if !s.is_empty() && !out.contains(&s) {
                if !out.is_empty() {
                    out.push_str(": ");
                }
                out.push_str(&s);
            }
            next = e.source();
        }
        // One line, whatever the messages hold.
        out.split(['\n', '\r'])
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Longest text kept from one error in the chain. Messages about malformed input sometimes
/// quote the input itself; a garbage file must not flood the terminal.
const MAX_CAUSE: usize = 300;

/// `s` with control characters (other than newlines, which `render` turns into `; `)
/// replaced and its length capped at [`MAX_CAUSE`] characters.
fn printable(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(MAX_CAUSE)
        .map(|c| if c.is_control() && c != '\n' { '\u{fffd}' } else { c })
        .collect();
    if s.chars().nth(MAX_CAUSE).is_some() {
        out.push('…');
    }
    out
}

impl<E: StdError + Send + Sync + 'static> From<E> for CliError {
    fn from(e: E) -> Self {
        CliError { usage: false, message: String::new(), source: Some(Box::new(e)) }
    }
}

/// Adds what was being done to an error.
pub trait Context<T> {
    /// Prefixes the error with `what`.
    fn context(self, what: impl Display) -> Result<T, CliError>;
    /// Prefixes the error with the result of `what`, computed only on failure.
    fn with_context<D: Display>(self, what: impl FnOnce() -> D) -> Result<T, CliError>;
}

impl<T, E: StdError + Send + Sync + 'static> Context<T> for Result<T, E> {
    fn context(self, what: impl Display) -> Result<T, CliError> {
        self.map_err(|e| CliError {
            usage: false,
            message: what.to_string(),
            source: Some(Box::new(e)),
        })
    }

    fn with_context<D: Display>(self, what: impl FnOnce() -> D) -> Result<T, CliError> {
        self.map_err(|e| CliError {
            usage: false,
            message: what().to_string(),
            source: Some(Box::new(e)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_is_one_line_without_repeats() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file");
        let core = mbi_core::Error::io("open", "/x", io);
        let e: Result<(), _> = Err(core);
        let e = e.context("reading base image oci:/x").unwrap_err();
        assert_eq!(e.render(), "reading base image oci:/x: open /x: No such file");
        assert_eq!(e.exit_code(), EXIT_FAILURE);
        assert_eq!(CliError::usage("a\nb").render(), "a; b");
        assert_eq!(CliError::usage("x").exit_code(), EXIT_USAGE);
        let garbage = std::io::Error::other(format!("bad \x1b[31m {}", "x".repeat(5000)));
        let r = CliError::from(garbage).render();
        assert!(r.len() < 400 && !r.contains('\x1b') && r.ends_with('…'), "{r}");
    }
}
