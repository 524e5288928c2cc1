//! spawn+join and pipe workloads.
use crate::harness::{Options, Row};
pub fn run(_opts: &Options, _rows: &mut Vec<Row>) {}
