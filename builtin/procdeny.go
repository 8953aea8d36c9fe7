package builtin

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

const idProcDeny = "builtin.procdeny"

// DefaultDeny is the list of kernel-sensitive paths no sandbox may open, whole subtrees
// included. Options.Deny adds to it; nothing removes from it.
var DefaultDeny = []string{
	"/proc/kcore",         // physical memory as an ELF core
	"/proc/kmsg",          // the kernel log, consumed on read
	"/proc/kallsyms",      // kernel symbol addresses (KASLR)
	"/proc/keys",          // the keyrings the caller can view
	"/proc/key-users",     // per-user key quotas
	"/proc/sysrq-trigger", // magic SysRq: reboot, crash, OOM kill
	"/proc/sched_debug",   // every task on the host
	"/proc/timer_list",    // every timer, with task names and addresses
	"/proc/modules",       // loaded modules and their addresses
	"/proc/kpagecount",    // physical page maps
	"/proc/kpageflags",
	"/proc/kpagecgroup",
	"/proc/vmallocinfo", // kernel virtual addresses
	"/proc/slabinfo",    // allocator state, a heap-spray aid
	"/proc/iomem",       // physical memory map
	"/proc/ioports",
	"/proc/sys/kernel/core_pattern", // a pipe here runs as root on the host
	"/proc/sys/kernel/modprobe",
	"/proc/sys/fs/binfmt_misc",
	"/sys/firmware",        // ACPI tables, EFI variables, DMI
	"/sys/kernel/security", // securityfs: LSM policy
	"/sys/kernel/debug",    // debugfs
	"/sys/kernel/tracing",  // tracefs
	"/sys/kernel/config",   // configfs
	"/sys/fs/pstore",       // crash logs of earlier boots
	"/sys/power",           // suspend and hibernate
	"/dev/mem",             // physical memory
	"/dev/kmem",
	"/dev/port",
	"/dev/kmsg",
}

// devNode is a device as a special file stands for it: block or character, and the number.
type devNode struct {
	typ  uint32 // unix.S_IFCHR or unix.S_IFBLK
	rdev uint64
}

// deniedDevices are the devices of DefaultDeny's device files, by number: a node made
// anywhere, under any name (before the run, or by a program outside the sandbox), is the same
// device. Listed here because the node need not exist on the host for a copy of it to.
var deniedDevices = map[devNode]string{
	{unix.S_IFCHR, unix.Mkdev(1, 1)}:  "/dev/mem",
	{unix.S_IFCHR, unix.Mkdev(1, 2)}:  "/dev/kmem",
	{unix.S_IFCHR, unix.Mkdev(1, 4)}:  "/dev/port",
	{unix.S_IFCHR, unix.Mkdev(1, 11)}: "/dev/kmsg",
}

// nodeOf returns the device obj stands for, if it is a device node.
func nodeOf(obj shim.Object) (devNode, bool) {
	typ := obj.Mode & unix.S_IFMT
	if !obj.Exists || (typ != unix.S_IFCHR && typ != unix.S_IFBLK) {
		return devNode{}, false
	}
	return devNode{typ, obj.Rdev}, true
}

// isNullDevice reports whether obj is a node of the null device (1:3).
func isNullDevice(obj shim.Object) bool {
	return obj.Exists && obj.Mode&unix.S_IFMT == unix.S_IFCHR && obj.Rdev == unix.Mkdev(1, 3)
}

// writeProtected are trees the sandbox may read but never open for writing: writing there
// changes the host kernel, not the sandbox.
var writeProtected = []string{"/proc/sys", "/sys"}

// deniedFS are filesystems denied wherever they are mounted: every object on them is kernel
// state, so their default mount points above are not the only way in.
var deniedFS = map[int64]string{
	unix.DEBUGFS_MAGIC:    "debugfs",
	unix.TRACEFS_MAGIC:    "tracefs",
	unix.SECURITYFS_MAGIC: "securityfs",
	unix.PSTOREFS_MAGIC:   "pstore",
	unix.EFIVARFS_MAGIC:   "efivarfs",
}

// procDeny answers EACCES for the denied paths, matched on the canonical path (subtrees
// included) and on identity, so a hard link, a bind mount or a second procfs mount of a denied
// entry is denied too; a denied device is matched by its number too, so another node of it is.
type procDeny struct {
	paths   []string
	ids     map[fileID]string
	pseudo  map[pseudoID]string
	devices map[devNode]string
}

var (
	_ shim.Handler     = (*procDeny)(nil)
	_ shim.OpHandler   = (*procDeny)(nil)
	_ shim.Provisioner = (*procDeny)(nil)
)

func newProcDeny(opts Options, _ *listing) (shim.Handler, error) {
	d := &procDeny{}
	seen := map[string]bool{}
	for _, p := range append(append([]string{}, DefaultDeny...), opts.Deny...) {
		if !strings.HasPrefix(p, "/") {
			return nil, fmt.Errorf("deny %q: not an absolute path", p)
		}
		p = path.Clean(p)
		if p == "/" {
			return nil, fmt.Errorf("deny %q: would deny everything", p)
		}
		if !seen[p] {
			seen[p] = true
			d.paths = append(d.paths, p)
		}
	}
	return d, nil
}

func (d *procDeny) ID() string { return idProcDeny }

// Ops: a denied object is denied to every call that names it, not only to open, except stat:
// existence is not the secret, and `ls -l /dev` or `find /` must not fail on what they list.
func (d *procDeny) Ops() shim.OpSet { return shim.AllOps &^ shim.Ops(shim.OpStat) }

