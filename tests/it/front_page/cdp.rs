//! A minimal Chrome DevTools Protocol client over `--remote-debugging-pipe`
//! (JSON messages separated by NUL bytes on file descriptors 3 and 4): enough
//! to open a page in headless Chromium at a given width, wait for it to load,
//! and evaluate expressions in it. Blocking; run it off the async workers.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Headless Chromium with one page, driven over the pipe.
pub struct Browser {
    child: Child,
    to: File,
    from: Receiver<Value>,
    next_id: u64,
    session: String,
}

fn pipe() -> (RawFd, RawFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid array of two descriptors for pipe2 to fill.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(r, 0, "pipe2 failed");
    (fds[0], fds[1])
}

impl Browser {
    /// Starts Chromium and opens a blank page `width` CSS pixels wide (a
    /// phone's viewport when `mobile`).
    pub fn start(width: u32, mobile: bool) -> Browser {
        let (to_chrome_read, to_chrome_write) = pipe();
        let (from_chrome_read, from_chrome_write) = pipe();
        let mut command = Command::new("chromium");
        command
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-default-apps",
                "--disable-sync",
                "--remote-debugging-pipe",
                "about:blank",
            ])
            .env("TZ", "UTC")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: only async-signal-safe calls (dup2) between fork and exec.
        unsafe {
            command.pre_exec(move || {
                if libc::dup2(to_chrome_read, 3) < 0 || libc::dup2(from_chrome_write, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().expect("chromium starts");
        // SAFETY: the descriptors were just made by pipe2 and are owned here.
        let (to, from, _r, _w) = unsafe {
            (
                File::from_raw_fd(to_chrome_write),
                File::from_raw_fd(from_chrome_read),
                File::from_raw_fd(to_chrome_read),
                File::from_raw_fd(from_chrome_write),
            )
        };
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(from);
            let mut message = Vec::new();
            while reader.read_until(0, &mut message).unwrap_or(0) > 0 {
                message.pop();
                if let Ok(value) = serde_json::from_slice(&message) {
                    if sender.send(value).is_err() {
                        return;
                    }
                }
                message.clear();
            }
        });
        let mut browser = Browser {
            child,
            to,
            from: receiver,
            next_id: 0,
            session: String::new(),
        };
        let target = browser.call("Target.createTarget", json!({"url": "about:blank"}));
        let attached = browser.call(
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        );
        browser.session = attached["sessionId"].as_str().unwrap().to_owned();
        browser.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": mobile}),
        );
        browser.call("Page.enable", json!({}));
        browser
    }

    /// Sends a command (to the page once attached) and waits for its result.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if !self.session.is_empty() {
            message["sessionId"] = json!(self.session);
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        self.to.write_all(&bytes).unwrap();
        // Generous: Chromium on a busy two-core machine is slow, not broken.
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let answer = self
                .next(deadline)
                .unwrap_or_else(|| panic!("no answer to {method}"));
            if answer["id"] == id {
                assert!(answer.get("error").is_none(), "{method}: {answer}");
                return answer["result"].clone();
            }
        }
    }

    fn next(&self, deadline: Instant) -> Option<Value> {
        let left = deadline.saturating_duration_since(Instant::now());
        self.from.recv_timeout(left).ok()
    }

    /// Runs `script` in every document the page opens from now on, before its
    /// own scripts (DevTools' injection, which the page's CSP does not govern).
    pub fn on_new_document(&mut self, script: &str) {
        self.call(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({"source": script}),
        );
    }

    /// Opens `url` and waits for its load event.
    pub fn open(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url}));
        // Generous: Chromium on a busy two-core machine is slow, not broken.
        let deadline = Instant::now() + Duration::from_secs(90);
        while let Some(event) = self.next(deadline) {
            if event["method"] == "Page.loadEventFired" {
                return;
            }
        }
        panic!("{url} did not load within 30 s");
    }

    /// The value of `expression` in the page (awaited when a promise).
    pub fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        );
        assert!(
            result.get("exceptionDetails").is_none(),
            "{expression}: {result}"
        );
        result["result"]["value"].clone()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
