//! Tools of the hostile tests: HTTP clients and raw sockets bound to chosen loopback addresses (so
//! one test plays many clients: 127.0.0.0/8 is all loopback), raw requests written byte by byte, and
//! the relay binary run as a process whose memory, data and log can be measured.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `127.0.0.n`.
pub fn loopback(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, n))
}

/// A blocking HTTP client whose connections come from `ip`.
pub fn client_from(ip: IpAddr) -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .local_address(ip)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// A TCP connection to `to` from `from`.
pub fn connect_from(from: IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.bind(&SocketAddr::new(from, 0).into())?;
    socket.connect_timeout(&to.into(), Duration::from_secs(5))?;
    Ok(socket.into())
}

/// Whether the relay closed `stream` within `limit` (reads return end of file or an error).
pub fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 4096];
    let started = Instant::now();
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return false;
            }
            Err(_) => return true,
        }
        if started.elapsed() > limit {
            return false;
        }
    }
}

/// Sends `request` (a whole HTTP/1.1 request, bytes as given) from `from` and reads the answer until
/// the relay closes or 10 s pass: the status (0 if none came) and the answer's text.
pub fn raw_request(from: IpAddr, to: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut s = connect_from(from, to).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(request);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text)
}

/// Resident memory of a process, in bytes (Linux; 0 when it cannot be read).
pub fn rss_of(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Bytes under a directory, recursively.
pub fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .filter_map(Result::ok)
            .map(|e| match e.metadata() {
                Ok(m) if m.is_dir() => dir_bytes(&e.path()),
                Ok(m) => m.len(),
                Err(_) => 0,
            })
            .sum()
    })
}

/// The relay binary serving a data directory, its log in a file; killed when dropped.
pub struct RelayProcess {
    child: Child,
    pub url: String,
    pub addr: SocketAddr,
    pub data: PathBuf,
    pub log: PathBuf,
}

impl RelayProcess {
    /// Starts `binary serve --data-dir data --listen 127.0.0.1:<free port> <args>` and waits for
    /// `/healthz`.
    pub fn start(binary: &Path, data: &Path, log: &Path, args: &[&str]) -> RelayProcess {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let child = Command::new(binary)
            .args(["serve", "--data-dir"])
            .arg(data)
            .args(["--listen", &addr.to_string()])
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .expect("start the relay");
        let relay = RelayProcess { child, url: format!("http://{addr}"), addr, data: data.into(), log: log.into() };
        let started = Instant::now();
        while reqwest::blocking::get(format!("{}/healthz", relay.url)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(60), "relay did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        relay
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory, in bytes.
    pub fn rss(&self) -> u64 {
        rss_of(self.pid())
    }

    pub fn data_bytes(&self) -> u64 {
        dir_bytes(&self.data)
    }

    pub fn log_bytes(&self) -> u64 {
        std::fs::metadata(&self.log).map_or(0, |m| m.len())
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
