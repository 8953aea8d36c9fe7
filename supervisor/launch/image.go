package launch

// Image mode (--chroot DIR): the child runs with DIR as its root. The kernel changes the
// root, not scrim: the stub enters a private mount namespace, builds /proc, /dev, /tmp and the
// bind mounts inside DIR, and pivots into it before the filter is installed (image_stub.go).
// The supervisor's own opens on the child's behalf go through /proc/<tid>/root and cwd, which
// already live in that namespace, so nothing else in the supervisor changes. RATIONALE.md,
// "Why does image mode pivot_root in a mount namespace?", has the reasons.

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// ImageConfig runs the child inside a root filesystem image.
type ImageConfig struct {
	// Dir is the host directory that becomes the child's root.
	Dir string
	// ReadOnly mounts Dir read-only for the child; /tmp and read-write bind mounts stay
	// writable.
	ReadOnly bool
	// Cwd is the child's working directory inside the image; empty means "/".
	Cwd string
	// Mounts are host paths bound into the image.
	Mounts []ImageMount
}

// ImageMount binds the host path Host at Inside, a path inside the image.
type ImageMount struct {
	Host     string
	Inside   string
	ReadOnly bool
}

// imageEnv carries the stub's image spec. The stub removes it before the command runs, and
// the supervisor strips any copy from the caller's environment so that only scrim sets it.
const imageEnv = "SCRIM_IMAGE_SPEC"

// imageSpec is what the stub needs to enter the image: the config with every path checked and
// made absolute, and how the stub is privileged.
type imageSpec struct {
	Dir      string
	ReadOnly bool
	Cwd      string
	Mounts   []ImageMount
	// UserNS is true when scrim is not root: the stub runs in a user namespace of its own
	// with the capabilities to mount, and drops them before exec.
	UserNS bool
}

// imageRootDir is the host directory of the child's root: the image, or "/" without one.
func imageRootDir(cfg *Config) string {
	if cfg.Image == nil {
		return "/"
	}
	return cfg.Image.Dir
}

// prepareImage checks the image config and fills in what image mode needs: the absolute image
// path, the mountinfo shim. Problems are errors that name the path and exit 125 before the
// child starts.
func prepareImage(cfg *Config) error {
	img := cfg.Image
	if img == nil {
		return nil
	}
	dir, err := checkImageDir(img.Dir)
	if err != nil {
		return err
	}
	out := &ImageConfig{Dir: dir, ReadOnly: img.ReadOnly, Cwd: img.Cwd}
	if out.Cwd == "" {
		out.Cwd = "/"
	}
	if !filepath.IsAbs(out.Cwd) {
		return fmt.Errorf("chroot cwd %q: not an absolute path inside the image", img.Cwd)
	}
	out.Cwd = filepath.Clean(out.Cwd)
	for _, m := range img.Mounts {
		if !filepath.IsAbs(m.Inside) {
			return fmt.Errorf("mount %s:%s: %q is not an absolute path inside the image", m.Host, m.Inside, m.Inside)
		}
		if filepath.Clean(m.Inside) == "/" {
			return fmt.Errorf("mount %s:%s: the image's root cannot be replaced by a mount; use chroot", m.Host, m.Inside)
		}
		host, err := filepath.Abs(m.Host)
		if err != nil {
			return fmt.Errorf("mount %s: %w", m.Host, err)
		}
		if _, err := os.Stat(host); err != nil {
			return fmt.Errorf("mount %s:%s: %w", m.Host, m.Inside, err)
		}
		out.Mounts = append(out.Mounts, ImageMount{Host: host, Inside: filepath.Clean(m.Inside), ReadOnly: m.ReadOnly})
	}
	if err := checkImageCwd(out); err != nil {
		return err
	}
	if err := checkMountPoints(out); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		if err := probeUserNS(); err != nil {
			return err
		}
	}
	cfg.Image = out
	cfg.Handlers = withImageShims(cfg.Handlers)
	return nil
}

