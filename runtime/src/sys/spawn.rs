//! Starting the child: `posix_spawn` of `/proc/self/exe`, nothing run between fork and exec. Only the
//! descriptors named in `pass` reach the child (besides stdin, stdout and stderr), as numbers
//! [`FIRST_PASSED_FD`], +1, ... in order: the parent makes a close-on-exec duplicate of each above those
//! numbers and the spawn's file actions `dup2(duplicate, n)` inside the child, which leaves `n` without
//! close-on-exec there only (a dup2 between two numbers always clears the flag, on every libc), then
//! close every descriptor above the passed ones, including those the parent opened without close-on-exec
//! (a C library's). The parent's flags never change, so a concurrent spawn on another thread inherits
//! nothing.
//! The child starts with an empty signal mask and default dispositions for the usual termination
//! signals, whatever the spawning thread had.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::sync::OnceLock;

/// The number the first passed descriptor has in the child; the others follow it.
pub(crate) const FIRST_PASSED_FD: RawFd = 3;

/// What to start and how.
pub(crate) struct SpawnRequest<'a> {
    pub argv: Vec<OsString>,
    /// Environment variables added to (or replacing those in) the parent's environment.
    pub env: Vec<(&'a str, String)>,
    /// Descriptors the child gets, as [`FIRST_PASSED_FD`] and up, in order.
    pub pass: Vec<BorrowedFd<'a>>,
    /// Start with stdout on /dev/null (the child restores it from a kept duplicate).
    pub stdout_to_null: bool,
}

fn cstring(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "argument contains a NUL byte"))
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(rc))
    }
}

struct FileActions(libc::posix_spawn_file_actions_t);

impl Drop for FileActions {
    fn drop(&mut self) {
        // SAFETY: initialised in `spawn` before this guard was built.
        unsafe { libc::posix_spawn_file_actions_destroy(&mut self.0) };
    }
}

/// Spawns the current executable and returns the child's pid.
pub(crate) fn spawn_self(req: &SpawnRequest<'_>) -> io::Result<super::identity::Pid> {
    let exe = c"/proc/self/exe";
    let argv: Vec<CString> = req
        .argv
        .iter()
        .map(|a| cstring(a))
        .collect::<io::Result<_>>()?;
    let mut envp: Vec<CString> = Vec::new();
    for (k, v) in std::env::vars_os() {
        if req.env.iter().any(|(name, _)| OsStr::new(name) == k) {
            continue;
        }
        let mut kv = k.into_vec();
        kv.push(b'=');
        kv.extend_from_slice(v.as_bytes());
        if let Ok(c) = CString::new(kv) {
            envp.push(c);
        }
    }
    for (k, v) in &req.env {
        envp.push(cstring(OsStr::new(&format!("{k}={v}")))?);
    }
    let mut argv_ptrs: Vec<*mut libc::c_char> = argv.iter().map(|c| c.as_ptr() as *mut _).collect();
    argv_ptrs.push(std::ptr::null_mut());
    let mut envp_ptrs: Vec<*mut libc::c_char> = envp.iter().map(|c| c.as_ptr() as *mut _).collect();
    envp_ptrs.push(std::ptr::null_mut());

    // SAFETY: file_actions is initialised before use and destroyed by the guard.
    let mut actions = unsafe {
        let mut fa = std::mem::MaybeUninit::<libc::posix_spawn_file_actions_t>::uninit();
        check(libc::posix_spawn_file_actions_init(fa.as_mut_ptr()))?;
        FileActions(fa.assume_init())
    };
    // Every alias lies above every target number, so no dup2 overwrites an alias still to be read.
    let after_passed = FIRST_PASSED_FD + req.pass.len() as RawFd;
    let aliases: Vec<OwnedFd> = req
        .pass
        .iter()
        .map(|fd| dup_cloexec_above(*fd, after_passed))
        .collect::<io::Result<_>>()?;
    for (target, alias) in (FIRST_PASSED_FD..).zip(&aliases) {
        // SAFETY: valid file-actions object; the alias stays open for the duration of the spawn.
        check(unsafe {
            libc::posix_spawn_file_actions_adddup2(&mut actions.0, alias.as_raw_fd(), target)
        })?;
    }
    close_from(&mut actions, after_passed)?;
    let attr = SpawnAttr::new()?;
    if req.stdout_to_null {
        // SAFETY: valid file-actions object and a NUL-terminated path.
        check(unsafe {
            libc::posix_spawn_file_actions_addopen(
                &mut actions.0,
                1,
                c"/dev/null".as_ptr(),
                libc::O_WRONLY,
                0,
            )
        })?;
    }
    let mut pid: libc::pid_t = 0;
    // SAFETY: every pointer is valid and NUL-terminated/null-terminated as posix_spawn requires; the
    // CStrings outlive the call.
    let rc = unsafe {
        libc::posix_spawn(
            &mut pid,
            exe.as_ptr(),
            &actions.0,
            &attr.0,
            argv_ptrs.as_ptr(),
            envp_ptrs.as_ptr(),
        )
    };
    drop(aliases);
    check(rc)?;
    Ok(super::identity::Pid::from_raw(pid))
}

