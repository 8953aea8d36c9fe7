// Write scrim plugins in AssemblyScript.
//
// A plugin subclasses Plugin, registers one instance from its entry file, and re-exports the
// ABI's functions from "exports" (installed as the npm package scrim-plugin-sdk, or imported by
// relative path: "../sdk/assemblyscript/assembly/index" and ".../assembly/exports"):
//
//   import { Plugin, Request, Verdict, register } from "scrim-plugin-sdk";
//   export * from "scrim-plugin-sdk/exports";
//
//   class Motd extends Plugin {
//     open(req: Request): Verdict {
//       return Verdict.serve("hello\n");
//     }
//   }
//
//   register("motd", "1.0.0", ["/etc/motd"], new Motd());
//
// This module implements scrim's plugin ABI v1 (plugins/ABI.md in the scrim repository): the
// imports scrim provides, the request layout and the buffers that cross between scrim and the
// plugin. Errno values are Linux's (Errno.EACCES is 13).

// ---- the raw ABI (ABI.md §8) -------------------------------------------------------------

// @ts-ignore: decorator
@external("scrim_v1", "describe_set")
declare function abiDescribeSet(ptr: usize, len: i32): i32;
// @ts-ignore: decorator
@external("scrim_v1", "config_read")
declare function abiConfigRead(ptr: usize, cap: i32): i32;
// @ts-ignore: decorator
@external("scrim_v1", "config_get")
declare function abiConfigGet(key: usize, keyLen: i32, ptr: usize, cap: i32): i32;
// @ts-ignore: decorator
@external("scrim_v1", "request_read")
declare function abiRequestRead(ptr: usize, cap: i32): i32;
// @ts-ignore: decorator
@external("scrim_v1", "real_read")
declare function abiRealRead(ptr: usize, cap: i32, offset: i32): i32;
// @ts-ignore: decorator
@external("scrim_v1", "content_write")
declare function abiContentWrite(ptr: usize, len: i32): i32;
// @ts-ignore: decorator
@external("scrim_v1", "set_mode")
declare function abiSetMode(mode: i32): i32;
// @ts-ignore: decorator
@external("scrim_v1", "set_size")
declare function abiSetSize(size: i64): i32;
// @ts-ignore: decorator
@external("scrim_v1", "set_mtime")
declare function abiSetMtime(sec: i64, nsec: i32): i32;
// @ts-ignore: decorator
@external("scrim_v1", "error_set")
declare function abiErrorSet(ptr: usize, len: i32): i32;
// @ts-ignore: decorator
@external("scrim_v1", "log")
declare function abiLog(level: i32, ptr: usize, len: i32): i32;

const HEADER_V1: i32 = 80;
const HEADER_V11: u32 = 88;
const CODE_NEXT: i32 = 0;
const CODE_SERVE: i32 = 1;
const CODE_REAL: i32 = 2;
const CODE_READ_REAL: i32 = 3;
const CODE_FAIL: i32 = 4;

// ---- the API -----------------------------------------------------------------------------

/** Linux error numbers, as the sandboxed program sees them. */
export namespace Errno {
  export const EPERM: i32 = 1;
  export const ENOENT: i32 = 2;
  export const EIO: i32 = 5;
  export const EACCES: i32 = 13;
  export const EBUSY: i32 = 16;
  export const EEXIST: i32 = 17;
  export const ENOTDIR: i32 = 20;
  export const EISDIR: i32 = 21;
  export const EINVAL: i32 = 22;
  export const EROFS: i32 = 30;
  export const ENOSYS: i32 = 38;
}

/** Linux open flags on x86_64, as the sandboxed program passes them. */
export namespace Flags {
  export const O_ACCMODE: u64 = 0x3;
  export const O_RDONLY: u64 = 0x0;
  export const O_WRONLY: u64 = 0x1;
  export const O_RDWR: u64 = 0x2;
  export const O_CREAT: u64 = 0x40;
  export const O_EXCL: u64 = 0x80;
  export const O_TRUNC: u64 = 0x200;
  export const O_APPEND: u64 = 0x400;
  export const O_DIRECTORY: u64 = 0x10000;
  export const O_NOFOLLOW: u64 = 0x20000;
  export const O_CLOEXEC: u64 = 0x80000;
  export const O_TMPFILE: u64 = 0x410000;
}

/** The calls, as Request.syscall numbers them: the open family, then the look-ups. */
export namespace Syscall {
  export const OPEN: u32 = 1;
  export const OPENAT: u32 = 2;
  export const OPENAT2: u32 = 3;
  export const CREAT: u32 = 4;
  export const STAT: u32 = 5;
  export const LSTAT: u32 = 6;
  export const NEWFSTATAT: u32 = 7;
  export const STATX: u32 = 8;
  export const ACCESS: u32 = 9;
  export const FACCESSAT: u32 = 10;
  export const FACCESSAT2: u32 = 11;
  export const READLINK: u32 = 12;
  export const READLINKAT: u32 = 13;
  export const CHDIR: u32 = 14;
}

