#[multiproc::test]
#[test]
fn twice() {}

fn main() {}
