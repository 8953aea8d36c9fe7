//! Write scrim plugins in Rust.
//!
//! A plugin is a `cdylib` crate with a type that implements [`Plugin`] and one [`plugin!`]
//! line that names it. This crate implements scrim's plugin ABI v1 (plugins/ABI.md in the
//! scrim repository): the exports scrim calls, its imports, the request layout and the buffers
//! that cross between them. It has no dependencies and builds with Rust 1.63 or later for
//! `wasm32-wasi`.
//!
//! ```ignore
//! use scrim::{Plugin, Request, Verdict};
//!
//! #[derive(Default)]
//! struct Motd;
//!
//! impl Plugin for Motd {
//!     fn open(&mut self, _req: &Request) -> Verdict {
//!         Verdict::serve("hello\n")
//!     }
//! }
//!
//! scrim::plugin! {
//!     name: "motd",
//!     version: "1.0.0",
//!     claims: ["/etc/motd"],
//!     plugin: Motd::default(),
//! }
//! ```
//!
//! Errno values are Linux's ([`Errno::EACCES`] is 13); the WASI numbers of `std::io` errors
//! are different and must not be returned.

#![deny(missing_docs)]

use std::cell::RefCell;
use std::fmt;

/// A plugin's decisions. scrim may run several instances of a plugin and replace them at any
/// time, so every instance must give the same answer to the same request.
pub trait Plugin {
    /// Receives the user's configuration once per instance, before any open. An error
    /// stops scrim before the sandbox starts and is shown to the user.
    fn init(&mut self, config: &Config) -> Result<(), String> {
        let _ = config;
        Ok(())
    }

    /// Decides one open of a claimed path, and each look-up of one ([`Request::op`]): what a
    /// stat, access or listing of the path shows follows what `open` serves for it.
    fn open(&mut self, req: &Request) -> Verdict;
}

/// A Linux error number, as the sandboxed program sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub i32);

impl Errno {
    /// Operation not permitted.
    pub const EPERM: Errno = Errno(1);
    /// No such file or directory.
    pub const ENOENT: Errno = Errno(2);
    /// Input/output error.
    pub const EIO: Errno = Errno(5);
    /// Permission denied.
    pub const EACCES: Errno = Errno(13);
    /// Device or resource busy.
    pub const EBUSY: Errno = Errno(16);
    /// File exists.
    pub const EEXIST: Errno = Errno(17);
    /// Not a directory.
    pub const ENOTDIR: Errno = Errno(20);
    /// Is a directory.
    pub const EISDIR: Errno = Errno(21);
    /// Invalid argument.
    pub const EINVAL: Errno = Errno(22);
    /// Read-only file system.
    pub const EROFS: Errno = Errno(30);
    /// Function not implemented.
    pub const ENOSYS: Errno = Errno(38);
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "errno {}", self.0)
    }
}

/// Linux open flags on x86_64, as the sandboxed program passes them.
pub mod flags {
    /// Mask of the access mode.
    pub const O_ACCMODE: u64 = 0x3;
    /// Read only.
    pub const O_RDONLY: u64 = 0x0;
    /// Write only.
    pub const O_WRONLY: u64 = 0x1;
    /// Read and write.
    pub const O_RDWR: u64 = 0x2;
    /// Create if missing.
    pub const O_CREAT: u64 = 0x40;
    /// With O_CREAT, fail if it exists.
    pub const O_EXCL: u64 = 0x80;
    /// Truncate.
    pub const O_TRUNC: u64 = 0x200;
    /// Append.
    pub const O_APPEND: u64 = 0x400;
    /// Must be a directory.
    pub const O_DIRECTORY: u64 = 0x10000;
    /// Do not follow a final symlink.
    pub const O_NOFOLLOW: u64 = 0x20000;
    /// Close on exec.
    pub const O_CLOEXEC: u64 = 0x80000;
    /// An unnamed temporary file (includes O_DIRECTORY's bit).
    pub const O_TMPFILE: u64 = 0x410000;
}

