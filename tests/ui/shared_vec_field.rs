#[multiproc::shared]
struct Samples {
    data: Vec<f64>,
}

fn main() {}
