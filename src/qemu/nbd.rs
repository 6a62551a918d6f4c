//! A small NBD server over a Unix socket that behaves like a disk with a volatile write cache,
//! so that a power cut loses what a real disk would lose.
//!
//! Writes are kept in memory until the client flushes (or sends them with FUA); reads see them.
//! A flush writes them to the backing file and syncs it. [`NbdServer::cut`] drops every write
//! not yet covered by a flush, as the power going away does; killing QEMU alone keeps every
//! write it submitted, which is why `power-cut` serves its disk through this server
//! (`-drive driver=nbd,server.type=unix,server.path=…`).
//!
//! Protocol: the fixed newstyle handshake with `NBD_OPT_GO`/`NBD_OPT_INFO` and
//! `NBD_OPT_EXPORT_NAME`, simple replies only (structured replies are declined), one export of
//! the backing file's size, one client at a time (<https://github.com/NetworkBlockDevice/nbd>,
//! doc/proto.md).

use anyhow::{Context, Result, bail};
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

const NBDMAGIC: u64 = 0x4e42_444d_4147_4943;
const IHAVEOPT: u64 = 0x4948_4156_454F_5054;
const REPLY_MAGIC: u64 = 0x0003_e889_0455_65a9;
const REQUEST_MAGIC: u32 = 0x2560_9513;
const SIMPLE_REPLY_MAGIC: u32 = 0x6744_6698;

const FLAG_FIXED_NEWSTYLE: u16 = 1;
const FLAG_NO_ZEROES: u16 = 2;
const OPT_EXPORT_NAME: u32 = 1;
const OPT_ABORT: u32 = 2;
const OPT_INFO: u32 = 6;
const OPT_GO: u32 = 7;
const REP_ACK: u32 = 1;
const REP_INFO: u32 = 3;
const REP_ERR_UNSUP: u32 = (1 << 31) + 1;
const INFO_EXPORT: u16 = 0;
/// HAS_FLAGS | SEND_FLUSH | SEND_FUA | SEND_WRITE_ZEROES.
const TRANSMISSION_FLAGS: u16 = 1 | 1 << 2 | 1 << 3 | 1 << 6;
const CMD_READ: u16 = 0;
const CMD_WRITE: u16 = 1;
const CMD_DISC: u16 = 2;
const CMD_FLUSH: u16 = 3;
const CMD_TRIM: u16 = 4;
const CMD_WRITE_ZEROES: u16 = 6;
const CMD_FLAG_FUA: u16 = 1;
const EIO: u32 = 5;
const EINVAL: u32 = 22;
/// Largest request accepted (QEMU sends at most 32 MiB).
const MAX_REQUEST: u32 = 64 << 20;

/// Counters of what the disk saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub writes: u64,
    pub flushes: u64,
    /// Writes held in the cache, not yet covered by a flush.
    pub pending: usize,
}

#[derive(Debug)]
struct Disk {
    file: File,
    size: u64,
    /// Unflushed writes in arrival order (later ones win).
    cache: Vec<(u64, Vec<u8>)>,
    stats: Stats,
}

impl Disk {
    fn read(&self, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        let mut buf = vec![0u8; len];
        self.file.read_exact_at(&mut buf, offset)?;
        let end = offset + len as u64;
        for (at, bytes) in &self.cache {
            let (from, to) = ((*at).max(offset), (at + bytes.len() as u64).min(end));
            if from < to {
                let src = &bytes[(from - at) as usize..(to - at) as usize];
                buf[(from - offset) as usize..(to - offset) as usize].copy_from_slice(src);
            }
        }
        Ok(buf)
    }

    fn write(&mut self, offset: u64, bytes: Vec<u8>, fua: bool) -> std::io::Result<()> {
        self.stats.writes += 1;
        self.cache.push((offset, bytes));
        if fua { self.flush() } else { Ok(()) }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        for (at, bytes) in self.cache.drain(..) {
            self.file.write_all_at(&bytes, at)?;
        }
        self.stats.flushes += 1;
        self.file.sync_data()
    }
}