/// What a request asks about (ABI 1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// An open: the content is needed.
    Open,
    /// stat, lstat, newfstatat, statx, readlink, chdir, getxattr, listxattr, or a listing of the parent directory:
    /// only what the served file is (see [`Verdict::serve_size`]).
    Stat,
    /// access, faccessat, faccessat2.
    Access,
    /// An op a later scrim asks about, by its ABI number; answer it like [`Op::Stat`].
    Other(u32),
}

impl Op {
    fn from_abi(n: u32) -> Op {
        match n {
            0 => Op::Open,
            1 => Op::Stat,
            2 => Op::Access,
            n => Op::Other(n),
        }
    }
}

/// The call behind a request: the open family; a look-up's call (stat, access, ...) is
/// [`Syscall::Other`] with its ABI number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syscall {
    /// open(2)
    Open,
    /// openat(2)
    Openat,
    /// openat2(2)
    Openat2,
    /// creat(2)
    Creat,
    /// A call a later scrim reports, by its ABI number.
    Other(u32),
}

impl Syscall {
    fn from_abi(n: u32) -> Syscall {
        match n {
            1 => Syscall::Open,
            2 => Syscall::Openat,
            3 => Syscall::Openat2,
            4 => Syscall::Creat,
            n => Syscall::Other(n),
        }
    }

    /// The ABI's number for the call.
    pub fn number(self) -> u32 {
        match self {
            Syscall::Open => 1,
            Syscall::Openat => 2,
            Syscall::Openat2 => 3,
            Syscall::Creat => 4,
            Syscall::Other(n) => n,
        }
    }
}

/// One open of a claimed path. It borrows the SDK's buffers and lives for one call.
#[derive(Debug)]
pub struct Request<'a> {
    /// The canonical absolute path as the program sees it from its root. It is bytes: Linux
    /// paths need not be UTF-8 (see [`Request::path_str`]).
    pub path: &'a [u8],
    /// The sandbox's name.
    pub sandbox: &'a str,
    /// The call that opened, or looked the path up.
    pub syscall: Syscall,
    /// [`Op::Open`] for an open; for a look-up the plugin may answer with
    /// [`Verdict::serve_size`] or [`Verdict::serve_dir`] instead of the content. A deny refuses
    /// opens, never look-ups.
    pub op: Op,
    /// The O_* flags as the program passed them (see [`flags`]).
    pub flags: u64,
    /// The creation mode, before the umask.
    pub mode: u32,
    /// `st_mode` of what the path resolved to; 0 if it does not exist.
    pub object_mode: u32,
    /// The caller's process id.
    pub pid: i32,
    /// The calling thread's id.
    pub tid: i32,
    /// The caller's filesystem user id.
    pub uid: u32,
    /// The caller's filesystem group id.
    pub gid: u32,
    /// The real file, set in the call after [`Verdict::ReadReal`].
    pub real: Option<RealFile<'a>>,
}

impl<'a> Request<'a> {
    /// The path as text, when it is UTF-8.
    pub fn path_str(&self) -> Option<&'a str> {
        std::str::from_utf8(self.path).ok()
    }

    /// The last component of the path.
    pub fn base(&self) -> &'a [u8] {
        match self.path.iter().rposition(|&b| b == b'/') {
            Some(i) => &self.path[i + 1..],
            None => self.path,
        }
    }

    /// Whether the request only looks the path up (stat, access, a listing): the content is
    /// not needed.
    pub fn is_lookup(&self) -> bool {
        self.op != Op::Open
    }

    /// Whether the path resolved to an existing object.
    pub fn exists(&self) -> bool {
        self.object_mode != 0
    }

    /// Whether the open asks to write, truncate or create. scrim answers such opens of
    /// served content with EROFS itself; a plugin may still deny them differently.
    pub fn wants_write(&self) -> bool {
        self.flags & flags::O_ACCMODE != flags::O_RDONLY
            || self.flags & (flags::O_TRUNC | flags::O_CREAT) != 0
            || self.flags & flags::O_TMPFILE == flags::O_TMPFILE
    }
}

