//! io_uring write micro-benchmark (ccbt issue 15): writes a preallocated file in pieces from
//! page-aligned buffers in one of four ways and prints one JSON line with the wall, user and
//! system time of the writes plus the final `fsync`, then checks the file's bytes from disk.
//!
//! ```text
//! io-uring-bench VARIANT --file PATH [--size-mib 1024] [--piece-kib 1024] [--threads 2] [--depth 8] [--wait 1] [--overwrite]
//! VARIANT: buffered | direct | direct-nolock | uring | uring-fixed | idle
//!
//! `idle` writes nothing: it sleeps 0.8 s on the clock, a control for the machine-wide
//! `kworker` figure (what the machine's kworkers do anyway over a write's duration).
//! ```
//!
//! Exit status: 0 done and verified, 1 error, 2 usage, 3 variant skipped (io_uring refused by
//! the kernel), 4 the file's bytes are wrong.

mod pattern;
mod threads;
mod uring;

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use pattern::{PieceBuf, BLOCK};

struct Args {
    variant: String,
    file: PathBuf,
    size: u64,
    piece: usize,
    threads: usize,
    depth: u32,
    /// Completions each `io_uring_enter` waits for.
    wait: usize,
    /// Write the whole file once before the clock, so the measured writes overwrite written
    /// blocks instead of filling unwritten (fallocated) extents.
    overwrite: bool,
}

/// What one run measured.
struct Measured {
    wall: f64,
    user: f64,
    sys: f64,
    /// Write-path system calls: `pwrite`s or `io_uring_enter`s, plus the `fsync`.
    syscalls: u64,
    /// io_uring worker threads (`iou-wrk-*`) alive after the writes: writes the kernel could
    /// not issue inline were handed to them.
    io_workers: usize,
    /// One-time ring creation and buffer registration, outside the clock.
    setup: f64,
    /// CPU seconds of every `kworker` thread of the machine over the clock: work the kernel
    /// defers to its workqueues (an async direct write's unwritten-extent conversion runs there,
    /// a sync one's in the writing thread) is not in this process's rusage. Includes whatever
    /// else the machine's kworkers did meanwhile.
    kworker: f64,
    /// The part of `kworker` run by high-priority per-CPU kworkers (`kblockd`).
    kworker_highpri: f64,
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}\nusage: io-uring-bench buffered|direct|direct-nolock|uring|uring-fixed|idle --file PATH [--size-mib N] [--piece-kib N] [--threads N] [--depth N] [--wait N] [--overwrite]");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(Outcome::Done(m)) => {
            println!(
                "{{\"variant\":\"{}\",\"ok\":true,\"bytes\":{},\"wall\":{:.4},\"user\":{:.4},\"sys\":{:.4},\"syscalls\":{},\"io_workers\":{},\"setup\":{:.6},\"kworker\":{:.4},\"kworker_highpri\":{:.4},\"overwrite\":{}}}",
                args.variant,
                args.size,
                m.wall,
                m.user,
                m.sys,
                m.syscalls,
                m.io_workers,
                m.setup,
                m.kworker,
                m.kworker_highpri,
                args.overwrite
            );
            ExitCode::SUCCESS
        }
        Ok(Outcome::Skipped(why)) => {
            eprintln!("{}: skipped: {why}", args.variant);
            println!(
                "{{\"variant\":\"{}\",\"ok\":false,\"skipped\":\"{}\"}}",
                args.variant,
                why.replace('"', "'")
            );
            ExitCode::from(3)
        }
        Ok(Outcome::Wrong(why)) => {
            eprintln!("{}: the file's bytes are wrong: {why}", args.variant);
            println!(
                "{{\"variant\":\"{}\",\"ok\":false,\"wrong\":\"{}\"}}",
                args.variant,
                why.replace('"', "'")
            );
            ExitCode::from(4)
        }
        Err(e) => {
            eprintln!("{}: error: {e}", args.variant);
            ExitCode::from(1)
        }
    }
}

enum Outcome {
    Done(Measured),
    Skipped(String),
    Wrong(String),
}

