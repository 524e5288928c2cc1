//! Python's `Pipe` seed: parent and child exchange messages both ways over a duplex pipe.
//!
//! ```python
//! def worker(conn):
//!     conn.send(['hello', 'world']); print(f'Child process received: {conn.recv()}'); conn.close()
//! parent_conn, child_conn = Pipe()
//! p = Process(target=worker, args=(child_conn,)); p.start()
//! print(f'Main process received: {parent_conn.recv()}'); parent_conn.send('Acknowledgement received')
//! p.join()
//! ```

use multiproc::{Connection, Pipe, worker};

#[derive(serde::Serialize, serde::Deserialize, Debug)]
enum Msg {
    Words(Vec<String>),
    Ack(String),
}

/// The child's end: send a greeting, wait for the acknowledgement.
#[worker]
fn pipe_child(conn: Connection<Msg>) {
    conn.send(&Msg::Words(vec!["hello".into(), "world".into()]))
        .expect("send");
    let reply = conn.recv().expect("recv");
    println!("  child process received: {reply:?}");
}

pub fn run() -> multiproc::Result<()> {
    let (parent_conn, child_conn) = Pipe::<Msg>::new()?; // Python: Pipe()
    let p = pipe_child::spawn(child_conn)?; // the end travels to the child as a file descriptor
    println!("  main process received: {:?}", parent_conn.recv()?);
    parent_conn.send(&Msg::Ack("acknowledgement received".into()))?;
    p.join()?;
    Ok(())
}

#[allow(dead_code)]
#[multiproc::main]
fn main() -> multiproc::Result<()> {
    run()
}
