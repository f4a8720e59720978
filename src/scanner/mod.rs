//! Content scanning with clamd: stream a file's bytes to clamd (`INSTREAM`, over a unix or TCP
//! socket, through the `clamav-client` crate) and read its verdict.
//!
//! The verdict is parsed here, strictly: `stream: OK` is clean; `stream: <name> FOUND` is
//! infected with `<name>`; anything else is a failure, never clean. A size-limit reply
//! (`INSTREAM size limit exceeded`, or a `Heuristics.Limits.*` "signature" that clamd reports
//! as FOUND when `AlertExceedsMax` is on) means clamd did not look at everything: *failed*,
//! never clean and never infected. Connecting, sending and waiting for the reply are bounded
//! by the configured timeout; a scanner that cannot be reached is [`ScanError::Unreachable`]
//! (the caller retries later), unlike a file clamd could not scan ([`Verdict::Failed`]).
//!
//! A body past clamd's `StreamMaxLength` is cut off by clamd mid-stream: its size-limit reply
//! usually cannot be read (the write fails first, as an incomplete exchange), so callers must
//! not send files larger than clamd takes; the scan stage that will use this client records
//! such files as failed without sending them.
//!
//! This is the first part of scanning as an engine stage (the queue, its worker and the APIs'
//! use of verdicts come next); it is tested against a real clamd in `tests/integration/scanner.rs`.

use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;

/// Where clamd listens: `unix:/path/to/clamd.sock` or `tcp:host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClamdAddress {
    /// A unix socket.
    Unix(std::path::PathBuf),
    /// A TCP address.
    Tcp(String),
}

impl ClamdAddress {
    /// Parses `unix:<path>` or `tcp:<host:port>`.
    pub fn parse(s: &str) -> Result<Self, String> {
        if let Some(p) = s.strip_prefix("unix:").filter(|p| p.starts_with('/')) {
            return Ok(Self::Unix(p.into()));
        }
        if let Some(a) = s
            .strip_prefix("tcp:")
            .filter(|a| a.rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok()))
        {
            return Ok(Self::Tcp(a.to_string()));
        }
        Err(format!("scanner.clamd_address must be unix:/absolute/path or tcp:host:port, not {s:?}"))
    }
}

/// What clamd said about a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing found in all of it.
    Clean,
    /// Infected with this signature.
    Infected(String),
    /// Not (wholly) scanned, with why: never served as clean.
    Failed(String),
}

/// Why a scan did not produce a verdict.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// clamd could not be reached or stopped answering, or the file could not be read: the
    /// exchange did not complete, so the scan is to be retried.
    #[error("scan incomplete: {0}")]
    Unreachable(String),
}

/// Parses clamd's reply to `zINSTREAM` (NUL-terminated).
pub fn parse_reply(reply: &[u8]) -> Verdict {
    let text = String::from_utf8_lossy(reply);
    let text = text.trim_end_matches(['\0', '\n']).trim();
    let Some(rest) = text.strip_prefix("stream:").map(str::trim) else {
        return Verdict::Failed(format!("unexpected clamd reply: {}", short(text)));
    };
    if rest == "OK" {
        return Verdict::Clean;
    }
    if let Some(name) = rest.strip_suffix(" FOUND").map(str::trim) {
        if name.is_empty() {
            return Verdict::Failed("clamd reported a find without a name".into());
        }
        if name.starts_with("Heuristics.Limits.") {
            return Verdict::Failed(format!("clamd did not scan all of it ({name})"));
        }
        return Verdict::Infected(name.to_string());
    }
    if let Some(why) = rest.strip_suffix(" ERROR") {
        return Verdict::Failed(format!("clamd: {}", short(why.trim())));
    }
    Verdict::Failed(format!("unexpected clamd reply: {}", short(rest)))
}

fn short(s: &str) -> String {
    s.chars().take(200).collect()
}

/// A clamd to scan with.
#[derive(Debug, Clone)]
pub struct Clamd {
    address: ClamdAddress,
    timeout: Duration,
}

impl Clamd {
    /// clamd at `address`; every exchange bounded by `timeout`.
    pub fn new(address: ClamdAddress, timeout: Duration) -> Self {
        Self { address, timeout }
    }

    /// Whether clamd answers `PING` with `PONG`.
    pub async fn ping(&self) -> bool {
        use clamav_client::tokio::{Socket, Tcp, ping};
        let reply = match &self.address {
            ClamdAddress::Unix(p) => tokio::time::timeout(self.timeout, ping(Socket { socket_path: p })).await,
            ClamdAddress::Tcp(a) => tokio::time::timeout(self.timeout, ping(Tcp { host_address: a.as_str() })).await,
        };
        matches!(reply, Ok(Ok(r)) if r == clamav_client::PONG)
    }

    /// Scans the bytes `body` yields.
    pub async fn scan<S>(&self, body: S) -> Result<Verdict, ScanError>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>>,
    {
        use clamav_client::tokio::{Socket, Tcp, scan_stream};
        const CHUNK: Option<usize> = Some(256 << 10);
        let reply = match &self.address {
            ClamdAddress::Unix(p) => {
                tokio::time::timeout(self.timeout, scan_stream(body, Socket { socket_path: p }, CHUNK)).await
            }
            ClamdAddress::Tcp(a) => {
                tokio::time::timeout(self.timeout, scan_stream(body, Tcp { host_address: a.as_str() }, CHUNK)).await
            }
        };
        match reply {
            Err(_) => Err(ScanError::Unreachable(format!("no reply within {:?}", self.timeout))),
            Ok(Err(e)) => Err(ScanError::Unreachable(e.to_string())),
            // clamd closes the connection after a size-limit reply; an empty reply is a
            // connection that died.
            Ok(Ok(r)) if r.is_empty() => Err(ScanError::Unreachable("clamd closed the connection".into())),
            Ok(Ok(r)) => Ok(parse_reply(&r)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies() {
        assert_eq!(parse_reply(b"stream: OK\0"), Verdict::Clean);
        assert_eq!(
            parse_reply(b"stream: Win.Test.EICAR_HDB-1 FOUND\0"),
            Verdict::Infected("Win.Test.EICAR_HDB-1".into())
        );
        for limit in [
            &b"INSTREAM size limit exceeded. ERROR\0"[..],
            b"stream: INSTREAM size limit exceeded ERROR\0",
            b"stream: Heuristics.Limits.Exceeded.MaxFileSize FOUND\0",
            b"stream: Can't allocate memory ERROR\0",
            b"stream:  FOUND\0",
            b"stream: OKAY\0",
            b"",
            b"\xff\xfe",
        ] {
            assert!(matches!(parse_reply(limit), Verdict::Failed(_)), "{:?}", String::from_utf8_lossy(limit));
        }
    }

    #[test]
    fn addresses() {
        assert_eq!(ClamdAddress::parse("unix:/run/clamd.ctl"), Ok(ClamdAddress::Unix("/run/clamd.ctl".into())));
        assert_eq!(ClamdAddress::parse("tcp:127.0.0.1:3310"), Ok(ClamdAddress::Tcp("127.0.0.1:3310".into())));
        for bad in ["", "unix:relative", "tcp:host", "tcp::3310", "tcp:h:99999", "/run/clamd.ctl"] {
            assert!(ClamdAddress::parse(bad).is_err(), "{bad}");
        }
    }
}