fn run(args: &Args) -> io::Result<Outcome> {
    let direct = args.variant != "buffered";
    let mut file = create_preallocated(&args.file, args.size)?;
    if args.overwrite {
        fill_once(&file, args.size)?;
    }
    let writer = if direct {
        OpenOptions::new().write(true).custom_flags(libc::O_DIRECT).open(&args.file)?
    } else {
        file.try_clone()?
    };
    let pieces = args.size / args.piece as u64;
    let uring = args.variant.starts_with("uring");
    let nbufs = if uring { args.depth as usize } else { args.threads };
    let mut bufs: Vec<PieceBuf> = (0..nbufs).map(|_| PieceBuf::new(args.piece)).collect();

    let setup_start = Instant::now();
    let mut ring = None;
    if uring {
        let r = match uring::open_ring(args.depth) {
            Ok(r) => r,
            Err(e) => return refused(args, "io_uring_setup", e),
        };
        if args.variant == "uring-fixed" {
            if let Err(e) = uring::register(&r, &bufs) {
                return refused(args, "IORING_REGISTER_BUFFERS", e);
            }
        }
        ring = Some(r);
    }
    let setup = setup_start.elapsed().as_secs_f64();

    let kworker0 = kworker_snapshot();
    let (user0, sys0) = cpu_times();
    let start = Instant::now();
    let mut syscalls = match ring.as_mut() {
        Some(r) => uring::write_all(r, &writer, pieces, &mut bufs, args.variant == "uring-fixed", args.wait)?,
        None if args.variant == "idle" => {
            std::thread::sleep(std::time::Duration::from_millis(800));
            0
        }
        None => threads::write_all(&writer, pieces, &mut bufs, args.variant != "direct-nolock")?,
    };
    writer.sync_all()?;
    syscalls += 1;
    let wall = start.elapsed().as_secs_f64();
    let (user1, sys1) = cpu_times();
    let (kworker, kworker_highpri) = kworker_delta(&kworker0, &kworker_snapshot());
    let io_workers = count_io_workers();
    drop(ring);
    drop(writer);

    // Nothing to check after `idle`: it wrote nothing.
    let wrong = if args.variant == "idle" { None } else { pattern::verify(&mut file, args.size)? };
    drop(file);
    fs::remove_file(&args.file)?;
    if let Some(why) = wrong {
        return Ok(Outcome::Wrong(why));
    }
    Ok(Outcome::Done(Measured {
        wall,
        user: user1 - user0,
        sys: sys1 - sys0,
        syscalls,
        io_workers,
        setup,
        kworker,
        kworker_highpri,
    }))
}

/// A fresh file of `size` bytes reserved with `posix_fallocate` (as ccbt's `preallocate`
/// does), synced so the allocation's journal commit is not charged to the variant's `fsync`.
fn create_preallocated(path: &PathBuf, size: u64) -> io::Result<File> {
    let _ = fs::remove_file(path);
    let file = OpenOptions::new().read(true).write(true).create_new(true).open(path)?;
    // SAFETY: plain syscall on a descriptor we own.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, size as libc::off_t) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    file.sync_all()?;
    Ok(file)
}

