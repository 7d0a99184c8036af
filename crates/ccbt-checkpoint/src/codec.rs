//! The two encodings of a [`Checkpoint`], and a decoder that tells them apart by their first bytes.
//!
//! JSON: the struct as a pretty-printed object (byte fields in hex), so it can be read and diffed.
//!
//! Binary: a 24-byte header, then the struct in postcard compressed with raw deflate:
//!
//! | bytes | content |
//! | ----- | ------- |
//! | 0..8   | magic `CCBTCKPT` |
//! | 8..12  | format version, u32 little-endian |
//! | 12..16 | compressed payload length, u32 LE |
//! | 16..20 | decompressed payload length, u32 LE |
//! | 20..24 | CRC32 (IEEE) of the compressed payload, u32 LE |
//!
//! Bounds: a decoder never takes more than [`MAX_CHECKPOINT_BYTES`] of input, nor inflates a
//! payload beyond that size (the declared length is checked before inflating, and inflating stops
//! one byte past it), so a hostile file costs at most that much memory.

use std::io::Read;

use crate::v1::{self, CheckpointV1};
use crate::{Checkpoint, CheckpointError, FORMAT_VERSION, MAX_FILES};

/// The largest checkpoint, encoded or decompressed (64 MiB): far above a real one (a bitfield of a
/// million pieces is 125 KiB; the info dictionary of a huge torrent a few MiB).
pub const MAX_CHECKPOINT_BYTES: usize = 64 * 1024 * 1024;

/// The binary format's magic bytes.
pub const MAGIC: &[u8; 8] = b"CCBTCKPT";

const HEADER_LEN: usize = 24;

/// An encoding of a checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// Pretty-printed JSON.
    Json,
    /// Compressed postcard with a checksummed header.
    Binary,
}

impl Format {
    /// `json` or `binary`.
    pub fn word(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Binary => "binary",
        }
    }

    /// The file name extension after `<info hash>.checkpoint.`.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Binary => "bin",
        }
    }
}

/// Encodes `checkpoint`, which must be of [`FORMAT_VERSION`].
pub fn encode(checkpoint: &Checkpoint, format: Format) -> Result<Vec<u8>, CheckpointError> {
    if checkpoint.version != FORMAT_VERSION {
        return Err(CheckpointError::Encode {
            reason: format!("version {} (this build writes {FORMAT_VERSION})", checkpoint.version),
        });
    }
    if checkpoint.files.len() > MAX_FILES {
        return Err(CheckpointError::Encode {
            reason: format!("{} files (a checkpoint holds at most {MAX_FILES})", checkpoint.files.len()),
        });
    }
    let encoded = match format {
        Format::Json => encode_json(checkpoint)?,
        Format::Binary => encode_binary(checkpoint)?,
    };
    if encoded.len() > MAX_CHECKPOINT_BYTES {
        return Err(CheckpointError::TooLarge {
            size: encoded.len() as u64,
            limit: MAX_CHECKPOINT_BYTES as u64,
        });
    }
    Ok(encoded)
}

/// Decodes a checkpoint in either format, checking its framing, version and structure (not which
/// torrent it is for: see [`Checkpoint::validate`]). An older version comes back converted to
/// the current one (saving it writes the current version).
pub fn decode(data: &[u8]) -> Result<Checkpoint, CheckpointError> {
    decode_with_format(data).map(|(checkpoint, _)| checkpoint)
}

/// [`decode`], also telling which format the data was in.
pub fn decode_with_format(data: &[u8]) -> Result<(Checkpoint, Format), CheckpointError> {
    if data.len() > MAX_CHECKPOINT_BYTES {
        return Err(CheckpointError::TooLarge {
            size: data.len() as u64,
            limit: MAX_CHECKPOINT_BYTES as u64,
        });
    }
    let format = detect(data)?;
    let checkpoint = match format {
        Format::Json => decode_json(data)?,
        Format::Binary => decode_binary(data)?,
    };
    checkpoint.check_structure()?;
    Ok((checkpoint, format))
}

/// The format of `data` from its first bytes.
fn detect(data: &[u8]) -> Result<Format, CheckpointError> {
    let start = data.iter().position(|b| !b.is_ascii_whitespace());
    match start.map(|i| data[i]) {
        None => Err(CheckpointError::Truncated { reason: "no data".into() }),
        Some(b'{') => Ok(Format::Json),
        Some(_) if data.starts_with(MAGIC) => Ok(Format::Binary),
        Some(_) if MAGIC.starts_with(data) => {
            Err(CheckpointError::Truncated { reason: format!("{} bytes of the magic", data.len()) })
        }
        Some(_) => Err(CheckpointError::BadMagic),
    }
}

fn encode_json(checkpoint: &Checkpoint) -> Result<Vec<u8>, CheckpointError> {
    let mut out = serde_json::to_vec_pretty(checkpoint)
        .map_err(|e| CheckpointError::Encode { reason: e.to_string() })?;
    out.push(b'\n');
    Ok(out)
}

/// The version alone, read first so a newer file is refused before its fields are interpreted.
#[derive(serde::Deserialize)]
struct VersionProbe {
    version: u32,
}