/** What a request asks about (ABI 1.1): an open, which needs the content, or a look-up,
 * which needs only what the served file is (Verdict.serveSize, Verdict.serveDir). */
export namespace Op {
  export const OPEN: u32 = 0;
  /** stat, lstat, newfstatat, statx, readlink, chdir, getxattr, listxattr, a listing of the parent directory */
  export const STAT: u32 = 1;
  /** access, faccessat, faccessat2 */
  export const ACCESS: u32 = 2;
}

/** The real file behind a request, read as the sandboxed program would have read it. */
export class RealFile {
  /** The content, at most 1 MiB. */
  data: Uint8Array = new Uint8Array(0);
  /** A Linux errno when the program could not have read the file (data is then empty). */
  errno: i32 = 0;
  /** The file is longer than data. */
  truncated: bool = false;

  /** The content decoded as UTF-8. */
  text(): string {
    return String.UTF8.decodeUnsafe(this.data.dataStart, this.data.length);
  }
}

/** One open of a claimed path. */
export class Request {
  /** The canonical absolute path as the program sees it, decoded as UTF-8. */
  path: string = "";
  /** The same path as bytes: Linux paths need not be UTF-8. */
  pathBytes: Uint8Array = new Uint8Array(0);
  /** The sandbox's name. */
  sandbox: string = "";
  /** The call that opened or looked the path up (Syscall.OPENAT, ...). */
  syscall: u32 = 0;
  /** Op.OPEN for an open; for a look-up the plugin may answer with Verdict.serveSize or
   * Verdict.serveDir instead of the content. A deny refuses opens, never look-ups. */
  op: u32 = 0;
  /** The O_* flags as the program passed them (see Flags). */
  flags: u64 = 0;
  /** The creation mode, before the umask. */
  mode: u32 = 0;
  /** st_mode of what the path resolved to; 0 if it does not exist. */
  objectMode: u32 = 0;
  /** The caller's process and thread ids. */
  pid: i32 = 0;
  tid: i32 = 0;
  /** The caller's filesystem user and group ids. */
  uid: u32 = 0;
  gid: u32 = 0;
  /** The real file, set in the call after Verdict.readReal(). */
  real: RealFile | null = null;

  /** Whether the request only looks the path up (stat, access, a listing). */
  isLookup(): bool {
    return this.op != Op.OPEN;
  }

  /** Whether the path resolved to an existing object. */
  exists(): bool {
    return this.objectMode != 0;
  }

  /** Whether the open asks to write, truncate or create; scrim answers such opens of
   * served content with EROFS itself. */
  wantsWrite(): bool {
    return (this.flags & Flags.O_ACCMODE) != Flags.O_RDONLY ||
      (this.flags & (Flags.O_TRUNC | Flags.O_CREAT)) != 0 ||
      (this.flags & Flags.O_TMPFILE) == Flags.O_TMPFILE;
  }
}

/** A plugin's answer to one open. Build one with Verdict.next(), serve(), deny(), ... */
export class Verdict {
  private constructor(
    public code: i32,
    public content: Uint8Array | null = null,
    public mode: u32 = 0o444,
    public reason: string = "",
  ) {}

  /** The size a look-up shows without content (-1: the content's length). */
  size: i64 = -1;
  /** A served directory, which answers look-ups only. */
  dir: bool = false;
  /** The modification time, when set. */
  mtimeSec: i64 = 0;
  mtimeNsec: i32 = 0;
  hasMtime: bool = false;

  /** Leaves the open to the next handler, as if the plugin had not claimed the path. */
  static next(): Verdict {
    return new Verdict(CODE_NEXT);
  }

  /** Serves text, encoded as UTF-8, as a read-only file with mode 0444. */
  static serve(text: string): Verdict {
    return new Verdict(CODE_SERVE, Uint8Array.wrap(String.UTF8.encode(text)));
  }

  /** Serves bytes as a read-only file with mode 0444. */
  static serveBytes(data: Uint8Array): Verdict {
    return new Verdict(CODE_SERVE, data);
  }

  /** Fails the open with a Linux errno (1 to 133, such as Errno.EACCES). */
  static deny(errno: i32): Verdict {
    return new Verdict(-errno);
  }

  /** Opens the real file, skipping the handlers after this plugin. */
  static real(): Verdict {
    return new Verdict(CODE_REAL);
  }

  /** Reads the real file as the program would and calls open again with req.real set. */
  static readReal(): Verdict {
    return new Verdict(CODE_READ_REAL);
  }

