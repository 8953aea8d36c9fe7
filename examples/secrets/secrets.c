/*
 * secrets is a scrim plugin, written in C, that hides credentials from the sandboxed program:
 * private keys and certificates' keys (*.pem, *.key, *.p12), ssh private keys, and the
 * usual credential files of cloud and package tools. It decides on the resolved path, so a
 * symlink, a ".." or a descriptor-relative open of the same file gets the same answer.
 *
 * Public halves stay readable: an ssh directory's *.pub, known_hosts, config and
 * authorized_keys go to the next handler.
 *
 * Configuration:
 *
 *   [plugin.config]
 *   errno = "ENOENT"   # what a hidden file gives: "EACCES" (default), "ENOENT" or "EPERM"
 *   log = true         # log every hidden open at info level
 */
#include "../../sdk/c/scrim.h"

static const char *const claims[] = {
	"/**/*.pem",
	"/**/*.key",
	"/**/*.p12",
	"/**/.ssh/*",
	"/**/.aws/credentials",
	"/**/.docker/config.json",
	"/**/.netrc",
	"/**/.pgpass",
	NULL,
};

/* Files under .ssh that hold nothing secret. */
static const char *const ssh_public[] = {"known_hosts", "config", "authorized_keys", NULL};

static int deny_errno = SCRIM_EACCES;
static bool log_denials;

static int init(void)
{
	char buf[16];
	long n = scrim_config_get("errno", buf, sizeof buf);
	if (n >= 0) {
		if (strcmp(buf, "EACCES") == 0)
			deny_errno = SCRIM_EACCES;
		else if (strcmp(buf, "ENOENT") == 0)
			deny_errno = SCRIM_ENOENT;
		else if (strcmp(buf, "EPERM") == 0)
			deny_errno = SCRIM_EPERM;
		else
			return scrim_refuse("errno: want \"EACCES\", \"ENOENT\" or \"EPERM\"");
	}
	n = scrim_config_get("log", buf, sizeof buf);
	if (n >= 0) {
		if (strcmp(buf, "true") != 0 && strcmp(buf, "false") != 0)
			return scrim_refuse("log: want true or false");
		log_denials = strcmp(buf, "true") == 0;
	}
	return 0;
}

/* in_ssh_dir reports whether the path's parent directory is named .ssh. */
static bool in_ssh_dir(const scrim_request *req)
{
	const char *base = scrim_base(req);
	size_t dir_len = (size_t)(base - req->path);
	return dir_len >= 6 && memcmp(base - 6, "/.ssh/", 6) == 0;
}

static scrim_verdict decide(const scrim_request *req)
{
	if (in_ssh_dir(req)) {
		if (scrim_has_suffix(req, ".pub"))
			return scrim_next();
		for (const char *const *p = ssh_public; *p; p++)
			if (strcmp(scrim_base(req), *p) == 0)
				return scrim_next();
	}
	if (log_denials)
		scrim_log(SCRIM_INFO, "secrets: hid %s from pid %d", req->path, (int)req->pid);
	return scrim_deny(deny_errno);
}

SCRIM_PLUGIN(.name = "secrets", .version = "1.0.0", .claims = claims, .init = init,
             .open = decide);
