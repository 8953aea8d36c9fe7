package builtin

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

const idState = "builtin.state"

// State names scrim's own files, which the sandbox may read but never change: the config files
// in use, the plugins loaded, the plugin directories, the compile cache and the audit log. A
// later run trusts them (it loads a drop-in found in a plugin directory, runs code from the
// cache), so a sandbox that could change them could reach past its own run.
type State struct {
	// Paths are absolute host paths of files and directories (whole subtrees) the sandbox may
	// not change, nor any name on the way to them. They need not exist.
	Paths []string
	// Secret are absolute host paths of files the sandbox may not even open, such as the key
	// that authenticates the compile cache. They are protected like Paths too.
	Secret []string
}

func (s State) empty() bool { return len(s.Paths) == 0 && len(s.Secret) == 0 }

// dirNames are names in directories known by identity: how a name that does not exist yet is
// recognised whatever the directory is called from the sandbox. Each maps to the protected path
// it belongs to.
type dirNames map[fileID]map[string]string

func (m dirNames) add(dir fileID, name, p string) {
	if m[dir] == nil {
		m[dir] = map[string]string{}
	}
	m[dir][name] = p
}

// has reports whether req's last component, in the directory that holds it, is one of m: false
// when the walk's directories are unknown. It allocates nothing: it runs for every open.
func (m dirNames) has(req *shim.Request) bool {
	if len(req.Dirs) == 0 || len(m) == 0 {
		return false
	}
	d := req.Dirs[len(req.Dirs)-1]
	names, ok := m[fileID{d.Dev, d.Ino}]
	if !ok {
		return false
	}
	base := req.Path
	if i := bytes.LastIndexByte(base, '/'); i >= 0 && i < len(base)-1 {
		base = base[i+1:]
	}
	_, ok = names[string(base)]
	return ok
}

// state refuses every change to scrim's own files and to the names that lead to them, and
// every open of a secret, matched by path (when the sandbox sees the host's root), by the
// object's identity, by the identities of the directories the walk passed through (an object
// beneath a protected directory, whatever that directory is called now) and by the identity of
// the directory a new name would be made in.
//
// A protected path's "way" is every name a later run's lookup of it passes: each ancestor, and
// each symbolic link followed with the names it leads through. Removing or renaming one, or
// making one that does not exist yet, would let the sandbox put its own file where the next
// run looks: `mv ~/.config x; mkdir -p ~/.config/scrim/plugins.d`.
type state struct {
	paths  []string // as configured, cleaned
	secret map[string]bool

	// hostView is true when the child's root is the host's: only then are canonical paths
	// comparable with the host paths scrim was given. In image mode the child reaches host
	// objects only through bind mounts, which keep their identities.
	hostView bool
	// protected are the canonical paths of the protected subtrees, and the paths as given.
	protected []string
	// secretPaths are the canonical paths of the secrets, and the paths as given.
	secretPaths []string
	// way are the canonical paths of the names on the way to a protected path.
	way map[string]string
	// ids are the protected objects that exist, dirs the protected directories among them.
	ids  map[fileID]string
	dirs map[shim.DirID]string
	// wayIDs are the names on the way that exist: directories and symbolic links.
	wayIDs map[fileID]string
	// names are the way's names, protNames the protected paths' own and secretNames the
	// secrets', each by its directory's identity.
	names       dirNames
	protNames   dirNames
	secretIDs   map[fileID]string
	secretNames dirNames
}

var (
	_ shim.Handler     = (*state)(nil)
	_ shim.OpHandler   = (*state)(nil)
	_ shim.Provisioner = (*state)(nil)
)