  /** The plugin cannot decide: the open fails with its on_error errno and scrim logs why. */
  static fail(why: string): Verdict {
    return new Verdict(CODE_FAIL, null, 0o444, why);
  }

  /** Answers a look-up (req.isLookup()) without building the content: the path is a served
   * read-only file of size bytes. It must be the size an open of the path serves, since
   * programs such as cp compare the two. */
  static serveSize(size: i64): Verdict {
    const v = new Verdict(CODE_SERVE);
    v.size = size < 0 ? 0 : size;
    return v;
  }

  /** Answers a look-up: the path is a directory (mode 0555). A directory answers look-ups
   * only: an open of it goes on to the handlers after the plugin. */
  static serveDir(): Verdict {
    const v = new Verdict(CODE_SERVE, null, 0o555);
    v.dir = true;
    return v;
  }

  /** Sets the permission bits of served content. */
  withMode(perm: u32): Verdict {
    this.mode = perm & 0o777;
    return this;
  }

  /** Sets the modification time of served content, in seconds and nanoseconds since 1970
   * (by default, when scrim first served it). */
  withMtime(sec: i64, nsec: i32): Verdict {
    this.mtimeSec = sec;
    this.mtimeNsec = nsec;
    this.hasMtime = true;
    return this;
  }
}

/** The plugin's configuration, the user's [plugin.config] table. Readable during init only. */
export class Config {
  /** A top-level value as text: a string as it is, a number or boolean as JSON spells it,
   * an array or table as JSON. null when the key is absent. */
  get(key: string): string | null {
    const k = String.UTF8.encode(key);
    let buf = new ArrayBuffer(256);
    let n = abiConfigGet(changetype<usize>(k), k.byteLength, changetype<usize>(buf), buf.byteLength);
    if (n < 0) return null;
    if (n > buf.byteLength) {
      // The host returns the full length: copy again with room for all of it.
      buf = new ArrayBuffer(n);
      n = abiConfigGet(changetype<usize>(k), k.byteLength, changetype<usize>(buf), buf.byteLength);
      if (n < 0 || n > buf.byteLength) return null;
    }
    return String.UTF8.decodeUnsafe(changetype<usize>(buf), <usize>n);
  }

  /** The whole configuration as a JSON object with sorted keys ("{}" when there is none). */
  json(): string {
    const n = abiConfigRead(0, 0);
    if (n <= 0) return "{}";
    const buf = new ArrayBuffer(n);
    abiConfigRead(changetype<usize>(buf), n);
    return String.UTF8.decode(buf);
  }
}

/** A plugin: what it does with its configuration and how it decides. Subclass it. */
export abstract class Plugin {
  /** Receives the configuration once per instance. Return null to accept it, or the reason
   * to refuse it: scrim then stops before the sandbox starts and shows the reason. */
  init(config: Config): string | null {
    return null;
  }

  /** Decides one open of a claimed path. Every instance must give the same answer. */
  abstract open(req: Request): Verdict;
}

/** Log levels. */
export namespace Level {
  export const TRACE: i32 = 0;
  export const DEBUG: i32 = 1;
  export const INFO: i32 = 2;
  export const WARN: i32 = 3;
  export const ERROR: i32 = 4;
}

/** Writes a line to scrim's log (the first 1 KiB is kept). */
export function log(level: i32, msg: string): void {
  const b = String.UTF8.encode(msg);
  abiLog(level, changetype<usize>(b), b.byteLength);
}

// ---- registration and the runtime behind the exports ---------------------------------------

let registered: Plugin | null = null;
let regName: string = "";
let regVersion: string = "";
let regClaims: string[] = [];
let claimsFrom: ((config: Config) => string[]) | null = null;

function jsonString(s: string): string {
  let out = "\"";
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c == 0x22 || c == 0x5c) {
      out += "\\" + String.fromCharCode(c);
    } else if (c < 0x20) {
      out += "\\u00" + (c < 0x10 ? "0" : "") + c.toString(16);
    } else {
      out += String.fromCharCode(c);
    }
  }
  return out + "\"";
}

/** Makes plugin the one this module implements, with its name, version and claims (path
 * patterns: exact paths, "*", "?" and "**" globs; scrim calls open for no other path). Call
 * it once, at the top level of the entry file. */
export function register(name: string, version: string, claims: string[], plugin: Plugin): void {
  regName = name;
  regVersion = version;
  regClaims = claims;
  registered = plugin;
}

/** Adds claims computed from the configuration, such as a prefix the user configures: fn
 * reads it (config.get) and returns more path patterns. It runs once, before init, and needs
 * scrim 1.1 or later. Call it next to register. */
export function registerClaimsFrom(fn: (config: Config) => string[]): void {
  claimsFrom = fn;
}

