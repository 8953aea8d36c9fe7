/*
 * probe is the C SDK's test plugin. It answers every verdict the ABI has, chosen by the path,
 * so that one Go table (sdk/conformance) checks the C, Rust and AssemblyScript SDKs alike:
 *
 *   /probe/next, /probe/real, /probe/fail   those verdicts
 *   /probe/deny/N                           deny with errno N
 *   /probe/greeting                         the configured greeting ("hello" by default)
 *   /probe/request                          every request field, served with mode 0640
 *   /probe/upper/...                        the real file in upper case, or its read errno
 *   /probe/big                              1 MiB + 1 byte, which scrim must refuse
 *   /probe/config                           the whole configuration as JSON
 *   /probe/log                              "logged", after a warning "probe log: PATH"
 *   /probe/echo/...                         the path's bytes as they came (not always UTF-8)
 *   /probe/meta                             "hello meta\n", mode 0640, mtime 1700000000 s 5 ns;
 *                                           a look-up of it gets the size alone
 *   /probe/metadir                          a directory, mode 0555, mtime 1700000000 s 5 ns
 *   anything else                           ENOENT
 *
 * A configuration key "refuse" makes init refuse with "refused: VALUE". A key "claims", paths
 * separated by spaces, replaces the claim of everything under /probe (ABI 1.1: claims from
 * the configuration).
 */
#include <ctype.h>

#include "../scrim.h"

static const char meta_text[] = "hello meta\n";

static int claims_from_config(void)
{
	char *list = scrim_config_dup("claims");
	if (!list)
		return scrim_claim("/probe/**") ? 0 : scrim_refuse("out of memory");
	for (char *c = strtok(list, " "); c; c = strtok(NULL, " "))
		if (!scrim_claim(c))
			return scrim_refuse("out of memory");
	free(list);
	return 0;
}

static char *greeting = "hello";
static char *config_json;

static int init(void)
{
	char *why = scrim_config_dup("refuse");
	if (why) {
		char msg[256];
		snprintf(msg, sizeof msg, "refused: %s", why);
		free(why);
		return scrim_refuse(msg);
	}
	config_json = strdup(scrim_config_json());
	char *g = scrim_config_dup("greeting");
	if (g)
		greeting = g;
	return 0;
}

static bool prefixed(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static scrim_verdict decide(const scrim_request *req)
{
	const char *p = req->path;
	if (strcmp(p, "/probe/next") == 0)
		return scrim_next();
	if (strcmp(p, "/probe/real") == 0)
		return scrim_real();
	if (strcmp(p, "/probe/fail") == 0)
		return scrim_fail("probe fails on purpose");
	if (prefixed(p, "/probe/deny/"))
		return scrim_deny(atoi(p + strlen("/probe/deny/")));
	if (strcmp(p, "/probe/greeting") == 0) {
		scrim_writef("%s\n", greeting);
		return scrim_serve(NULL, 0);
	}
	if (strcmp(p, "/probe/request") == 0) {
		scrim_writef("path=%s\nsandbox=%s\nsyscall=%d\nflags=%llu\nmode=%u\nobject_mode=%u\n"
		             "pid=%d\ntid=%d\nuid=%u\ngid=%u\nop=%d\n",
		             req->path, req->sandbox, (int)req->syscall, (unsigned long long)req->flags,
		             req->mode, req->object_mode, req->pid, req->tid, req->uid, req->gid,
		             (int)req->op);
		scrim_set_mode(0640);
		return scrim_serve(NULL, 0);
	}
	if (strcmp(p, "/probe/meta") == 0) {
		scrim_set_mode(0640);
		scrim_set_mtime(1700000000, 5);
		if (req->op != SCRIM_OP_OPEN)
			return scrim_serve_size(sizeof meta_text - 1);
		return scrim_serve_str(meta_text);
	}
	if (strcmp(p, "/probe/metadir") == 0) {
		scrim_set_mtime(1700000000, 5);
		return scrim_serve_dir(0555);
	}
	if (prefixed(p, "/probe/upper/")) {
		if (!req->has_real)
			return scrim_read_real();
		if (req->real_errno)
			return scrim_deny(req->real_errno);
		for (size_t i = 0; i < req->real_len; i++) {
			char c = (char)toupper(req->real[i]);
			scrim_write(&c, 1);
		}
		return scrim_serve(NULL, 0);
	}
	if (prefixed(p, "/probe/echo/"))
		return scrim_serve(req->path, req->path_len);
	if (strcmp(p, "/probe/config") == 0)
		return scrim_serve_str(config_json);
	if (strcmp(p, "/probe/log") == 0) {
		scrim_log(SCRIM_WARN, "probe log: %s", p);
		return scrim_serve_str("logged\n");
	}
	if (strcmp(p, "/probe/big") == 0) {
		static char chunk[64 << 10];
		memset(chunk, 'x', sizeof chunk);
		for (int i = 0; i < 16; i++)
			scrim_write(chunk, sizeof chunk);
		return scrim_serve("!", 1);
	}
	return scrim_deny(SCRIM_ENOENT);
}

SCRIM_PLUGIN(.name = "probe-c", .version = "1.0.0", .claims_from_config = claims_from_config,
             .init = init, .open = decide);
