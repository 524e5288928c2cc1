use std::borrow::Cow;

#[multiproc::worker]
fn name(id: u32) -> Cow<'static, str> {
    Cow::Owned(id.to_string())
}

fn main() {}