function setError(msg: string): void {
  const b = String.UTF8.encode(msg);
  abiErrorSet(changetype<usize>(b), b.byteLength);
}

/** @internal */
export function runDescribe(): i32 {
  if (registered == null) {
    setError("scrim: no plugin registered (call register at the top level)");
    return 1;
  }
  let claims = regClaims;
  const from = claimsFrom;
  if (from != null) {
    // ABI 1.1: the configuration is readable in scrim_describe.
    claims = claims.concat(from(new Config()));
  }
  let doc = "{\"name\":" + jsonString(regName) + ",\"version\":" + jsonString(regVersion) +
    ",\"abi_minor\":" + (from != null ? "1" : "0") + ",\"claims\":[";
  for (let i = 0; i < claims.length; i++) {
    if (i > 0) doc += ",";
    doc += jsonString(claims[i]);
  }
  doc += "]}";
  const b = String.UTF8.encode(doc);
  return abiDescribeSet(changetype<usize>(b), b.byteLength) == 0 ? 0 : 1;
}

/** @internal */
export function runInit(): i32 {
  const p = registered;
  if (p == null) {
    setError("scrim: no plugin registered (call register at the top level)");
    return 1;
  }
  const why = p.init(new Config());
  if (why != null) {
    setError(why);
    return 1;
  }
  return 0;
}

// Buffers the host copies into, reused across calls. The plugin owns its memory (ABI.md §8):
// scrim writes only into them, during request_read and real_read.
let reqBuf = new Uint8Array(8192);
let realBuf = new Uint8Array(0);

function fail(why: string): i32 {
  setError(why);
  return CODE_FAIL;
}

/** @internal */
export function runOpen(reqLen: i32): i32 {
  const p = registered;
  if (p == null) return fail("scrim: no plugin registered");
  if (reqLen < HEADER_V1) return fail("scrim: request shorter than its header");
  if (reqBuf.length < reqLen) reqBuf = new Uint8Array(reqLen);
  const b = reqBuf.dataStart;
  if (abiRequestRead(b, reqLen) != reqLen) return fail("scrim: request changed size while read");
  const n = <u32>reqLen;
  const pathOff = load<u32>(b, 48), pathLen = load<u32>(b, 52);
  const sbOff = load<u32>(b, 56), sbLen = load<u32>(b, 60);
  if (load<u32>(b, 0) < <u32>HEADER_V1 || pathOff > n || pathLen > n - pathOff || sbOff > n || sbLen > n - sbOff) {
    return fail("scrim: request fields outside the request");
  }
  const req = new Request();
  req.pathBytes = reqBuf.slice(<i32>pathOff, <i32>(pathOff + pathLen));
  req.path = String.UTF8.decodeUnsafe(b + pathOff, pathLen);
  req.sandbox = String.UTF8.decodeUnsafe(b + sbOff, sbLen);
  req.syscall = load<u32>(b, 12);
  if (load<u32>(b, 0) >= HEADER_V11) req.op = load<u32>(b, 80);
  req.flags = load<u64>(b, 16);
  req.mode = load<u32>(b, 24);
  req.objectMode = load<u32>(b, 28);
  req.pid = load<i32>(b, 32);
  req.tid = load<i32>(b, 36);
  req.uid = load<u32>(b, 40);
  req.gid = load<u32>(b, 44);
  if (load<u32>(b, 8) == 1) {
    const realLen = <i32>load<u32>(b, 64);
    if (realBuf.length < realLen) realBuf = new Uint8Array(realLen);
    for (let off = 0; off < realLen; ) {
      const got = abiRealRead(realBuf.dataStart + <usize>off, realLen - off, off);
      if (got <= 0) return fail("scrim: real content ended early");
      off += got;
    }
    const real = new RealFile();
    real.data = realBuf.subarray(0, realLen);
    real.errno = load<i32>(b, 68);
    real.truncated = (load<u32>(b, 72) & 1) != 0;
    req.real = real;
  }
  const v = p.open(req);
  if (v.code == CODE_SERVE) {
    const c = v.content;
    if (c != null && c.length > 0 && abiContentWrite(c.dataStart, c.length) != 0) {
      return fail("scrim: content refused (more than 1 MiB?)");
    }
    const mode = v.dir ? 0o040000 | v.mode : v.mode;
    if (mode != 0o444 && abiSetMode(<i32>mode) != 0) return fail("scrim: mode refused");
    if (v.size >= 0 && abiSetSize(v.size) != 0) return fail("scrim: size refused");
    if (v.hasMtime && abiSetMtime(v.mtimeSec, v.mtimeNsec) != 0) return fail("scrim: modification time refused");
  } else if (v.code == CODE_FAIL) {
    setError(v.reason);
  }
  return v.code;
}
