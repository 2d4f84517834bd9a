//! Writes the Prometheus rule file generated from the alert catalogue
//! (`src/alerts/`) to standard output. The shipped file is
//! `cargo run --example generate-rules > alerts/proxy-quota.rules.yml`; with
//! `--runbook-base-url URL` every `runbook_url` points to `URL#<alert anchor>`
//! instead of the repository's `docs/runbook.md`.

use proxy_quota_exporter::alerts::{rule_file, DEFAULT_RUNBOOK_BASE_URL};

const USAGE: &str = "usage: cargo run --example generate-rules -- [--runbook-base-url URL] > FILE";

fn main() {
    let mut base_url = DEFAULT_RUNBOOK_BASE_URL.to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runbook-base-url" => match args.next() {
                Some(url) => base_url = url,
                None => fail("--runbook-base-url needs a URL"),
            },
            "-h" | "--help" => {
                println!("{USAGE}");
                return;
            }
            other => match other.strip_prefix("--runbook-base-url=") {
                Some(url) => base_url = url.to_owned(),
                None => fail(&format!("unknown argument {other}")),
            },
        }
    }
    print!("{}", rule_file::render(&base_url));
}

fn fail(message: &str) -> ! {
    eprintln!("generate-rules: {message}\n{USAGE}");
    std::process::exit(2);
}
