"""The Python side of examples/python_interop.rs: nothing but the standard library.

A `multiprocessing.connection.Client` that asks the Rust worker service to square numbers
(sent as decimal text with `send_bytes`), then says goodbye. Run by the example itself:
`cargo run --features python --example python_interop`.
"""
import sys
from multiprocessing.connection import Client

host, port = sys.argv[1].rsplit(':', 1)
authkey = sys.argv[2].encode()

with Client((host, int(port)), authkey=authkey) as conn:
    for n in [3, 12, 99]:
        conn.send_bytes(str(n).encode())
        print(f"python: {n} squared is {conn.recv_bytes().decode()}", flush=True)
    conn.send_bytes(b"bye")
