/// One file of a torrent in the order of the torrent's byte stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayoutFile {
    /// Relative path components, already sanitised by the metainfo parser.
    pub path: Vec<String>,
    pub length: u64,
    /// Offset of the file's first byte in the torrent's byte stream.
    pub offset: u64,
    /// BEP 47 padding files are part of the byte stream but never stored.
    pub is_padding: bool,
}

/// A run of bytes of one file that a torrent byte range covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileSlice {
    pub file_index: usize,
    /// Offset inside the file.
    pub file_offset: u64,
    /// Offset of this slice from the start of the queried range.
    pub range_offset: u64,
    pub len: u64,
}

/// Maps torrent byte ranges (pieces, blocks) to file slices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileLayout {
    files: Vec<LayoutFile>,
    total_length: u64,
}

impl FileLayout {
    /// Builds the layout from `(path, length, is_padding)` in torrent order.
    pub fn new(files: impl IntoIterator<Item = (Vec<String>, u64, bool)>) -> FileLayout {
        let mut offset = 0;
        let files = files
            .into_iter()
            .map(|(path, length, is_padding)| {
                let f = LayoutFile { path, length, offset, is_padding };
                offset += length;
                f
            })
            .collect();
        FileLayout { files, total_length: offset }
    }

    pub fn files(&self) -> &[LayoutFile] {
        &self.files
    }

    pub fn total_length(&self) -> u64 {
        self.total_length
    }

    /// The file slices covering `len` bytes at torrent offset `offset`, in order. Zero-length
    /// files never appear. Bytes beyond the end of the torrent are not covered.
    pub fn slices(&self, offset: u64, len: u64) -> impl Iterator<Item = FileSlice> + '_ {
        let end = offset.saturating_add(len).min(self.total_length);
        // Binary search for the first file whose end is past `offset`.
        let first = self.files.partition_point(|f| f.offset + f.length <= offset);
        self.files[first..]
            .iter()
            .enumerate()
            .take_while(move |(_, f)| f.offset < end)
            .filter(|(_, f)| f.length > 0)
            .map(move |(i, f)| {
                let start = offset.max(f.offset);
                let stop = end.min(f.offset + f.length);
                FileSlice {
                    file_index: first + i,
                    file_offset: start - f.offset,
                    range_offset: start - offset,
                    len: stop - start,
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> FileLayout {
        FileLayout::new(vec![
            (vec!["a".into()], 10, false),
            (vec!["empty".into()], 0, false),
            (vec!["b".into()], 5, false),
            (vec!["c".into()], 20, false),
        ])
    }

    #[test]
    fn spans_files_and_skips_empty() {
        let l = layout();
        assert_eq!(l.total_length(), 35);
        let s: Vec<_> = l.slices(8, 10).collect();
        assert_eq!(
            s,
            vec![
                FileSlice { file_index: 0, file_offset: 8, range_offset: 0, len: 2 },
                FileSlice { file_index: 2, file_offset: 0, range_offset: 2, len: 5 },
                FileSlice { file_index: 3, file_offset: 0, range_offset: 7, len: 3 },
            ]
        );
        let total: u64 = l.slices(0, 35).map(|s| s.len).sum();
        assert_eq!(total, 35);
        assert_eq!(l.slices(30, 100).map(|s| s.len).sum::<u64>(), 5);
        assert_eq!(l.slices(35, 1).count(), 0);
    }

    #[test]
    fn exact_file_boundaries() {
        let l = layout();
        let s: Vec<_> = l.slices(10, 5).collect();
        assert_eq!(s, vec![FileSlice { file_index: 2, file_offset: 0, range_offset: 0, len: 5 }]);
    }
}
