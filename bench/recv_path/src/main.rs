//! Micro-benchmark of the block receive path (issue 15): what landing 16 KiB block payloads in
//! page-aligned piece buffers costs the receiving thread, today's way (read buffer + copy)
//! against reading payloads straight into their slots (two reads per block, or a speculative
//! `readv` scatter). A sender thread writes the download as `piece` messages over loopback TCP;
//! the receiving thread's own CPU (`getrusage(RUSAGE_THREAD)`: the kernel's socket copy is its
//! sys time), wall time, read calls and context switches are measured per run, variants
//! interleaved round by round. Every piece is checked against the pattern (check CPU not
//! counted). See bench/README.md.

mod pieces;
mod recv;
mod scatter;
mod sender;
mod sock;
mod stats;
mod wire;

use std::net::{TcpListener, TcpStream};
use std::time::Instant;

use pieces::Pieces;
use recv::Counts;
use sock::Sock;
use stats::{Sample, Usage};
use wire::{Pattern, BLOCKS_PER_PIECE};

const USAGE: &str = "usage: recv_path [--size-mib N (1024)] [--rounds N (5)] [--buffers N (8)] \
[--reorder-per-mille N (10)] [--rate-mib-s N (0: unlimited)] [--burst-kib N (512)] [--variants V,V,...]
variants: copy | two-reads | scatterD (D messages ahead per readv, e.g. scatter1, scatter16),
each optionally +epoll (non-blocking reads, epoll_wait when a read finds nothing),
+reorder (the sender swaps a block with the next one with probability N/1000) and
+burstK (the sender writes K KiB per writev in this variant's runs, instead of --burst-kib)";

const DEFAULT_VARIANTS: &str =
    "copy,two-reads,scatter1,scatter16,copy+epoll,two-reads+epoll,scatter16+epoll,copy+reorder,scatter16+reorder";

#[derive(Clone, Debug)]
struct Variant {
    name: String,
    kind: Kind,
    epoll: bool,
    reorder: bool,
    /// The sender's burst for this variant, KiB (else `--burst-kib`).
    burst_kib: Option<usize>,
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Copy,
    TwoReads,
    Scatter(usize),
}

fn parse_variant(spec: &str) -> Result<Variant, String> {
    let mut parts = spec.split('+');
    let base = parts.next().unwrap_or("");
    let kind = match base {
        "copy" => Kind::Copy,
        "two-reads" => Kind::TwoReads,
        _ => match base.strip_prefix("scatter").map(str::parse::<usize>) {
            Some(Ok(d)) if d > 0 => Kind::Scatter(d),
            _ => return Err(format!("unknown variant {spec:?}")),
        },
    };
    let (mut epoll, mut reorder, mut burst_kib) = (false, false, None);
    for flag in parts {
        match flag {
            "epoll" => epoll = true,
            "reorder" => reorder = true,
            _ => match flag.strip_prefix("burst").map(str::parse::<usize>) {
                Some(Ok(kib)) if kib > 0 => burst_kib = Some(kib),
                _ => return Err(format!("unknown flag {flag:?} in {spec:?}")),
            },
        }
    }
    Ok(Variant { name: spec.to_string(), kind, epoll, reorder, burst_kib })
}

struct Config {
    size_mib: usize,
    rounds: usize,
    buffers: usize,
    reorder_per_mille: u32,
    /// The sender's pace in MiB/s, 0 for as fast as it can.
    rate_mib_s: usize,
    /// Payload bytes per `writev` of the sender (whole blocks).
    burst_kib: usize,
    variants: Vec<Variant>,
}

fn parse_args() -> Result<Config, String> {
    let mut cfg = Config {
        size_mib: 1024,
        rounds: 5,
        buffers: 8,
        reorder_per_mille: 10,
        rate_mib_s: 0,
        burst_kib: 512,
        variants: Vec::new(),
    };
    let mut variants = DEFAULT_VARIANTS.to_string();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "-h" || arg == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let value = args.next().ok_or(format!("{arg} needs a value\n{USAGE}"))?;
        let number = || value.parse::<usize>().map_err(|e| format!("{arg} {value}: {e}"));
        match arg.as_str() {
            "--size-mib" => cfg.size_mib = number()?,
            "--rounds" => cfg.rounds = number()?,
            "--buffers" => cfg.buffers = number()?,
            "--reorder-per-mille" => cfg.reorder_per_mille = number()?.min(1000) as u32,
            "--rate-mib-s" => cfg.rate_mib_s = number()?,
            "--burst-kib" => cfg.burst_kib = number()?,
            "--variants" => variants = value,
            _ => return Err(format!("unknown option {arg}\n{USAGE}")),
        }
    }
    // 1 GiB at most: the pattern gives every block of 1 GiB a payload of its own.
    if cfg.size_mib == 0 || cfg.size_mib > 1024 || cfg.rounds == 0 || cfg.buffers < 2 {
        return Err(format!("need 1 <= --size-mib <= 1024, --rounds >= 1, --buffers >= 2\n{USAGE}"));
    }
    cfg.variants = variants.split(',').map(parse_variant).collect::<Result<_, _>>()?;
    Ok(cfg)
}