// checkImageCwd reports whether img.Cwd will exist in the image, where that can be known before
// the image is built: in the image's own tree or under one of its mounts, resolved as the stub's
// chdir will resolve it (symbolic links stay inside). Below /proc, /dev and /tmp, which the stub
// makes, it cannot be known, and the stub's chdir decides.
func checkImageCwd(img *ImageConfig) error {
	inside := img.Cwd
	for _, made := range []string{"/proc", "/dev", "/tmp"} {
		if inside == made || strings.HasPrefix(inside, made+"/") {
			return nil
		}
	}
	root, rel, best := img.Dir, inside, ""
	for _, m := range img.Mounts {
		if (inside == m.Inside || strings.HasPrefix(inside, m.Inside+"/")) && len(m.Inside) > len(best) {
			root, rel, best = m.Host, strings.TrimPrefix(inside, m.Inside), m.Inside
		}
	}
	dir, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("chroot cwd %s: %w", inside, err)
	}
	defer unix.Close(dir)
	fd, err := unix.Openat2(dir, "."+rel, &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT})
	if err != nil {
		return fmt.Errorf("chroot cwd %s: %w in the image: %w", inside, ErrNoCwd, err)
	}
	unix.Close(fd)
	return nil
}

// ErrMountPoint is wrapped by New's and Check's error for a mount point the image lacks and the
// stub could not create: scrim check finds it before anything starts, as scrim run does.
var ErrMountPoint = errors.New("mount point")

// checkMountPoints reports a mount point the stub would have to create in the image and cannot:
// in a read-only image any missing one, else one whose nearest existing directory scrim's user
// may not write (the stub creates it as that user).
func checkMountPoints(img *ImageConfig) error {
	made := []string{"/proc", "/dev", "/tmp"}
	points := slices.Clone(made)
	for _, m := range img.Mounts {
		points = append(points, m.Inside)
	}
	for _, inside := range points {
		if !slices.Contains(made, inside) && slices.ContainsFunc(made, func(d string) bool { return strings.HasPrefix(inside, d+"/") }) {
			continue // inside what the stub mounts there itself
		}
		if err := checkMountPoint(img, inside); err != nil {
			return err
		}
	}
	return nil
}

func checkMountPoint(img *ImageConfig, inside string) error {
	// Where the stub will look for it: in the image, or in the mount that covers it.
	root, rel, best := img.Dir, inside, ""
	for _, m := range img.Mounts {
		if strings.HasPrefix(inside, m.Inside+"/") && len(m.Inside) > len(best) {
			root, rel, best = m.Host, strings.TrimPrefix(inside, m.Inside), m.Inside
		}
	}
	dir, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil // the stub says what is wrong
	}
	defer unix.Close(dir)
	how := &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
	for cur := rel; ; cur = filepath.Dir(cur) {
		fd, err := unix.Openat2(dir, "."+cur, how)
		if errors.Is(err, unix.ENOENT) && cur != "/" {
			continue
		}
		if err != nil {
			return nil // the stub says what is wrong
		}
		defer unix.Close(fd)
		if cur == rel {
			return nil // it exists
		}
		parent := filepath.Join(best, cur)
		if img.ReadOnly {
			return fmt.Errorf("%w %s: the read-only image %s has none; create it in the image, or make the image writable", ErrMountPoint, inside, img.Dir)
		}
		if err := mayCreateIn(fd); err != nil {
			return fmt.Errorf("%w %s: the image %s has none, and scrim cannot create it in %s: %w; create it in the image, or run scrim as a user who may", ErrMountPoint, inside, img.Dir, parent, err)
		}
		return nil
	}
}

// mayCreateIn reports whether the stub may create an entry in the directory fd.
func mayCreateIn(fd int) error {
	return unix.Faccessat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), unix.W_OK|unix.X_OK, unix.AT_EACCESS)
}