/// The real file behind a request, read as the sandboxed program would have read it.
#[derive(Debug)]
pub struct RealFile<'a> {
    /// The content, at most 1 MiB.
    pub data: &'a [u8],
    /// Set when the program could not have read the file; `data` is then empty.
    pub errno: Option<Errno>,
    /// The file is longer than `data`.
    pub truncated: bool,
}

/// A plugin's answer to one open.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Leave the open to the next handler, as if the plugin had not claimed the path.
    Next,
    /// Give the program `content` as a read-only regular file with permission bits `mode`.
    Serve {
        /// The file's bytes, at most 1 MiB.
        content: Vec<u8>,
        /// The permission bits (`0o444` from [`Verdict::serve`]).
        mode: u32,
    },
    /// Fail the open with a Linux errno (1 to 133).
    Deny(Errno),
    /// Open the real file, skipping the handlers after this plugin.
    Real,
    /// Read the real file as the program would and call [`Plugin::open`] again with
    /// [`Request::real`] set, to serve a transformed copy.
    ReadReal,
    /// The plugin cannot decide: the open fails with the plugin's `on_error` errno and scrim
    /// logs the reason.
    Fail(String),
    /// Serve with metadata (ABI 1.1): built by [`Verdict::serve_size`],
    /// [`Verdict::serve_dir`] and [`Verdict::with_mtime`].
    ServeFile(Served),
}

/// A served file with its metadata (ABI 1.1).
#[derive(Debug, PartialEq, Eq)]
pub struct Served {
    /// The content; empty for a look-up answered with its size alone.
    pub content: Vec<u8>,
    /// The size a look-up shows when the content is not built.
    pub size: Option<u64>,
    /// The permission bits.
    pub mode: u32,
    /// A directory, which answers look-ups only.
    pub dir: bool,
    /// The modification time: seconds and nanoseconds since 1970.
    pub mtime: Option<(i64, i32)>,
}

impl Verdict {
    /// Serves content as a read-only file with mode 0444.
    pub fn serve(content: impl Into<Vec<u8>>) -> Verdict {
        Verdict::Serve { content: content.into(), mode: 0o444 }
    }

    /// Sets the permission bits of a [`Verdict::Serve`]; other verdicts are unchanged.
    pub fn with_mode(self, perm: u32) -> Verdict {
        match self {
            Verdict::Serve { content, .. } => Verdict::Serve { content, mode: perm & 0o777 },
            Verdict::ServeFile(f) => Verdict::ServeFile(Served { mode: perm & 0o777, ..f }),
            v => v,
        }
    }

    /// Answers a look-up ([`Request::is_lookup`]) without building the content: the path is a
    /// served read-only file of `size` bytes. It must be the size an open of the path serves,
    /// since programs such as cp compare the two.
    pub fn serve_size(size: u64) -> Verdict {
        Verdict::ServeFile(Served { content: Vec::new(), size: Some(size), mode: 0o444, dir: false, mtime: None })
    }

    /// Answers a look-up: the path is a directory (mode 0555). A directory answers look-ups
    /// only: an open of it goes on to the handlers after the plugin.
    pub fn serve_dir() -> Verdict {
        Verdict::ServeFile(Served { content: Vec::new(), size: None, mode: 0o555, dir: true, mtime: None })
    }

    /// Sets the modification time of served content, in seconds and nanoseconds since 1970
    /// (by default, when scrim first served it); other verdicts are unchanged.
    pub fn with_mtime(self, sec: i64, nsec: i32) -> Verdict {
        match self {
            Verdict::Serve { content, mode } => {
                Verdict::ServeFile(Served { content, size: None, mode, dir: false, mtime: Some((sec, nsec)) })
            }
            Verdict::ServeFile(f) => Verdict::ServeFile(Served { mtime: Some((sec, nsec)), ..f }),
            v => v,
        }
    }
}