/// One download of `cfg.size_mib` over a fresh loopback connection, received by `v`.
fn run_one(
    v: &Variant,
    cfg: &Config,
    round: usize,
    pattern: &Pattern,
    pieces: &mut Pieces,
) -> Result<Sample, String> {
    let n_pieces = cfg.size_mib;
    let blocks = n_pieces * BLOCKS_PER_PIECE;
    let per_mille = if v.reorder { cfg.reorder_per_mille } else { 0 };
    let order = sender::send_order(blocks, per_mille, 0x5eed + round as u64);
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    std::thread::scope(|s| {
        // Named, so that profiles tell the sender's samples from the receiver's.
        let sender_thread = std::thread::Builder::new().name("sender".into());
        let sending = sender_thread.spawn_scoped(s, || {
            let stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
            let rate = (cfg.rate_mib_s > 0).then_some(cfg.rate_mib_s as f64 * (1 << 20) as f64);
            let burst = (v.burst_kib.unwrap_or(cfg.burst_kib) / 16).max(1);
            sender::send(&stream, &order, pattern, rate, burst).map_err(|e| format!("sender: {e}"))
        });
        let sending = sending.map_err(|e| e.to_string())?;
        let (stream, _) = listener.accept().map_err(|e| e.to_string())?;
        // The receiver on a thread of its own, named after the variant (15 bytes at most), so
        // that a profile of an interleaved run tells the variants apart.
        let name: String = format!("rx-{}", v.name).chars().take(15).collect();
        let receiving = std::thread::Builder::new()
            .name(name)
            .spawn_scoped(s, move || receive(v, &stream, pieces, n_pieces, blocks))
            .map_err(|e| e.to_string())?;
        let sample = receiving.join().map_err(|_| "receiver panicked".to_string())?;
        sending.join().map_err(|_| "sender panicked".to_string())??;
        sample
    })
}

/// Receives the whole download from `stream` the way `v` says, on the calling thread.
fn receive(
    v: &Variant,
    stream: &TcpStream,
    pieces: &mut Pieces,
    n_pieces: usize,
    blocks: usize,
) -> Result<Sample, String> {
    let mut sock = Sock::new(stream, v.epoll).map_err(|e| e.to_string())?;
    pieces.reset(n_pieces);
    let before = Usage::now();
    let t0 = Instant::now();
    let counts: Counts = match v.kind {
        Kind::Copy => recv::copy(&mut sock, pieces)?,
        Kind::TwoReads => recv::two_reads(&mut sock, pieces)?,
        Kind::Scatter(depth) => scatter::scatter(&mut sock, pieces, blocks, depth)?,
    };
    let wall = t0.elapsed().as_secs_f64();
    let used = Usage::now().since(&before);
    if pieces.checked != n_pieces {
        return Err(format!("{} of {n_pieces} pieces checked", pieces.checked));
    }
    Ok(Sample::new(used, pieces.check_cpu, wall, &sock, counts))
}

