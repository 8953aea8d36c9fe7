package supervisor

import (
	"context"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// The names a listing adds: a handler's literal claims (shim.Claimer's exact paths) and
// shim.Lister paths that it serves and that do not exist on disk, shown in their parent
// directory (shim.OpHandler).

// listedNames maps a directory's canonical path to the names the handlers of regs claim
// literally, or list, in it.
func listedNames(regs []shim.Registration) map[string][]string {
	out := map[string][]string{}
	for _, r := range regs {
		var exact []string
		if c, ok := r.Handler.(shim.Claimer); ok {
			exact, _ = c.Claims()
		}
		if l, ok := r.Handler.(shim.Lister); ok {
			exact = append(slices.Clone(exact), l.Listed()...)
		}
		for _, p := range exact {
			if !strings.HasPrefix(p, "/") || p == "/" {
				continue
			}
			p = path.Clean(p)
			dir, name := path.Split(p)
			dir = path.Clean(dir)
			if !contains(out[dir], name) {
				out[dir] = append(out[dir], name)
			}
		}
	}
	return out
}

func contains(names []string, name string) bool {
	for _, n := range names {
		if n == name {
			return true
		}
	}
	return false
}

// noTarget is the Target of a Request made for a listing: the name does not exist.
type noTarget struct{}

func (noTarget) Open(int, uint32) (*os.File, error) { return nil, unix.ENOENT }

// servedEntries returns shim.Call.Served for a call of tid (of tgid): nil when no handler
// claims a literal path.
func (s *Core) servedEntries(ctx context.Context, tid, tgid int) func(dir *os.File) ([]shim.DirEntry, error) {
	if len(s.chain.listed) == 0 {
		return nil
	}
	return func(dir *os.File) ([]shim.DirEntry, error) {
		p, ok := s.childPathOf(dir)
		if !ok {
			return nil, nil
		}
		names := s.chain.listed[p]
		if len(names) == 0 {
			return nil, nil
		}
		var out []shim.DirEntry
		for _, name := range names {
			var st unix.Stat_t
			if err := unix.Fstatat(int(dir.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW); err != unix.ENOENT {
				// There on disk (the kernel lists it), or not for scrim to tell.
				continue
			}
			full := path.Join(p, name)
			req := &shim.Request{
				Syscall: shim.SysNewfstatat, Op: shim.OpStat, PID: tgid, TID: tid,
				Spelled: []byte(full), Dirfd: unix.AT_FDCWD, Path: []byte(full), Target: noTarget{},
			}
			if b := s.baseCred.Load(); b != nil {
				req.Cred, req.Umask = b.cred, b.umask
			} else if cred, umask, err := readStatus(tid); err == nil {
				req.Cred, req.Umask = cred, umask
			}
			d := s.chain.run(ctx, req)
			if d.err != nil {
				return nil, d.err
			}
			if d.res.Action != shim.ActServe {
				continue
			}
			typ := uint8(unix.DT_REG)
			if mode, err := servedMode(d.res.Content); err == nil && mode&unix.S_IFMT == unix.S_IFDIR {
				typ = unix.DT_DIR
			}
			closeContent(d.res.Content)
			out = append(out, shim.DirEntry{Name: name, Type: typ})
		}
		return out, nil
	}
}

// childPathOf returns the canonical path of the directory dir as the child sees it from its
// root, as far as scrim can tell.
func (s *Core) childPathOf(dir *os.File) (string, bool) {
	p, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(dir.Fd())))
	if err != nil || !strings.HasPrefix(p, "/") {
		return "", false
	}
	root := s.rootPath
	switch {
	case root == "":
		return "", false
	case root == "/":
		return p, true
	case p == root:
		return "/", true
	case strings.HasPrefix(p, root+"/"):
		return p[len(root):], true
	}
	return "", false
}
