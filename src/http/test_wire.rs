//! For unit tests: one HTTP/1.1 request read off a socket, as their scripted servers need it.

use tokio::io::AsyncReadExt;

/// The next request's head (lower-cased) and body (as long as its Content-Length says, or what
/// came before the peer closed); `None` when the peer closed before the head ended.
pub(crate) async fn read_request(sock: &mut tokio::net::TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    let head_end = loop {
        let k = sock.read(&mut chunk).await.ok()?;
        if k == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..k]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0);
    while buf.len() - head_end < len {
        let k = sock.read(&mut chunk).await.ok()?;
        if k == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..k]);
    }
    Some((head, buf.split_off(head_end)))
}
