package resolver

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// Self is a Child for the process that uses it: tests and benchmarks resolve paths as the
// kernel would for themselves and compare.
type Self struct{}

var _ Child = Self{}

// Cwd opens the process's working directory.
func (Self) Cwd() (*os.File, error) { return openPath(".") }

// Root opens the process's root directory.
func (Self) Root() (*os.File, error) { return openPath("/") }

// Fd duplicates descriptor n.
func (Self) Fd(n int) (*os.File, error) {
	fd, err := unix.FcntlInt(uintptr(n), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("dup fd %d: %w", n, err)
	}
	return os.NewFile(uintptr(fd), ""), nil
}

// Cred reads the calling thread's credentials and umask.
func (Self) Cred() (shim.Cred, uint32, error) {
	return readCred("/proc/thread-self/status")
}

func openPath(p string) (*os.File, error) {
	fd, err := unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", p, err)
	}
	return os.NewFile(uintptr(fd), p), nil
}

// readCred parses the Uid, Gid, Groups, CapEff and Umask lines of a /proc status file.
func readCred(status string) (shim.Cred, uint32, error) {
	var c shim.Cred
	var umask uint32
	b, err := os.ReadFile(status)
	if err != nil {
		return c, 0, fmt.Errorf("read credentials: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, val, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if !ok {
			continue
		}
		f := bytes.Fields(val)
		num := func(i int, base int) uint64 {
			if i >= len(f) {
				return 0
			}
			n, _ := strconv.ParseUint(string(f[i]), base, 64)
			return n
		}
		switch string(key) {
		case "Uid":
			c.UID, c.EUID, c.FSUID = uint32(num(0, 10)), uint32(num(1, 10)), uint32(num(3, 10))
		case "Gid":
			c.GID, c.EGID, c.FSGID = uint32(num(0, 10)), uint32(num(1, 10)), uint32(num(3, 10))
		case "Groups":
			for i := range f {
				c.Groups = append(c.Groups, uint32(num(i, 10)))
			}
		case "CapEff":
			c.CapEffective = num(0, 16)
		case "Umask":
			umask = uint32(num(0, 8))
		}
	}
	return c, umask, nil
}
