#[multiproc::worker]
fn count(words: &str) -> usize {
    words.len()
}

fn main() {}