/// A close-on-exec duplicate of `fd` numbered `min` or above.
fn dup_cloexec_above(fd: BorrowedFd<'_>, min: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: fcntl on a borrowed, open descriptor with integer arguments; returns a new descriptor.
    let dup = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, min) };
    if dup < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this new descriptor; we own it.
    Ok(unsafe { OwnedFd::from_raw_fd(dup) })
}

/// `posix_spawn_file_actions_addclosefrom_np` (glibc >= 2.34), looked up at run time so that the
/// runtime still builds and runs against an older glibc.
type AddCloseFrom =
    unsafe extern "C" fn(*mut libc::posix_spawn_file_actions_t, libc::c_int) -> libc::c_int;

fn addclosefrom() -> Option<AddCloseFrom> {
    static FOUND: OnceLock<Option<AddCloseFrom>> = OnceLock::new();
    *FOUND.get_or_init(|| {
        let name = c"posix_spawn_file_actions_addclosefrom_np";
        // SAFETY: dlsym with a NUL-terminated name; RTLD_DEFAULT searches the objects already loaded.
        let sym = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
        // SAFETY: a non-null result is glibc's function of exactly this signature.
        (!sym.is_null())
            .then(|| unsafe { std::mem::transmute::<*mut libc::c_void, AddCloseFrom>(sym) })
    })
}

/// Adds file actions closing every descriptor from `first` up in the child. Without
/// `addclosefrom_np`, closes each descriptor the parent holds without close-on-exec (those with it
/// close at exec anyway); glibc ignores a close of a number that was closed meanwhile.
fn close_from(actions: &mut FileActions, first: RawFd) -> io::Result<()> {
    if let Some(add) = addclosefrom() {
        // SAFETY: valid file-actions object; `add` is glibc's addclosefrom_np.
        return check(unsafe { add(&mut actions.0, first) });
    }
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return Ok(());
    };
    let open: Vec<RawFd> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    for fd in open.into_iter().filter(|&fd| fd >= first) {
        // SAFETY: F_GETFD on a number: an invalid one just fails.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        if flags >= 0 && flags & libc::FD_CLOEXEC == 0 {
            // SAFETY: valid file-actions object; the number is only closed in the child.
            check(unsafe { libc::posix_spawn_file_actions_addclose(&mut actions.0, fd) })?;
        }
    }
    Ok(())
}

struct SpawnAttr(libc::posix_spawnattr_t);

impl SpawnAttr {
    /// Empty signal mask; SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGPIPE, SIGCHLD back to their default actions.
    fn new() -> io::Result<SpawnAttr> {
        // SAFETY: the attribute object is initialised before use and destroyed by Drop; the sigsets are
        // initialised by sigemptyset before being read.
        unsafe {
            let mut raw = std::mem::MaybeUninit::<libc::posix_spawnattr_t>::uninit();
            check(libc::posix_spawnattr_init(raw.as_mut_ptr()))?;
            let mut attr = SpawnAttr(raw.assume_init());
            let mut empty = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
            libc::sigemptyset(empty.as_mut_ptr());
            check(libc::posix_spawnattr_setsigmask(
                &mut attr.0,
                empty.as_ptr(),
            ))?;
            let mut defaults = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
            libc::sigemptyset(defaults.as_mut_ptr());
            for sig in [
                libc::SIGTERM,
                libc::SIGINT,
                libc::SIGHUP,
                libc::SIGQUIT,
                libc::SIGPIPE,
                libc::SIGCHLD,
            ] {
                libc::sigaddset(defaults.as_mut_ptr(), sig);
            }
            check(libc::posix_spawnattr_setsigdefault(
                &mut attr.0,
                defaults.as_ptr(),
            ))?;
            let flags = libc::POSIX_SPAWN_SETSIGMASK | libc::POSIX_SPAWN_SETSIGDEF;
            check(libc::posix_spawnattr_setflags(
                &mut attr.0,
                flags as libc::c_short,
            ))?;
            Ok(attr)
        }
    }
}

impl Drop for SpawnAttr {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`.
        unsafe { libc::posix_spawnattr_destroy(&mut self.0) };
    }
}
