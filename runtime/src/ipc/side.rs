//! Large frames beside a [`Channel`]: two one-way byte rings in one shared-memory block, one per
//! direction, for a channel whose two ends are this program's own processes (a pool and its
//! worker). A frame of at least [`SIDE_MIN`] bytes without descriptors is copied into the sender's
//! ring, and the socket carries only a marker that says how long it is; the receiver reads the frame
//! where it lies in the ring and then gives its room back. Through the socket the same frame costs
//! two copies by the kernel (into the socket's buffer and out of it, page by page) and the system
//! calls of a few hundred KiB; through the ring, one copy by the sender.
//!
//! Both ends place a frame by the same rule: at the writer's position, or, when it would run past
//! the ring's end, at the start of the next lap (the rest of the lap is skipped). The reader keeps
//! its own position and publishes how far it has read; the writer keeps its own position and
//! checks the reader's before it writes. When the ring has no room (the reader is behind), the frame
//! goes through the socket as before: every frame arrives, in order, either way. Markers travel on
//! the socket in the order their frames were placed (the writer holds its position's lock while it
//! sends one), so the reader meets them in placement order.
//!
//! A frame in the ring is read where it lies, in shared memory: the peer writes only outside the
//! range between the reader's published position and its own, and a marker whose length does not
//! fit the ring fails the receive (`Codec`), never reads outside it. That makes a side a link
//! between processes of one program that trust each other (a pool and its worker, which runs this
//! very binary): a peer that broke the protocol could change a frame while it is read (never make
//! a read leave the ring), as it could change any shared block it maps.
//!
//! A send that fails after its frame was placed (the marker could not be written) takes the
//! placement back, so the two ends never disagree about where the next frame lies; the channel is
//! broken then anyway, and its owner drops it.

use super::channel::Channel;
use crate::error::{Error, Result};
use crate::sys;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Frames of at least this many bytes (and no descriptors) go through the ring.
pub(crate) const SIDE_MIN: usize = 32 << 10;
/// Bytes of each direction's ring.
const RING: usize = 1 << 20;
/// Frames larger than this go through the socket: two of them always fit a ring.
const SIDE_MAX: usize = RING / 2;
/// Bytes before the rings: each reader's published position, on a line of its own.
const HEADER: usize = 4096;
/// The first byte of a marker (then the frame's length, 8 bytes little endian). No frame of the
/// protocols that use a side starts with it (the pool's tags and reports are small numbers).
const MARKER: u8 = 0xF5;
const MARKER_LEN: usize = 9;

/// A frame the reader would take for a marker. Never one of the pool's (see [`MARKER`]); any
/// other goes through the ring, or fails to send when the ring is full.
fn looks_like_a_marker(frame: &[u8]) -> bool {
    frame.len() == MARKER_LEN && frame[0] == MARKER
}

fn mistaken() -> Error {
    Error::codec(
        "a frame of a side's channel that reads as a side marker could not go through the ring",
    )
}

/// One end of a side: writes ring `out`, reads ring `1 - out`.
pub(crate) struct Side {
    /// The block; its descriptor is not kept (the mapping keeps the memory alive).
    map: memmap2::MmapRaw,
    out: usize,
    /// Bytes this end has placed in its ring (skipped ends of laps included).
    written: Mutex<u64>,
    /// Bytes this end has read of the peer's ring (skips included); published in the header.
    read: Mutex<u64>,
}

// SAFETY: the mapping is shared memory used by the protocol above: this end writes only the free
// part of its own ring (under `written`'s lock), reads only the frames the peer placed in the other,
// and the published positions are atomics.
unsafe impl Send for Side {}
// SAFETY: as above.
unsafe impl Sync for Side {}

/// Where a frame of `len` bytes goes when the ring's position is `pos`: the start of the next lap if
/// it would run past the end of this one.
fn place(pos: u64, len: usize) -> u64 {
    let at = (pos % RING as u64) as usize;
    if at + len > RING {
        pos + (RING - at) as u64
    } else {
        pos
    }
}

impl Side {
    /// A new side, this end writing the first ring, and its block's descriptor: hand it to the
    /// peer, which [`attach`](Side::attach)es it, then close it.
    pub(crate) fn create() -> Result<(Side, OwnedFd)> {
        let fd = sys::block::create("multiproc-side", HEADER + 2 * RING)
            .map_err(|e| Error::io("could not create a side block", e))?;
        let map = sys::block::map_populated(fd.as_fd())
            .map_err(|e| Error::io("could not map a side", e))?;
        Ok((Side::new(map, 0), fd))
    }

