#!/usr/bin/env python3
"""Lists CPython's multiprocessing test classes and methods (from the installed Python's
Lib/test/_test_multiprocessing.py) beside the Rust tests in tests/ named after them
(`<class>_<method>`, class in snake case without `_Test`/`Test`, e.g. `queue_test_put` for
`_TestQueue.test_put`; `manager_` in front for a manager variant). Used to keep
docs/conformance.md true: `python3 scripts/conformance.py` lists, `python3 scripts/conformance.py
--markdown` prints the table of docs/conformance.md (every class with tests, each test not ported
with its reason from NOT_PORTED below; a test missing both a port and a reason is an error)."""
import glob, os, re, sys
import test as cpython_test

src = open(os.path.join(os.path.dirname(cpython_test.__file__), "_test_multiprocessing.py")).read()
classes, cls = {}, None
for line in src.split("\n"):
    m = re.match(r"^class (\w+)\(", line)
    if m:
        cls = m.group(1)
        classes[cls] = []
        continue
    m = re.match(r"    def (test_\w+)", line)
    if m and cls:
        classes[cls].append(m.group(1))

def snake(name):
    name = re.sub(r"^_?Test", "", name) or name
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests")
rust = set()
for path in glob.glob(os.path.join(here, "*.rs")):
    rust.update(re.findall(r"fn (\w+)\s*\(", open(path).read()))

# Each CPython test without a Rust port, and why: "n/a: ..." where the thing tested does not exist in
# Rust or in this design, "differs: ..." where multiproc behaves otherwise on purpose. A whole class
# may be named alone.
NOT_PORTED = {
    "TestInternalDecorators": "n/a: a decorator of CPython's own test suite",
    "_TestProcess.test_set_executable": "n/a: there is no interpreter to choose; a child runs this same binary (`/proc/self/exe`)",
    "_TestProcess.test_process_mainthread_native_id": "n/a: `threading.main_thread().native_id`; a Rust child's worker runs on its main thread (its pid)",
    "_TestProcess.test_close": "differs: `close()` is `Drop` (a running daemon child is killed and reaped, a non-daemon one joined at exit), and `join` consumes the handle, so using it after close is a compile error, not `ValueError`",
    "_TestProcess.test_lose_target_ref": "n/a: garbage collection of the target; a worker is a function item",
    "_TestProcess.test_wait_for_threads": "differs: a child ends when its worker returns, as a Rust `main` does; threads it started are not joined (join them in the worker)",
    "_TestProcess.test_error_on_stdio_flush_1": "n/a: replaces `sys.stdout` with a broken object",
    "_TestProcess.test_error_on_stdio_flush_2": "n/a: replaces `sys.stdout` with a broken object",
    "_TestSubclassingProcess.test_subclassing": "n/a: no class to subclass; a `#[worker]` function or unit struct is the `run` method",
    "_TestSubclassingProcess.test_stderr_flush": "n/a: Python's buffered `sys.stderr` lost at `os._exit`; Rust's stderr is unbuffered",
    "_TestQueue.test_no_import_lock_contention": "n/a: Python's import lock",
    "_TestQueue.test_queue_feeder_donot_stop_onexc": "differs: `put` encodes the value itself, so a value that cannot be encoded is an error returned by that `put` (the value handed back) and never reaches the feeder, which cannot fail on one",
    "_TestQueue.test_queue_feeder_on_queue_feeder_error": "n/a: the `_on_queue_feeder_error` hook; see `test_queue_feeder_donot_stop_onexc`",
    "_TestPool.test_release_task_refs": "n/a: garbage collection of task objects; a task is encoded and dropped at submission",
    "_TestPool.test_resource_warning": "differs: an unclosed pool is no warning: `Drop` terminates and reaps its workers (tests/pool_api.rs)",
    "_TestPoolWorkerLifetime.test_worker_finalization_via_atexit_handler_of_multiprocessing": "n/a: `atexit` handlers in workers",
    "_TestPicklingConnections": "differs: a `Connection` travels to a child as a worker argument (`test_connection` and the `Pipe` tests) and a descriptor over a connection with `codec::fd` (`test_fd_transfer`); there is no pickling of one over another",
    "_TestHeap": "n/a: Python's arena allocator for `sharedctypes`; each `Value`/`Array` maps its own block",
    "_TestSharedMemory.test_shared_memory_pickle_unpickle": "differs: no pickle; a `SharedMemory` travels as a worker argument, attached on arrival (`test_shared_memory_across_processes`)",
    "_TestSharedMemory.test_shared_memory_pickle_unpickle_dead_object": "differs: a block's name dies with its creator, so it cannot be attached afterwards (`NotFound`; tests/shm_faults.rs)",
    "_TestSharedMemory.test_shared_memory_ShareableList_pickling_dead_object": "differs: as `test_shared_memory_pickle_unpickle_dead_object`",
    "_TestSharedMemory.test_shared_memory_SharedMemoryManager_reuses_resource_tracker": "n/a: there is no resource tracker",
    "_TestSharedMemory.test_shared_memory_cleaned_after_process_termination": "differs: no resource tracker is needed: names die with their creator, `SIGKILL` included (tests/shm_faults.rs `killed_mappers_leave_nothing_behind`)",
    "_TestFinalize": "n/a: `multiprocessing.util.Finalize`; Rust has `Drop`",
    "_TestImportStar": "n/a: Python modules",
    "_TestLogging": "differs: `multiproc::log_to_stderr(level)` and the `log` crate, not `logging.getLogger` (tests/log_to_stderr.rs)",
    "TestInvalidHandle": "n/a: a `Connection` is made by `Pipe` or a listener, never from a raw number",
    "TestStdinBadfiledescriptor": "n/a: replaces `sys.stdin` in the child",
    "TestInvalidFamily": "n/a: `Address` is an enum, so an invalid family does not compile; the other test is Windows-only",
    "TestFlags": "n/a: the child interpreter's `sys.flags`",
    "TestForkAwareThreadLock": "n/a: a Python-internal lock",
    "TestStartMethod.test_context_check_module_types": "n/a: Python module types",
    "TestStartMethod.test_preload_resources": "n/a: `set_forkserver_preload`; the fork server has run none of the program's code, by design",
    "TestResourceTracker": "n/a: there is no resource tracker: a shared-memory name dies with its creator, `SIGKILL` included (tests/shm_faults.rs)",
    "TestSyncManagerTypes.test_pool": "differs: no manager-backed `Pool`; use `multiproc::Pool`",
    "TestNamedResource": "n/a: a named semaphore created at import by a spawned child",
    "MiscTestCase": "n/a: `__all__` and `sys.executable`",
    "SemLockTests": "n/a: subclassing Python's `SemLock`",
}