/// The plugin's configuration, the user's `[plugin.config]` table. It is readable during
/// [`Plugin::init`] only.
pub struct Config {
    _private: (),
}

impl Config {
    /// A top-level value as text: a string as it is, a number or boolean as JSON spells it,
    /// an array or table as JSON. `None` when the key is absent.
    pub fn get(&self, key: &str) -> Option<String> {
        let mut buf = vec![0u8; 256];
        loop {
            let n = unsafe {
                abi::config_get(key.as_ptr(), key.len() as i32, buf.as_mut_ptr(), buf.len() as i32)
            };
            if n < 0 {
                return None;
            }
            if n as usize <= buf.len() {
                buf.truncate(n as usize);
                return Some(String::from_utf8_lossy(&buf).into_owned());
            }
            buf.resize(n as usize, 0);
        }
    }

    /// A top-level value that must be an array of strings, such as
    /// `allow = ["root", "nobody"]`. `None` when the key is absent; an error when it is
    /// something else.
    pub fn strings(&self, key: &str) -> Option<Result<Vec<String>, String>> {
        let text = self.get(key)?;
        Some(json::string_array(&text).ok_or_else(|| format!("{}: want an array of strings", key)))
    }

    /// The whole configuration as a JSON object with sorted keys (`{}` when there is none).
    pub fn json(&self) -> String {
        let n = unsafe { abi::config_read(std::ptr::null_mut(), 0) };
        if n <= 0 {
            return String::from("{}");
        }
        let mut buf = vec![0u8; n as usize];
        let got = unsafe { abi::config_read(buf.as_mut_ptr(), n) };
        buf.truncate(got.max(0) as usize);
        String::from_utf8_lossy(&buf).into_owned()
    }
}

/// Levels for [`log`].
#[derive(Clone, Copy, Debug)]
pub enum Level {
    /// Trace.
    Trace = 0,
    /// Debug.
    Debug = 1,
    /// Info.
    Info = 2,
    /// Warn.
    Warn = 3,
    /// Error.
    Error = 4,
}

/// Writes a line to scrim's log (the first 1 KiB is kept).
pub fn log(level: Level, msg: &str) {
    unsafe {
        abi::log(level as i32, msg.as_ptr(), msg.len() as i32);
    }
}

/// Makes a type the plugin this module implements and exports the ABI's functions. Use it once
/// per crate:
///
/// ```ignore
/// scrim::plugin! {
///     name: "motd",
///     version: "1.0.0",
///     claims: ["/etc/motd"],
///     plugin: Motd::default(),
/// }
/// ```
///
/// `claims` are path patterns (exact paths, `*`, `?` and `**` globs); scrim calls the plugin
/// for no other path. An optional `claims_from: f,` after them names a
/// `fn(&Config) -> Result<Vec<String>, String>` that adds claims computed from the
/// configuration (scrim 1.1 or later). `plugin` is evaluated once per instance.
#[macro_export]
macro_rules! plugin {
    (
        name: $name:expr,
        version: $version:expr,
        claims: [$($claim:expr),* $(,)?],
        plugin: $plugin:expr $(,)?
    ) => {
        $crate::plugin! {
            @exports $name, $version, [$($claim),*], ::std::option::Option::None, $plugin
        }
    };
    (
        name: $name:expr,
        version: $version:expr,
        claims: [$($claim:expr),* $(,)?],
        claims_from: $from:expr,
        plugin: $plugin:expr $(,)?
    ) => {
        $crate::plugin! {
            @exports $name, $version, [$($claim),*], ::std::option::Option::Some($from), $plugin
        }
    };
    (@exports $name:expr, $version:expr, [$($claim:expr),*], $from:expr, $plugin:expr) => {
        #[no_mangle]
        pub extern "C" fn scrim_abi_v1() {}

        #[no_mangle]
        pub extern "C" fn scrim_describe() -> i32 {
            $crate::__rt::describe($name, $version, &[$($claim),*], $from)
        }

        #[no_mangle]
        pub extern "C" fn scrim_init(config_len: i32) -> i32 {
            $crate::__rt::init(config_len, || ::std::boxed::Box::new($plugin))
        }

        #[no_mangle]
        pub extern "C" fn scrim_open(req_len: i32) -> i32 {
            $crate::__rt::open(req_len)
        }
    };
}

