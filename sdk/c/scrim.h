/*
 * scrim.h: write scrim plugins in C.
 *
 * A plugin is one C file that includes this header, defines a decision function and names it
 * with SCRIM_PLUGIN. The header implements scrim's plugin ABI v1 (plugins/ABI.md in the scrim
 * repository): the exports scrim calls, the imports it provides, the request layout and the
 * buffers that cross between them. Build with clang and wasi-libc as a WASI reactor:
 *
 *   clang --target=wasm32-wasi --sysroot=/usr -mexec-model=reactor -O2 -o p.wasm p.c
 *
 * A complete plugin:
 *
 *   #include "scrim.h"
 *
 *   static const char *const claims[] = {"/etc/motd", NULL};
 *
 *   static scrim_verdict decide(const scrim_request *req) {
 *       return scrim_serve_str("hello\n");
 *   }
 *
 *   SCRIM_PLUGIN(.name = "motd", .version = "1.0.0", .claims = claims, .open = decide);
 *
 * Errno values are Linux's (SCRIM_EACCES is 13), not wasi-libc's <errno.h>, which numbers
 * errors its own way: never return scrim_deny(EACCES).
 *
 * Include it with SCRIM_PLUGIN in exactly one file of a plugin: that file gets the exports.
 * Other files of the same plugin define SCRIM_NO_EXPORTS before including it.
 *
 * Everything named scrim__ is private to this header.
 */
#ifndef SCRIM_H
#define SCRIM_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef __wasm32__
#error "scrim.h builds WebAssembly plugins: compile with --target=wasm32-wasi"
#endif

/* Linux errno values, as the sandboxed program sees them. */
enum {
	SCRIM_EPERM = 1,
	SCRIM_ENOENT = 2,
	SCRIM_EIO = 5,
	SCRIM_EACCES = 13,
	SCRIM_EBUSY = 16,
	SCRIM_EEXIST = 17,
	SCRIM_ENOTDIR = 20,
	SCRIM_EISDIR = 21,
	SCRIM_EINVAL = 22,
	SCRIM_EROFS = 30,
	SCRIM_ENOSYS = 38,
};

/* Linux open flags on x86_64, as the sandboxed program passes them. */
#define SCRIM_O_ACCMODE 0x3
#define SCRIM_O_RDONLY 0x0
#define SCRIM_O_WRONLY 0x1
#define SCRIM_O_RDWR 0x2
#define SCRIM_O_CREAT 0x40
#define SCRIM_O_EXCL 0x80
#define SCRIM_O_TRUNC 0x200
#define SCRIM_O_APPEND 0x400
#define SCRIM_O_DIRECTORY 0x10000
#define SCRIM_O_NOFOLLOW 0x20000
#define SCRIM_O_CLOEXEC 0x80000
#define SCRIM_O_TMPFILE 0x410000

/* The call behind a request: the open family, then the look-ups (ABI 1.1). */
enum scrim_syscall {
	SCRIM_SYS_OPEN = 1,
	SCRIM_SYS_OPENAT = 2,
	SCRIM_SYS_OPENAT2 = 3,
	SCRIM_SYS_CREAT = 4,
	SCRIM_SYS_STAT = 5,
	SCRIM_SYS_LSTAT = 6,
	SCRIM_SYS_NEWFSTATAT = 7,
	SCRIM_SYS_STATX = 8,
	SCRIM_SYS_ACCESS = 9,
	SCRIM_SYS_FACCESSAT = 10,
	SCRIM_SYS_FACCESSAT2 = 11,
	SCRIM_SYS_READLINK = 12,
	SCRIM_SYS_READLINKAT = 13,
	SCRIM_SYS_CHDIR = 14,
};

/*
 * What a request asks about (ABI 1.1): an open, which needs the content, or a look-up, which
 * needs only what the served file is. A look-up of a path the plugin serves may be answered
 * with scrim_serve_size or scrim_serve_dir instead of the content; a deny refuses opens only.
 */
enum scrim_op {
	SCRIM_OP_OPEN = 0,
	SCRIM_OP_STAT = 1,   /* stat, lstat, newfstatat, statx, readlink, chdir, getxattr, listxattr, a listing */
	SCRIM_OP_ACCESS = 2, /* access, faccessat, faccessat2 */
};

