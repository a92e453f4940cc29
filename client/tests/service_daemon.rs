//! `freshet daemon`: JSON lines in, JSON lines out; its torrents survive a restart.
#![allow(clippy::disallowed_methods)] // Tests bound their waits with the real clock.

mod component_util;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use component_util::{add, client, make_torrent, wait_added, wait_complete};
use serde_json::Value;

const TICK: Duration = Duration::from_millis(200);
const WAIT: Duration = Duration::from_secs(60);

struct Daemon {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<Value>,
}

impl Daemon {
    fn start(state: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_freshet"))
            .args([
                "daemon",
                "--offline",
                "--listen",
                "127.0.0.1:0",
                "--tick-secs",
                "1",
            ])
            .arg("--state-dir")
            .arg(state)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                let v: Value = serde_json::from_str(&line).expect("every line is JSON");
                if tx.send(v).is_err() {
                    return;
                }
            }
        });
        let stdin = child.stdin.take();
        Self {
            child,
            stdin,
            lines,
        }
    }

    fn send(&mut self, cmd: &Value) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{cmd}").unwrap();
        stdin.flush().unwrap();
    }

    fn send_raw(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
    }

    fn wait(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) if pred(&v) => return v,
                Ok(_) => {}
                Err(e) => panic!("no {what} line: {e}"),
            }
        }
    }

    /// Closes stdin and waits (bounded) for a clean exit.
    fn finish(mut self) {
        drop(self.stdin.take());
        self.wait("shutdown", |v| v["event"] == "shutdown");
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success());
                return;
            }
            assert!(std::time::Instant::now() < deadline, "daemon did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn daemon_downloads_reports_and_restores_its_torrents() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let bytes = make_torrent(&src, "d", &[("x.bin", 300_000), ("y.bin", 5)], 16384, false);
    let torrent = dir.path().join("d.torrent");
    std::fs::write(&torrent, &bytes).unwrap();
    let seed = client(TICK);
    add(&seed, 1, &bytes, &src, &[]);
    let sid = wait_added(&seed);
    wait_complete(&seed, sid);
    let state = dir.path().join("state");
    let dl = dir.path().join("dl");

    let mut d = Daemon::start(&state);
    d.wait("listening", |v| v["event"] == "listening");
    d.send_raw("this is not json");
    d.wait("bad command", |v| v["event"] == "bad_command");
    // --offline: the DHT is off.
    d.send(&serde_json::json!({"cmd": "dht"}));
    d.wait("dht status", |v| {
        v["event"] == "dht" && v["enabled"] == false
    });
    d.send(&serde_json::json!({
        "cmd": "add", "source": torrent, "save_dir": dl, "no_trackers": true,
        "peers": [seed.listen_addrs()[0]], "request_id": 5,
    }));
    let added = d.wait("added", |v| v["event"] == "added");
    assert_eq!(added["request_id"], 5);
    let id = added["id"].as_u64().unwrap();
    d.wait("completed", |v| v["event"] == "completed" && v["id"] == id);
    d.send(&serde_json::json!({"cmd": "details", "id": id}));
    let details = d.wait("details", |v| {
        v["event"] == "status" && v["files"].is_array()
    });
    assert_eq!(details["files"][0]["have_bytes"], 300_000);
    d.send(&serde_json::json!({"cmd": "pause", "id": id}));
    d.wait("paused", |v| {
        v["event"] == "status" && v["activity"] == "paused"
    });
    d.finish();
    assert_eq!(
        std::fs::read(dl.join("d/x.bin")).unwrap(),
        std::fs::read(src.join("d/x.bin")).unwrap()
    );

    // Restart: the torrent comes back by itself, checked complete from resume data.
    let mut d = Daemon::start(&state);
    let added = d.wait("restored", |v| v["event"] == "added");
    assert!(added["request_id"].is_null());
    let checked = d.wait("checked", |v| {
        v["event"] == "checked" && v["complete"] == true
    });
    // `recheck` hashes the data again and reports a new `checked`.
    let id = added["id"].clone();
    d.send(&serde_json::json!({"cmd": "recheck", "id": id}));
    d.wait("checked after recheck", |v| {
        v["event"] == "checked" && v["complete"] == true && v["have_bytes"] == checked["have_bytes"]
    });
    d.send(&serde_json::json!({"cmd": "shutdown"}));
    d.finish();
    seed.join();
}