/// A running server; dropping it stops it (cached writes are then flushed, as on a clean stop).
#[derive(Debug)]
pub struct NbdServer {
    socket: PathBuf,
    disk: Arc<Mutex<Disk>>,
    stop: Arc<AtomicBool>,
    /// A client is connected (its requests may still be arriving).
    serving: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl NbdServer {
    /// Serves `file` (read-write) on a new Unix socket at `socket`.
    pub fn start(file: &Path, socket: &Path) -> Result<NbdServer> {
        let backing = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(file)
            .with_context(|| format!("opening {} for the NBD server", file.display()))?;
        let size = backing.metadata()?.len();
        let _ = std::fs::remove_file(socket);
        let listener = UnixListener::bind(socket)
            .with_context(|| format!("listening on {}", socket.display()))?;
        listener.set_nonblocking(true)?;
        let disk = Arc::new(Mutex::new(Disk {
            file: backing,
            size,
            cache: Vec::new(),
            stats: Stats::default(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let serving = Arc::new(AtomicBool::new(false));
        let thread = {
            let (disk, stop, serving) = (disk.clone(), stop.clone(), serving.clone());
            std::thread::spawn(move || accept_loop(&listener, &disk, &stop, &serving))
        };
        Ok(NbdServer {
            socket: socket.to_owned(),
            disk,
            stop,
            serving,
            thread: Some(thread),
        })
    }

    /// The socket QEMU connects to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Waits until no client is connected (the server has read all a killed client sent);
    /// `false` when one still is after `timeout`.
    pub fn wait_disconnected(&self, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        while self.serving.load(Ordering::SeqCst) {
            if std::time::Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }

    /// The power goes: every write not covered by a flush is lost. Returns how many were.
    /// Stop the client first (kill QEMU, then [`NbdServer::wait_disconnected`]), so that
    /// nothing it sent arrives after the cut.
    pub fn cut(&self) -> usize {
        let mut disk = lock(&self.disk);
        let dropped = disk.cache.len();
        disk.cache.clear();
        disk.stats.pending = 0;
        dropped
    }

    pub fn stats(&self) -> Stats {
        let disk = lock(&self.disk);
        Stats {
            pending: disk.cache.len(),
            ..disk.stats
        }
    }

    /// Writes what the cache holds to the file (a clean stop keeps it).
    pub fn flush(&self) -> Result<()> {
        lock(&self.disk).flush().context("flushing the NBD cache")
    }
}

impl Drop for NbdServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = self.flush();
        let _ = std::fs::remove_file(&self.socket);
    }
}

fn lock(disk: &Mutex<Disk>) -> std::sync::MutexGuard<'_, Disk> {
    disk.lock().unwrap_or_else(|e| e.into_inner())
}

fn accept_loop(
    listener: &UnixListener,
    disk: &Mutex<Disk>,
    stop: &AtomicBool,
    serving: &AtomicBool,
) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                serving.store(true, Ordering::SeqCst);
                if let Err(e) = serve(stream, disk, stop) {
                    tracing::debug!("nbd connection ended: {e:#}");
                }
                serving.store(false, Ordering::SeqCst);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => {
                tracing::warn!("nbd accept failed: {e}");
                return;
            }
        }
    }
}

fn serve(mut s: UnixStream, disk: &Mutex<Disk>, stop: &AtomicBool) -> Result<()> {
    s.set_nonblocking(false)?;
    // Wake up now and then to notice a stop request.
    s.set_read_timeout(Some(Duration::from_millis(200)))?;
    let size = lock(disk).size;
    if !handshake(&mut s, size)? {
        return Ok(());
    }
    loop {
        let mut head = [0u8; 28];
        if !read_full(&mut s, &mut head, stop)? || !request(&mut s, &head, disk, stop)? {
            return Ok(());
        }
    }
}

/// Reads `buf` whole; `false` on a clean end of stream or a stop request.
fn read_full(s: &mut UnixStream, buf: &mut [u8], stop: &AtomicBool) -> Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        match s.read(&mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => bail!("client closed the connection mid-message"),
            Ok(n) => got += n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if stop.load(Ordering::SeqCst) {
                    return Ok(false);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(true)
}

fn read_exact(s: &mut UnixStream, len: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let never = AtomicBool::new(false);
    if !read_full(s, &mut buf, &never)? {
        bail!("client closed the connection");
    }
    Ok(buf)
}

fn be_u16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}
fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}
fn be_u64(b: &[u8]) -> u64 {
    u64::from_be_bytes(b[..8].try_into().expect("eight bytes"))
}