markdown = "--markdown" in sys.argv
unexplained = []
if markdown:
    print("| CPython class | ported | status | tests not ported, and why |")
    print("| --- | --- | --- | --- |")
for c, methods in classes.items():
    if not methods:
        continue
    s = snake(c)

    def named(m):
        m = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", m).lower()
        names = {f"{s}_{m}", f"{s}_{m}".replace("_test_test_", "_test_")}
        return any(
            r == f"{p}{n}" or r.startswith(f"{p}{n}_")
            for r in rust
            for p in ("", "manager_")
            for n in names
        )

    ported = [m for m in methods if named(m)]
    if markdown:
        missing = [m for m in methods if m not in ported]
        notes = []
        if c in NOT_PORTED:
            if missing:
                notes.append(NOT_PORTED[c])
        else:
            for m in missing:
                why = NOT_PORTED.get(f"{c}.{m}")
                if why is None:
                    unexplained.append(f"{c}.{m}")
                notes.append(f"`{m}`: {why}")
        kinds = sorted({"not ported yet" if "not ported yet" in n else n.split("`: ", 1)[-1].split(":")[0] for n in notes})
        status = "passes" if not missing else ("ported tests pass; rest: " if ported else "") + ", ".join(kinds)
        print(f"| `{c}` | {len(ported)}/{len(methods)} | {status} | {'<br>'.join(notes)} |")
        continue
    print(f"{c}\t{len(ported)}/{len(methods)}\t{' '.join(ported)}\t| missing: {' '.join(m for m in methods if m not in ported)}")

if markdown:
    total = sum(len(m) for m in classes.values())
    if unexplained:
        sys.exit("tests neither ported nor explained in NOT_PORTED: " + " ".join(unexplained))