func newState(opts Options, _ *listing) (shim.Handler, error) {
	s := &state{secret: map[string]bool{}}
	seen := map[string]bool{}
	add := func(p string, secret bool) error {
		if !strings.HasPrefix(p, "/") {
			return fmt.Errorf("state %q: not an absolute path", p)
		}
		p = path.Clean(p)
		if p == "/" {
			return fmt.Errorf("state %q: would protect everything", p)
		}
		if secret {
			s.secret[p] = true
		}
		if !seen[p] {
			seen[p] = true
			s.paths = append(s.paths, p)
		}
		return nil
	}
	for _, p := range opts.State.Paths {
		if err := add(p, false); err != nil {
			return nil, err
		}
	}
	for _, p := range opts.State.Secret {
		if err := add(p, true); err != nil {
			return nil, err
		}
	}
	s.hostView = opts.ImageRoot == ""
	return s, nil
}

func (s *state) ID() string { return idState }

// Ops: opens (for writing, and any open of a secret) and every call that changes a name or an
// object. Reading scrim's files (stat, access, readlink, chdir) stays allowed.
func (s *state) Ops() shim.OpSet {
	return shim.Ops(shim.OpOpen, shim.OpRemove, shim.OpRename, shim.OpLink, shim.OpCreate, shim.OpModify)
}

// Provision looks every protected path up on the host, as the next run will, and records the
// identities of what exists: the protected objects, the names on the way to them and the
// directories those names are in. The sandbox has not started, so nothing it does is seen.
func (s *state) Provision(env shim.Env) error {
	if env.Sandbox != nil {
		s.hostView = rootOf(env, "") == "/" && s.hostView
	}
	s.way = map[string]string{}
	s.ids = map[fileID]string{}
	s.dirs = map[shim.DirID]string{}
	s.wayIDs = map[fileID]string{}
	s.names = dirNames{}
	s.protNames = dirNames{}
	s.secretIDs = map[fileID]string{}
	s.secretNames = dirNames{}
	s.protected, s.secretPaths = nil, nil
	for _, p := range s.paths {
		names, final, err := lookupWay(p)
		if err != nil {
			return fmt.Errorf("look up %s: %w", p, err)
		}
		secret := s.secret[p]
		s.protected = appendNew(s.protected, final, p)
		if secret {
			s.secretPaths = appendNew(s.secretPaths, final, p)
		}
		for _, n := range names {
			isFinal := n == final
			if !isFinal {
				s.way[n] = p
			}
			if dir, ok := lstatID(path.Dir(n)); ok {
				base := path.Base(n)
				switch {
				case !isFinal:
					s.names.add(dir, base, p)
				case secret:
					s.secretNames.add(dir, base, p)
					s.protNames.add(dir, base, p)
				default:
					s.protNames.add(dir, base, p)
				}
			}
			var st unix.Stat_t
			if unix.Lstat(n, &st) != nil {
				continue
			}
			id := fileID{st.Dev, st.Ino}
			switch {
			case !isFinal:
				s.wayIDs[id] = p
			default:
				s.ids[id] = p
				if st.Mode&unix.S_IFMT == unix.S_IFDIR {
					s.dirs[shim.DirID{Dev: st.Dev, Ino: st.Ino}] = p
				}
				if secret {
					s.secretIDs[id] = p
				}
			}
		}
	}
	return nil
}

// Open refuses what would change scrim's files or the way to them, and any open of a secret.
// The answer is EACCES for every call: see RATIONALE.md.
func (s *state) Open(_ context.Context, req *shim.Request) (shim.Result, error) {
	if s.refused(req) {
		return shim.Deny(unix.EACCES), nil
	}
	return shim.Next(), nil
}