/* Log levels for scrim_log. */
enum scrim_level {
	SCRIM_TRACE = 0,
	SCRIM_DEBUG = 1,
	SCRIM_INFO = 2,
	SCRIM_WARN = 3,
	SCRIM_ERROR = 4,
};

/* A verdict, as scrim_open returns it. Build one with the scrim_next ... scrim_fail calls. */
typedef int32_t scrim_verdict;

/*
 * scrim_request is one open of a claimed path. It and every pointer in it are valid until
 * the decision function returns.
 */
typedef struct scrim_request {
	/* The canonical absolute path as the program sees it from its root, NUL-terminated
	 * (paths cannot hold NUL). It is bytes, not necessarily UTF-8. */
	const char *path;
	size_t path_len;
	/* The sandbox's name, NUL-terminated. */
	const char *sandbox;
	size_t sandbox_len;
	enum scrim_syscall syscall;
	enum scrim_op op;     /* SCRIM_OP_OPEN, or a look-up */
	uint64_t flags;       /* O_* flags as passed */
	uint32_t mode;        /* creation mode, before the umask */
	uint32_t object_mode; /* st_mode of what path resolved to; 0 if it does not exist */
	int32_t pid, tid;
	uint32_t uid, gid; /* the caller's filesystem ids */
	/* has_real is true in the call after scrim_read_real(): real holds up to 1 MiB of the
	 * real file as the program could read it, or real_errno is the Linux errno that
	 * reading it gave (real_len is then 0). */
	bool has_real;
	const uint8_t *real;
	size_t real_len;
	int real_errno;
	bool real_truncated; /* the file is longer than real_len */
} scrim_request;

/* scrim_plugin describes a plugin. Only open is required. */
typedef struct scrim_plugin {
	const char *name;
	const char *version;
	/* NULL-terminated array of path patterns (ABI.md §4): exact paths such as "/etc/motd",
	 * and globs with "*", "?" and "**". scrim calls open for no other path. */
	const char *const *claims;
	/* claims_from_config, when set, adds claims computed from the configuration: it reads
	 * it with scrim_config_get and calls scrim_claim for each. It runs once, before init,
	 * and needs scrim 1.1 or later. Return 0, or scrim_refuse("why"). */
	int (*claims_from_config)(void);
	/* init, when set, runs once per instance with the configuration readable through
	 * scrim_config_get. Return 0 to accept it, or scrim_refuse("why") to stop scrim. */
	int (*init)(void);
	/* open decides one open, and each look-up (req->op): what a stat, access or listing of
	 * the path shows follows what open serves for it. Every instance must give the same
	 * answer. */
	scrim_verdict (*open)(const scrim_request *req);
} scrim_plugin;

/* SCRIM_PLUGIN(.field = value, ...) defines the plugin this module implements. Use it once. */
#define SCRIM_PLUGIN(...)                                                                  \
	static const scrim_plugin scrim__plugin_def = {__VA_ARGS__};                            \
	const scrim_plugin *const scrim__plugin = &scrim__plugin_def

/* ---- the raw ABI (ABI.md §8) ---------------------------------------------------------- */

#define SCRIM__IMPORT(name) __attribute__((import_module("scrim_v1"), import_name(#name)))
#define SCRIM__EXPORT(name) __attribute__((export_name(#name)))

SCRIM__IMPORT(describe_set) int32_t scrim__describe_set(const void *ptr, int32_t len);
SCRIM__IMPORT(config_read) int32_t scrim__config_read(void *ptr, int32_t cap);
SCRIM__IMPORT(config_get)
int32_t scrim__config_get(const void *key, int32_t key_len, void *ptr, int32_t cap);
SCRIM__IMPORT(request_read) int32_t scrim__request_read(void *ptr, int32_t cap);
SCRIM__IMPORT(real_read) int32_t scrim__real_read(void *ptr, int32_t cap, int32_t offset);
SCRIM__IMPORT(content_write) int32_t scrim__content_write(const void *ptr, int32_t len);
SCRIM__IMPORT(set_mode) int32_t scrim__set_mode(int32_t mode);
SCRIM__IMPORT(set_size) int32_t scrim__set_size(int64_t size);
SCRIM__IMPORT(set_mtime) int32_t scrim__set_mtime(int64_t sec, int32_t nsec);
SCRIM__IMPORT(error_set) int32_t scrim__error_set(const void *ptr, int32_t len);
SCRIM__IMPORT(log) int32_t scrim__log(int32_t level, const void *ptr, int32_t len);

