use multiproc::worker;

#[worker]
fn add(a: u32, b: u32) -> u32 {
    println!("child prints");
    a + b
}

#[multiproc::test]
fn spawn_in_test() {
    let p = add::spawn(2, 3).unwrap();
    assert_eq!(p.join().unwrap(), 5);
}
