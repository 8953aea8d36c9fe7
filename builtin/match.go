package builtin

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// fileID is an object's identity: the device holding it and its inode number.
type fileID struct{ dev, ino uint64 }

// pseudoID identifies an entry of a kernel pseudo filesystem (procfs, sysfs) by filesystem type
// and inode. Their entries carry the same inode number in every mount of that filesystem, so
// this also catches a second procfs mounted somewhere else.
type pseudoID struct {
	fs  int64
	ino uint64
}

// objectID returns the identity of obj.
func objectID(obj shim.Object) fileID { return fileID{obj.Dev, obj.Ino} }

// isPseudoFS reports whether fs keeps its inode numbers across mounts.
func isPseudoFS(fs int64) bool {
	return fs == unix.PROC_SUPER_MAGIC || fs == unix.SYSFS_MAGIC
}

// rootOf returns the host path of the child's root: the sandbox's own answer when it has one,
// else the image directory, else "/".
func rootOf(env shim.Env, imageRoot string) string {
	if env.Sandbox != nil {
		if r := env.Sandbox.Root(); r != "" {
			return r
		}
	}
	if imageRoot != "" {
		return imageRoot
	}
	return "/"
}

// openInRoot opens name (absolute, as the child sees it) inside root the way the child would
// reach it: symlinks are followed but can never climb out of root (openat2 RESOLVE_IN_ROOT), so
// an image whose /etc/hosts points at a host file yields the image's idea of that path, not the
// host's file.
func openInRoot(root, name string, flags int) (*os.File, error) {
	dir, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open root %s: %w", root, err)
	}
	defer unix.Close(dir)
	rel := strings.TrimLeft(name, "/")
	if rel == "" {
		rel = "."
	}
	how := unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC),
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	fd, err := unix.Openat2(dir, rel, &how)
	if err != nil {
		return nil, fmt.Errorf("openat2 %s in %s: %w", name, root, err)
	}
	return os.NewFile(uintptr(fd), path.Join(root, rel)), nil
}

// objectInRoot describes name inside root as the resolver would describe it. ok is false when
// name does not exist there.
func objectInRoot(root, name string) (obj shim.Object, ok bool, err error) {
	f, err := openInRoot(root, name, unix.O_PATH)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return shim.Object{}, false, nil
	}
	if err != nil {
		return shim.Object{}, false, err
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return shim.Object{}, false, fmt.Errorf("fstat %s: %w", name, err)
	}
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &sfs); err != nil {
		return shim.Object{}, false, fmt.Errorf("fstatfs %s: %w", name, err)
	}
	return shim.Object{
		Exists: true, Dev: st.Dev, Ino: st.Ino, Mode: st.Mode, Rdev: st.Rdev, FsType: sfs.Type,
	}, true, nil
}

// readInRoot reads at most limit bytes of the regular file name inside root. A missing file
// reads as nil without error.
func readInRoot(root, name string, limit int64) ([]byte, error) {
	f, err := openInRoot(root, name, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY)
	if errors.Is(err, unix.ENOENT) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil, fmt.Errorf("fstat %s: %w", name, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("read %s in %s: not a regular file", name, root)
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s in %s: %w", name, root, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("read %s in %s: larger than %d bytes", name, root, limit)
	}
	return data, nil
}

// under reports whether p is dir itself or lies inside it.
func under(p []byte, dir string) bool {
	if !bytes.HasPrefix(p, []byte(dir)) {
		return false
	}
	return len(p) == len(dir) || dir == "/" || p[len(dir)] == '/'
}

// procMounts lists where procfs is mounted as the child sees it from root, read once from the
// supervisor's mountinfo (the child shares the mount namespace and cannot mount). "/proc" is
// always included: a missing object under it is still judged as procfs.
func procMounts(root string) []string {
	mounts := []string{"/proc"}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return mounts
	}
	defer f.Close()
	eachMount(f, func(m mountEntry) {
		if m.fsType != "proc" {
			return
		}
		mp := m.point
		if root != "/" {
			r := strings.TrimSuffix(root, "/")
			if mp != r && !strings.HasPrefix(mp, r+"/") {
				return
			}
			mp = "/" + strings.TrimLeft(strings.TrimPrefix(mp, r), "/")
		}
		if mp != "/proc" {
			mounts = append(mounts, mp)
		}
	})
	return mounts
}

// mountEntry is what scrim reads of one /proc/PID/mountinfo line: the root of the mount
// within its filesystem and its mount point (unescaped), the filesystem type and the
// superblock options.
type mountEntry struct {
	root, point, fsType, superOpts string
}

// eachMount calls fn for every well-formed line of the mountinfo r holds.
func eachMount(r io.Reader, fn func(mountEntry)) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		// id parent maj:min root mountpoint opts [optional...] - fstype source superopts
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep < 5 || sep+3 >= len(fields) {
			continue
		}
		fn(mountEntry{root: unescapeMountinfo(fields[3]), point: unescapeMountinfo(fields[4]),
			fsType: fields[sep+1], superOpts: fields[sep+3]})
	}
}