enum {
	SCRIM__NEXT = 0,
	SCRIM__SERVE = 1,
	SCRIM__REAL = 2,
	SCRIM__READ_REAL = 3,
	SCRIM__FAIL = 4,
	SCRIM__HEADER_V1 = 80,
	SCRIM__HEADER_V11 = 88,
	SCRIM__CONTENT_CAP = 1 << 20,
};

extern const scrim_plugin *const scrim__plugin;

/* Per-call state: whether content was refused during this call (defined with the exports). */
extern bool scrim__content_failed;

/* ---- verdicts ------------------------------------------------------------------------- */

/* scrim_next leaves the open to the next handler, as if the plugin had not claimed it. */
static inline scrim_verdict scrim_next(void) { return SCRIM__NEXT; }

/* scrim_real opens the real file, skipping the handlers after this plugin. */
static inline scrim_verdict scrim_real(void) { return SCRIM__REAL; }

/* scrim_read_real asks scrim to read the real file as the program would and to call open
 * again with req->has_real set. */
static inline scrim_verdict scrim_read_real(void) { return SCRIM__READ_REAL; }

/* scrim_deny fails the open with a Linux errno (1...133; SCRIM_EACCES, not EACCES). */
static inline scrim_verdict scrim_deny(int linux_errno) { return -(scrim_verdict)linux_errno; }

/* scrim_fail says the plugin cannot decide: the open fails with the plugin's on_error errno
 * and why is logged by scrim. */
static inline scrim_verdict scrim_fail(const char *why)
{
	if (why)
		scrim__error_set(why, (int32_t)strlen(why));
	return SCRIM__FAIL;
}

/* scrim_write appends len bytes to the content this call serves. It returns false when
 * scrim refused them (past the 1 MiB cap); the call then fails whatever it returns. */
static inline bool scrim_write(const void *data, size_t len)
{
	if (len == 0)
		return !scrim__content_failed;
	if (len > SCRIM__CONTENT_CAP || scrim__content_write(data, (int32_t)len) != 0)
		scrim__content_failed = true;
	return !scrim__content_failed;
}

