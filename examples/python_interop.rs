//! Talking to Python: a Rust worker service that Python's own `multiprocessing.connection.Client`
//! reaches with nothing but the standard library (examples/python_client.py), authkey handshake
//! included. Needs the `python` feature and a `python3` on the PATH:
//!
//! ```text
//! cargo run --features python --example python_interop
//! ```
//!
//! Python's side, in full:
//!
//! ```python
//! from multiprocessing.connection import Client
//! with Client(('127.0.0.1', port), authkey=b'...') as conn:
//!     conn.send_bytes(b'12')
//!     print(conn.recv_bytes())          # b'144'
//! ```

use multiproc::connection::{Address, python};
use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let key = b"shared between rust and python";
    // Python: Listener(('127.0.0.1', 0), authkey=key)
    let listener = python::Listener::bind(&Address::tcp("127.0.0.1:0")?, Some(key))?;
    let Address::Tcp(address) = listener.address() else {
        unreachable!("bound a TCP address");
    };
    let address = address.to_string();
    println!("rust: serving Python clients at {address}");

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/python_client.py");
    let mut client = std::process::Command::new("python3")
        .args([script, &address, std::str::from_utf8(key).unwrap()])
        .spawn()?; // python3: scripts/install-deps.sh installs it

    let mut conn = listener.accept_timeout(Duration::from_secs(30))?;
    println!("rust: a Python client passed the authkey handshake");
    loop {
        let request = conn.recv_bytes_timeout(Duration::from_secs(30))?;
        if request == b"bye" {
            break;
        }
        let n: u64 = std::str::from_utf8(&request)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        conn.send_bytes((n * n).to_string().as_bytes())?;
    }
    let status = client.wait()?;
    println!("rust: the Python client left ({status})");
    Ok(())
}
