//! Starting the child: `posix_spawn` of `/proc/self/exe`, nothing run between fork and exec. Only the
//! descriptors named in `keep` reach the child: their close-on-exec flag is cleared by a `dup2(fd, fd)`
//! file action inside the child (glibc >= 2.29 clears the flag for same-number dup2), never in the parent,
//! so a concurrent spawn on another thread cannot inherit them.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

/// What to start and how.
pub(crate) struct SpawnRequest<'a> {
    pub argv: Vec<OsString>,
    /// Environment variables added to (or replacing those in) the parent's environment.
    pub env: Vec<(&'a str, String)>,
    pub keep: Vec<BorrowedFd<'a>>,
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
pub(crate) fn spawn_self(req: &SpawnRequest<'_>) -> io::Result<libc::pid_t> {
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
    for fd in &req.keep {
        let raw = fd.as_raw_fd();
        // SAFETY: valid file-actions object; the descriptor is open for the duration of the spawn.
        check(unsafe { libc::posix_spawn_file_actions_adddup2(&mut actions.0, raw, raw) })?;
    }
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
            std::ptr::null(),
            argv_ptrs.as_ptr(),
            envp_ptrs.as_ptr(),
        )
    };
    check(rc)?;
    Ok(pid)
}
