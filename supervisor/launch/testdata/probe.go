// probe.go is probe.c in Go, so the same cases also run from a Go child: its runtime
// preempts threads with SIGURG while they wait in notified calls. Built by testprog.Go with
// the standard library only. Cases: op dir path flags resolve, as in probe.c; op "hammer"
// instead runs "hammer - PATH N WANT": 8 goroutines each open PATH N times and check the
// first bytes are WANT.
package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"unsafe"
)

const (
	sysOpenat2 = 437
	oPath      = 0x200000 // O_PATH, which package syscall does not name
)

var names = map[syscall.Errno]string{
	syscall.ENOENT: "ENOENT", syscall.EACCES: "EACCES", syscall.EROFS: "EROFS", syscall.ENOTDIR: "ENOTDIR",
	syscall.EEXIST: "EEXIST", syscall.EXDEV: "EXDEV", syscall.ELOOP: "ELOOP", syscall.EINVAL: "EINVAL",
	syscall.EPERM: "EPERM", syscall.EIO: "EIO", syscall.E2BIG: "E2BIG", syscall.EISDIR: "EISDIR",
	syscall.EFAULT: "EFAULT", syscall.ENAMETOOLONG: "ENAMETOOLONG", syscall.EBADF: "EBADF",
}

func name(e syscall.Errno) string {
	if n, ok := names[e]; ok {
		return n
	}
	return fmt.Sprintf("errno%d", int(e))
}

func open(op string, dfd int, path string, flags int, resolve uint64) (int, syscall.Errno) {
	p, err := syscall.BytePtrFromString(path)
	if err != nil {
		return -1, syscall.EINVAL
	}
	var r uintptr
	var e syscall.Errno
	switch op {
	case "open":
		r, _, e = syscall.Syscall(syscall.SYS_OPEN, uintptr(unsafe.Pointer(p)), uintptr(flags), 0o644)
	case "openat":
		r, _, e = syscall.Syscall6(syscall.SYS_OPENAT, uintptr(dfd), uintptr(unsafe.Pointer(p)), uintptr(flags), 0o644, 0, 0)
	case "openat2":
		how := [3]uint64{uint64(flags), 0, resolve}
		if flags&syscall.O_CREAT != 0 {
			how[1] = 0o644
		}
		r, _, e = syscall.Syscall6(sysOpenat2, uintptr(dfd), uintptr(unsafe.Pointer(p)), uintptr(unsafe.Pointer(&how)), 24, 0, 0)
	case "creat":
		r, _, e = syscall.Syscall(syscall.SYS_CREAT, uintptr(unsafe.Pointer(p)), 0o644, 0)
	}
	if e != 0 {
		return -1, e
	}
	return int(r), 0
}

func show(fd int) string {
	buf := make([]byte, 48)
	n, err := syscall.Pread(fd, buf, 0)
	if err != nil || n < 0 {
		return "OK -"
	}
	b := buf[:n]
	for i := range b {
		if b[i] < 32 || b[i] > 126 {
			b[i] = '.'
		}
	}
	return "OK " + string(b)
}

func hammer(path string, n int, want string) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	bad := 0
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, len(want))
			for i := 0; i < n; i++ {
				fd, e := open("openat", -100, path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
				if e != 0 {
					mu.Lock()
					bad++
					mu.Unlock()
					continue
				}
				k, _ := syscall.Pread(fd, buf, 0)
				syscall.Close(fd)
				if k != len(want) || string(buf) != want {
					mu.Lock()
					bad++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	fmt.Printf("bad=%d\n", bad)
}

func main() {
	args := os.Args[1:]
	for len(args) >= 5 {
		op, dir, path, fl, last := args[0], args[1], args[2], args[3], args[4]
		args = args[5:]
		if op == "hammer" {
			n, _ := strconv.Atoi(fl)
			hammer(path, n, last)
			continue
		}
		flags, _ := strconv.ParseInt(fl, 0, 64)
		resolve, _ := strconv.ParseUint(last, 0, 64)
		dfd := -100
		if dir != "-" {
			d, err := syscall.Open(dir, oPath|syscall.O_DIRECTORY, 0)
			if err != nil {
				fmt.Printf("DIR-%s -\n", name(err.(syscall.Errno)))
				continue
			}
			dfd = d
		}
		path = strings.NewReplacer("@D", strconv.Itoa(dfd), "@P", strconv.Itoa(os.Getpid()), "@T", strconv.Itoa(syscall.Gettid())).Replace(path)
		if op == "chdir" {
			if err := syscall.Chdir(path); err != nil {
				fmt.Printf("%s -\n", name(err.(syscall.Errno)))
			} else {
				fmt.Println("OK -")
			}
		} else if fd, e := open(op, dfd, path, int(flags), resolve); e != 0 {
			fmt.Printf("%s -\n", name(e))
		} else {
			fmt.Println(show(fd))
			syscall.Close(fd)
		}
		if dfd >= 0 {
			syscall.Close(dfd)
		}
	}
}
