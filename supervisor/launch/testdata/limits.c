// limits passes paths and open_how structs that sit at the edges of what the kernel reads
// and prints "<case> <errno name or OK>" for each.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static void report(const char *name, long fd) {
	printf("%s %s\n", name, fd < 0 ? strerrorname_np(errno) : "OK");
	if (fd >= 0) close(fd);
}

int main(void) {
	long pg = sysconf(_SC_PAGESIZE);
	// Two pages, the second unmapped: a string that runs into it faults.
	char *m = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(m + pg, pg);
	const char *hosts = "/etc/hosts";
	size_t n = strlen(hosts) + 1;
	char *end = m + pg - n;
	memcpy(end, hosts, n);
	report("nul_at_page_end", syscall(SYS_openat, AT_FDCWD, end, O_RDONLY));
	memcpy(m + pg - 4, "/etc", 4);
	report("runs_into_unmapped", syscall(SYS_openat, AT_FDCWD, m + pg - 4, O_RDONLY));
	report("null", syscall(SYS_openat, AT_FDCWD, NULL, O_RDONLY));
	report("wild", syscall(SYS_openat, AT_FDCWD, (char *)8, O_RDONLY));
	report("empty", syscall(SYS_openat, AT_FDCWD, "", O_RDONLY));

	static char longp[8192];
	// 4095 bytes plus the NUL: PATH_MAX exactly, still a path.
	memset(longp, '/', 4095 - strlen("etc/hosts"));
	strcpy(longp + 4095 - strlen("etc/hosts"), "etc/hosts");
	report("path_max", syscall(SYS_open, longp, O_RDONLY));
	memset(longp, '/', 4096);
	longp[4096] = 0;
	report("too_long", syscall(SYS_open, longp, O_RDONLY));

	struct { struct open_how how; char extra[16]; } big;
	memset(&big, 0, sizeof big);
	big.how.flags = O_RDONLY;
	report("how_size_24", syscall(SYS_openat2, AT_FDCWD, hosts, &big.how, 24));
	report("how_size_23", syscall(SYS_openat2, AT_FDCWD, hosts, &big.how, 23));
	report("how_size_40_zero", syscall(SYS_openat2, AT_FDCWD, hosts, &big.how, 40));
	big.extra[3] = 1;
	report("how_size_40_nonzero", syscall(SYS_openat2, AT_FDCWD, hosts, &big.how, 40));
	report("how_size_huge", syscall(SYS_openat2, AT_FDCWD, hosts, &big.how, 2 * pg));
	report("how_null", syscall(SYS_openat2, AT_FDCWD, hosts, NULL, 24));
	struct open_how bad = {.flags = O_RDONLY, .resolve = 1ULL << 40};
	report("how_bad_resolve", syscall(SYS_openat2, AT_FDCWD, hosts, &bad, sizeof bad));
	// open_how at the end of the page, its last byte unreadable.
	struct open_how *edge = (struct open_how *)(m + pg - sizeof(struct open_how) + 8);
	report("how_runs_into_unmapped", syscall(SYS_openat2, AT_FDCWD, hosts, edge, sizeof *edge));
	return 0;
}
