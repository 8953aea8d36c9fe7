// Package probes holds the spelling cases of scrim's attack probes: every way of naming one
// object that the resolver must see through, as arguments of the probe program
// (supervisor/launch/testdata/probe.c and probe.go) with the line it must print. The sandbox
// tests (scrim run) and the container tests (scrim agent) run the same table; only where the
// symlinks are made and what the served files hold differ.
package probes

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Case is one call of the probe program; Want is the line it must print.
type Case struct {
	Name                          string
	Op, Dir, Path, Flags, Resolve string
	Want                          string
}

// Args are the case's five probe arguments: op dir path flags resolve.
func (c Case) Args() []string {
	res := c.Resolve
	if res == "" {
		res = "0"
	}
	fl := c.Flags
	if fl == "" {
		fl = "0"
	}
	dir := c.Dir
	if dir == "" {
		dir = "-"
	}
	return []string{c.Op, dir, c.Path, fl, res}
}

// Link is a symlink a spelling needs: Path names it and Target is its text, both as the
// program that follows it sees them.
type Link struct{ Path, Target string }

// Spellings lists every way of naming target (an absolute path to an existing file, as the
// program sees it) that the resolver must see through: lexical tricks, symlinks, and /proc and
// /dev/fd magic links, with read and write flags. links is a directory for the symlinks the
// cases need; MakeLinks makes them. read is the expected line for reads, write for writes.
func Spellings(target, links, read, write string) ([]Case, []Link) {
	dir, base := filepath.Dir(target), filepath.Base(target)
	last := filepath.Base(dir)
	climb := strings.Repeat("../", strings.Count(links, "/")+2) + strings.TrimPrefix(target, "/")
	ls := []Link{
		{filepath.Join(links, "x"), target},
		{filepath.Join(links, "c1"), filepath.Join(links, "c2")},
		{filepath.Join(links, "c2"), target},
		{filepath.Join(links, "d"), dir},
		{filepath.Join(links, "sub", "rel"), climb},
		{filepath.Join(links, "sub", "reld"), "../d/" + base},
	}

	const (
		rdonly   = "0"
		wronly   = "0x1"
		trunc    = "0x200"
		creatx   = "0xc1" // O_CREAT|O_EXCL|O_WRONLY
		nofollow = "0x20000"
		opath    = "0x200000"
		odir     = "0x10000"
		beneath  = "0x8"
		inRoot   = "0x10"
	)
	var cs []Case
	add := func(name, op, d, p, fl, res, want string) {
		cs = append(cs, Case{Name: name, Op: op, Dir: d, Path: p, Flags: fl, Resolve: res, Want: want})
	}
	for _, op := range []string{"open", "openat", "openat2"} {
		add(op+" absolute", op, "", target, rdonly, "", read)
		add(op+" double slash", op, "", "/"+target, rdonly, "", read)
		add(op+" dot", op, "", dir+"/./"+base, rdonly, "", read)
		add(op+" dotdot", op, "", dir+"/../"+last+"/"+base, rdonly, "", read)
		add(op+" symlink", op, "", filepath.Join(links, "x"), rdonly, "", read)
		add(op+" symlink chain", op, "", filepath.Join(links, "c1"), rdonly, "", read)
		add(op+" symlinked directory", op, "", filepath.Join(links, "d", base), rdonly, "", read)
		add(op+" relative symlink climbing", op, "", filepath.Join(links, "sub", "rel"), rdonly, "", read)
		add(op+" relative symlink through a symlink", op, "", filepath.Join(links, "sub", "reld"), rdonly, "", read)
		add(op+" proc self root", op, "", "/proc/self/root"+target, rdonly, "", read)
		add(op+" proc thread-self root", op, "", "/proc/thread-self/root"+target, rdonly, "", read)
		add(op+" proc pid root", op, "", "/proc/@P/root"+target, rdonly, "", read)
		add(op+" proc self fd dir", op, dir, "/proc/self/fd/@D/"+base, rdonly, "", read)
		add(op+" dev fd dir", op, dir, "/dev/fd/@D/"+base, rdonly, "", read)
		add(op+" O_NOFOLLOW", op, "", target, nofollow, "", read)
		// O_PATH of served content gets the content itself (a memfd, see RATIONALE.md).
		add(op+" O_PATH", op, "", target, opath, "", read)
		add(op+" trailing slash", op, "", target+"/", rdonly, "", "ENOTDIR -")
		add(op+" O_WRONLY", op, "", target, wronly, "", write)
		add(op+" O_TRUNC", op, "", target, trunc, "", write)
		// The kernel fails these on the object's existence and type before any permission
		// check, and so does the resolver, before any handler.
		add(op+" O_CREAT|O_EXCL", op, "", target, creatx, "", "EEXIST -")
		add(op+" O_DIRECTORY", op, "", target, odir, "", "ENOTDIR -")
	}
	for _, op := range []string{"openat", "openat2"} {
		add(op+" dirfd", op, dir, base, rdonly, "", read)
		add(op+" dirfd root", op, "/", strings.TrimPrefix(target, "/"), rdonly, "", read)
		add(op+" dirfd dotdot", op, dir, "../"+last+"/"+base, rdonly, "", read)
		add(op+" dirfd symlink dir", op, links, "d/"+base, rdonly, "", read)
	}
	add("openat2 RESOLVE_BENEATH", "openat2", dir, base, rdonly, beneath, read)
	add("openat2 RESOLVE_IN_ROOT", "openat2", "/", target, rdonly, inRoot, read)
	add("openat2 RESOLVE_BENEATH escaping", "openat2", links, "x", rdonly, beneath, "EXDEV -")
	add("creat", "creat", "", target, "", "", write)
	add("creat through symlink", "creat", "", filepath.Join(links, "x"), "", "", write)
	add("chdir", "chdir", "", dir, "", "", "OK -")
	add("relative after chdir", "open", "", base, rdonly, "", read)
	add("relative dotdot after chdir", "openat", "", "../"+last+"/"+base, rdonly, "", read)
	add("proc self cwd", "open", "", "/proc/self/cwd/"+base, rdonly, "", read)
	add("proc thread-self cwd", "openat2", "", "/proc/thread-self/cwd/"+base, rdonly, "", read)
	return cs, ls
}