fn decode_json(data: &[u8]) -> Result<Checkpoint, CheckpointError> {
    let probe: VersionProbe = serde_json::from_slice(data).map_err(json_error)?;
    match probe.version {
        v1::VERSION => {
            serde_json::from_slice::<CheckpointV1>(data).map(CheckpointV1::upgrade).map_err(json_error)
        }
        FORMAT_VERSION => serde_json::from_slice(data).map_err(json_error),
        found => Err(CheckpointError::UnsupportedVersion { found, supported: FORMAT_VERSION }),
    }
}

fn json_error(e: serde_json::Error) -> CheckpointError {
    if e.is_eof() {
        CheckpointError::Truncated { reason: e.to_string() }
    } else {
        CheckpointError::malformed(e.to_string())
    }
}

fn encode_binary(checkpoint: &Checkpoint) -> Result<Vec<u8>, CheckpointError> {
    let payload =
        postcard::to_allocvec(checkpoint).map_err(|e| CheckpointError::Encode { reason: e.to_string() })?;
    let too_large =
        |size: usize| CheckpointError::TooLarge { size: size as u64, limit: MAX_CHECKPOINT_BYTES as u64 };
    if payload.len() > MAX_CHECKPOINT_BYTES {
        return Err(too_large(payload.len()));
    }
    // The fastest level: most of a checkpoint is the info dictionary's piece hashes, which no
    // level compresses, and a download writes one every 32 MiB (the default level was 1 % of a
    // 1 GiB download's CPU); runs of set bits shrink about as well at level 1.
    let mut deflater = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    let compression_error =
        |e: std::io::Error| CheckpointError::Encode { reason: format!("compression: {e}") };
    std::io::Write::write_all(&mut deflater, &payload).map_err(compression_error)?;
    let compressed = deflater.finish().map_err(compression_error)?;
    let compressed_len = u32::try_from(compressed.len()).map_err(|_| too_large(compressed.len()))?;
    let mut out = Vec::with_capacity(HEADER_LEN + compressed.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&compressed_len.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&compressed).to_le_bytes());
    out.extend_from_slice(&compressed);
    Ok(out)
}

fn le_u32(data: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]])
}

fn decode_binary(data: &[u8]) -> Result<Checkpoint, CheckpointError> {
    // The version is read as soon as its bytes are there: a newer file is named as such even
    // if the rest of its header differs.
    if data.len() >= 12 {
        let version = le_u32(data, 8);
        if version == 0 || version > FORMAT_VERSION {
            return Err(CheckpointError::UnsupportedVersion { found: version, supported: FORMAT_VERSION });
        }
    }
    if data.len() < HEADER_LEN {
        return Err(CheckpointError::Truncated {
            reason: format!("{} bytes of a {HEADER_LEN}-byte header", data.len()),
        });
    }
    let compressed_len = le_u32(data, 12) as usize;
    let decompressed_len = le_u32(data, 16) as usize;
    let expected_crc = le_u32(data, 20);
    let body = &data[HEADER_LEN..];
    if body.len() < compressed_len {
        return Err(CheckpointError::Truncated {
            reason: format!("{} of {compressed_len} payload bytes", body.len()),
        });
    }
    if body.len() > compressed_len {
        return Err(CheckpointError::malformed(format!(
            "{} bytes after the payload",
            body.len() - compressed_len
        )));
    }
    let computed = crc32fast::hash(body);
    if computed != expected_crc {
        return Err(CheckpointError::ChecksumMismatch { expected: expected_crc, computed });
    }
    if decompressed_len > MAX_CHECKPOINT_BYTES {
        return Err(CheckpointError::TooLarge {
            size: decompressed_len as u64,
            limit: MAX_CHECKPOINT_BYTES as u64,
        });
    }
    let payload = inflate(body, decompressed_len)?;
    let header_version = le_u32(data, 8);
    let (checkpoint, payload_version) = if header_version == v1::VERSION {
        let old: CheckpointV1 = take_all(&payload)?;
        let version = old.version();
        (old.upgrade(), version)
    } else {
        let checkpoint: Checkpoint = take_all(&payload)?;
        let version = checkpoint.version;
        (checkpoint, version)
    };
    if payload_version != header_version {
        return Err(CheckpointError::malformed(format!(
            "header version {header_version} but payload version {payload_version}"
        )));
    }
    Ok(checkpoint)
}

/// The postcard value that is all of `payload`.
fn take_all<T: serde::de::DeserializeOwned>(payload: &[u8]) -> Result<T, CheckpointError> {
    let (value, rest) =
        postcard::take_from_bytes::<T>(payload).map_err(|e| CheckpointError::malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(CheckpointError::malformed(format!("{} bytes after the checkpoint", rest.len())));
    }
    Ok(value)
}

/// Inflates `compressed`, which must give exactly `expected` bytes (never reading more than one
/// byte past it).
fn inflate(compressed: &[u8], expected: usize) -> Result<Vec<u8>, CheckpointError> {
    // Grow as data arrives rather than trusting the declared length for the allocation.
    let mut out = Vec::with_capacity(expected.min(1024 * 1024));
    let mut inflater = flate2::read::DeflateDecoder::new(compressed).take(expected as u64 + 1);
    inflater
        .read_to_end(&mut out)
        .map_err(|e| CheckpointError::malformed(format!("compressed payload: {e}")))?;
    if out.len() != expected {
        return Err(CheckpointError::malformed(format!(
            "payload inflates to {}{} bytes, header says {expected}",
            out.len().min(expected + 1),
            if out.len() > expected { "+" } else { "" },
        )));
    }
    Ok(out)
}
