//! Client-side connect, read and write timeouts for every MySQL connection.
//!
//! The C client waits forever by default: on a frozen network (packets dropped, or a
//! server that accepts and never answers) a query blocks its thread and holds its pooled
//! connection until TCP gives up, hours later. Diesel opens connections itself and offers
//! no way to set `MYSQL_OPT_*_TIMEOUT` (its URL knows only the socket and TLS options), so
//! this module defines `mysql_real_connect`: the linker binds diesel's call to it, it sets
//! the three timeouts on the handle, then hands over to the client library's own function
//! (found with `dlsym(RTLD_NEXT)`). [`active`] tells whether the wrapper was linked in;
//! start-up warns when it was not (a statically linked client library).

use std::os::raw::{c_char, c_uint, c_ulong, c_void};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use mysqlclient_sys as ffi;

static CONNECT_SECS: AtomicU32 = AtomicU32::new(5);
static IO_SECS: AtomicU32 = AtomicU32::new(30);
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Sets the timeouts for connections opened from now on.
pub fn configure(connect_secs: u32, io_secs: u32) {
    CONNECT_SECS.store(connect_secs.max(1), Ordering::Relaxed);
    IO_SECS.store(io_secs.max(1), Ordering::Relaxed);
}

thread_local! {
    static IO_OVERRIDE: std::cell::Cell<Option<u32>> = const { std::cell::Cell::new(None) };
}

/// Runs `f` with connections opened on this thread allowed `io_secs` per read or write
/// (migrations may rebuild a big table in one statement).
pub fn with_io_timeout<T>(io_secs: u32, f: impl FnOnce() -> T) -> T {
    let before = IO_OVERRIDE.with(|o| o.replace(Some(io_secs)));
    let out = f();
    IO_OVERRIDE.with(|o| o.set(before));
    out
}

/// Whether a connection has been opened through the wrapper (so the timeouts apply).
pub fn active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

type RealConnect = unsafe extern "C" fn(
    *mut ffi::MYSQL,
    *const c_char,
    *const c_char,
    *const c_char,
    *const c_char,
    c_uint,
    *const c_char,
    c_ulong,
) -> *mut ffi::MYSQL;

/// # Safety
/// Called by the MySQL client library's users exactly as `mysql_real_connect`: `mysql`
/// is a handle from `mysql_init`, the strings are NUL-terminated or null.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn mysql_real_connect(
    mysql: *mut ffi::MYSQL,
    host: *const c_char,
    user: *const c_char,
    passwd: *const c_char,
    db: *const c_char,
    port: c_uint,
    unix_socket: *const c_char,
    client_flag: c_ulong,
) -> *mut ffi::MYSQL {
    let connect: c_uint = CONNECT_SECS.load(Ordering::Relaxed);
    let io: c_uint = IO_OVERRIDE
        .with(|o| o.get())
        .unwrap_or_else(|| IO_SECS.load(Ordering::Relaxed));
    // SAFETY: `mysql` is a live handle from mysql_init; each option takes a pointer to an
    // unsigned int, which the library copies before returning.
    unsafe {
        ffi::mysql_options(
            mysql,
            ffi::mysql_option::MYSQL_OPT_CONNECT_TIMEOUT,
            &connect as *const c_uint as *const c_void,
        );
        ffi::mysql_options(
            mysql,
            ffi::mysql_option::MYSQL_OPT_READ_TIMEOUT,
            &io as *const c_uint as *const c_void,
        );
        ffi::mysql_options(
            mysql,
            ffi::mysql_option::MYSQL_OPT_WRITE_TIMEOUT,
            &io as *const c_uint as *const c_void,
        );
    }
    // SAFETY: RTLD_NEXT finds the next definition after this one: the client library's.
    let real = unsafe { libc::dlsym(libc::RTLD_NEXT, c"mysql_real_connect".as_ptr()) };
    if real.is_null() {
        return std::ptr::null_mut();
    }
    ACTIVE.store(true, Ordering::Relaxed);
    // SAFETY: the symbol is the library's mysql_real_connect, whose signature this is.
    let real: RealConnect = unsafe { std::mem::transmute::<*mut c_void, RealConnect>(real) };
    unsafe {
        real(
            mysql,
            host,
            user,
            passwd,
            db,
            port,
            unix_socket,
            client_flag,
        )
    }
}