/// Writes zeros over the whole file and syncs it (`--overwrite`), then drops its cached pages,
/// so its extents are written ones and the measured writes are pure overwrites.
fn fill_once(file: &File, size: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    let zeros = vec![0u8; 8 << 20];
    let mut at = 0;
    while at < size {
        let n = zeros.len().min((size - at) as usize);
        file.write_all_at(&zeros[..n], at)?;
        at += n as u64;
    }
    file.sync_all()?;
    // SAFETY: plain syscall on a descriptor we own.
    let rc = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

/// An io_uring step the kernel refused: a skip for `ENOSYS`, `EPERM`, `EACCES` (io_uring
/// disabled, absent or filtered) and `ENOMEM` (locked-memory limit), an error otherwise.
fn refused(args: &Args, step: &str, e: io::Error) -> io::Result<Outcome> {
    let _ = fs::remove_file(&args.file);
    match e.raw_os_error() {
        Some(libc::ENOSYS | libc::EPERM | libc::EACCES | libc::ENOMEM | libc::EOPNOTSUPP) => {
            Ok(Outcome::Skipped(format!("the kernel refused {step}: {e}")))
        }
        _ => Err(e),
    }
}

/// User and system CPU seconds of the whole process (every thread, the io_uring workers too).
fn cpu_times() -> (f64, f64) {
    // SAFETY: getrusage fills the zeroed struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (secs(ru.ru_utime), secs(ru.ru_stime))
}

/// CPU time in nanoseconds of every `kworker` thread (`/proc/PID/schedstat`) by PID, and
/// whether it is a high-priority per-CPU one (`kworker/N:MH`: the block layer's `kblockd`
/// queue runs there). Read outside the clock's rusage window so the scan is not counted.
fn kworker_snapshot() -> HashMap<u32, (bool, u64)> {
    let mut out = HashMap::new();
    let Ok(procs) = fs::read_dir("/proc") else { return out };
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(comm) = fs::read_to_string(p.path().join("comm")) else { continue };
        let Some(name) = comm.trim().strip_prefix("kworker/") else { continue };
        let pool = name.split('-').next().unwrap_or("");
        let highpri = !pool.starts_with('u') && pool.ends_with('H');
        if let Ok(stat) = fs::read_to_string(p.path().join("schedstat")) {
            let ns = stat.split_whitespace().next().and_then(|t| t.parse().ok()).unwrap_or(0);
            out.insert(pid, (highpri, ns));
        }
    }
    out
}

/// Seconds the kworkers ran between two snapshots: (all, high-priority ones). A kworker that
/// exited meanwhile is missed; one started meanwhile counts whole.
fn kworker_delta(before: &HashMap<u32, (bool, u64)>, after: &HashMap<u32, (bool, u64)>) -> (f64, f64) {
    let (mut all, mut highpri) = (0u64, 0u64);
    for (pid, &(hp, ns)) in after {
        let d = ns.saturating_sub(before.get(pid).map_or(0, |b| b.1));
        all += d;
        if hp {
            highpri += d;
        }
    }
    (all as f64 / 1e9, highpri as f64 / 1e9)
}

fn count_io_workers() -> usize {
    let Ok(tasks) = fs::read_dir("/proc/self/task") else { return 0 };
    tasks
        .filter_map(|t| fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.starts_with("iou-wrk"))
        .count()
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let variant = it.next().ok_or("no variant")?;
    if !["buffered", "direct", "direct-nolock", "uring", "uring-fixed", "idle"].contains(&variant.as_str()) {
        return Err(format!("unknown variant {variant}"));
    }
    let mut args = Args {
        variant,
        file: PathBuf::new(),
        size: 1024 << 20,
        piece: 1 << 20,
        threads: 2,
        depth: 8,
        wait: 1,
        overwrite: false,
    };
    while let Some(flag) = it.next() {
        if flag == "--overwrite" {
            args.overwrite = true;
            continue;
        }
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let num = || value.parse::<u64>().map_err(|_| format!("{flag}: not a number: {value}"));
        match flag.as_str() {
            "--file" => args.file = PathBuf::from(&value),
            "--size-mib" => args.size = num()? << 20,
            "--piece-kib" => args.piece = (num()? << 10) as usize,
            "--threads" => args.threads = num()? as usize,
            "--depth" => args.depth = num()? as u32,
            "--wait" => args.wait = num()? as usize,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if args.file.as_os_str().is_empty() {
        return Err("--file is required".into());
    }
    if args.piece == 0 || args.piece % BLOCK != 0 || args.size == 0 || args.size % args.piece as u64 != 0 {
        return Err("the piece size must be a multiple of 4 KiB dividing the file size".into());
    }
    if args.threads == 0
        || args.depth == 0
        || args.depth > 1024
        || args.wait == 0
        || args.wait > args.depth as usize
    {
        return Err(
            "--threads, --depth and --wait must be at least 1 (depth at most 1024, wait at most depth)"
                .into(),
        );
    }
    Ok(args)
}
