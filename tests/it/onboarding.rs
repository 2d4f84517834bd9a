//! A newcomer's first steps with the built binary (issue 14): `--version` names
//! the revision, `check --demo` polls the simulator once and exits 2, a busy
//! port names the flag that changes it, and a bad `--demo.interval` is refused
//! as the flag's, not as a line of a file that does not exist.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use proxy_quota_exporter::metrics::{REVISION, VERSION};

/// What a finished run left behind.
struct Ran {
    /// The exit code; `None` when the binary had to be killed.
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs the binary with `args` and none of the exporter's environment variables
/// but an empty `PROXY_QUOTA_EXPORTER_STORAGE_PATH` (so that nothing writes a
/// `data/` store). Output goes to files, so a chatty run cannot stall on a
/// full pipe; a run that outlives `limit` is killed, so that a binary that
/// serves instead of failing fails the test instead of hanging it.
fn run(args: &[&str], limit: Duration) -> Ran {
    let mut stdout = tempfile::tempfile().unwrap();
    let mut stderr = tempfile::tempfile().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_proxy-quota-exporter"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("PROXY_QUOTA_EXPORTER_") {
            command.env_remove(name);
        }
    }
    let mut child = command
        .args(args)
        .env("PROXY_QUOTA_EXPORTER_STORAGE_PATH", "")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(stdout.try_clone().unwrap())
        .stderr(stderr.try_clone().unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let read = |file: &mut File| {
        let mut text = String::new();
        file.seek(SeekFrom::Start(0)).unwrap();
        file.read_to_string(&mut text).unwrap();
        text
    };
    Ran {
        code,
        stdout: read(&mut stdout),
        stderr: read(&mut stderr),
    }
}

const LIMIT: Duration = Duration::from_secs(30);

#[test]
fn version_names_the_revision() {
    let expected = format!("proxy-quota-exporter {VERSION} (revision {REVISION})\n");
    for flag in ["--version", "-V"] {
        let ran = run(&[flag], LIMIT);
        assert_eq!(ran.code, Some(0), "{flag}: {}", ran.stderr);
        assert_eq!(ran.stdout, expected, "{flag}");
    }
    // build.rs found the revision (the tests run in the git checkout, or with
    // PQE_GIT_REVISION set as the Dockerfile does).
    assert!(!REVISION.is_empty());
}

#[test]
fn check_demo_polls_the_simulator_once_and_is_critical() {
    let ran = run(&["check", "--demo"], LIMIT);
    assert_eq!(ran.code, Some(2), "{}\n{}", ran.stdout, ran.stderr);
    for target in [
        "demo-bestproxy",
        "demo-proxylite",
        "demo-ipweb",
        "demo-custom",
    ] {
        assert!(
            ran.stdout.contains(&format!("{target} (")),
            "{target} missing:\n{}",
            ran.stdout
        );
    }
    assert!(
        ran.stdout.contains("overall: CRITICAL (exit 2)"),
        "{}",
        ran.stdout
    );
    // Every target was read: the exit code is the demo's shortage, not an error.
    assert!(!ran.stdout.contains("ERROR"), "{}", ran.stdout);
    assert!(ran.stderr.contains("SIMULATED"), "{}", ran.stderr);
    assert!(!ran.stderr.contains("<demo>"), "{}", ran.stderr);

    // The same as JSON for scripts, with nothing but the report on stdout.
    let ran = run(&["check", "--demo", "--output", "json"], LIMIT);
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    let report: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(report["exit_code"], 2);
    assert_eq!(report["status"], "critical");
    let targets: Vec<_> = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["target"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        targets,
        [
            "demo-bestproxy",
            "demo-proxylite",
            "demo-ipweb",
            "demo-custom"
        ]
    );
    assert!(report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["errors"].as_array().unwrap().is_empty()));
}

#[test]
fn check_without_a_configuration_points_at_the_demo() {
    let ran = run(&["check"], LIMIT);
    assert_eq!(ran.code, Some(3), "{}", ran.stderr);
    assert!(ran.stderr.contains("--config.file"), "{}", ran.stderr);
    assert!(ran.stderr.contains("--demo"), "{}", ran.stderr);
}

#[test]
fn a_busy_port_names_the_flag_that_changes_it() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = busy.local_addr().unwrap().to_string();
    let ran = run(&["--demo", "--web.listen-address", &address], LIMIT);
    drop(busy);
    assert!(
        ran.code.is_some(),
        "the binary served on a busy port: {}",
        ran.stderr
    );
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    let error = ran
        .stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line:\n{}", ran.stderr));
    assert!(error.contains(&address), "{error}");
    assert!(error.contains("--web.listen-address"), "{error}");
    assert!(
        error.contains("PROXY_QUOTA_EXPORTER_WEB_LISTEN_ADDRESS"),
        "{error}"
    );
}

