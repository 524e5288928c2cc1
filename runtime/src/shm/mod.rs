//! Shared memory: memfd blocks and what lives in them.

pub(crate) mod ring;