// unescapeMountinfo undoes the kernel's octal escapes (\040 for a space) in a mountinfo path.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, ok := octal3(s[i+1 : i+4]); ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func octal3(s string) (byte, bool) {
	if len(s) != 3 {
		return 0, false
	}
	var v int
	for _, c := range s {
		if c < '0' || c > '7' {
			return 0, false
		}
		v = v*8 + int(c-'0')
	}
	return byte(v), v < 256
}

// procEntry parses the component after a procfs mount point as the kernel does
// (fs/proc/base.c name_to_int): decimal digits, no sign, no leading zero.
func procEntry(name []byte) (int, bool) {
	if len(name) == 0 || len(name) > 10 || (len(name) > 1 && name[0] == '0') {
		return 0, false
	}
	n := 0
	for _, c := range name {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if n > 1<<31-1 {
		return 0, false
	}
	return n, true
}

// maxSymlinks is the kernel's limit on symlinks followed in one lookup (MAXSYMLINKS).
const maxSymlinks = 40

// canonicalInRoot returns the canonical path, in the child's view from root, that name resolves
// to, following symlinks inside root even when the final target does not exist: the path the
// resolver reports for an open of name. A missing directory on the way ends the walk there.
func canonicalInRoot(root, name string) (string, error) {
	cur := path.Clean("/" + name)
	// Directories are named as scrim's /proc/self/fd links print them, and so is the root:
	// a root given as a link ("/proc/<pid>/root", a container's) prints as its target.
	rootHost := root
	if root != "/" {
		r, err := openInRoot(root, "/", unix.O_PATH|unix.O_DIRECTORY)
		if err != nil {
			return "", err
		}
		rootHost, err = os.Readlink("/proc/self/fd/" + strconv.Itoa(int(r.Fd())))
		r.Close()
		if err != nil {
			return "", fmt.Errorf("readlink %s: %w", root, err)
		}
	}
	for i := 0; i <= maxSymlinks; i++ {
		dir, base := path.Split(cur)
		d, err := openInRoot(root, dir, unix.O_PATH|unix.O_DIRECTORY)
		if err != nil {
			if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
				return cur, nil
			}
			return "", err
		}
		hostDir, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(d.Fd())))
		if err != nil {
			d.Close()
			return "", fmt.Errorf("readlink %s in %s: %w", dir, root, err)
		}
		inside, ok := strings.CutPrefix(hostDir, strings.TrimSuffix(rootHost, "/"))
		if rootHost == "/" {
			inside, ok = hostDir, true
		}
		if !ok || (inside != "" && inside[0] != '/') {
			d.Close()
			return "", fmt.Errorf("resolve %s in %s: directory %s is outside the root", name, root, hostDir)
		}
		if inside == "" {
			inside = "/"
		}
		cur = path.Join(inside, base)
		buf := make([]byte, unix.PathMax)
		n, err := unix.Readlinkat(int(d.Fd()), base, buf)
		d.Close()
		if err != nil {
			// Not a symlink (EINVAL) or missing (ENOENT): cur is where the walk ends.
			return cur, nil
		}
		link := string(buf[:n])
		if strings.HasPrefix(link, "/") {
			cur = path.Clean(link)
		} else {
			cur = path.Join(inside, link)
		}
	}
	return "", fmt.Errorf("resolve %s in %s: %w", name, root, unix.ELOOP)
}

// regularTarget looks up name, a file a shim serves, in the child's root: the identity of the
// regular file it leads to, and the path a symlink at name leads to when that is not name
// itself. Anything else at the end of the symlinks (a device, a directory) is not recorded, so
// that an image whose /etc/hosts points at /dev/null does not turn every /dev/null into it.
func regularTarget(root, name string) (id fileID, hasID bool, target string, err error) {
	obj, ok, err := objectInRoot(root, name)
	if err != nil {
		return fileID{}, false, "", fmt.Errorf("look up %s in %s: %w", name, root, err)
	}
	if ok && obj.Mode&unix.S_IFMT != unix.S_IFREG {
		return fileID{}, false, "", nil
	}
	if ok {
		id, hasID = objectID(obj), true
	}
	t, err := canonicalInRoot(root, name)
	if err != nil {
		return fileID{}, false, "", err
	}
	if t != name {
		target = t
	}
	return id, hasID, target, nil
}

// servedTarget reports whether req opens target, the path a served file's symlink leads to, and
// finds there nothing or a regular file: never a device or directory that happens to sit at
// that path in the child's mount namespace.
func servedTarget(req *shim.Request, target string) bool {
	if target == "" || string(req.Path) != target {
		return false
	}
	return !req.Object.Exists || req.Object.Mode&unix.S_IFMT == unix.S_IFREG
}
