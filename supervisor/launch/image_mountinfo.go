package launch

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"regexp"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// mountinfoID names the image-mode shim that hides the image's host path in mountinfo.
const mountinfoID = "supervisor.image.mountinfo"

// mountinfoMax bounds what the shim reads of one mountinfo file.
const mountinfoMax = 4 << 20

// mountinfoPath matches /proc/<pid>/mountinfo and /proc/<pid>/task/<tid>/mountinfo as the
// resolver spells them (canonical, /proc/self already replaced).
var mountinfoPath = regexp.MustCompile(`^/proc/[0-9]+/(task/[0-9]+/)?mountinfo$`)

// mountinfoShim serves the child's mountinfo with the root field of the image's own mounts
// made relative to the image. Field 4 of mountinfo is the mount's root inside its file system;
// for the image's root, a bind mount of DIR, that is DIR's path on the host's disk, which the
// child must not learn. Mount points (field 5) are already relative to the child's root.
type mountinfoShim struct{}

var _ shim.Handler = (*mountinfoShim)(nil)

// ID names the shim.
func (*mountinfoShim) ID() string { return mountinfoID }

// Open serves the rewritten file for a mountinfo of procfs; everything else goes on.
func (*mountinfoShim) Open(_ context.Context, req *shim.Request) (shim.Result, error) {
	if !mountinfoPath.Match(req.Path) {
		return shim.Next(), nil
	}
	if req.Object.Exists && req.Object.FsType != unix.PROC_SUPER_MAGIC {
		return shim.Next(), nil
	}
	if req.Target == nil {
		return shim.Deny(unix.ENOENT), nil
	}
	f, err := req.Target.Open(unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		if e, ok := err.(unix.Errno); ok {
			return shim.Deny(e), nil
		}
		return shim.Result{}, fmt.Errorf("open %s: %w", req.Path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, mountinfoMax+1))
	if err != nil {
		return shim.Result{}, fmt.Errorf("read %s: %w", req.Path, err)
	}
	if len(data) > mountinfoMax {
		return shim.Result{}, fmt.Errorf("read %s: larger than %d bytes", req.Path, mountinfoMax)
	}
	return shim.ServeBytes("mountinfo", rewriteMountinfo(data)), nil
}

// rewriteMountinfo finds the mount at "/" and, on every mount of the same file system whose
// root lies at or under the root's, replaces that prefix with "/". Fields keep the kernel's
// octal escapes, so comparing them escaped is exact.
func rewriteMountinfo(data []byte) []byte {
	lines := bytes.SplitAfter(data, []byte("\n"))
	var rootDev, rootDir []byte
	for _, l := range lines {
		f := bytes.Fields(l)
		if len(f) >= 5 && string(f[4]) == "/" {
			rootDev, rootDir = f[2], f[3]
		}
	}
	if rootDir == nil || string(rootDir) == "/" {
		return data
	}
	var out bytes.Buffer
	out.Grow(len(data))
	for _, l := range lines {
		f := bytes.Fields(l)
		if len(f) < 5 || !bytes.Equal(f[2], rootDev) {
			out.Write(l)
			continue
		}
		r := f[3]
		var rel []byte
		switch {
		case bytes.Equal(r, rootDir):
			rel = []byte("/")
		case bytes.HasPrefix(r, rootDir) && r[len(rootDir)] == '/':
			rel = r[len(rootDir):]
		default:
			// Another part of the same disk, bound in on purpose (--mount): the user named
			// that host path, so it is not the image's to hide.
			out.Write(l)
			continue
		}
		// Rebuild the line with the fourth field replaced; the other fields and the
		// separators are as the kernel wrote them.
		i := fieldStart(l, 3)
		out.Write(l[:i])
		out.Write(rel)
		out.Write(l[i+len(r):])
	}
	return out.Bytes()
}

// fieldStart returns the byte offset of field n (from 0) of a space-separated line.
func fieldStart(l []byte, n int) int {
	i := 0
	for k := 0; k < n; k++ {
		for i < len(l) && l[i] != ' ' {
			i++
		}
		for i < len(l) && l[i] == ' ' {
			i++
		}
	}
	return i
}

// withImageShims adds to regs the handlers image mode needs. The image's mount of its own root
// shows the host path of DIR in mountinfo's root field; the mountinfo shim hides it. It is a
// security shim: nothing may reorder it after a handler that serves the real file.
func withImageShims(regs []shim.Registration) []shim.Registration {
	return append(slices.Clip(regs), shim.Registration{Handler: &mountinfoShim{}, Band: shim.BandSecurity, Priority: 1000})
}
