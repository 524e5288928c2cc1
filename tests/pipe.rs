//! Pipe / Connection across real processes: both directions, handles inside messages, timeouts, and
//! every way the other side can fail.

use multiproc::{Connection, ErrorKind, Pipe, worker};
use std::time::{Duration, Instant};

#[worker]
fn echo(conn: Connection<String>) -> usize {
    let mut n = 0;
    while let Ok(msg) = conn.recv() {
        conn.send(&msg.to_uppercase()).unwrap();
        n += 1;
    }
    n
}

#[worker]
fn echo_bytes(conn: Connection<()>) {
    while let Ok(msg) = conn.recv_bytes() {
        if msg.is_empty() {
            break;
        }
        conn.send_bytes(&msg).unwrap();
    }
}

#[worker]
fn send_huge_then_hang(conn: Connection<Vec<u8>>, ready: Connection<u8>) {
    ready.send(&1).unwrap();
    // 64 MiB cannot fit in the socket buffer: this blocks mid-message until the parent kills us. Raw
    // bytes, not `send`: encoding 64 MiB element by element in a debug build takes seconds under load.
    let _ = conn.send_bytes(&vec![7u8; 64 << 20]);
    std::thread::sleep(Duration::from_secs(60));
}

#[worker]
fn relay(control: Connection<Connection<String>>) -> String {
    // Receives a connection over a connection, then uses it.
    let inner = control.recv().unwrap();
    let msg = inner.recv().unwrap();
    inner.send(&format!("relayed {msg}")).unwrap();
    msg
}

#[worker]
fn return_a_connection() -> Connection<u32> {
    let (a, b) = Pipe::<u32>::new().unwrap();
    a.send(&41).unwrap();
    a.send(&42).unwrap();
    drop(a);
    b
}

#[multiproc::test]
fn messages_flow_both_ways() {
    let (here, there) = Pipe::<String>::new().unwrap();
    let p = echo::spawn(there).unwrap();
    for word in ["hello", "world", "ünïcödé"] {
        here.send(&word.to_string()).unwrap();
        assert_eq!(here.recv().unwrap(), word.to_uppercase());
    }
    drop(here);
    assert_eq!(p.join().unwrap(), 3);
}

#[multiproc::test]
fn bytes_round_trip_of_every_size() {
    let (here, there) = Pipe::<()>::new().unwrap();
    let p = echo_bytes::spawn(there).unwrap();
    for size in [1usize, 7, 8, 4096, 65_535, 65_536, 65_537, 1 << 20, 5 << 20] {
        let msg: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
        here.send_bytes(&msg).unwrap();
        assert_eq!(here.recv_bytes().unwrap(), msg, "size {size}");
    }
    here.send_bytes(b"").unwrap();
    p.join().unwrap();
}

#[multiproc::test]
fn many_small_messages_keep_order() {
    let (here, there) = Pipe::<String>::new().unwrap();
    let p = echo::spawn(there).unwrap();
    for i in 0..500 {
        here.send(&format!("m{i}")).unwrap();
    }
    for i in 0..500 {
        assert_eq!(here.recv().unwrap(), format!("M{i}"));
    }
    drop(here);
    assert_eq!(p.join().unwrap(), 500);
}

#[multiproc::test]
fn a_connection_travels_inside_a_message() {
    let (control_here, control_there) = Pipe::<Connection<String>>::new().unwrap();
    let (inner_here, inner_there) = Pipe::<String>::new().unwrap();
    let p = relay::spawn(control_there).unwrap();
    inner_here.send(&"first".to_string()).unwrap(); // buffered before the end even moves
    control_here.send(&inner_there).unwrap();
    drop(inner_there);
    assert_eq!(inner_here.recv().unwrap(), "relayed first");
    assert_eq!(p.join().unwrap(), "first");
}

#[multiproc::test]
fn read_ahead_travels_with_a_moved_connection() {
    let (a, b) = Pipe::<u32>::new().unwrap();
    a.send(&1).unwrap();
    a.send(&2).unwrap();
    a.send(&3).unwrap();
    assert_eq!(b.recv().unwrap(), 1); // b has now read 2 and 3 ahead into its buffer
    let (ctl_a, ctl_b) = Pipe::<Connection<u32>>::new().unwrap();
    ctl_a.send(&b).unwrap();
    drop(b);
    let b2 = ctl_b.recv().unwrap();
    assert_eq!(b2.recv().unwrap(), 2);
    assert_eq!(b2.recv().unwrap(), 3);
}