// Provision records the identity of every denied path that exists in the child's root.
func (d *procDeny) Provision(env shim.Env) error {
	root := rootOf(env, "")
	d.ids = map[fileID]string{}
	d.pseudo = map[pseudoID]string{}
	d.devices = map[devNode]string{}
	for n, p := range deniedDevices {
		d.devices[n] = p
	}
	for _, p := range d.paths {
		obj, ok, err := objectInRoot(root, p)
		if err != nil || !ok {
			// A path that cannot be looked up now is still denied by name.
			continue
		}
		if isNullDevice(obj) && p != "/dev/null" {
			// A container runtime hides what it masks (runc and crun: maskedPaths, such as
			// /proc/keys and /proc/timer_list) under a bind mount of the container's
			// /dev/null. That is not the object the entry denies, and its identity and
			// number are those of every /dev/null: the path stays denied by name only.
			continue
		}
		d.ids[objectID(obj)] = p
		if obj.IsDir() && linkable(obj.FsType) {
			d.linkedBeneath(env, root, p)
		}
		if n, ok := nodeOf(obj); ok {
			d.devices[n] = p
		}
		if isPseudoFS(obj.FsType) {
			d.pseudo[pseudoID{obj.FsType, obj.Ino}] = p
		}
	}
	return nil
}

// linkable reports whether a filesystem of type fs may hold files with more than one name.
// The kernel's own filesystems among the defaults (procfs, sysfs, securityfs, debugfs,
// tracefs, configfs, bpffs, cgroupfs) have no link(2): scanning them for hard links found none
// and cost every start thousands of system calls (tracefs alone holds about 12,000 files).
func linkable(fs int64) bool {
	switch fs {
	case unix.PROC_SUPER_MAGIC, unix.SYSFS_MAGIC, unix.SECURITYFS_MAGIC, unix.DEBUGFS_MAGIC,
		unix.TRACEFS_MAGIC, configfsMagic, unix.BPF_FS_MAGIC, unix.CGROUP_SUPER_MAGIC,
		unix.CGROUP2_SUPER_MAGIC:
		return false
	}
	return true
}

// configfsMagic is CONFIGFS_MAGIC (include/uapi/linux/magic.h); x/sys lacks it.
const configfsMagic = 0x62656570

// maxDenyScan bounds the files looked at beneath one denied directory at start-up.
const maxDenyScan = 100000

// linkedBeneath records the identity of every file beneath the denied directory p that has
// another name (a hard link made before the run, perhaps outside the directory): that name
// must reach the same answer. A file with one name can get another only by a link(2), which
// is refused for what lies beneath a denied directory.
func (d *procDeny) linkedBeneath(env shim.Env, root, p string) {
	dir := filepath.Join(root, p)
	seen := 0
	filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if seen++; seen > maxDenyScan {
			if env.Log != nil {
				env.Log.Warn("denied directory too large to look for hard links to what it holds; links made before the run beyond the first files are not denied", "path", p, "files", maxDenyScan)
			}
			return fs.SkipAll
		}
		if e.IsDir() {
			return nil
		}
		var st unix.Stat_t
		if unix.Lstat(path, &st) == nil && st.Nlink > 1 && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			d.ids[fileID{st.Dev, st.Ino}] = p
		}
		return nil
	})
}

// Open denies what the list names, whatever the flags, and answers EROFS for writes to the
// write-protected trees, as a container with a read-only /proc/sys and /sys would. For the
// calls that change names, it also refuses what would carry a denied object out of reach: a
// change beneath a denied directory however it is named now (Request.Dirs), and a rename or
// removal of a denied path's ancestor, which would move the denied path with it.
func (d *procDeny) Open(_ context.Context, req *shim.Request) (shim.Result, error) {
	if d.denied(req) {
		return shim.Deny(unix.EACCES), nil
	}
	if req.Op.Changes() && d.movesDenied(req) {
		return shim.Deny(unix.EACCES), nil
	}
	if req.WantsWrite() && writeProtectedObject(req) {
		return shim.Deny(unix.EROFS), nil
	}
	return shim.Next(), nil
}

// movesDenied reports whether a call that changes names would reach beneath a denied
// directory by identity, or move, replace or remove an ancestor of a denied path.
func (d *procDeny) movesDenied(req *shim.Request) bool {
	for _, dir := range req.Dirs {
		if _, ok := d.ids[fileID{dir.Dev, dir.Ino}]; ok {
			return true
		}
	}
	if req.Op != shim.OpRename && req.Op != shim.OpRemove {
		return false
	}
	for _, p := range d.paths {
		if under([]byte(p), string(req.Path)) {
			return true
		}
	}
	return false
}

func (d *procDeny) denied(req *shim.Request) bool {
	for _, p := range d.paths {
		if under(req.Path, p) {
			return true
		}
	}
	obj := req.Object
	if !obj.Exists {
		return false
	}
	if _, ok := deniedFS[obj.FsType]; ok {
		return true
	}
	if _, ok := d.ids[objectID(obj)]; ok {
		return true
	}
	if n, ok := nodeOf(obj); ok {
		if _, ok := d.devices[n]; ok {
			return true
		}
	}
	_, ok := d.pseudo[pseudoID{obj.FsType, obj.Ino}]
	return ok && isPseudoFS(obj.FsType)
}

// writeProtectedObject reports whether req's object lies in /proc/sys or /sys, by path, or on
// sysfs wherever it is mounted.
func writeProtectedObject(req *shim.Request) bool {
	for _, p := range writeProtected {
		if under(req.Path, p) {
			return true
		}
	}
	return req.Object.Exists && req.Object.FsType == unix.SYSFS_MAGIC
}
