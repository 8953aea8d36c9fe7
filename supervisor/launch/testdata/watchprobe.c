// watchprobe adds inotify watches and prints one line per case:
//   events DIR        watch DIR, create DIR/new and print the event's name ("event new")
//   watch PATH        add a watch on PATH ("OK" or the errno's name)
//   nofollow PATH     the same with IN_DONT_FOLLOW
//   badfd PATH        inotify_add_watch on a descriptor that is not open
//   notinotify PATH   inotify_add_watch on a pipe
//   nomask PATH       inotify_add_watch with no event in the mask
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <unistd.h>

static void report(long r) { printf("%s\n", r < 0 ? strerrorname_np(errno) : "OK"); }

int main(int argc, char **argv) {
	for (int i = 1; i + 1 < argc; i += 2) {
		const char *op = argv[i], *p = argv[i + 1];
		int in = inotify_init1(IN_CLOEXEC);
		errno = 0;
		if (!strcmp(op, "events")) {
			if (inotify_add_watch(in, p, IN_CREATE) < 0) {
				report(-1);
			} else {
				char path[PATH_MAX];
				snprintf(path, sizeof path, "%s/new", p);
				close(open(path, O_CREAT | O_WRONLY, 0644));
				char buf[4096] __attribute__((aligned(8)));
				// At most 10 s: a watch that reports nothing must not hang the test.
				struct pollfd pfd = {in, POLLIN, 0};
				ssize_t n = poll(&pfd, 1, 10000) == 1 ? read(in, buf, sizeof buf) : -1;
				struct inotify_event *ev = (struct inotify_event *)buf;
				if (n > 0 && ev->len > 0)
					printf("event %s\n", ev->name);
				else
					printf("no event\n");
			}
		} else if (!strcmp(op, "watch")) {
			report(inotify_add_watch(in, p, IN_ALL_EVENTS));
		} else if (!strcmp(op, "nofollow")) {
			report(inotify_add_watch(in, p, IN_ALL_EVENTS | IN_DONT_FOLLOW));
		} else if (!strcmp(op, "badfd")) {
			report(syscall(SYS_inotify_add_watch, 999, p, IN_ALL_EVENTS));
		} else if (!strcmp(op, "notinotify")) {
			int fds[2];
			pipe(fds);
			report(syscall(SYS_inotify_add_watch, fds[0], p, IN_ALL_EVENTS));
			close(fds[0]);
			close(fds[1]);
		} else if (!strcmp(op, "nomask")) {
			report(syscall(SYS_inotify_add_watch, in, p, 0));
		} else {
			printf("BADOP\n");
		}
		close(in);
	}
	return 0;
}
