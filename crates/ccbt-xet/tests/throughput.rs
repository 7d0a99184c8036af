//! Xet chunking and hashing throughput on one core: CDC boundaries only, keyed BLAKE3 chunk ids
//! only, and both in one streaming pass (`FileHasher`, what `ccbt xet hash` runs), over 1 GiB of
//! in-memory pseudo-random data. A measurement, not a check of speed: run it by hand with
//!
//! ```sh
//! cargo test --release -p ccbt-xet --test throughput -- --ignored --nocapture
//! ```
//!
//! and see docs/benchmarks.md ("Xet chunking and hashing"). It asserts that the streaming pass
//! found the same chunks and ids as the separate ones, so no timed work can have been skipped.
//!
//! A second test times one file chunked on 1 and 2 threads (`chunk_boundaries_parallel`,
//! `ParallelFileHasher`): there the wall time is the figure (with the CPU time of the whole
//! process beside it, since it also counts the helper threads), and the machine's other load
//! shows in it.

mod gen;

use std::time::Instant;

use ccbt_xet::consts::MAX_CHUNK_SIZE;
use ccbt_xet::{
    chunk_boundaries, chunk_boundaries_parallel, chunk_id, ChunkId, FileHasher, ParallelFileHasher,
};

const TOTAL: usize = 1 << 30;
/// `FileHasher` is fed in buffers of this size, as `ccbt xet hash` reads the file.
const BUFFER: usize = 4 << 20;
/// Each measurement is taken this many times; the best run is reported.
const RUNS: usize = 3;

/// CPU time of the calling thread, in seconds: on a shared machine the wall clock also counts
/// the time other processes had the core, and the figure wanted is what one core can do.
fn thread_cpu_seconds() -> f64 {
    cpu_seconds(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// CPU time of the whole process (every thread), in seconds.
fn process_cpu_seconds() -> f64 {
    cpu_seconds(libc::CLOCK_PROCESS_CPUTIME_ID)
}

fn cpu_seconds(clock: libc::clockid_t) -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; both CPU-time clocks exist on Linux.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime of a CPU-time clock failed");
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// Best CPU and wall seconds of `RUNS` calls of `f`, and its last result.
fn best<T>(mut f: impl FnMut() -> T) -> (f64, f64, T) {
    let (mut cpu, mut wall, mut last) = (f64::INFINITY, f64::INFINITY, None);
    for _ in 0..RUNS {
        let (c, w) = (thread_cpu_seconds(), Instant::now());
        let out = f();
        cpu = cpu.min(thread_cpu_seconds() - c);
        wall = wall.min(w.elapsed().as_secs_f64());
        last = Some(out);
    }
    (cpu, wall, last.expect("RUNS > 0"))
}

fn report(name: &str, cpu: f64, wall: f64) {
    let gbps = |secs: f64| TOTAL as f64 / secs / 1e9;
    println!(
        "{name:<28} {:.2} GB/s per core (CPU {cpu:.3} s for 1 GiB; wall {wall:.3} s, {:.2} GB/s; best of {RUNS})",
        gbps(cpu),
        gbps(wall)
    );
}

fn ids_of(data: &[u8], ends: &[usize]) -> Vec<ChunkId> {
    let mut start = 0;
    ends.iter()
        .map(|&end| {
            let id = chunk_id(&data[start..end]);
            start = end;
            id
        })
        .collect()
}

fn size_stats(ends: &[usize]) {
    let sizes: Vec<f64> =
        ends.iter().scan(0, |prev, &end| Some((end - std::mem::replace(prev, end)) as f64)).collect();
    let n = sizes.len() as f64;
    let mean = sizes.iter().sum::<f64>() / n;
    let sd = (sizes.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / n).sqrt();
    let at_max = sizes.iter().filter(|&&s| s == MAX_CHUNK_SIZE as f64).count() as f64 / n * 100.0;
    println!("chunks: {n} ; size mean {mean:.0} B, sd {sd:.0} B, {at_max:.1}% at the 128 KiB maximum");
}

#[test]
#[ignore = "a measurement: run by hand in release mode"]
fn xet_chunking_and_hashing_throughput_per_core() {
    let data = gen::generate("random", 0, 1, TOTAL);
    let (cpu, wall, ends) = best(|| chunk_boundaries(&data));
    report("CDC boundaries only", cpu, wall);
    let (cpu, wall, ids) = best(|| ids_of(&data, &ends));
    report("keyed BLAKE3 chunk ids only", cpu, wall);
    let (cpu, wall, (_, chunks)) = best(|| {
        let mut hasher = FileHasher::new();
        data.chunks(BUFFER).for_each(|buf| hasher.update(buf));
        hasher.finish()
    });
    report("CDC + BLAKE3 (FileHasher)", cpu, wall);
    assert_eq!(chunks.len(), ends.len());
    assert!(chunks.iter().zip(&ids).all(|(c, id)| c.id == *id), "the streaming pass found other ids");
    size_stats(&ends);
}

/// Best wall seconds of `RUNS` calls of `f`, the process CPU seconds of that run, and the last
/// result.
fn best_wall<T>(mut f: impl FnMut() -> T) -> (f64, f64, T) {
    let (mut wall, mut cpu, mut last) = (f64::INFINITY, 0.0, None);
    for _ in 0..RUNS {
        let (c, w) = (process_cpu_seconds(), Instant::now());
        let out = f();
        let (run_wall, run_cpu) = (w.elapsed().as_secs_f64(), process_cpu_seconds() - c);
        if run_wall < wall {
            (wall, cpu) = (run_wall, run_cpu);
        }
        last = Some(out);
    }
    (wall, cpu, last.expect("RUNS > 0"))
}

#[test]
#[ignore = "a measurement: run by hand in release mode"]
fn xet_chunking_one_file_on_one_and_two_threads() {
    let data = gen::generate("random", 0, 1, TOTAL);
    let ends = chunk_boundaries(&data);
    let mut sequential = FileHasher::new();
    data.chunks(BUFFER).for_each(|buf| sequential.update(buf));
    let want = sequential.finish();
    for threads in [1, 2] {
        let (wall, cpu, got) = best_wall(|| chunk_boundaries_parallel(&data, threads));
        assert_eq!(got, ends, "{threads} threads cut elsewhere");
        let gbps = TOTAL as f64 / wall / 1e9;
        println!("CDC boundaries, {threads} thread(s)   {gbps:.2} GB/s wall (wall {wall:.3} s, process CPU {cpu:.3} s; best of {RUNS})");
        let (wall, cpu, got) = best_wall(|| {
            let mut hasher = ParallelFileHasher::new(threads);
            data.chunks(BUFFER).for_each(|buf| hasher.update(buf));
            hasher.finish()
        });
        assert_eq!(got, want, "{threads} threads hashed otherwise");
        let gbps = TOTAL as f64 / wall / 1e9;
        println!("CDC + BLAKE3, {threads} thread(s)     {gbps:.2} GB/s wall (wall {wall:.3} s, process CPU {cpu:.3} s; best of {RUNS})");
    }
}