#[multiproc::test]
fn a_worker_can_return_a_connection() {
    let conn = return_a_connection::spawn().unwrap().join().unwrap();
    assert_eq!(conn.recv().unwrap(), 41);
    assert_eq!(conn.recv().unwrap(), 42);
    assert!(conn.recv().unwrap_err().is_disconnected());
}

#[multiproc::test]
fn peer_dropped_is_disconnected() {
    let (a, b) = Pipe::<u8>::new().unwrap();
    drop(b);
    assert!(a.recv().unwrap_err().is_disconnected());
    assert!(a.send(&1).unwrap_err().is_disconnected());
}

#[multiproc::test]
fn child_exit_disconnects_its_pipe() {
    let (here, there) = Pipe::<String>::new().unwrap();
    let mut p = echo::spawn(there).unwrap();
    here.send("x").unwrap();
    assert_eq!(here.recv().unwrap(), "X");
    p.kill().unwrap();
    let t = Instant::now();
    assert!(here.recv().unwrap_err().is_disconnected());
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[multiproc::test]
fn child_killed_mid_message_is_disconnected_not_a_hang() {
    let (here, there) = Pipe::<Vec<u8>>::new().unwrap();
    let (ready_rx, ready_tx) = Pipe::<u8>::new().unwrap();
    let mut p = send_huge_then_hang::spawn(there, ready_tx).unwrap();
    ready_rx.recv_timeout(Duration::from_secs(20)).unwrap();
    assert!(
        here.poll(Duration::from_secs(20)).unwrap(),
        "the child started sending"
    );
    p.kill().unwrap();
    let err = here.recv_timeout(Duration::from_secs(20)).unwrap_err();
    assert!(err.is_disconnected(), "{err:?}");
    assert!(err.to_string().contains("middle of a message"), "{err}");
}

#[multiproc::test]
fn recv_timeout_returns_on_time_and_loses_nothing() {
    let (a, b) = Pipe::<u32>::new().unwrap();
    let t = Instant::now();
    assert!(
        a.recv_timeout(Duration::from_millis(30))
            .unwrap_err()
            .is_timeout()
    );
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(30) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    assert!(!a.poll(Duration::ZERO).unwrap());
    b.send(&9).unwrap();
    assert!(a.poll(Duration::from_secs(5)).unwrap());
    assert_eq!(a.recv_timeout(Duration::from_secs(5)).unwrap(), 9);
}

#[multiproc::test]
fn large_message_timeout_resumes() {
    let (mut a, b) = Pipe::<()>::new().unwrap();
    a.set_max_message(8 << 20);
    let writer = std::thread::spawn(move || {
        b.send_bytes(&vec![5u8; 4 << 20]).unwrap();
        b
    });
    // Receive with tiny timeouts until the whole message is in: partial progress must be kept.
    let msg = loop {
        match a.recv_bytes_timeout(Duration::from_micros(200)) {
            Ok(m) => break m,
            Err(e) => assert!(e.is_timeout(), "{e:?}"),
        }
    };
    assert_eq!(msg.len(), 4 << 20);
    assert!(msg.iter().all(|&x| x == 5));
    drop(writer.join().unwrap());
}

#[multiproc::test]
fn too_large_is_refused_on_both_sides_and_the_pipe_goes_on() {
    let (a, b) = Pipe::<Vec<u8>>::with_limit(1024).unwrap();
    let err = a.send(&vec![0u8; 2048]).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::MessageTooLarge { limit: 1024, .. }),
        "{err:?}"
    );
    // A peer with a larger limit sends; this end refuses before allocating, then carries on.
    let (mut small, big) = Pipe::<Vec<u8>>::new().unwrap();
    small.set_max_message(1024);
    let sender = std::thread::spawn(move || {
        big.send(&vec![1u8; 1 << 20]).unwrap();
        big.send(&vec![2u8; 10]).unwrap();
        big
    });
    let err = small.recv().unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::MessageTooLarge { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("limit"), "{err}");
    assert_eq!(small.recv().unwrap(), vec![2u8; 10]);
    drop(sender.join().unwrap());
    drop(b);
}

