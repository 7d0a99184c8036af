//! Per-thread resource usage, one run's sample, and the Markdown table of medians [min-max].

use std::fmt::Write as _;

use crate::pieces::thread_cpu;
use crate::recv::Counts;
use crate::sock::Sock;

/// This thread's CPU (its system calls' kernel work included): the exact total from
/// `CLOCK_THREAD_CPUTIME_ID`, and from `getrusage(RUSAGE_THREAD)` the user/sys split (which the
/// kernel estimates from timer-tick samples, so it is rough where the total is small) and the
/// context switches.
#[derive(Clone, Copy, Debug)]
pub struct Usage {
    cpu: f64,
    user: f64,
    sys: f64,
    voluntary: i64,
    involuntary: i64,
}

impl Usage {
    pub fn now() -> Usage {
        // SAFETY: zeroed rusage is valid; getrusage fills it.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
        let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
        Usage {
            cpu: thread_cpu(),
            user: secs(ru.ru_utime),
            sys: secs(ru.ru_stime),
            voluntary: ru.ru_nvcsw,
            involuntary: ru.ru_nivcsw,
        }
    }

    pub fn since(&self, before: &Usage) -> Usage {
        Usage {
            cpu: self.cpu - before.cpu,
            user: self.user - before.user,
            sys: self.sys - before.sys,
            voluntary: self.voluntary - before.voluntary,
            involuntary: self.involuntary - before.involuntary,
        }
    }
}

/// One run of one variant.
#[derive(Clone, Debug)]
pub struct Sample {
    cpu: f64,
    user: f64,
    sys: f64,
    wall: f64,
    reads: u64,
    empty_reads: u64,
    waits: u64,
    voluntary: i64,
    involuntary: i64,
    copied_mib: f64,
    pub misses: u64,
}

impl Sample {
    pub fn new(used: Usage, check_cpu: f64, wall: f64, sock: &Sock, counts: Counts) -> Sample {
        Sample {
            // The piece checks (memcmp, user time on this thread) are not the receive path's;
            // user is what is left of the exact total besides the kernel's estimate of sys.
            cpu: used.cpu - check_cpu,
            user: (used.cpu - check_cpu - used.sys).max(0.0),
            sys: used.sys,
            wall,
            reads: sock.reads,
            empty_reads: sock.empty_reads,
            waits: sock.waits,
            voluntary: used.voluntary,
            involuntary: used.involuntary,
            copied_mib: (counts.copied_bytes + counts.moved_bytes) as f64 / (1 << 20) as f64,
            misses: counts.misses,
        }
    }

    pub fn line(&self) -> String {
        format!(
            "cpu {:.3} user {:.3} sys {:.3} wall {:.3} reads {} (EAGAIN {}) waits {} cs {}/{} copied {:.0} MiB misses {}",
            self.cpu,
            self.user,
            self.sys,
            self.wall,
            self.reads,
            self.empty_reads,
            self.waits,
            self.voluntary,
            self.involuntary,
            self.copied_mib,
            self.misses
        )
    }
}

type Column = (&'static str, fn(&Sample) -> f64, usize);

/// Columns: header, value (scaled per GiB where it is a count), decimals.
const COLUMNS: [Column; 11] = [
    ("CPU s", |s| s.cpu, 3),
    ("user s", |s| s.user, 3),
    ("sys s", |s| s.sys, 3),
    ("wall s", |s| s.wall, 3),
    ("reads", |s| s.reads as f64, 0),
    ("EAGAIN reads", |s| s.empty_reads as f64, 0),
    ("epoll waits", |s| s.waits as f64, 0),
    ("vol cs", |s| s.voluntary as f64, 0),
    ("invol cs", |s| s.involuntary as f64, 0),
    ("MiB copied", |s| s.copied_mib, 0),
    ("wrong guesses", |s| s.misses as f64, 0),
];

fn median_range(mut values: Vec<f64>, decimals: usize) -> String {
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len();
    let median = if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 };
    format!("{median:.decimals$} [{:.decimals$}-{:.decimals$}]", values[0], values[n - 1])
}

pub fn print_report(
    names: &[&str],
    samples: &[Vec<Sample>],
    size_mib: usize,
    setup: &str,
    load_before: &str,
) {
    let per_gib = 1024.0 / size_mib as f64;
    let mut out = String::new();
    let _ = writeln!(out, "\nrecv_path: {setup}; figures per GiB, medians [min-max]");
    let _ = writeln!(out, "kernel {}, {}", kernel(), cpu_model());
    let _ = writeln!(out, "load average before: {load_before}, after: {}\n", loadavg());
    let header: Vec<&str> = COLUMNS.iter().map(|c| c.0).collect();
    let _ = writeln!(out, "| variant | {} |", header.join(" | "));
    let _ = writeln!(out, "|---|{}", "---:|".repeat(COLUMNS.len()));
    for (name, runs) in names.iter().zip(samples) {
        let cells: Vec<String> = COLUMNS
            .iter()
            .map(|(_, value, decimals)| {
                median_range(runs.iter().map(|s| value(s) * per_gib).collect(), *decimals)
            })
            .collect();
        let _ = writeln!(out, "| {name} | {} |", cells.join(" | "));
    }
    print!("{out}");
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path).map(|s| s.trim().to_string()).unwrap_or_else(|e| format!("? ({e})"))
}

pub fn loadavg() -> String {
    read_trimmed("/proc/loadavg")
}

fn kernel() -> String {
    format!("Linux {}", read_trimmed("/proc/sys/kernel/osrelease"))
}

fn cpu_model() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info.lines().find_map(|l| l.strip_prefix("model name")).and_then(|l| l.split(':').nth(1));
    let cpus = info.lines().filter(|l| l.starts_with("processor")).count();
    format!("{} x {}", cpus, model.unwrap_or("?").trim())
}
