//! `ccbt xet hash FILE [--chunks]`: a file's Xet hash and chunks, read in large buffers and
//! chunked on every core (`ParallelFileHasher`: the same cuts as one thread would find).

use std::fs::File;
use std::io::{ErrorKind, Read, Write};

use anyhow::{bail, Context as _};
use ccbt_xet::{ChunkRef, ParallelFileHasher};

use super::Exit;
use crate::xet_args::XetHashArgs;

/// Reads of 4 MiB: large enough that a syscall per buffer costs nothing next to hashing.
const READ_BUFFER: usize = 4 << 20;

pub fn run(args: &XetHashArgs) -> anyhow::Result<Exit> {
    let path = &args.file;
    let shown = path.display();
    let meta = std::fs::metadata(path).with_context(|| format!("cannot read {shown}"))?;
    if meta.is_dir() {
        bail!("{shown} is a folder: `ccbt xet hash` hashes one file");
    }
    let mut file = File::open(path).with_context(|| format!("cannot open {shown}"))?;
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let mut hasher = ParallelFileHasher::new(threads);
    let mut buf = vec![0; READ_BUFFER];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e).with_context(|| format!("cannot read {shown}")),
        }
    }
    let (hash, chunks) = hasher.finish();
    print(&hash, args.chunks.then_some(chunks.as_slice())).context("cannot write to stdout")?;
    Ok(Exit::Success)
}

fn print(hash: &[u8; 32], chunks: Option<&[ChunkRef]>) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    writeln!(out, "{}", hex(hash))?;
    let mut offset = 0u64;
    for chunk in chunks.unwrap_or_default() {
        writeln!(out, "{offset} {} {}", chunk.len, hex(&chunk.id))?;
        offset += u64::from(chunk.len);
    }
    out.flush()
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