#[multiproc::test]
fn bytes_that_do_not_decode_are_a_codec_error() {
    let (a, b) = Pipe::<(u64, String)>::new().unwrap();
    a.send_bytes(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).unwrap();
    let err = b.recv().unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Codec, "{err:?}");
    // Trailing garbage after a valid value is refused too.
    a.send_bytes(&[1, 1, b'x', 9, 9]).unwrap();
    assert_eq!(b.recv().unwrap_err().kind(), &ErrorKind::Codec);
    a.send(&(7, "fine".into())).unwrap();
    assert_eq!(b.recv().unwrap(), (7, "fine".to_string()));
}

#[multiproc::test]
fn simplex_ends_only_go_one_way() {
    let (r, w) = Pipe::<u8>::simplex().unwrap();
    w.send(&3).unwrap();
    assert_eq!(r.recv().unwrap(), 3);
    assert_eq!(r.send(&1).unwrap_err().kind(), &ErrorKind::InvalidHandle);
    assert_eq!(w.recv().unwrap_err().kind(), &ErrorKind::InvalidHandle);
}

#[multiproc::test]
fn handles_do_not_serialize_outside_multiproc() {
    // A handle only makes sense through multiproc's fd passing; bincode on its own refuses it.
    let (a, _b) = Pipe::<u8>::new().unwrap();
    let res = bincode::serde::encode_to_vec(&a, bincode::config::standard());
    assert!(res.is_err());
}

#[worker]
fn count_live(conns: Vec<Connection<u8>>) -> usize {
    conns.iter().filter(|c| c.send(&1).is_ok()).count()
}

#[multiproc::test]
fn the_most_handles_one_message_can_carry() {
    // 253 descriptors is the kernel's limit per message (SCM_MAX_FD): exactly that many must arrive.
    let pairs: Vec<_> = (0..253).map(|_| Pipe::<u8>::new().unwrap()).collect();
    let (keep, send): (Vec<_>, Vec<_>) = pairs.into_iter().unzip();
    assert_eq!(count_live::spawn(send).unwrap().join().unwrap(), 253);
    for c in &keep {
        assert_eq!(c.recv().unwrap(), 1);
    }
}

/// Tries to send 300 pipe ends in one message; returns the error and the open descriptors before
/// and after. Runs in a child of its own: the count is of the whole process, which the test
/// binary's other tests change as they run.
#[worker]
fn too_many_handles_here() -> (String, String, usize, usize) {
    let before = multiproc::open_fd_count();
    let pairs: Vec<_> = (0..300).map(|_| Pipe::<u8>::new().unwrap()).collect();
    let (keep, send): (Vec<_>, Vec<_>) = pairs.into_iter().unzip();
    let err = count_live::spawn(send).unwrap_err();
    drop(keep);
    let after = multiproc::open_fd_count();
    (format!("{:?}", err.kind()), err.to_string(), before, after)
}

#[multiproc::test]
fn too_many_handles_is_an_error_not_a_hang() {
    let (kind, message, before, after) = too_many_handles_here::spawn().unwrap().join().unwrap();
    assert_eq!(kind, format!("{:?}", ErrorKind::InvalidInput), "{message}");
    assert!(message.contains("at most 253"), "{message}");
    assert_eq!(after, before, "descriptors leaked");
}

#[multiproc::test]
fn a_moved_connection_does_not_deliver_twice() {
    let (a, b) = Pipe::<u32>::new().unwrap();
    a.send(&1).unwrap();
    a.send(&2).unwrap();
    assert_eq!(b.recv().unwrap(), 1); // 2 is now in b's read-ahead
    let (ctl_a, ctl_b) = Pipe::<Connection<u32>>::new().unwrap();
    ctl_a.send(&b).unwrap(); // b is sent by reference and stays usable here
    let moved = ctl_b.recv().unwrap();
    assert_eq!(moved.recv().unwrap(), 2);
    // The read-ahead went with the copy: the original end does not see message 2 again.
    assert!(
        b.recv_timeout(Duration::from_millis(20))
            .unwrap_err()
            .is_timeout()
    );
}