    /// The peer's end of a side made by [`create`](Side::create); it writes the second ring.
    pub(crate) fn attach(fd: OwnedFd) -> Result<Side> {
        let map = sys::block::map_populated(fd.as_fd())
            .map_err(|e| Error::io("could not map a side", e))?;
        if map.len() != HEADER + 2 * RING {
            return Err(Error::codec(
                "the block received for a side has the wrong size",
            ));
        }
        Ok(Side::new(map, 1))
    }

    fn new(map: memmap2::MmapRaw, out: usize) -> Side {
        Side {
            map,
            out,
            written: Mutex::new(0),
            read: Mutex::new(0),
        }
    }

    /// How far the reader of ring `ring` has read.
    fn published(&self, ring: usize) -> &AtomicU64 {
        // SAFETY: the header holds two 8-aligned words at 0 and 64, inside the mapping (checked at
        // attach, made so at create); they are only accessed as atomics.
        unsafe { &*self.map.as_ptr().add(ring * 64).cast::<AtomicU64>() }
    }

    fn ring(&self, ring: usize) -> *mut u8 {
        // SAFETY: HEADER + 2 * RING bytes are mapped.
        unsafe { self.map.as_mut_ptr().add(HEADER + ring * RING) }
    }

    /// Copies `frame` into the ring if it belongs there and fits now: the marker to send in its
    /// place. The caller holds `written` (`pos`) and sends the marker before letting it go.
    fn put(&self, pos: &mut u64, frame: &[u8]) -> Option<[u8; MARKER_LEN]> {
        if !(SIDE_MIN..=SIDE_MAX).contains(&frame.len()) && !looks_like_a_marker(frame) {
            return None;
        }
        let at = place(*pos, frame.len());
        let end = at + frame.len() as u64;
        let read = self.published(self.out).load(Ordering::Acquire);
        if end.saturating_sub(read) > RING as u64 {
            return None;
        }
        // SAFETY: `at .. end` lies within one lap (`place`), inside the ring, and beyond what the
        // peer has left to read (`end - read <= RING`), so the peer is not reading it.
        unsafe {
            std::ptr::copy_nonoverlapping(
                frame.as_ptr(),
                self.ring(self.out).add((at % RING as u64) as usize),
                frame.len(),
            )
        };
        *pos = end;
        let mut marker = [MARKER; MARKER_LEN];
        marker[1..].copy_from_slice(&(frame.len() as u64).to_le_bytes());
        Some(marker)
    }