mod abi {
    #[link(wasm_import_module = "scrim_v1")]
    extern "C" {
        pub fn describe_set(ptr: *const u8, len: i32) -> i32;
        pub fn config_read(ptr: *mut u8, cap: i32) -> i32;
        pub fn config_get(key: *const u8, key_len: i32, ptr: *mut u8, cap: i32) -> i32;
        pub fn request_read(ptr: *mut u8, cap: i32) -> i32;
        pub fn real_read(ptr: *mut u8, cap: i32, offset: i32) -> i32;
        pub fn content_write(ptr: *const u8, len: i32) -> i32;
        pub fn set_mode(mode: i32) -> i32;
        pub fn set_size(size: i64) -> i32;
        pub fn set_mtime(sec: i64, nsec: i32) -> i32;
        pub fn error_set(ptr: *const u8, len: i32) -> i32;
        pub fn log(level: i32, ptr: *const u8, len: i32) -> i32;
    }
}

mod json {
    /// Parses a JSON array of strings, the form scrim gives an array-valued config key.
    pub fn string_array(text: &str) -> Option<Vec<String>> {
        let mut p = Parser { s: text.as_bytes(), i: 0 };
        p.ws();
        p.eat(b'[')?;
        let mut out = Vec::new();
        p.ws();
        if p.peek() == Some(b']') {
            p.i += 1;
        } else {
            loop {
                p.ws();
                out.push(p.string()?);
                p.ws();
                match p.next()? {
                    b',' => continue,
                    b']' => break,
                    _ => return None,
                }
            }
        }
        p.ws();
        if p.i != p.s.len() {
            return None;
        }
        Some(out)
    }

    struct Parser<'a> {
        s: &'a [u8],
        i: usize,
    }

    impl<'a> Parser<'a> {
        fn peek(&self) -> Option<u8> {
            self.s.get(self.i).copied()
        }

        fn next(&mut self) -> Option<u8> {
            let c = self.peek()?;
            self.i += 1;
            Some(c)
        }

        fn eat(&mut self, c: u8) -> Option<()> {
            if self.next()? == c {
                Some(())
            } else {
                None
            }
        }

        fn ws(&mut self) {
            while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
                self.i += 1;
            }
        }

        fn hex4(&mut self) -> Option<u32> {
            let mut v = 0;
            for _ in 0..4 {
                let d = (self.next()? as char).to_digit(16)?;
                v = v * 16 + d;
            }
            Some(v)
        }

        fn string(&mut self) -> Option<String> {
            self.eat(b'"')?;
            let mut out: Vec<u8> = Vec::new();
            loop {
                match self.next()? {
                    b'"' => return String::from_utf8(out).ok(),
                    b'\\' => {
                        let c = match self.next()? {
                            b'"' => '"',
                            b'\\' => '\\',
                            b'/' => '/',
                            b'b' => '\u{8}',
                            b'f' => '\u{c}',
                            b'n' => '\n',
                            b'r' => '\r',
                            b't' => '\t',
                            b'u' => {
                                let hi = self.hex4()?;
                                let cp = if (0xd800..0xdc00).contains(&hi) {
                                    self.eat(b'\\')?;
                                    self.eat(b'u')?;
                                    let lo = self.hex4()?;
                                    if !(0xdc00..0xe000).contains(&lo) {
                                        return None;
                                    }
                                    0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
                                } else {
                                    hi
                                };
                                char::from_u32(cp)?
                            }
                            _ => return None,
                        };
                        let mut tmp = [0u8; 4];
                        out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
                    }
                    c if c < 0x20 => return None,
                    c => out.push(c),
                }
            }
        }
    }
}

