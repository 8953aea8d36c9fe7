// imageprobe is the static program image-mode tests put inside their images. Each argument is
// one step, OP:ARG[:ARG2]; each step prints one block "OP ARG\n<result>\n" so a test can find
// the answer to every step. Errors print as "error: <errno name>". "$PPID" in a step stands
// for the probe's parent's pid, and is printed as written.
//
// Rebuilt by the tests themselves (internal/testprog.Go, CGO_ENABLED=0).
package main

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

func main() {
	for _, a := range os.Args[1:] {
		op, arg, _ := strings.Cut(a, ":")
		arg, arg2, _ := strings.Cut(arg, ":")
		ppid := strconv.Itoa(os.Getppid())
		fmt.Printf("%s %s\n%s\n", op, arg, step(op, strings.ReplaceAll(arg, "$PPID", ppid), arg2))
	}
}

func errText(err error) string {
	var e syscall.Errno
	if errors.As(err, &e) {
		return "error: " + errnoName(e)
	}
	return "error: " + err.Error()
}

func errnoName(e syscall.Errno) string {
	switch e {
	case syscall.ENOENT:
		return "ENOENT"
	case syscall.EACCES:
		return "EACCES"
	case syscall.EROFS:
		return "EROFS"
	case syscall.EPERM:
		return "EPERM"
	case syscall.EXDEV:
		return "EXDEV"
	case syscall.ENOTDIR:
		return "ENOTDIR"
	}
	return e.Error()
}

func step(op, arg, arg2 string) string {
	switch op {
	case "cat":
		b, err := os.ReadFile(arg)
		if err != nil {
			return errText(err)
		}
		return strings.TrimRight(string(b), "\n")
	case "readlink":
		s, err := os.Readlink(arg)
		if err != nil {
			return errText(err)
		}
		return s
	case "pwd":
		s, err := syscall.Getwd()
		if err != nil {
			return errText(err)
		}
		return s
	case "cd":
		if err := syscall.Chdir(arg); err != nil {
			return errText(err)
		}
		return "ok"
	case "ls":
		d, err := os.Open(arg)
		if err != nil {
			return errText(err)
		}
		defer d.Close()
		names, err := d.Readdirnames(-1)
		if err != nil {
			return errText(err)
		}
		sort.Strings(names)
		return strings.Join(names, " ")
	case "write":
		f, err := os.OpenFile(arg, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return errText(err)
		}
		defer f.Close()
		if _, err := f.WriteString(arg2); err != nil {
			return errText(err)
		}
		return "ok"
	case "mkdir":
		if err := os.Mkdir(arg, 0o755); err != nil {
			return errText(err)
		}
		return "ok"
	case "fds":
		// Every descriptor the program was started with and where it points, read without
		// opening anything (an open would add the runtime's poller descriptors).
		var out []string
		for n := 0; n < 1024; n++ {
			l, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", n))
			if err == nil {
				out = append(out, fmt.Sprintf("%d=%s", n, l))
			}
		}
		return strings.Join(out, " ")
	case "mode":
		fi, err := os.Stat(arg)
		if err != nil {
			return errText(err)
		}
		return fi.Mode().String()
	case "hostname":
		s, err := os.Hostname()
		if err != nil {
			return errText(err)
		}
		return s
	case "hex":
		// The first ARG2 bytes of ARG, in hex.
		f, err := os.Open(arg)
		if err != nil {
			return errText(err)
		}
		defer f.Close()
		var n int
		fmt.Sscan(arg2, &n)
		buf := make([]byte, n)
		if _, err := f.Read(buf); err != nil {
			return errText(err)
		}
		return fmt.Sprintf("%x", buf)
	case "uid":
		return fmt.Sprint(os.Getuid())
	}
	return "unknown op " + op
}
