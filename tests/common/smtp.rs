//! A tiny SMTP server for the e-mail receiver's tests (tests/it/notify.rs,
//! tests/it/digest.rs): EHLO (offering AUTH PLAIN and no STARTTLS), AUTH, MAIL,
//! RCPT, DATA, QUIT; it records the commands and each mail's data.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpListener;

/// What the SMTP server saw: the commands, and each mail's data.
#[derive(Default)]
pub struct Transcript {
    pub commands: Vec<String>,
    pub mails: Vec<String>,
}

/// A tiny SMTP server on 127.0.0.1: EHLO (offering AUTH PLAIN, and no
/// STARTTLS), AUTH, MAIL, RCPT, DATA, QUIT.
pub async fn smtp_server() -> (SocketAddr, Arc<Mutex<Transcript>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let transcript = Arc::new(Mutex::new(Transcript::default()));
    let seen = Arc::clone(&transcript);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                let _ = smtp_session(stream, seen).await;
            });
        }
    });
    (addr, transcript)
}

async fn smtp_session(
    stream: tokio::net::TcpStream,
    seen: Arc<Mutex<Transcript>>,
) -> io::Result<()> {
    let (reader, mut writer) = stream.into_split();
    let mut lines = BufReader::new(reader).lines();
    writer.write_all(b"220 test.local ESMTP\r\n").await?;
    while let Some(line) = lines.next_line().await? {
        seen.lock().unwrap().commands.push(line.clone());
        let command = line.to_ascii_uppercase();
        let reply: &[u8] = if command.starts_with("EHLO") {
            b"250-test.local\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n"
        } else if command.starts_with("AUTH") {
            b"235 2.7.0 Authentication successful\r\n"
        } else if command.starts_with("DATA") {
            writer
                .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                .await?;
            let mut mail = String::new();
            while let Some(line) = lines.next_line().await? {
                if line == "." {
                    break;
                }
                mail.push_str(&line);
                mail.push('\n');
            }
            seen.lock().unwrap().mails.push(mail);
            b"250 2.0.0 queued\r\n"
        } else if command.starts_with("QUIT") {
            writer.write_all(b"221 2.0.0 bye\r\n").await?;
            return Ok(());
        } else {
            b"250 2.0.0 ok\r\n"
        };
        writer.write_all(reply).await?;
    }
    Ok(())
}
