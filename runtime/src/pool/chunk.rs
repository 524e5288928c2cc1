//! The wire format of a chunk — several calls of one worker, or their outcomes — and the chunk-size
//! heuristic. A chunk is a count followed by one record per item: its byte length, its descriptor
//! count, its bytes. The descriptors of every item ride together beside the frame, in item order.

use crate::error::{Error, Result};
use std::os::fd::OwnedFd;

const ITEM_HEADER: usize = 8;

/// Builds a chunk frame item by item.
pub(crate) struct ChunkWriter {
    pub(crate) bytes: Vec<u8>,
    pub(crate) fds: Vec<OwnedFd>,
    count_at: usize,
    count: u32,
}

impl ChunkWriter {
    /// A chunk after `prefix` (a tag and entry name for tasks, nothing for results).
    pub(crate) fn new(prefix: &[u8]) -> ChunkWriter {
        let mut bytes = Vec::with_capacity(prefix.len() + 64);
        bytes.extend_from_slice(prefix);
        let count_at = bytes.len();
        bytes.extend_from_slice(&0u32.to_le_bytes());
        ChunkWriter {
            bytes,
            fds: Vec::new(),
            count_at,
            count: 0,
        }
    }

    /// Empties the chunk, keeping its allocation, for the next one after the same prefix.
    pub(crate) fn reset(&mut self) {
        self.bytes.truncate(self.count_at + 4);
        self.bytes[self.count_at..].copy_from_slice(&0u32.to_le_bytes());
        self.fds.clear();
        self.count = 0;
    }

    /// Appends one item written by `write` (which appends its bytes and descriptors).
    pub(crate) fn push_with(
        &mut self,
        write: impl FnOnce(&mut Vec<u8>, &mut Vec<OwnedFd>) -> Result<()>,
    ) -> Result<()> {
        let head = self.bytes.len();
        let fds_before = self.fds.len();
        self.bytes.extend_from_slice(&[0u8; ITEM_HEADER]);
        if let Err(e) = write(&mut self.bytes, &mut self.fds) {
            self.bytes.truncate(head);
            self.fds.truncate(fds_before);
            return Err(e);
        }
        let len = self.bytes.len() - head - ITEM_HEADER;
        let nfds = self.fds.len() - fds_before;
        let (Ok(len), Ok(nfds)) = (u32::try_from(len), u32::try_from(nfds)) else {
            self.bytes.truncate(head);
            self.fds.truncate(fds_before);
            return Err(Error::new(
                crate::ErrorKind::InvalidInput,
                "one pool task's arguments or result exceed 4 GiB",
            ));
        };
        self.bytes[head..head + 4].copy_from_slice(&len.to_le_bytes());
        self.bytes[head + 4..head + 8].copy_from_slice(&nfds.to_le_bytes());
        self.count += 1;
        self.bytes[self.count_at..self.count_at + 4].copy_from_slice(&self.count.to_le_bytes());
        Ok(())
    }

    /// Items so far.
    pub(crate) fn len(&self) -> usize {
        self.count as usize
    }
}

/// Reads the items of a chunk (the bytes after its prefix).
pub(crate) struct ChunkReader<'a> {
    bytes: &'a [u8],
    fds: std::vec::IntoIter<OwnedFd>,
    left: u32,
}

fn corrupt() -> Error {
    Error::codec("corrupt pool chunk: an item runs past the end of its frame")
}

fn read_u32(bytes: &[u8], at: usize) -> Result<u32> {
    let b = bytes.get(at..at + 4).ok_or_else(corrupt)?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

impl<'a> ChunkReader<'a> {
    pub(crate) fn new(bytes: &'a [u8], fds: Vec<OwnedFd>) -> Result<ChunkReader<'a>> {
        let left = read_u32(bytes, 0)?;
        Ok(ChunkReader {
            bytes: &bytes[4..],
            fds: fds.into_iter(),
            left,
        })
    }
}

impl<'a> Iterator for ChunkReader<'a> {
    type Item = Result<(&'a [u8], Vec<OwnedFd>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let item = (|| {
            let len = read_u32(self.bytes, 0)? as usize;
            let nfds = read_u32(self.bytes, 4)? as usize;
            let body = self
                .bytes
                .get(ITEM_HEADER..ITEM_HEADER + len)
                .ok_or_else(corrupt)?;
            self.bytes = &self.bytes[ITEM_HEADER + len..];
            let fds: Vec<OwnedFd> = if nfds == 0 {
                Vec::new()
            } else {
                self.fds.by_ref().take(nfds).collect()
            };
            Ok((body, fds))
        })();
        if item.is_err() {
            self.left = 0;
        }
        Some(item)
    }
}

/// Python's `Pool.map` rule: `ceil(len / (4 * processes))`, at least 1.
pub(crate) fn auto_chunksize(len: usize, processes: usize) -> usize {
    len.div_ceil(4 * processes.max(1)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut w = ChunkWriter::new(b"xy");
        for i in 0..3u8 {
            w.push_with(|b, _| {
                b.extend_from_slice(&[i; 2]);
                Ok(())
            })
            .unwrap();
        }
        assert_eq!(w.len(), 3);
        let r = ChunkReader::new(&w.bytes[2..], Vec::new()).unwrap();
        let items: Vec<Vec<u8>> = r.map(|i| i.unwrap().0.to_vec()).collect();
        assert_eq!(items, vec![vec![0, 0], vec![1, 1], vec![2, 2]]);
    }

    #[test]
    fn truncated_chunk_is_an_error() {
        let mut w = ChunkWriter::new(b"");
        w.push_with(|b, _| {
            b.extend_from_slice(b"abcd");
            Ok(())
        })
        .unwrap();
        let cut = &w.bytes[..w.bytes.len() - 1];
        let mut r = ChunkReader::new(cut, Vec::new()).unwrap();
        assert!(r.next().unwrap().is_err());
        assert!(r.next().is_none());
    }

    #[test]
    fn python_chunksize_rule() {
        assert_eq!(auto_chunksize(1_000_000, 2), 125_000);
        assert_eq!(auto_chunksize(16, 2), 2);
        assert_eq!(auto_chunksize(10, 4), 1);
        assert_eq!(auto_chunksize(0, 4), 1);
    }
}