/// The runtime behind [`plugin!`]. Not part of the API.
#[doc(hidden)]
pub mod __rt {
    use super::*;

    const HEADER_V1: usize = 80;
    const HEADER_V11: usize = 88;
    const SERVE: i32 = 1;
    const REAL: i32 = 2;
    const READ_REAL: i32 = 3;
    const FAIL: i32 = 4;

    struct State {
        plugin: Option<Box<dyn Plugin>>,
        // Buffers the host copies into, reused across calls. The plugin owns its memory
        // (ABI.md §8): scrim writes only into them, during request_read and real_read.
        req: Vec<u8>,
        real: Vec<u8>,
    }

    thread_local! {
        static STATE: RefCell<State> = RefCell::new(State { plugin: None, req: Vec::new(), real: Vec::new() });
    }

    fn set_error(msg: &str) {
        unsafe {
            abi::error_set(msg.as_ptr(), msg.len() as i32);
        }
    }

    fn json_string(out: &mut String, s: &str) {
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
    }

    /// A function that computes claims from the configuration.
    pub type ClaimsFrom = fn(&Config) -> Result<Vec<String>, String>;

    /// Builds the describe document (ABI.md §4) and hands it to scrim. With `from`, the
    /// configuration is read here (ABI 1.1) and its claims follow the static ones.
    pub fn describe(name: &str, version: &str, claims: &[&str], from: Option<ClaimsFrom>) -> i32 {
        let mut all: Vec<String> = claims.iter().map(|c| c.to_string()).collect();
        if let Some(f) = from {
            match f(&Config { _private: () }) {
                Ok(more) => all.extend(more),
                Err(msg) => {
                    set_error(&msg);
                    return 1;
                }
            }
        }
        let mut doc = String::from("{\"name\":");
        json_string(&mut doc, name);
        doc.push_str(",\"version\":");
        json_string(&mut doc, version);
        doc.push_str(if from.is_some() { ",\"abi_minor\":1,\"claims\":[" } else { ",\"abi_minor\":0,\"claims\":[" });
        for (i, c) in all.iter().enumerate() {
            if i > 0 {
                doc.push(',');
            }
            json_string(&mut doc, c);
        }
        doc.push_str("]}");
        let st = unsafe { abi::describe_set(doc.as_ptr(), doc.len() as i32) };
        if st == 0 {
            0
        } else {
            1
        }
    }

    /// Creates this instance's plugin and gives it its configuration.
    pub fn init(_config_len: i32, new: fn() -> Box<dyn Plugin>) -> i32 {
        let mut plugin = new();
        if let Err(msg) = plugin.init(&Config { _private: () }) {
            set_error(&msg);
            return 1;
        }
        STATE.with(|s| s.borrow_mut().plugin = Some(plugin));
        0
    }

    fn u32_at(b: &[u8], off: usize) -> u32 {
        u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
    }

    fn span(b: &[u8], off: u32, len: u32) -> Option<&[u8]> {
        let end = (off as usize).checked_add(len as usize)?;
        b.get(off as usize..end)
    }

    /// Runs one scrim_open: reads the request, asks the plugin, hands over its verdict.
    pub fn open(req_len: i32) -> i32 {
        STATE.with(|cell| {
            let mut guard = cell.borrow_mut();
            let state = &mut *guard;
            match decide(state, req_len) {
                Ok(v) => v,
                Err(msg) => {
                    set_error(&msg);
                    FAIL
                }
            }
        })
    }

