//! A TCP proxy in front of a relay that cuts the connection once, after a given number of bytes from
//! the client: a phone losing its signal in the middle of a request. It counts every byte it passes
//! each way, so a test can tell how much was sent again after the cut.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

pub struct CuttingProxy {
    pub url: String,
    /// Bytes passed from clients to the relay.
    pub upstream: Arc<AtomicU64>,
    /// Whether the cut has happened.
    pub cut: Arc<AtomicBool>,
}

impl CuttingProxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `relay`; the connection that carries the
    /// `cut_at`-th byte from a client is closed both ways right there (once).
    pub fn start(relay: SocketAddr, cut_at: u64) -> CuttingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let upstream = Arc::new(AtomicU64::new(0));
        let cut = Arc::new(AtomicBool::new(false));
        let (up, done) = (upstream.clone(), cut.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(relay) else { continue };
                let (up, done) = (up.clone(), done.clone());
                std::thread::spawn(move || pump(client, server, up, done, cut_at));
            }
        });
        CuttingProxy { url, upstream, cut }
    }
}

fn pump(client: TcpStream, server: TcpStream, up: Arc<AtomicU64>, done: Arc<AtomicBool>, cut_at: u64) {
    let (mut c_read, mut s_write) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let (mut s_read, mut c_write) = (server, client);
    let (c_close, s_close) = (c_write.try_clone().unwrap(), s_write.try_clone().unwrap());
    let down = std::thread::spawn(move || {
        let _ = std::io::copy(&mut s_read, &mut c_write);
        let _ = c_write.shutdown(Shutdown::Write);
    });
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match c_read.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let before = up.fetch_add(n as u64, Ordering::SeqCst);
        if !done.load(Ordering::SeqCst) && before + n as u64 >= cut_at {
            // Pass the bytes up to the cut, then lose the signal.
            let keep = (cut_at - before.min(cut_at)) as usize;
            let _ = s_write.write_all(&buf[..keep]);
            up.fetch_sub((n - keep) as u64, Ordering::SeqCst);
            done.store(true, Ordering::SeqCst);
            let _ = c_close.shutdown(Shutdown::Both);
            let _ = s_close.shutdown(Shutdown::Both);
            break;
        }
        if s_write.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = s_write.shutdown(Shutdown::Write);
    let _ = down.join();
}