    /// Sends one frame with `fds` beside it: through the ring when it can.
    pub(crate) fn send(&self, chan: &Channel, frame: &[u8], fds: &[BorrowedFd<'_>]) -> Result<()> {
        let ringable = frame.len() >= SIDE_MIN || looks_like_a_marker(frame);
        if fds.is_empty() && ringable && frame.len() <= chan.max_message() {
            let mut pos = crate::poison::lock(&self.written);
            let before = *pos;
            if let Some(marker) = self.put(&mut pos, frame) {
                // The copy into the ring comes before the marker that points at it.
                std::sync::atomic::fence(Ordering::Release);
                let sent = chan.send_raw(&marker, &[]);
                if sent.is_err() {
                    *pos = before;
                }
                return sent;
            }
        }
        if looks_like_a_marker(frame) {
            return Err(mistaken());
        }
        chan.send_raw(frame, fds)
    }

    /// Sends several frames without descriptors, in order: those that can through the ring.
    pub(crate) fn send_many(
        &self,
        chan: &Channel,
        frames: &mut dyn Iterator<Item = &[u8]>,
    ) -> Result<()> {
        let mut pos = crate::poison::lock(&self.written);
        let before = *pos;
        let mut markers = Vec::new();
        let mut order: Vec<Option<&[u8]>> = Vec::new();
        for frame in frames {
            let placed = if frame.len() <= chan.max_message() {
                self.put(&mut pos, frame)
            } else {
                None
            };
            match placed {
                Some(marker) => {
                    markers.push(marker);
                    order.push(None);
                }
                None if looks_like_a_marker(frame) => {
                    *pos = before;
                    return Err(mistaken());
                }
                None => order.push(Some(frame)),
            }
        }
        std::sync::atomic::fence(Ordering::Release);
        let mut marker = markers.iter();
        let sent = chan.send_frames(order.into_iter().map(|f| match f {
            Some(frame) => frame,
            None => marker.next().map(|m| &m[..]).unwrap_or_default(),
        }));
        if sent.is_err() {
            *pos = before;
        }
        sent
    }

    /// Receives the next frame (until `deadline`, if any) and hands it to `f` where it lies: in
    /// the read-ahead buffer, or in the peer's ring, whose room is given back when `f` returns.
    pub(crate) fn recv<R>(
        &self,
        chan: &Channel,
        deadline: Option<std::time::Instant>,
        f: impl FnOnce(&[u8], Vec<OwnedFd>) -> Result<R>,
    ) -> Result<R> {
        chan.recv_with(deadline, |frame, fds| {
            let bytes = frame.bytes();
            if !looks_like_a_marker(bytes) {
                return f(bytes, fds);
            }
            let len = u64::from_le_bytes(bytes[1..].try_into().unwrap_or_default());
            let len = usize::try_from(len)
                .ok()
                .filter(|len| (1..=SIDE_MAX.min(chan.max_message())).contains(len))
                .ok_or_else(|| Error::codec("a side frame's marker is damaged"))?;
            // The peer's copy into the ring came before its marker.
            std::sync::atomic::fence(Ordering::Acquire);
            let theirs = 1 - self.out;
            let mut pos = crate::poison::lock(&self.read);
            let at = place(*pos, len);
            // The room is given back when `f` is done with the frame, even if it unwinds: the
            // next marker's frame is placed from here.
            let done = Publish {
                side: self,
                ring: theirs,
                pos: &mut pos,
                end: at + len as u64,
            };
            // SAFETY: `at .. at + len` lies within one lap of the peer's ring (`place`, `len` at
            // most SIDE_MAX), which the peer wrote before sending the marker and does not touch
            // until we publish a position past it (when `done` drops, after `f`).
            let frame = unsafe {
                std::slice::from_raw_parts(self.ring(theirs).add((at % RING as u64) as usize), len)
            };
            let res = f(frame, fds);
            drop(done);
            res
        })
    }
}

/// One end of a channel and of the side beside it, if its two ends have one: every frame goes the
/// way [`Side`] picks, or through the channel alone. The pool's end of a worker's link and the
/// worker's own end are each one.
pub(crate) struct Sided {
    pub(crate) chan: Channel,
    side: Option<Side>,
}

impl Sided {
    pub(crate) fn new(chan: Channel, side: Option<Side>) -> Sided {
        Sided { chan, side }
    }