    fn decide(state: &mut State, req_len: i32) -> Result<i32, String> {
        let plugin = state.plugin.as_mut().ok_or("scrim: open before init")?;
        if req_len < HEADER_V1 as i32 {
            return Err("scrim: request shorter than its header".into());
        }
        let n = req_len as usize;
        state.req.resize(n, 0);
        if unsafe { abi::request_read(state.req.as_mut_ptr(), req_len) } != req_len {
            return Err("scrim: request changed size while read".into());
        }
        let b = &state.req[..];
        let hs = u32_at(b, 0) as usize;
        if hs < HEADER_V1 {
            return Err("scrim: request header too short".into());
        }
        let path = span(b, u32_at(b, 48), u32_at(b, 52)).ok_or("scrim: request path outside the request")?;
        let sandbox = span(b, u32_at(b, 56), u32_at(b, 60)).ok_or("scrim: sandbox name outside the request")?;
        let real = if u32_at(b, 8) == 1 {
            let len = u32_at(b, 64) as usize;
            state.real.resize(len, 0);
            let mut off = 0;
            while off < len {
                let got = unsafe { abi::real_read(state.real[off..].as_mut_ptr(), (len - off) as i32, off as i32) };
                if got <= 0 {
                    return Err("scrim: real content ended early".into());
                }
                off += got as usize;
            }
            let errno = u32_at(b, 68) as i32;
            Some(RealFile {
                data: &state.real[..],
                errno: if errno == 0 { None } else { Some(Errno(errno)) },
                truncated: u32_at(b, 72) & 1 != 0,
            })
        } else {
            None
        };
        let req = Request {
            path,
            sandbox: std::str::from_utf8(sandbox).unwrap_or(""),
            syscall: Syscall::from_abi(u32_at(b, 12)),
            op: if hs >= HEADER_V11 { Op::from_abi(u32_at(b, 80)) } else { Op::Open },
            flags: u32_at(b, 16) as u64 | (u32_at(b, 20) as u64) << 32,
            mode: u32_at(b, 24),
            object_mode: u32_at(b, 28),
            pid: u32_at(b, 32) as i32,
            tid: u32_at(b, 36) as i32,
            uid: u32_at(b, 40),
            gid: u32_at(b, 44),
            real,
        };
        Ok(match plugin.open(&req) {
            Verdict::Next => 0,
            Verdict::Serve { content, mode } => {
                if !content.is_empty() && unsafe { abi::content_write(content.as_ptr(), content.len() as i32) } != 0 {
                    return Err("scrim: content refused (more than 1 MiB?)".into());
                }
                if mode != 0o444 && unsafe { abi::set_mode(mode as i32) } != 0 {
                    return Err(format!("scrim: mode {:o} refused", mode));
                }
                SERVE
            }
            Verdict::ServeFile(f) => {
                if !f.content.is_empty() && unsafe { abi::content_write(f.content.as_ptr(), f.content.len() as i32) } != 0 {
                    return Err("scrim: content refused (more than 1 MiB?)".into());
                }
                let mode = if f.dir { 0o040000 | f.mode } else { f.mode };
                if mode != 0o444 && unsafe { abi::set_mode(mode as i32) } != 0 {
                    return Err(format!("scrim: mode {:o} refused", mode));
                }
                if let Some(size) = f.size {
                    if unsafe { abi::set_size(size as i64) } != 0 {
                        return Err("scrim: size refused".into());
                    }
                }
                if let Some((sec, nsec)) = f.mtime {
                    if unsafe { abi::set_mtime(sec, nsec) } != 0 {
                        return Err("scrim: modification time refused".into());
                    }
                }
                SERVE
            }
            Verdict::Deny(e) => -e.0,
            Verdict::Real => REAL,
            Verdict::ReadReal => READ_REAL,
            Verdict::Fail(msg) => {
                set_error(&msg);
                FAIL
            }
        })
    }
}
