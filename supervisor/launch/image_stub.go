package launch

// The child's side of image mode. It runs in the stub, on the stub's locked thread, before the
// filter is installed: the filter denies mount, pivot_root and chroot, and the command must be
// looked up inside the image.

import (
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// enterImage moves the stub's thread into the image named by the environment, if any. On
// failure it returns the exit status the stub reports: 125 when scrim could not build the
// sandbox, 127 when the command's ELF interpreter is missing from the image.
func enterImage(args []string) (int, error) {
	raw, ok := os.LookupEnv(imageEnv)
	if !ok {
		return 0, nil
	}
	os.Unsetenv(imageEnv)
	var spec imageSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		return 125, fmt.Errorf("stub: decode image spec: %w", err)
	}
	// A descriptor scrim inherited from its own caller, say of a host directory, would let
	// the child fchdir out of the image. Only stdio passes into it; scrim's own descriptors
	// are close-on-exec already, the stub socket included.
	if err := unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return 125, fmt.Errorf("stub: mark inherited descriptors close-on-exec: %w", err)
	}
	if err := buildImage(&spec); err != nil {
		return 125, err
	}
	if spec.UserNS {
		// The capabilities were only for building the image; the command runs without them.
		if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
			return 125, fmt.Errorf("stub: clear ambient capabilities: %w", err)
		}
	}
	if len(args) > 0 {
		if status, err := checkInterp(args[0]); err != nil {
			return status, err
		}
	}
	return 0, nil
}

// buildImage turns the thread's view of the file system into the image: a private mount
// namespace, DIR bound onto itself, /proc, /dev, /tmp and the bind mounts inside it, DIR
// read-only if asked, then pivot_root into it and the old root detached.
func buildImage(spec *imageSpec) error {
	// CLONE_NEWNS implies CLONE_FS, which a multithreaded process may unshare for one thread;
	// the stub's thread is locked and is the one that execs.
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("stub: unshare(CLONE_NEWNS): %w", err)
	}
	// Nothing done here may propagate back to the host's mounts.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		if errors.Is(err, unix.EINVAL) {
			// scrim runs chrooted into a directory that is not a mount point: the mount
			// holding it cannot be reached to make it private, and a mount made under it
			// could propagate to the host's namespace. Refuse rather than risk it.
			return fmt.Errorf("stub: make mounts private: scrim's own root is not a mount point (is scrim chrooted? bind-mount that directory onto itself first): %w", err)
		}
		return fmt.Errorf("stub: make mounts private: %w", err)
	}
	if err := unix.Mount(spec.Dir, spec.Dir, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("stub: bind image %s: %w", spec.Dir, err)
	}
	rootFd, err := unix.Open(spec.Dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("stub: open image %s: %w", spec.Dir, err)
	}
	defer unix.Close(rootFd)
	b := &imageBuilder{spec: spec, root: rootFd}
	if err := b.proc(); err != nil {
		return err
	}
	if err := b.dev(); err != nil {
		return err
	}
	if err := b.mountAt("/tmp", true, func(target string) error {
		return unix.Mount("tmpfs", target, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777")
	}); err != nil {
		return err
	}
	for _, m := range spec.Mounts {
		fi, err := os.Stat(m.Host)
		if err != nil {
			return fmt.Errorf("stub: mount %s: %w", m.Host, err)
		}
		if err := b.mountAtKind(m.Inside, fi.IsDir(), func(target string) error {
			return unix.Mount(m.Host, target, "", unix.MS_BIND|unix.MS_REC, "")
		}); err != nil {
			return fmt.Errorf("stub: mount %s:%s: %w", m.Host, m.Inside, err)
		}
		if m.ReadOnly {
			// The descriptor used to mount names the covered directory; the new mount is
			// what a fresh lookup of the same path finds.
			if err := b.mountAt(m.Inside, fi.IsDir(), remountReadOnly); err != nil {
				return fmt.Errorf("stub: mount %s:%s: %w", m.Host, m.Inside, err)
			}
		}
	}
	if spec.ReadOnly {
		if err := remountReadOnly(spec.Dir); err != nil {
			return fmt.Errorf("stub: make image %s read-only: %w", spec.Dir, err)
		}
	}
	if err := pivotInto(spec.Dir); err != nil {
		return err
	}
	if err := unix.Chdir(spec.Cwd); err != nil {
		return fmt.Errorf("stub: change to %s in the image: %w", spec.Cwd, err)
	}
	return nil
}

