// early_threads starts four threads before anything else: it has no C library, so its first
// instructions are these and it makes no mediated call until the threads run. Then it prints
// each thread's Cpus_allowed_list, read from /proc (opens tell scrim about the main thread
// only), and the CPUs getcpu saw the threads on.
#define SYS_read 0
#define SYS_write 1
#define SYS_open 2
#define SYS_close 3
#define SYS_clone 56
#define SYS_exit 60
#define SYS_exit_group 231
#define SYS_getcpu 309
#define CLONE_THREADS 0x00050f00 /* CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM */

#define NTHREADS 4
#define STACK (64 * 1024)

static char stacks[NTHREADS][STACK] __attribute__((aligned(16)));
static int running, stop;
static unsigned long seen;

static long sys3(long n, long a, long b, long c) {
	long r;
	__asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
	return r;
}

static void worker(void) {
	__atomic_fetch_add(&running, 1, __ATOMIC_SEQ_CST);
	for (long i = 0; !__atomic_load_n(&stop, __ATOMIC_SEQ_CST) || i < 200000; i++) {
		unsigned cpu;
		if (sys3(SYS_getcpu, (long)&cpu, 0, 0) == 0 && cpu < 64)
			__atomic_fetch_or(&seen, 1UL << cpu, __ATOMIC_SEQ_CST);
	}
	__atomic_fetch_sub(&running, 1, __ATOMIC_SEQ_CST);
	sys3(SYS_exit, 0, 0, 0);
}

// spawn starts fn as a thread on the stack below top and returns its tid.
static long spawn(char *top, void (*fn)(void)) {
	long r;
	register long r10 __asm__("r10") = 0;
	register long r8 __asm__("r8") = 0;
	register void (*r12)(void) __asm__("r12") = fn;
	__asm__ volatile("syscall\n\t"
			 "test %%rax, %%rax\n\t"
			 "jnz 1f\n\t"
			 "call *%%r12\n\t"
			 "hlt\n"
			 "1:"
			 : "=a"(r)
			 : "a"(SYS_clone), "D"(CLONE_THREADS), "S"(top), "d"(0), "r"(r10), "r"(r8), "r"(r12)
			 : "rcx", "r11", "memory");
	return r;
}

static int starts(const char *s, const char *prefix) {
	while (*prefix)
		if (*s++ != *prefix++)
			return 0;
	return 1;
}

static int put(char *b, const char *s) {
	int n = 0;
	while (s[n]) {
		b[n] = s[n];
		n++;
	}
	return n;
}

static int putnum(char *b, unsigned long v) {
	char tmp[24];
	int n = 0, m = 0;
	do {
		tmp[n++] = '0' + v % 10;
		v /= 10;
	} while (v);
	while (n)
		b[m++] = tmp[--n];
	return m;
}

__attribute__((force_align_arg_pointer, noreturn)) void _start(void) {
	long tids[NTHREADS];
	char out[4096], buf[4096];
	int o = 0;
	for (int i = 0; i < NTHREADS; i++)
		if ((tids[i] = spawn(stacks[i] + STACK, worker)) <= 0)
			sys3(SYS_exit_group, 2, 0, 0);
	while (__atomic_load_n(&running, __ATOMIC_SEQ_CST) < NTHREADS)
		;
	for (volatile long i = 0; i < 50000000; i++)
		;
	for (int i = 0; i < NTHREADS; i++) {
		char path[64];
		int p = put(path, "/proc/self/task/");
		p += putnum(path + p, tids[i]);
		p += put(path + p, "/status");
		path[p] = 0;
		long fd = sys3(SYS_open, (long)path, 0, 0);
		if (fd < 0)
			sys3(SYS_exit_group, 3, 0, 0);
		long n = 0, r;
		while (n < (long)sizeof buf - 1 && (r = sys3(SYS_read, fd, (long)buf + n, sizeof buf - 1 - n)) > 0)
			n += r;
		sys3(SYS_close, fd, 0, 0);
		buf[n] = 0;
		for (char *l = buf; *l; l++) {
			if ((l == buf || l[-1] == '\n') && starts(l, "Cpus_allowed_list:")) {
				o += put(out + o, "thread");
				for (char *c = l + 18; *c && *c != '\n'; c++)
					out[o++] = *c;
				out[o++] = '\n';
			}
		}
	}
	__atomic_store_n(&stop, 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&running, __ATOMIC_SEQ_CST) > 0)
		;
	o += put(out + o, "getcpu");
	unsigned long s = __atomic_load_n(&seen, __ATOMIC_SEQ_CST);
	for (int c = 0; c < 64; c++)
		if (s & (1UL << c)) {
			out[o++] = ' ';
			o += putnum(out + o, c);
		}
	out[o++] = '\n';
	sys3(SYS_write, 1, (long)out, o);
	sys3(SYS_exit_group, 0, 0, 0);
	__builtin_unreachable();
}