/// Newstyle negotiation; `true` when the client entered transmission.
fn handshake(s: &mut UnixStream, size: u64) -> Result<bool> {
    let mut hello = Vec::with_capacity(18);
    hello.extend(NBDMAGIC.to_be_bytes());
    hello.extend(IHAVEOPT.to_be_bytes());
    hello.extend((FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES).to_be_bytes());
    s.write_all(&hello)?;
    let client_flags = be_u32(&read_exact(s, 4)?);
    let no_zeroes = client_flags & u32::from(FLAG_NO_ZEROES) != 0;
    loop {
        let head = read_exact(s, 16)?;
        if be_u64(&head) != IHAVEOPT {
            bail!("bad option magic");
        }
        let (option, len) = (be_u32(&head[8..]), be_u32(&head[12..]));
        if len > 4096 {
            bail!("option {option} too long ({len} bytes)");
        }
        let data = read_exact(s, len as usize)?;
        match option {
            OPT_EXPORT_NAME => {
                let mut reply = size.to_be_bytes().to_vec();
                reply.extend(TRANSMISSION_FLAGS.to_be_bytes());
                if !no_zeroes {
                    reply.extend([0u8; 124]);
                }
                s.write_all(&reply)?;
                return Ok(true);
            }
            OPT_GO | OPT_INFO => {
                let mut info = INFO_EXPORT.to_be_bytes().to_vec();
                info.extend(size.to_be_bytes());
                info.extend(TRANSMISSION_FLAGS.to_be_bytes());
                option_reply(s, option, REP_INFO, &info)?;
                option_reply(s, option, REP_ACK, &[])?;
                if option == OPT_GO {
                    return Ok(true);
                }
            }
            OPT_ABORT => {
                option_reply(s, option, REP_ACK, &[])?;
                return Ok(false);
            }
            _ => option_reply(s, option, REP_ERR_UNSUP, &[])?,
        }
        drop(data);
    }
}

fn option_reply(s: &mut UnixStream, option: u32, kind: u32, data: &[u8]) -> Result<()> {
    let mut reply = REPLY_MAGIC.to_be_bytes().to_vec();
    reply.extend(option.to_be_bytes());
    reply.extend(kind.to_be_bytes());
    reply.extend(u32::try_from(data.len())?.to_be_bytes());
    reply.extend(data);
    s.write_all(&reply)?;
    Ok(())
}

/// Serves one request; `false` when the client disconnects.
fn request(s: &mut UnixStream, head: &[u8], disk: &Mutex<Disk>, stop: &AtomicBool) -> Result<bool> {
    if be_u32(head) != REQUEST_MAGIC {
        bail!("bad request magic");
    }
    let (flags, kind) = (be_u16(&head[4..]), be_u16(&head[6..]));
    let (handle, offset, len) = (&head[8..16], be_u64(&head[16..]), be_u32(&head[24..]));
    if len > MAX_REQUEST {
        bail!("request of {len} bytes");
    }
    let payload = if kind == CMD_WRITE {
        let mut data = vec![0u8; len as usize];
        if !read_full(s, &mut data, stop)? {
            return Ok(false);
        }
        data
    } else {
        Vec::new()
    };
    let mut d = lock(disk);
    let in_range = offset
        .checked_add(u64::from(len))
        .is_some_and(|end| end <= d.size);
    let fua = flags & CMD_FLAG_FUA != 0;
    let (error, data) = match kind {
        CMD_DISC => return Ok(false),
        _ if !in_range && kind != CMD_FLUSH => (EINVAL, Vec::new()),
        CMD_READ => match d.read(offset, len as usize) {
            Ok(bytes) => (0, bytes),
            Err(_) => (EIO, Vec::new()),
        },
        CMD_WRITE => (io_status(d.write(offset, payload, fua)), Vec::new()),
        CMD_WRITE_ZEROES => (
            io_status(d.write(offset, vec![0u8; len as usize], fua)),
            Vec::new(),
        ),
        CMD_FLUSH => (io_status(d.flush()), Vec::new()),
        CMD_TRIM => (0, Vec::new()),
        _ => (EINVAL, Vec::new()),
    };
    drop(d);
    let mut reply = SIMPLE_REPLY_MAGIC.to_be_bytes().to_vec();
    reply.extend(error.to_be_bytes());
    reply.extend(handle);
    if error == 0 {
        reply.extend(data);
    }
    s.write_all(&reply)?;
    Ok(true)
}

fn io_status(r: std::io::Result<()>) -> u32 {
    if r.is_ok() { 0 } else { EIO }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_see_cached_writes_until_they_are_dropped() {
        let file = tempfile::tempfile().unwrap();
        file.set_len(64).unwrap();
        file.write_all_at(&[1; 8], 0).unwrap();
        let mut disk = Disk {
            file,
            size: 64,
            cache: Vec::new(),
            stats: Stats::default(),
        };
        disk.write(4, vec![2; 8], false).unwrap();
        disk.write(10, vec![3; 4], false).unwrap();
        let want = [1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 0, 0];
        assert_eq!(disk.read(0, 16).unwrap(), want);
        assert_eq!(disk.read(9, 2).unwrap(), [2, 3]);
        disk.cache.clear();
        assert_eq!(disk.read(0, 16).unwrap(), [[1u8; 8], [0u8; 8]].concat());
        disk.write(4, vec![9; 2], true).unwrap();
        assert!(disk.cache.is_empty());
        assert_eq!(disk.read(3, 4).unwrap(), [1, 9, 9, 1]);
    }
}