// imageBuilder makes mounts inside the image without following the image's symlinks out of
// it: every target is opened with RESOLVE_IN_ROOT and mounted on through its descriptor, so an
// image whose /tmp points at the host's /etc gets a tmpfs on its own idea of /etc instead.
type imageBuilder struct {
	spec *imageSpec
	root int
}

// mountAt mounts a directory (dir true) or a file at inside.
func (b *imageBuilder) mountAt(inside string, dir bool, mount func(target string) error) error {
	if err := b.mountAtKind(inside, dir, mount); err != nil {
		return fmt.Errorf("stub: mount %s in the image: %w", inside, err)
	}
	return nil
}

func (b *imageBuilder) mountAtKind(inside string, dir bool, mount func(target string) error) error {
	fd, err := b.target(inside, dir)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return mount("/proc/self/fd/" + strconv.Itoa(fd))
}

// target opens the mount point inside the image, creating it when the image is writable. A
// read-only image is never changed: a missing mount point there is an error.
func (b *imageBuilder) target(inside string, dir bool) (int, error) {
	rel := strings.TrimLeft(filepath.Clean(inside), "/")
	if rel == "" {
		rel = "."
	}
	how := &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	fd, err := unix.Openat2(b.root, rel, how)
	if err == nil {
		return fd, nil
	}
	if !errors.Is(err, unix.ENOENT) {
		return -1, fmt.Errorf("open mount point: %w", err)
	}
	if b.spec.ReadOnly {
		return -1, fmt.Errorf("the read-only image has no %s to mount on: %w", inside, err)
	}
	// Create the missing components one by one, each inside the image.
	parts := strings.Split(rel, "/")
	cur := "."
	for i, p := range parts {
		next := filepath.Join(cur, p)
		last := i == len(parts)-1
		pfd, err := unix.Openat2(b.root, cur, &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS})
		if err != nil {
			return -1, fmt.Errorf("open %s: %w", cur, err)
		}
		switch {
		case !last || dir:
			err = unix.Mkdirat(pfd, p, 0o755)
		default:
			var nfd int
			nfd, err = unix.Openat(pfd, p, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
			if err == nil {
				unix.Close(nfd)
			}
		}
		unix.Close(pfd)
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return -1, fmt.Errorf("create mount point %s: %w", inside, err)
		}
		cur = next
	}
	fd, err = unix.Openat2(b.root, rel, how)
	if err != nil {
		return -1, fmt.Errorf("open mount point: %w", err)
	}
	return fd, nil
}

// proc mounts a procfs of its own at /proc. Inside a user namespace the kernel allows a new
// procfs only to the owner of a new pid namespace, which would renumber the child's
// processes; there the host's /proc is bound instead, whole (its locked submounts come
// along). Either way the proc shims see it as procfs at /proc.
func (b *imageBuilder) proc() error {
	return b.mountAt("/proc", true, func(target string) error {
		if !b.spec.UserNS {
			err := unix.Mount("proc", target, "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
			if err == nil || !errors.Is(err, unix.EPERM) {
				return err
			}
		}
		return unix.Mount("/proc", target, "", unix.MS_BIND|unix.MS_REC, "")
	})
}

// devNodes are the host devices bound into the image's /dev. Binding works as root and in a
// user namespace alike, where mknod does not.
var devNodes = []string{"null", "zero", "full", "random", "urandom", "tty"}

// devLinks are the symlinks of a minimal /dev, as udev and container runtimes make them.
var devLinks = [][2]string{
	{"fd", "/proc/self/fd"},
	{"stdin", "/proc/self/fd/0"},
	{"stdout", "/proc/self/fd/1"},
	{"stderr", "/proc/self/fd/2"},
	{"ptmx", "pts/ptmx"},
}

// dev builds a minimal /dev on a tmpfs: device nodes bound from the host, a devpts instance of
// the sandbox's own, the usual symlinks and /dev/shm.
func (b *imageBuilder) dev() error {
	return b.mountAt("/dev", true, func(target string) error {
		if err := unix.Mount("tmpfs", target, "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC, "mode=755,size=64k"); err != nil {
			return err
		}
		// target names the directory the tmpfs now covers; reach the tmpfs through the
		// image path instead.
		dev, err := unix.Openat2(b.root, "dev", &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS})
		if err != nil {
			return fmt.Errorf("open new /dev: %w", err)
		}
		defer unix.Close(dev)
		devPath := "/proc/self/fd/" + strconv.Itoa(dev)
		for _, n := range devNodes {
			host := "/dev/" + n
			if _, err := os.Stat(host); err != nil {
				// A host without /dev/tty (no controlling terminal device) still runs.
				continue
			}
			fd, err := unix.Openat(dev, n, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, 0o666)
			if err != nil {
				return fmt.Errorf("create /dev/%s: %w", n, err)
			}
			unix.Close(fd)
			if err := unix.Mount(host, devPath+"/"+n, "", unix.MS_BIND, ""); err != nil {
				return fmt.Errorf("bind /dev/%s: %w", n, err)
			}
		}
		for _, l := range devLinks {
			if err := unix.Symlinkat(l[1], dev, l[0]); err != nil {
				return fmt.Errorf("link /dev/%s: %w", l[0], err)
			}
		}
		for _, d := range []string{"pts", "shm"} {
			if err := unix.Mkdirat(dev, d, 0o755); err != nil {
				return fmt.Errorf("create /dev/%s: %w", d, err)
			}
		}
		if err := unix.Mount("devpts", devPath+"/pts", "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620"); err != nil {
			return fmt.Errorf("mount /dev/pts: %w", err)
		}
		if err := unix.Mount("tmpfs", devPath+"/shm", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777"); err != nil {
			return fmt.Errorf("mount /dev/shm: %w", err)
		}
		return nil
	})
}