/* scrim_writef appends printf-formatted text to the content this call serves. */
static inline bool scrim_writef(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline bool scrim_writef(const char *fmt, ...)
{
	char small[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0)
		return !(scrim__content_failed = true);
	if ((size_t)n < sizeof small)
		return scrim_write(small, (size_t)n);
	char *big = malloc((size_t)n + 1);
	if (!big)
		return !(scrim__content_failed = true);
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	bool ok = scrim_write(big, (size_t)n);
	free(big);
	return ok;
}

/* scrim_serve serves data, after anything scrim_write appended, as a read-only file with
 * mode 0444 (or scrim_set_mode's). scrim_serve(NULL, 0) serves just what was written. */
static inline scrim_verdict scrim_serve(const void *data, size_t len)
{
	if (!scrim_write(data, len))
		return scrim_fail("scrim.h: content refused (more than 1 MiB?)");
	return SCRIM__SERVE;
}

/* scrim_serve_str serves a NUL-terminated string. */
static inline scrim_verdict scrim_serve_str(const char *s) { return scrim_serve(s, strlen(s)); }

/* scrim_set_mode sets the permission bits of the file this call serves (default 0444). */
static inline bool scrim_set_mode(uint32_t perm) { return scrim__set_mode((int32_t)perm) == 0; }

/* scrim_set_mtime sets the modification time of the file this call serves, in seconds and
 * nanoseconds since 1970 (by default, when scrim first served it). ABI 1.1. */
static inline bool scrim_set_mtime(int64_t sec, int32_t nsec)
{
	return scrim__set_mtime(sec, nsec) == 0;
}

/* scrim_serve_size answers a look-up (req->op != SCRIM_OP_OPEN) without building the content:
 * the path is a served read-only file of size bytes. It must be the size an open of the path
 * serves, since programs such as cp compare the two. ABI 1.1. */
static inline scrim_verdict scrim_serve_size(int64_t size)
{
	if (scrim__set_size(size) != 0)
		return scrim_fail("scrim.h: size refused");
	return SCRIM__SERVE;
}

/* scrim_serve_dir answers a look-up: the path is a directory with permission bits perm (such
 * as 0555). A directory answers look-ups only: an open of it goes on to the handlers after
 * the plugin. ABI 1.1. */
static inline scrim_verdict scrim_serve_dir(uint32_t perm)
{
	if (scrim__set_mode((int32_t)(0040000 | (perm & 0777))) != 0)
		return scrim_fail("scrim.h: directory mode refused");
	return SCRIM__SERVE;
}

/* ---- configuration, errors and logs --------------------------------------------------- */

/*
 * scrim_config_get copies a top-level configuration value as text (a string without quotes,
 * a number or boolean as JSON spells it, an array or table as JSON) into buf, NUL-terminated
 * when it fits. It returns the value's full length (copy again with a larger buf when that is
 * >= cap), or -1 when the key is absent. Valid only during init and claims_from_config.
 */
static inline long scrim_config_get(const char *key, char *buf, size_t cap)
{
	int32_t n = scrim__config_get(key, (int32_t)strlen(key), buf, cap ? (int32_t)cap - 1 : 0);
	if (n < 0)
		return -1;
	if (cap)
		buf[(size_t)n < cap - 1 ? (size_t)n : cap - 1] = '\0';
	return n;
}

/* scrim_config_dup returns a value as scrim_config_get gives it, in a malloc'd string the
 * caller frees, or NULL when the key is absent. Valid only during init and
 * claims_from_config. */
static inline char *scrim_config_dup(const char *key)
{
	char probe[1];
	long n = scrim_config_get(key, probe, 0);
	if (n < 0)
		return NULL;
	char *s = malloc((size_t)n + 1);
	if (!s)
		return NULL;
	scrim_config_get(key, s, (size_t)n + 1);
	return s;
}

/* scrim_config_json returns the whole configuration as a NUL-terminated JSON object (sorted
 * keys; "{}" when there is none), owned by the SDK. Valid only during init. */
static inline const char *scrim_config_json(void)
{
	static char *json;
	int32_t n = scrim__config_read(NULL, 0);
	if (n < 0)
		return NULL;
	free(json);
	json = malloc((size_t)n + 1);
	if (!json)
		return NULL;
	scrim__config_read(json, n);
	json[n] = '\0';
	return json;
}

/* Claims added by claims_from_config (defined with the exports). */
extern char **scrim__dyn_claims;
extern size_t scrim__dyn_len, scrim__dyn_cap;

/* scrim_claim adds a path pattern to the plugin's claims. Valid only during
 * claims_from_config; it returns false when out of memory. */
static inline bool scrim_claim(const char *pattern)
{
	if (scrim__dyn_len == scrim__dyn_cap) {
		size_t cap = scrim__dyn_cap ? 2 * scrim__dyn_cap : 8;
		char **c = realloc(scrim__dyn_claims, cap * sizeof *c);
		if (!c)
			return false;
		scrim__dyn_claims = c;
		scrim__dyn_cap = cap;
	}
	char *dup = strdup(pattern);
	if (!dup)
		return false;
	scrim__dyn_claims[scrim__dyn_len++] = dup;
	return true;
}

/* scrim_refuse explains why init rejects the configuration and returns the value init
 * returns: `return scrim_refuse("allow: want an array");`. */
static inline int scrim_refuse(const char *why)
{
	scrim__error_set(why, (int32_t)strlen(why));
	return 1;
}

/* scrim_log writes a printf-formatted line to scrim's log (at most 1 KiB is kept). */
static inline void scrim_log(enum scrim_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline void scrim_log(enum scrim_level level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof line)
		n = sizeof line - 1;
	scrim__log((int32_t)level, line, n);
}

/* ---- path helpers --------------------------------------------------------------------- */

/* scrim_base returns the last component of the request's path ("" for "/"). */
static inline const char *scrim_base(const scrim_request *req)
{
	const char *slash = strrchr(req->path, '/');
	return slash ? slash + 1 : req->path;
}

/* scrim_has_suffix reports whether the request's path ends with suffix. */
static inline bool scrim_has_suffix(const scrim_request *req, const char *suffix)
{
	size_t n = strlen(suffix);
	return n <= req->path_len && memcmp(req->path + req->path_len - n, suffix, n) == 0;
}

/* scrim_wants_write reports whether the open asks to write, truncate or create. scrim
 * answers such opens of served content with EROFS itself. */
static inline bool scrim_wants_write(const scrim_request *req)
{
	return (req->flags & SCRIM_O_ACCMODE) != SCRIM_O_RDONLY ||
	       (req->flags & (SCRIM_O_TRUNC | SCRIM_O_CREAT)) != 0 ||
	       (req->flags & SCRIM_O_TMPFILE) == SCRIM_O_TMPFILE;
}

/* ---- the exports (ABI.md §2) ---------------------------------------------------------- */

#ifndef SCRIM_NO_EXPORTS

bool scrim__content_failed;
char **scrim__dyn_claims;
size_t scrim__dyn_len, scrim__dyn_cap;

static inline uint32_t scrim__u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* scrim__append_json_string appends s as a JSON string to buf at *n (buf is large enough). */
static inline void scrim__json_string(char *buf, size_t *n, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	buf[(*n)++] = '"';
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			buf[(*n)++] = '\\';
			buf[(*n)++] = (char)c;
		} else if (c < 0x20) {
			memcpy(buf + *n, "\\u00", 4);
			*n += 4;
			buf[(*n)++] = hex[c >> 4];
			buf[(*n)++] = hex[c & 15];
		} else {
			buf[(*n)++] = (char)c;
		}
	}
	buf[(*n)++] = '"';
}