func (s *state) refused(req *shim.Request) bool {
	switch req.Op {
	case shim.OpOpen:
		if s.isSecret(req) {
			return true
		}
		if !req.WantsWrite() {
			return false
		}
		// O_CREAT of a missing name on the way makes it exist; other write opens of a
		// directory on the way fail in the kernel (EISDIR), and O_TMPFILE makes no name.
		return s.inside(req) || (req.Flags&unix.O_CREAT != 0 && !req.Object.Exists && s.onWay(req))
	case shim.OpCreate:
		// An existing name makes the kernel answer EEXIST and change nothing: `mkdir -p`
		// walks through ~/.config that way.
		if req.Object.Exists {
			return false
		}
		return s.inside(req) || s.onWay(req)
	case shim.OpRemove, shim.OpRename:
		return s.inside(req) || s.onWay(req)
	case shim.OpLink:
		// The source may be linked only from outside: a second name for a protected file
		// would be a way to it that no rule here knows.
		if !req.Dest {
			return s.inside(req)
		}
		return s.inside(req) || s.onWay(req)
	case shim.OpModify:
		return s.inside(req)
	}
	return false
}

// inside reports whether req's object is protected or lies beneath a protected directory.
func (s *state) inside(req *shim.Request) bool {
	if s.hostView {
		for _, p := range s.protected {
			if under(req.Path, p) {
				return true
			}
		}
	}
	if req.Object.Exists {
		if _, ok := s.ids[objectID(req.Object)]; ok {
			return true
		}
	}
	for _, d := range req.Dirs {
		if _, ok := s.dirs[d]; ok {
			return true
		}
	}
	return s.protNames.has(req)
}

// onWay reports whether req names something on the way to a protected path: by path, by the
// identity of the existing name, or by the identity of its directory and its last component.
func (s *state) onWay(req *shim.Request) bool {
	if s.hostView {
		if _, ok := s.way[string(req.Path)]; ok {
			return true
		}
	}
	if req.Object.Exists {
		if _, ok := s.wayIDs[objectID(req.Object)]; ok {
			return true
		}
	}
	return s.names.has(req)
}

// isSecret reports whether req opens a secret: by path, by identity, or by its directory's
// identity and its name, which also covers a secret scrim creates while the sandbox runs.
func (s *state) isSecret(req *shim.Request) bool {
	if s.hostView {
		for _, p := range s.secretPaths {
			if string(req.Path) == p {
				return true
			}
		}
	}
	if req.Object.Exists {
		if _, ok := s.secretIDs[objectID(req.Object)]; ok {
			return true
		}
	}
	return s.secretNames.has(req)
}

// lookupWay looks name up on the host as the kernel would, following every symbolic link
// (lexically where a name is missing), and returns every name the lookup passes, in order,
// and the canonical path it ends at. The result is what a later run's lookup depends on.
// It mirrors fs/namei.c's walk only as far as it needs to: no mount traps, no magic links.
func lookupWay(name string) (names []string, final string, err error) {
	comps := strings.Split(name, "/")
	cur := "/"
	links := 0
	seen := map[string]bool{}
	for len(comps) > 0 {
		c := comps[0]
		comps = comps[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, c)
		if !seen[next] {
			seen[next] = true
			names = append(names, next)
		}
		target, err := os.Readlink(next)
		if err != nil {
			// Not a link, or missing: the walk goes on by name.
			cur = next
			continue
		}
		if links++; links > maxSymlinks {
			return nil, "", fmt.Errorf("follow %s: %w", next, unix.ELOOP)
		}
		if strings.HasPrefix(target, "/") {
			cur = "/"
		}
		comps = append(strings.Split(target, "/"), comps...)
	}
	if !seen[cur] && cur != "/" {
		names = append(names, cur)
	}
	return names, cur, nil
}

// lstatID returns the identity of name itself (a symbolic link is not followed).
func lstatID(name string) (fileID, bool) {
	var st unix.Stat_t
	if unix.Lstat(name, &st) != nil {
		return fileID{}, false
	}
	return fileID{st.Dev, st.Ino}, true
}

// appendNew appends each of ps not already in l.
func appendNew(l []string, ps ...string) []string {
	for _, p := range ps {
		found := false
		for _, q := range l {
			if q == p {
				found = true
				break
			}
		}
		if !found {
			l = append(l, p)
		}
	}
	return l
}