    /// Sends one frame with `fds` beside it.
    pub(crate) fn send(&self, frame: &[u8], fds: &[BorrowedFd<'_>]) -> Result<()> {
        match &self.side {
            Some(side) => side.send(&self.chan, frame, fds),
            None => self.chan.send_raw(frame, fds),
        }
    }

    /// Sends several frames without descriptors, in order.
    pub(crate) fn send_many(&self, frames: &mut dyn Iterator<Item = &[u8]>) -> Result<()> {
        match &self.side {
            Some(side) => side.send_many(&self.chan, frames),
            None => self.chan.send_frames(frames),
        }
    }

    /// Receives the next frame (until `deadline`, if any) and hands it to `f` where it lies.
    pub(crate) fn recv<R>(
        &self,
        deadline: Option<std::time::Instant>,
        f: impl FnOnce(&[u8], Vec<OwnedFd>) -> Result<R>,
    ) -> Result<R> {
        match &self.side {
            Some(side) => side.recv(&self.chan, deadline, f),
            None => self
                .chan
                .recv_with(deadline, |frame, fds| f(frame.bytes(), fds)),
        }
    }
}

/// Publishes how far a reader has read of the peer's ring when it drops.
struct Publish<'a, 'g> {
    side: &'a Side,
    ring: usize,
    pos: &'a mut std::sync::MutexGuard<'g, u64>,
    end: u64,
}

impl Drop for Publish<'_, '_> {
    fn drop(&mut self) {
        **self.pos = self.end;
        self.side
            .published(self.ring)
            .store(self.end, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames of every size arrive whole and in order, through the ring or the socket, over many
    /// laps of the ring, while the reader is slower or faster than the writer.
    #[test]
    fn frames_arrive_whole_and_in_order_through_the_ring_or_the_socket() {
        let (a, b) = Channel::pair().unwrap();
        b.read_frames_in_place();
        let (mine, fd) = Side::create().unwrap();
        let theirs = Side::attach(fd).unwrap();
        let sizes = [
            10,
            SIDE_MIN,
            300_000,
            SIDE_MAX,
            SIDE_MAX + 1,
            100,
            200_000,
            70_000,
        ];
        let frame = move |i: usize| -> Vec<u8> {
            let len = sizes[i % sizes.len()];
            (0..len).map(|j| (i * 7 + j) as u8 % 200).collect()
        };
        let n = 200;
        let writer = std::thread::spawn(move || {
            for i in (0..n).step_by(2) {
                mine.send(&a, &frame(i), &[]).unwrap();
                let two = [frame(i + 1)];
                mine.send_many(&a, &mut two.iter().map(|f| &f[..])).unwrap();
            }
            (mine, a)
        });
        for i in 0..n {
            let got = theirs
                .recv(&b, None, |bytes, _| Ok(bytes.to_vec()))
                .unwrap();
            assert!(
                got == frame(i),
                "frame {i} of {} bytes",
                sizes[i % sizes.len()]
            );
            if i % 50 == 0 {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
        let (mine, a) = writer.join().unwrap();
        assert!(
            *mine.written.lock().unwrap() > 2 * RING as u64,
            "the ring went round"
        );
        // The other way, the peer writing its own ring.
        theirs.send(&b, &frame(2), &[]).unwrap();
        assert!(
            mine.recv(&a, None, |bytes, _| Ok(bytes == frame(2)))
                .unwrap()
        );
    }

    /// A reader that panics while it reads a frame in the ring still gives its room back: the
    /// frames after it arrive whole.
    #[test]
    fn a_reader_that_unwinds_still_gives_the_room_back() {
        let (a, b) = Channel::pair().unwrap();
        let (mine, fd) = Side::create().unwrap();
        let theirs = Side::attach(fd).unwrap();
        let frame = |i: u8| vec![i; 300_000];
        for i in 0..10u8 {
            mine.send(&a, &frame(i), &[]).unwrap();
            if i % 2 == 0 {
                let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    theirs.recv(&b, None, |_, _| -> Result<()> { panic!("a reader fails") })
                }));
                assert!(read.is_err());
            } else {
                assert!(theirs.recv(&b, None, |got, _| Ok(got == frame(i))).unwrap());
            }
        }
        assert_eq!(
            *crate::poison::lock(&mine.written),
            *crate::poison::lock(&theirs.read)
        );
    }

    /// A send whose marker cannot be written (the peer is gone) takes its placement back: the
    /// writer's position stays where the reader expects the next frame.
    #[test]
    fn a_failed_send_takes_its_placement_back() {
        let (a, b) = Channel::pair().unwrap();
        let (mine, _) = Side::create().unwrap();
        mine.send(&a, &[1; 100_000], &[]).unwrap();
        let placed = *crate::poison::lock(&mine.written);
        assert_eq!(placed, 100_000);
        drop(b);
        assert!(mine.send(&a, &[2; 100_000], &[]).is_err());
        let two = [vec![3u8; 100_000], vec![4u8; 40_000]];
        assert!(mine.send_many(&a, &mut two.iter().map(|f| &f[..])).is_err());
        assert_eq!(*crate::poison::lock(&mine.written), placed);
    }

    /// A marker whose length the ring cannot hold fails the receive, reading nothing.
    #[test]
    fn a_damaged_marker_fails_the_receive() {
        let (a, b) = Channel::pair().unwrap();
        let (mine, _) = Side::create().unwrap();
        for len in [0u64, (SIDE_MAX + 1) as u64, u64::MAX] {
            let mut marker = vec![MARKER];
            marker.extend_from_slice(&len.to_le_bytes());
            a.send_raw(&marker, &[]).unwrap();
            let err = mine.recv(&b, None, |_, _| Ok(())).unwrap_err();
            assert_eq!(err.kind(), &crate::ErrorKind::Codec, "{len}: {err}");
        }
    }

    /// A small frame that reads as a marker goes through the ring, so it is not mistaken for one;
    /// one of another length is just a frame.
    #[test]
    fn a_frame_that_reads_as_a_marker_is_not_taken_for_one() {
        let (a, b) = Channel::pair().unwrap();
        let (mine, fd) = Side::create().unwrap();
        let theirs = Side::attach(fd).unwrap();
        let like = [MARKER, 1, 0, 0, 0, 0, 0, 0, 0];
        for frame in [&like[..], &like[..2], &[MARKER][..]] {
            mine.send(&a, frame, &[]).unwrap();
            assert!(theirs.recv(&b, None, |got, _| Ok(got == frame)).unwrap());
        }
    }
}
