package resolver

import (
	"bytes"

	"golang.org/x/sys/unix"
)

// fastEligible reports whether in's spelling allows the fast path at all. The fast path's
// answer rests on no symlink having been crossed, so that the walk was lexical; two spellings
// still need the component walk:
//   - ".." together with a numeric component: a lexical walk through the supervisor's own
//     /proc/<pid> and back out would pass procfs checks that let any thread into its own
//     process's entries, which the caller would not pass;
//   - a create with a trailing slash, which the kernel refuses with EISDIR before it looks at
//     the last component.
func fastEligible(path []byte, look Lookup) bool {
	if len(path) == 0 || look.Create && path[len(path)-1] == '/' {
		return false
	}
	var dotdot, numeric bool
	for p := path; len(p) > 0; {
		var name []byte
		name, p = nextName(p)
		switch {
		case len(name) == 2 && name[0] == '.' && name[1] == '.':
			dotdot = true
		case len(name) > 0 && isDigits(name):
			numeric = true
		}
	}
	return !(dotdot && numeric)
}

// nextName splits the first name off p, after any leading slashes: the rest is empty or
// starts with a slash.
func nextName(p []byte) (name, rest []byte) {
	p = skipSlashes(p)
	if i := bytes.IndexByte(p, '/'); i >= 0 {
		return p[:i], p[i:]
	}
	return p, nil
}

func hasNumeric(p []byte) bool {
	for len(p) > 0 {
		var name []byte
		name, p = nextName(p)
		if len(name) > 0 && isDigits(name) {
			return true
		}
	}
	return false
}

func hasDotDot(p []byte) bool {
	for len(p) > 0 {
		var name []byte
		name, p = nextName(p)
		if len(name) == 2 && name[0] == '.' && name[1] == '.' {
			return true
		}
	}
	return false
}

// fastHow returns the openat2 arguments that resolve path from w.cur the fast way, or false
// when the spelling needs the walk. Under a chroot root an absolute path is resolved with
// RESOLVE_IN_ROOT from the root, whose ".." semantics are the caller's; a relative path with
// ".." could climb above that root on scrim's side, so it takes the walk.
func (w *walker) fastHow(path []byte) (unix.OpenHow, bool) {
	in := w.in
	if !fastEligible(path, in.Lookup) {
		return unix.OpenHow{}, false
	}
	how := unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_NOFOLLOW,
		Resolve: resolveNoSymlinks | resolveNoMagiclinks | in.Resolve&resolveNoXdev,
	}
	if !w.r.shared {
		switch {
		case path[0] == '/' && w.cur.fd == w.r.root:
			how.Resolve |= resolveInRoot
		case path[0] == '/' || hasDotDot(path):
			return unix.OpenHow{}, false
		}
	}
	return how, true
}

func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// fast lets the kernel resolve the whole path in one openat2 (see fastHow for a chroot
// root). RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS make that resolution purely
// lexical, so it cannot differ from the caller's: no /proc/self to mean the supervisor, no
// magic link to reach the supervisor's objects, and every ".." is the lexical parent. The
// canonical path is then the lexical join of the start's path and the spelling, with no
// readlink. Anything the fast path cannot decide (a symlink, a missing component, a result
// on procfs) returns done=false and the component walk starts over from w.cur.
//
// A missing or symlinked last component is common (ENOENT probes, versioned library
// links): then the parent is resolved the fast way and only the last component is walked.
func (w *walker) fast() (done bool, err error) {
	in := w.in
	if w.r.shared && hasAnyPrefix(in.Path, walkPrefixes) {
		return false, nil
	}
	how, ok := w.fastHow(in.Path)
	if !ok {
		return false, nil
	}
	pathz := cpath(w.namez, in.Path)
	w.namez = pathz
	fd, err := openat2(w.cur.fd, pathz, &how)
	switch err {
	case nil:
		var st unix.Statx_t
		if err := statFd(fd, &st); err != nil {
			unix.Close(fd)
			return true, err
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK && !in.Lookup.NoFollow {
			unix.Close(fd)
			return w.fastParent()
		}
		if in.Lookup.Create && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			// may_create_in_sticky needs the directory: walk the last component.
			unix.Close(fd)
			return w.fastParent()
		}
		fsType, proc := w.r.onProc(fd, &st)
		if proc {
			unix.Close(fd)
			return false, nil
		}
		path := lexical(w.path, in.Path)
		w.setCur(handle{fd: fd}, &st)
		w.path, w.fsType = path, fsType
		return true, nil
	case unix.ENOENT:
		return w.fastParent()
	case unix.ELOOP, unix.EXDEV, unix.EAGAIN:
		return false, nil
	}
	if hasNumeric(in.Path) {
		// Perhaps refused inside scrim's own /proc/<pid>, which the walk hides.
		return false, nil
	}
	return true, err
}

// walkPrefixes are spellings that always end on procfs or cross a symlink to it, where the
// fast path would only fail first.
var walkPrefixes = [][]byte{[]byte("/proc/"), []byte("/dev/fd/"), []byte("/dev/std")}

func hasAnyPrefix(p []byte, prefixes [][]byte) bool {
	for _, pre := range prefixes {
		if bytes.HasPrefix(p, pre) {
			return true
		}
	}
	return false
}