// remountReadOnly makes the bind mount at target read-only. In a user namespace the flags
// the mount was locked with (nosuid, nodev, noexec, atime) must be kept, or the kernel
// refuses the remount; keeping them as root changes nothing.
func remountReadOnly(target string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(target, &st); err != nil {
		return fmt.Errorf("statfs %s: %w", target, err)
	}
	flags := uintptr(unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY)
	for _, f := range []struct{ st, ms uintptr }{
		{unix.ST_NOSUID, unix.MS_NOSUID},
		{unix.ST_NODEV, unix.MS_NODEV},
		{unix.ST_NOEXEC, unix.MS_NOEXEC},
		{unix.ST_NOATIME, unix.MS_NOATIME},
		{unix.ST_NODIRATIME, unix.MS_NODIRATIME},
		{unix.ST_RELATIME, unix.MS_RELATIME},
	} {
		if uintptr(st.Flags)&f.st != 0 {
			flags |= f.ms
		}
	}
	if err := unix.Mount("", target, "", flags, ""); err != nil {
		return fmt.Errorf("remount %s read-only: %w", target, err)
	}
	return nil
}

// pivotInto makes dir the root of the mount namespace and detaches the old root, so neither
// the child's root nor mountinfo lead back to the host's tree. pivot_root(".", ".") stacks the
// old root on the new one, where it can be unmounted without a directory to hold it.
func pivotInto(dir string) error {
	if err := unix.Chdir(dir); err != nil {
		return fmt.Errorf("stub: change to image %s: %w", dir, err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		if !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("stub: pivot_root to %s: %w", dir, err)
		}
		// pivot_root refuses a root mount without a parent, as an initramfs rootfs is:
		// move the image over "/" and chroot into it, as switch_root does.
		if err := unix.Mount(dir, "/", "", unix.MS_MOVE, ""); err != nil {
			return fmt.Errorf("stub: move image %s to /: %w", dir, err)
		}
		if err := unix.Chroot("."); err != nil {
			return fmt.Errorf("stub: chroot to %s: %w", dir, err)
		}
		return unix.Chdir("/")
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("stub: detach the host's root: %w", err)
	}
	return unix.Chdir("/")
}

// checkInterp finds the command in the image and, if it is a dynamic ELF program whose
// interpreter the image lacks, says so: execve would only report ENOENT, which reads as if
// the command itself were missing.
func checkInterp(name string) (int, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		// The stub's own lookup reports a missing command.
		return 0, nil
	}
	f, err := elf.Open(path)
	if err != nil {
		return 0, nil
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		buf := make([]byte, p.Filesz)
		if _, err := p.ReadAt(buf, 0); err != nil {
			return 0, nil
		}
		interp := strings.TrimRight(string(buf), "\x00")
		if _, err := os.Stat(interp); errors.Is(err, os.ErrNotExist) {
			return 127, fmt.Errorf("exec %s: its ELF interpreter %s is missing from the image", path, interp)
		}
	}
	return 0, nil
}