// checkImageDir returns dir as an absolute path with symlinks resolved, or an error that says
// what is wrong with it.
func checkImageDir(dir string) (string, error) {
	if dir == "" {
		return "", errors.New("chroot: empty image directory")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("chroot %s: %w", dir, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fmt.Errorf("chroot %s: %w", dir, unwrapPathError(err))
	}
	fi, err := os.Stat(real)
	if err != nil {
		return "", fmt.Errorf("chroot %s: %w", dir, unwrapPathError(err))
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("chroot %s: %w", dir, unix.ENOTDIR)
	}
	if real == "/" {
		return "", fmt.Errorf("chroot %s: the host's root is not an image", dir)
	}
	return real, nil
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// userNSProbeArg0 marks a process started only to show that a user namespace can be made.
const userNSProbeArg0 = "[scrim-userns-probe]"

// probeUserNS starts a short-lived process in a new user namespace, as the stub will be, so
// that a kernel or policy that forbids it is a clear error before anything else starts.
func probeUserNS() error {
	cmd := &exec.Cmd{Path: "/proc/self/exe", Args: []string{userNSProbeArg0}, SysProcAttr: userNSAttr()}
	err := startUndumpable(cmd)
	if err == nil {
		err = cmd.Wait()
	}
	if err == nil {
		return nil
	}
	hint := ""
	if b, rerr := os.ReadFile("/proc/sys/user/max_user_namespaces"); rerr == nil && strings.TrimSpace(string(b)) == "0" {
		hint = " (user.max_user_namespaces is 0)"
	} else if b, rerr := os.ReadFile("/proc/sys/kernel/unprivileged_userns_clone"); rerr == nil && strings.TrimSpace(string(b)) == "0" {
		hint = " (kernel.unprivileged_userns_clone is 0)"
	}
	return fmt.Errorf("chroot: scrim is not root and cannot create a user namespace%s; run scrim as root or allow unprivileged user namespaces: %w", hint, unwrapPathError(err))
}

// userNSAttr makes the child the owner of a new user namespace where it keeps the scrim
// user's own uid and gid (so files keep their owners) and, through ambient capabilities, the
// right to mount and change its root until the stub drops them before exec.
func userNSAttr() *syscall.SysProcAttr {
	uid, gid := os.Getuid(), os.Getgid()
	return &syscall.SysProcAttr{
		Cloneflags:                 syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
		UidMappings:                []syscall.SysProcIDMap{{ContainerID: uid, HostID: uid, Size: 1}},
		GidMappings:                []syscall.SysProcIDMap{{ContainerID: gid, HostID: gid, Size: 1}},
		GidMappingsEnableSetgroups: false,
		AmbientCaps:                []uintptr{unix.CAP_SYS_ADMIN, unix.CAP_SYS_CHROOT},
		Pdeathsig:                  syscall.SIGKILL,
	}
}

// imageCmd adjusts the stub's command for image mode: the spec in its environment, the user
// namespace when scrim is not root, and no host working directory (the stub changes to the
// image's).
func (s *Supervisor) imageCmd(cmd *exec.Cmd) error {
	env := cmd.Env[:0:0]
	for _, kv := range cmd.Env {
		if !strings.HasPrefix(kv, imageEnv+"=") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	img := s.cfg.Image
	if img == nil {
		return nil
	}
	spec := imageSpec{Dir: img.Dir, ReadOnly: img.ReadOnly, Cwd: img.Cwd, Mounts: img.Mounts, UserNS: os.Geteuid() != 0}
	b, err := json.Marshal(spec)
	if err != nil {
		return fmt.Errorf("encode image spec: %w", err)
	}
	cmd.Env = append(cmd.Env, imageEnv+"="+string(b))
	cmd.Dir = ""
	if spec.UserNS {
		attr := userNSAttr()
		attr.Pdeathsig = cmd.SysProcAttr.Pdeathsig
		cmd.SysProcAttr = attr
	}
	return nil
}

// resolveRoot is the child's root as the core reaches it: "/", or in image mode the root of
// the child's mount namespace once the child is inside. The image's /proc, /dev, /tmp and bind
// mounts exist only in that namespace; DIR seen from scrim's namespace lacks them.
// /proc/<pid>/root crosses into it, and paths of descriptors there read as the child sees
// them (its root is its namespace's root after pivot_root), so the resolver needs nothing
// else.
func (s *Supervisor) resolveRoot(pid int) string {
	if s.cfg.Image == nil {
		return "/"
	}
	return "/proc/" + strconv.Itoa(pid) + "/root"
}