fn main() {
    let cfg = match parse_args() {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let pattern = Pattern::new();
    let mut pieces = Pieces::new(cfg.buffers, cfg.size_mib, &pattern);
    let load_before = stats::loadavg();
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); cfg.variants.len()];
    for round in 1..=cfg.rounds {
        for (v, runs) in cfg.variants.iter().zip(samples.iter_mut()) {
            match run_one(v, &cfg, round, &pattern, &mut pieces) {
                Ok(sample) => {
                    eprintln!("round {round} {}: {}", v.name, sample.line());
                    runs.push(sample);
                }
                Err(e) => {
                    eprintln!("round {round} {}: FAILED: {e}", v.name);
                    std::process::exit(1);
                }
            }
        }
    }
    let names: Vec<&str> = cfg.variants.iter().map(|v| v.name.as_str()).collect();
    let setup = format!(
        "{} MiB per run, {} interleaved rounds, {} piece buffers, sender {} in bursts of {} KiB, +reorder: {:.1} % of blocks \
         swapped with the next one",
        cfg.size_mib,
        cfg.rounds,
        cfg.buffers,
        if cfg.rate_mib_s == 0 {
            "unpaced".to_string()
        } else {
            format!("paced at {} MiB/s", cfg.rate_mib_s)
        },
        (cfg.burst_kib / 16).max(1) * 16,
        cfg.reorder_per_mille as f64 / 10.0
    );
    stats::print_report(&names, &samples, cfg.size_mib, &setup, &load_before);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{BlockId, BLOCK};

    fn config(variants: &str, reorder_per_mille: u32) -> Config {
        let variants = variants.split(',').map(parse_variant).collect::<Result<_, _>>().unwrap();
        Config {
            size_mib: 16,
            rounds: 1,
            buffers: 8,
            reorder_per_mille,
            rate_mib_s: 0,
            burst_kib: 512,
            variants,
        }
    }

    #[test]
    fn every_variant_lands_every_block_in_order_and_reordered() {
        let pattern = Pattern::new();
        let cfg = config(
            "copy,two-reads,scatter1,scatter3,scatter16,copy+epoll,two-reads+epoll,scatter1+epoll,scatter16+epoll,\
             copy+reorder,two-reads+reorder,scatter1+reorder,scatter2+reorder+epoll,scatter16+reorder",
            // One block in five swapped: many wrong guesses, swaps across piece boundaries.
            200,
        );
        let mut pieces = Pieces::new(cfg.buffers, cfg.size_mib, &pattern);
        for v in &cfg.variants {
            let sample =
                run_one(v, &cfg, 1, &pattern, &mut pieces).unwrap_or_else(|e| panic!("{}: {e}", v.name));
            let scatter = matches!(v.kind, Kind::Scatter(_));
            assert_eq!(sample.misses > 0, scatter && v.reorder, "{}: {}", v.name, sample.line());
        }
    }

    #[test]
    fn a_block_in_the_wrong_slot_fails_the_check() {
        let pattern = Pattern::new();
        let mut pieces = Pieces::new(2, 1, &pattern);
        for block in 0..BLOCKS_PER_PIECE as u32 {
            let id = BlockId { index: 0, block };
            let slot = pieces.claim(id).unwrap();
            // Blocks 3 and 4 trade payloads.
            let from = match block {
                3 => BlockId { index: 0, block: 4 },
                4 => BlockId { index: 0, block: 3 },
                _ => id,
            };
            unsafe { std::ptr::copy_nonoverlapping(pattern.payload(from).as_ptr(), slot, BLOCK) };
            let landed = pieces.landed(id);
            if block as usize == BLOCKS_PER_PIECE - 1 {
                assert!(landed.unwrap_err().contains("wrong bytes"));
            } else {
                landed.unwrap();
            }
        }
    }

    #[test]
    fn a_block_announced_twice_is_refused() {
        let pattern = Pattern::new();
        let mut pieces = Pieces::new(2, 2, &pattern);
        let id = BlockId { index: 1, block: 5 };
        pieces.claim(id).unwrap();
        assert!(pieces.claim(id).is_err());
    }
}