SCRIM__EXPORT(scrim_abi_v1) void scrim__abi_v1(void) {}

SCRIM__EXPORT(scrim_describe) int32_t scrim__describe(void)
{
	const scrim_plugin *p = scrim__plugin;
	/* ABI 1.1: the configuration is readable here, so claims can follow it. */
	if (p->claims_from_config && p->claims_from_config() != 0)
		return 1;
	size_t cap = 64, n = 0;
	const char *fields[] = {p->name ? p->name : "", p->version ? p->version : ""};
	for (size_t i = 0; i < 2; i++)
		cap += 6 * strlen(fields[i]) + 2;
	for (const char *const *c = p->claims; c && *c; c++)
		cap += 6 * strlen(*c) + 3;
	for (size_t i = 0; i < scrim__dyn_len; i++)
		cap += 6 * strlen(scrim__dyn_claims[i]) + 3;
	char *doc = malloc(cap);
	if (!doc)
		return 1;
	memcpy(doc + n, "{\"name\":", 8);
	n += 8;
	scrim__json_string(doc, &n, fields[0]);
	memcpy(doc + n, ",\"version\":", 11);
	n += 11;
	scrim__json_string(doc, &n, fields[1]);
	memcpy(doc + n, ",\"abi_minor\":0,\"claims\":[", 25);
	if (p->claims_from_config)
		doc[n + 13] = '1';
	n += 25;
	bool first = true;
	for (const char *const *c = p->claims; c && *c; c++) {
		if (!first)
			doc[n++] = ',';
		first = false;
		scrim__json_string(doc, &n, *c);
	}
	for (size_t i = 0; i < scrim__dyn_len; i++) {
		if (!first)
			doc[n++] = ',';
		first = false;
		scrim__json_string(doc, &n, scrim__dyn_claims[i]);
	}
	doc[n++] = ']';
	doc[n++] = '}';
	int32_t st = scrim__describe_set(doc, (int32_t)n);
	free(doc);
	return st == 0 ? 0 : 1;
}

SCRIM__EXPORT(scrim_init) int32_t scrim__init(int32_t config_len)
{
	(void)config_len;
	if (!scrim__plugin->open)
		return scrim_refuse("scrim.h: SCRIM_PLUGIN needs .open");
	return scrim__plugin->init ? (scrim__plugin->init() ? 1 : 0) : 0;
}