#[test]
fn a_bad_demo_interval_is_refused_as_the_flags() {
    for value in ["0s", "500ms"] {
        let ran = run(
            &[
                "--demo",
                "--demo.interval",
                value,
                "--web.listen-address",
                "127.0.0.1:0",
            ],
            LIMIT,
        );
        assert!(
            ran.code.is_some(),
            "--demo.interval {value} was accepted: {}",
            ran.stderr
        );
        assert_ne!(ran.code, Some(0), "{}", ran.stderr);
        assert!(
            ran.stderr.contains("--demo.interval"),
            "{value}: {}",
            ran.stderr
        );
        assert!(
            ran.stderr.contains("at least 1s"),
            "{value}: {}",
            ran.stderr
        );
        assert!(!ran.stderr.contains("<demo>"), "{value}: {}", ran.stderr);
    }
}

/// `--demo` without `--storage.path` keeps its store in a temporary directory
/// (under `TMPDIR`), removed at exit, and the log names the URL to open.
#[cfg(unix)]
#[test]
fn the_demo_keeps_a_temporary_store_and_prints_its_url() {
    use std::io::Write as _;
    let tmp = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = tmp.path().join("log");
    let store_parent = tmp.path().join("tmp");
    std::fs::create_dir(&store_parent).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_proxy-quota-exporter"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("PROXY_QUOTA_EXPORTER_") {
            command.env_remove(name);
        }
    }
    let mut child = command
        .args([
            "--demo",
            "--web.listen-address",
            &format!("127.0.0.1:{port}"),
        ])
        .env("TMPDIR", &store_parent)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        let answer = std::net::TcpStream::connect(("127.0.0.1", port))
            .and_then(|mut s| {
                write!(
                    s,
                    "GET /api/v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                )?;
                let mut text = String::new();
                s.read_to_string(&mut text)?;
                Ok(text)
            })
            .unwrap_or_default();
        // The simulated week is there from the first poll: every draining pool
        // has days left, and its history says until when it is simulated.
        let figures = |key: &str| {
            answer
                .match_indices(&format!("\"{key}\": "))
                .filter(|(at, m)| answer[at + m.len()..].starts_with(|c: char| c.is_ascii_digit()))
                .count()
        };
        if answer.contains("\"store\": true")
            && figures("simulated_until") == 7
            && figures("days_left") == 5
        {
            break answer;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("no store with a simulated week and days left within 20 s: {answer}");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(status.contains("SIMULATED"), "{status}");
    let stores: Vec<_> = std::fs::read_dir(&store_parent).unwrap().collect();
    assert_eq!(stores.len(), 1, "{stores:?}");
    // SAFETY: kill(2) on the child's own pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let exited = child.wait().unwrap();
    assert!(exited.success(), "{exited:?}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains(&format!("open http://127.0.0.1:{port}/")),
        "{text}"
    );
    assert_eq!(
        std::fs::read_dir(&store_parent).unwrap().count(),
        0,
        "the demo's store was left behind"
    );
}

/// `check` on a target nobody answers for: one line naming host and port, not
/// the same connection error once per endpoint.
#[test]
fn check_names_an_unreachable_host_once() {
    let port = {
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        free.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.yml");
    std::fs::write(
        &file,
        format!(
            "targets:\n  - name: dead\n    provider: bestproxy\n    base_url: http://127.0.0.1:{port}\n    app_key: x\n"
        ),
    )
    .unwrap();
    let ran = run(&["check", "--config.file", file.to_str().unwrap()], LIMIT);
    assert_eq!(ran.code, Some(3), "{}{}", ran.stdout, ran.stderr);
    let errors: Vec<_> = ran
        .stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("ERROR"))
        .collect();
    assert_eq!(errors.len(), 1, "{}", ran.stdout);
    assert!(
        errors[0].contains(&format!("127.0.0.1:{port}: cannot connect")),
        "{}",
        errors[0]
    );
}

/// A secret file other users may read is accepted with a warning that names
/// the file, never its content; one only its owner reads draws none.
#[cfg(unix)]
#[test]
fn a_secret_file_readable_by_others_is_accepted_with_a_warning() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("app_key");
    std::fs::write(&secret, "s3cr3t-value-42\n").unwrap();
    let file = dir.path().join("config.yml");
    std::fs::write(
        &file,
        format!(
            "targets:\n  - name: best\n    provider: bestproxy\n    base_url: http://127.0.0.1:9\n    app_key_file: {}\n",
            secret.display()
        ),
    )
    .unwrap();
    let args = ["--config.check", "--config.file", file.to_str().unwrap()];
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let ran = run(&args, LIMIT);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let warning = ran
        .stderr
        .lines()
        .find(|l| l.contains("secret file is accessible to other users"))
        .unwrap_or_else(|| panic!("no warning:\n{}", ran.stderr));
    assert!(warning.contains(&secret.display().to_string()), "{warning}");
    assert!(warning.contains("0644"), "{warning}");
    assert!(!ran.stderr.contains("s3cr3t") && !ran.stdout.contains("s3cr3t"));

    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let ran = run(&args, LIMIT);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(!ran.stderr.contains("secret file"), "{}", ran.stderr);
}