// MakeLinks makes links, with the directories they sit in, beneath root: the host path of the
// root the program sees ("/" for a sandbox on the host's root, the bundle's root file system
// for a container).
func MakeLinks(root string, links []Link) error {
	for _, l := range links {
		p := filepath.Join(root, l.Path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("make links: %w", err)
		}
		if err := os.Symlink(l.Target, p); err != nil {
			return fmt.Errorf("make links: %w", err)
		}
	}
	return nil
}

// Lines splits the probe's output into its lines, one per case.
func Lines(out string) []string {
	if out == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(out, "\n"), "\n")
}

// The stat-like calls of the stat probe (supervisor/launch/testdata/statprobe.c): those that
// follow a final symlink, and those that stop on it.
var (
	StatFollowOps   = []string{"stat", "fstatat", "statx", "empty", "statx_empty", "access", "faccessat", "access_w", "getxattr", "listxattr", "statfs", "inotify"}
	StatNoFollowOps = []string{"lstat", "fstatat_nofollow", "statx_nofollow", "faccessat2_nofollow", "readlink", "readlinkat", "lgetxattr", "llistxattr"}
)

// StatSpelling is one way of naming an object for the stat probe: a directory for the *at
// calls ("-" for the working directory) and a path.
type StatSpelling struct{ Name, Dir, Path string }

// StatSpellings are the spellings of Spellings that name target from a fixed start, plus the
// symlinks and magic links themselves, a missing file and a dangling symlink; links is as
// for Spellings.
func StatSpellings(target, links string) ([]StatSpelling, []Link) {
	cases, ls := Spellings(target, links, "", "")
	var out []StatSpelling
	seen := map[string]bool{}
	for _, c := range cases {
		if c.Op == "chdir" || c.Op == "creat" || strings.HasPrefix(c.Name, "relative") || strings.Contains(c.Name, "cwd") || c.Resolve != "" {
			continue
		}
		key := c.Dir + "\x00" + c.Path
		if seen[key] {
			continue
		}
		seen[key] = true
		dir := c.Dir
		if dir == "" {
			dir = "-"
		}
		out = append(out, StatSpelling{strings.TrimPrefix(strings.TrimPrefix(strings.TrimPrefix(c.Name, "openat2 "), "openat "), "open "), dir, c.Path})
	}
	ls = append(ls, Link{filepath.Join(links, "dangling"), filepath.Join(links, "nowhere")})
	return append(out,
		StatSpelling{"magic fd link", filepath.Dir(target), "/proc/self/fd/@D"},
		StatSpelling{"dev fd link", filepath.Dir(target), "/dev/fd/@D"},
		StatSpelling{"proc self exe", "-", "/proc/self/exe"},
		StatSpelling{"proc self root", "-", "/proc/self/root"},
		StatSpelling{"proc pid cwd", "-", "/proc/@P/cwd"},
		StatSpelling{"proc self", "-", "/proc/self"},
		StatSpelling{"missing", "-", filepath.Join(links, "no-such-file")},
		StatSpelling{"missing dir", "-", filepath.Join(links, "no-such-dir", "f")},
		StatSpelling{"dangling symlink", "-", filepath.Join(links, "dangling")},
	), ls
}

// StatArgs are the stat probe's arguments for every op of StatFollowOps and StatNoFollowOps
// on every spelling, in that order.
func StatArgs(sps []StatSpelling) []string {
	var args []string
	for _, sp := range sps {
		for _, op := range append(append([]string{}, StatFollowOps...), StatNoFollowOps...) {
			args = append(args, op, sp.Dir, sp.Path)
		}
	}
	return args
}

// ObjectState is what must not change of a denied object: its bytes, mode, owner, times, links
// and extended attributes, as one comparable line.
func ObjectState(p string) (string, error) {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return "", err
	}
	s := fmt.Sprintf("mode=%o uid=%d gid=%d nlink=%d mtime=%d.%d ino=%d", st.Mode, st.Uid, st.Gid, st.Nlink, st.Mtim.Sec, st.Mtim.Nsec, st.Ino)
	if st.Mode&unix.S_IFMT == unix.S_IFREG {
		b, err := os.ReadFile(p)
		if err != nil {
			return "", err
		}
		s += fmt.Sprintf(" sha256=%x", sha256.Sum256(b))
	}
	sz, _ := unix.Llistxattr(p, nil)
	return s + fmt.Sprintf(" xattrs=%d", sz), nil
}
