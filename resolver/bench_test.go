package resolver

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// BenchmarkResolve measures Resolve plus Close for common spellings, through the fast path
// and through the component walk alone, beside the kernel's own O_PATH open of the same path
// as a floor. Self's Cred reads /proc, which a supervisor caches; the benchmark uses a
// Child whose Cred is free so that only the resolver is measured.
//
//	go test ./resolver -run '^$' -bench Resolve -benchtime 100000x
func BenchmarkResolve(b *testing.B) {
	root, err := os.MkdirTemp("", "scrim-bench")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(root)
	for _, p := range []string{"a/b/c/d"} {
		if err := os.MkdirAll(root+"/"+p, 0o755); err != nil {
			b.Fatal(err)
		}
	}
	if err := os.WriteFile(root+"/a/b/c/d/file", nil, 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.Symlink("a/b/c/d/file", root+"/link"); err != nil {
		b.Fatal(err)
	}
	if err := os.Chdir(root + "/a/b"); err != nil {
		b.Fatal(err)
	}
	r, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	child := cachedCred{}
	paths := []struct{ name, path string }{
		{"absolute", "/etc/hosts"},
		{"deep", root + "/a/b/c/d/file"},
		{"relative", "c/d/file"},
		{"missing", root + "/a/b/c/d/nope"},
		{"symlink", root + "/link"},
		{"dev_null", "/dev/null"},
		{"proc_self", "/proc/self/status"},
	}
	for _, p := range paths {
		b.Run(p.name+"/kernel", func(b *testing.B) {
			defer cpuPerOp(b)()
			for b.Loop() {
				fd, err := unix.Open(p.path, unix.O_PATH|unix.O_CLOEXEC, 0)
				if err == nil {
					unix.Close(fd)
				}
			}
		})
		for _, walk := range []string{"fast", "walk"} {
			b.Run(p.name+"/"+walk, func(b *testing.B) {
				r.noFast = walk == "walk"
				in := Input{Syscall: 1, PID: os.Getpid(), TID: unix.Gettid(), Dirfd: unix.AT_FDCWD, Path: []byte(p.path)}
				defer cpuPerOp(b)()
				for b.Loop() {
					res, err := r.Resolve(&in, child)
					if err != nil {
						b.Fatal(err)
					}
					res.Close()
				}
			})
		}
	}
}

// cachedCred is Self with credentials read once, as the supervisor caches them.
type cachedCred struct{ Self }

var benchCred, benchUmask, _ = Self{}.Cred()

func (cachedCred) Cred() (shim.Cred, uint32, error) { return benchCred, benchUmask, nil }

// cpuPerOp reports the process's CPU time per operation as "cpu-ns/op" when the returned
// function runs. On a busy machine wall time per op mostly measures waiting for a CPU; CPU
// time still measures the work.
func cpuPerOp(b *testing.B) func() {
	var start unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &start); err != nil {
		b.Fatal(err)
	}
	return func() {
		var end unix.Rusage
		if err := unix.Getrusage(unix.RUSAGE_SELF, &end); err != nil {
			b.Fatal(err)
		}
		cpu := end.Utime.Nano() + end.Stime.Nano() - start.Utime.Nano() - start.Stime.Nano()
		b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
	}
}