/* Buffers reused across calls: the request with room for the NUL-terminated strings, and the
 * real content. The plugin owns them (ABI.md §8); scrim writes only during its imports. */
static uint8_t *scrim__req_buf;
static size_t scrim__req_cap;
static uint8_t *scrim__real_buf;
static size_t scrim__real_cap;

static inline bool scrim__grow(uint8_t **buf, size_t *cap, size_t want)
{
	if (want <= *cap)
		return true;
	uint8_t *b = realloc(*buf, want);
	if (!b)
		return false;
	*buf = b;
	*cap = want;
	return true;
}

SCRIM__EXPORT(scrim_open) int32_t scrim__open(int32_t req_len)
{
	scrim__content_failed = false;
	if (req_len < SCRIM__HEADER_V1)
		return scrim_fail("scrim.h: request shorter than its header");
	size_t n = (size_t)req_len;
	/* Room for the request, then copies of the path and the sandbox name with their NULs. */
	if (!scrim__grow(&scrim__req_buf, &scrim__req_cap, 2 * n + 2))
		return scrim_fail("scrim.h: out of memory for the request");
	uint8_t *b = scrim__req_buf;
	if (scrim__request_read(b, req_len) != req_len)
		return scrim_fail("scrim.h: request changed size while read");
	uint32_t hs = scrim__u32(b);
	uint32_t path_off = scrim__u32(b + 48), path_len = scrim__u32(b + 52);
	uint32_t sb_off = scrim__u32(b + 56), sb_len = scrim__u32(b + 60);
	if (hs < SCRIM__HEADER_V1 || hs > n || path_off > n || path_len > n - path_off ||
	    sb_off > n || sb_len > n - sb_off)
		return scrim_fail("scrim.h: request fields outside the request");
	char *strs = (char *)b + n;
	memcpy(strs, b + path_off, path_len);
	strs[path_len] = '\0';
	memcpy(strs + path_len + 1, b + sb_off, sb_len);
	strs[path_len + 1 + sb_len] = '\0';

	scrim_request req = {
		.path = strs,
		.path_len = path_len,
		.sandbox = strs + path_len + 1,
		.sandbox_len = sb_len,
		.syscall = (enum scrim_syscall)scrim__u32(b + 12),
		.op = hs >= SCRIM__HEADER_V11 ? (enum scrim_op)scrim__u32(b + 80) : SCRIM_OP_OPEN,
		.flags = (uint64_t)scrim__u32(b + 16) | (uint64_t)scrim__u32(b + 20) << 32,
		.mode = scrim__u32(b + 24),
		.object_mode = scrim__u32(b + 28),
		.pid = (int32_t)scrim__u32(b + 32),
		.tid = (int32_t)scrim__u32(b + 36),
		.uid = scrim__u32(b + 40),
		.gid = scrim__u32(b + 44),
	};
	if (scrim__u32(b + 8) == 1) {
		size_t real_len = scrim__u32(b + 64);
		if (!scrim__grow(&scrim__real_buf, &scrim__real_cap, real_len + 1))
			return scrim_fail("scrim.h: out of memory for the real content");
		for (size_t off = 0; off < real_len;) {
			int32_t got = scrim__real_read(scrim__real_buf + off, (int32_t)(real_len - off),
			                               (int32_t)off);
			if (got <= 0)
				return scrim_fail("scrim.h: real content ended early");
			off += (size_t)got;
		}
		scrim__real_buf[real_len] = 0; /* so that text can be scanned as a string */
		req.has_real = true;
		req.real = scrim__real_buf;
		req.real_len = real_len;
		req.real_errno = (int32_t)scrim__u32(b + 68);
		req.real_truncated = (scrim__u32(b + 72) & 1) != 0;
	}
	scrim_verdict v = scrim__plugin->open(&req);
	if (v == SCRIM__SERVE && scrim__content_failed)
		return scrim_fail("scrim.h: content refused (more than 1 MiB?)");
	return v;
}

#endif /* SCRIM_NO_EXPORTS */
#endif /* SCRIM_H */
