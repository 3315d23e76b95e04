//! Running the `authd` binary itself, for what only a process shows:
//! startup messages, exit codes, log lines.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

/// `authd` with its data directory in `dir`, cheap Argon2, and no email
/// worker settings; the test suite's `AUTH_TEST_*` variables it inherits are
/// not settings (see README).
pub fn authd(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_authd"));
    cmd.env("AUTH_DATA_DIR", dir)
        .env("AUTH_ARGON2_MEMORY_KIB", "1024")
        .env("AUTH_ARGON2_ITERATIONS", "1")
        .env_remove("AUTH_CONFIG")
        .current_dir(dir);
    cmd
}

/// `authd serve --no-worker` in `dir` on a free loopback port, logging
/// JSON lines at `info`, once it listens: the process and its port.
pub fn serve_json(dir: &Path, configure: impl FnOnce(&mut Command)) -> (Running, u16) {
    let mut cmd = authd(dir);
    cmd.args(["serve", "--no-worker"])
        .env("AUTH_BIND", "127.0.0.1:0")
        .env("AUTH_LOG_FORMAT", "json")
        .env("AUTH_LOG", "info");
    configure(&mut cmd);
    let mut app = Running::start(cmd);
    let listening = app
        .wait_for(Duration::from_secs(30), |l| l.contains("authd listening"))
        .expect("authd listening");
    let port = serde_json::from_str::<serde_json::Value>(&listening).unwrap()["port"]
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .expect("the port it listens on");
    (app, port)
}

/// A running `authd`: its stdout and stderr lines as they come.
pub struct Running {
    child: Child,
    lines: Receiver<String>,
    pub seen: Vec<String>,
}

impl Running {
    pub fn start(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("authd starts");
        let (tx, lines) = channel();
        let out = child.stdout.take().expect("stdout");
        let err = child.stderr.take().expect("stderr");
        let tx2 = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx2.send(line);
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a line that `matches`; `None` after `timeout`.
    pub fn wait_for(
        &mut self,
        timeout: Duration,
        matches: impl Fn(&str) -> bool,
    ) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let line = self.lines.recv_timeout(left).ok()?;
            self.seen.push(line.clone());
            if matches(&line) {
                return Some(line);
            }
        }
    }

    /// Collects what arrives within `quiet`.
    pub fn drain(&mut self, quiet: Duration) {
        while let Ok(line) = self.lines.recv_timeout(quiet) {
            self.seen.push(line);
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
