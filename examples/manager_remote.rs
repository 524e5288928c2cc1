//! Python's remote manager seed: a server on 127.0.0.1 publishes a queue; a client in another process
//! connects with the authkey and uses it; a client with a wrong key is refused.
//!
//! ```python
//! queue = Queue()
//! class QueueManager(BaseManager): pass
//! QueueManager.register('get_queue', callable=lambda: queue)
//! m = QueueManager(address=('127.0.0.1', 50000), authkey=b'abracadabra'); m.start()
//! # client:
//! m = QueueManager(address=('127.0.0.1', 50000), authkey=b'abracadabra'); m.connect()
//! m.get_queue().put('hello')
//! ```

use multiproc::manager::QueueProxy;
use multiproc::{Manager, worker};

/// At least 16 bytes: a manager refuses shorter keys.
const AUTHKEY: &[u8] = b"abracadabra-abracadabra";

/// A client: connects to the server with `authkey`, takes the published queue, puts a greeting.
#[worker]
fn remote_client(address: String, authkey: Vec<u8>) -> Result<(), String> {
    let m = Manager::connect(address.as_str(), &authkey).map_err(|e| e.to_string())?;
    let q: QueueProxy<String> = m.lookup("queue").map_err(|e| e.to_string())?;
    q.put(&format!("hello from pid {}", std::process::id()))
        .map_err(|e| e.to_string())
}

pub fn run() -> multiproc::Result<()> {
    let server = Manager::serve("127.0.0.1:0", AUTHKEY)?; // port 0: any free port
    let address = server.socket_addr().expect("a TCP manager").to_string();
    println!("  server listening on {}", server.address());
    let queue = server.queue::<String>()?;
    server.publish("queue", &queue)?; // register('get_queue', callable=lambda: queue)

    let good = remote_client::spawn(address.clone(), AUTHKEY.to_vec())?;
    let bad = remote_client::spawn(address, b"not the key the server has".to_vec())?;
    good.join()?.expect("the client with the right key gets in");
    println!("  client with the authkey put: {:?}", queue.get()?);
    match bad.join()? {
        Err(e) => println!("  client with a wrong key: {e}"),
        Ok(()) => println!("  unexpected: a wrong key was accepted"),
    }
    Ok(())
}

#[allow(dead_code)]
#[multiproc::main]
fn main() -> multiproc::Result<()> {
    run()
}