// fastRest tries to resolve what is left after a symlink in one openat2 from w.cur, with the
// same reasoning as fast. It reports whether it did; if not, the walk goes on unchanged.
func (w *walker) fastRest(rest []byte) (bool, error) {
	in := w.in
	how, ok := w.fastHow(rest)
	if !ok || in.Lookup.Create {
		return false, nil
	}
	w.namez = cpath(w.namez, rest)
	fd, err := openat2(w.cur.fd, w.namez, &how)
	if err != nil {
		return false, nil
	}
	var st unix.Statx_t
	if err := statFd(fd, &st); err != nil {
		unix.Close(fd)
		return true, err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK && !in.Lookup.NoFollow {
		unix.Close(fd)
		return false, nil
	}
	fsType, proc := w.r.onProc(fd, &st)
	if proc {
		unix.Close(fd)
		return false, nil
	}
	path := lexical(w.path, rest)
	w.setCur(handle{fd: fd}, &st)
	w.path, w.fsType = path, fsType
	return true, nil
}

// fastParent resolves all but the last component the fast way, then walks the last one.
func (w *walker) fastParent() (bool, error) {
	in := w.in
	dir, last := splitLast(in.Path)
	if len(last) == 0 || last[0] == '.' && (len(last) == 1 || last[1] == '/' ||
		last[1] == '.' && (len(last) == 2 || last[2] == '/')) {
		return false, nil
	}
	if len(dir) > 0 {
		how, ok := w.fastHow(dir)
		if !ok {
			return false, nil
		}
		how.Flags = unix.O_PATH | unix.O_DIRECTORY
		w.namez = cpath(w.namez, dir)
		fd, err := openat2(w.cur.fd, w.namez, &how)
		switch err {
		case nil:
		case unix.ENOENT, unix.ELOOP, unix.EXDEV, unix.EAGAIN:
			return false, nil
		default:
			if hasNumeric(dir) {
				return false, nil
			}
			return true, err
		}
		var st unix.Statx_t
		if err := statFd(fd, &st); err != nil {
			unix.Close(fd)
			return true, err
		}
		if _, proc := w.r.onProc(fd, &st); proc {
			unix.Close(fd)
			return false, nil
		}
		path := lexical(w.path, dir)
		w.setCur(handle{fd: fd}, &st)
		w.path = path
		w.rootSet = w.rootSet || hasDotDot(dir)
	} else if err := w.statCur(); err != nil {
		return true, err
	}
	return true, w.walk(last)
}

// onProc returns the filesystem type of fd, whose identity is st, and whether the fast path
// must hand it to the walk: it is on procfs, or its filesystem cannot be told.
func (r *Resolver) onProc(fd int, st *unix.Statx_t) (int64, bool) {
	fsType, ok := r.fsTypeOf(fd, st)
	return fsType, !ok || fsType == unix.PROC_SUPER_MAGIC
}

// fsTypeOf returns the statfs type of the filesystem fd is on. A filesystem on a block device
// (a device number with a major other than 0) keeps its type while it is mounted, and procfs
// and the other pseudo filesystems always have an anonymous device (major 0), so the type of
// the first is cached by device number and only the second costs an fstatfs per call: a
// passthrough open of an ordinary file makes one system call fewer.
func (r *Resolver) fsTypeOf(fd int, st *unix.Statx_t) (int64, bool) {
	dev := unix.Mkdev(st.Dev_major, st.Dev_minor)
	block := st.Dev_major != 0
	if block {
		if m := r.blockFsTypes.Load(); m != nil {
			if t, ok := (*m)[dev]; ok {
				return t, true
			}
		}
	}
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(fd, &sfs); err != nil {
		return 0, false
	}
	if block {
		for {
			old := r.blockFsTypes.Load()
			m := map[uint64]int64{dev: sfs.Type}
			if old != nil {
				for k, v := range *old {
					m[k] = v
				}
			}
			if r.blockFsTypes.CompareAndSwap(old, &m) {
				break
			}
		}
	}
	return sfs.Type, true
}

// splitLast splits p before its last component; last keeps its trailing slashes.
func splitLast(p []byte) (dir, last []byte) {
	end := len(p)
	for end > 0 && p[end-1] == '/' {
		end--
	}
	i := bytes.LastIndexByte(p[:end], '/')
	if i < 0 {
		return nil, p
	}
	return p[:i+1], p[i+1:]
}

// lexical joins base (a canonical path, "" for "/") and p as a walk without symlinks does.
func lexical(base, p []byte) []byte {
	// Sized once: a path is at most base, a slash and p.
	out := make([]byte, 0, len(base)+len(p)+1)
	if len(p) == 0 || p[0] != '/' {
		out = append(out, base...)
	}
	for len(p) > 0 {
		var name []byte
		name, p = nextName(p)
		switch {
		case len(name) == 0 || len(name) == 1 && name[0] == '.':
		case len(name) == 2 && name[0] == '.' && name[1] == '.':
			if i := bytes.LastIndexByte(out, '/'); i >= 0 {
				out = out[:i]
			}
		default:
			out = appendName(out, name)
		}
	}
	return out
}
