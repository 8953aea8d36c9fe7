package supervisor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"slices"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// rootHandlerID names the chain's last step, the real open, in logs and the audit log.
const rootHandlerID = "root"

// chain is the ordered list of handlers: BandSecurity, then BandVirtual by Priority, stable
// within equal priorities (registration order).
type chain struct {
	regs []shim.Registration
	// ops[i] are the ops regs[i] decides: opens and the look-up ops, unless it is a
	// shim.OpHandler; asOpen[i] is set when it is asked about look-ups as if they were opens.
	ops    []shim.OpSet
	asOpen []bool
	log    hclog.Logger
	// index narrows the handlers asked about an open to those that may claim its path; nil
	// when there are too many handlers for it, and then every handler is asked.
	index *claimIndex
	// listed are the names claimed literally, by parent directory (listing.go).
	listed map[string][]string
}

// claimIndex knows, for the handlers that are shim.Claimers, which paths they claim. Bit i of
// a mask stands for the chain's i-th handler.
type claimIndex struct {
	always   uint64            // handlers asked about every open
	exact    map[string]uint64 // canonical path → the handlers that claim it
	patterns []patternClaim
}

type patternClaim struct {
	prefix, suffix, contains []byte
	mask                     uint64
}

// maxIndexed is how many handlers fit the index's masks.
const maxIndexed = 64

func newClaimIndex(regs []shim.Registration) *claimIndex {
	if len(regs) > maxIndexed {
		return nil
	}
	ix := &claimIndex{exact: map[string]uint64{}}
	for i, r := range regs {
		bit := uint64(1) << i
		c, ok := r.Handler.(shim.Claimer)
		if !ok {
			ix.always |= bit
			continue
		}
		exact, patterns := c.Claims()
		for _, p := range exact {
			ix.exact[p] |= bit
		}
	next:
		for _, p := range patterns {
			for k := range ix.patterns {
				q := &ix.patterns[k]
				if string(q.prefix) == p.Prefix && string(q.suffix) == p.Suffix && string(q.contains) == p.Contains {
					q.mask |= bit
					continue next
				}
			}
			ix.patterns = append(ix.patterns, patternClaim{prefix: []byte(p.Prefix), suffix: []byte(p.Suffix), contains: []byte(p.Contains), mask: bit})
		}
	}
	return ix
}

// candidates returns the mask of the handlers that may decide on path.
func (ix *claimIndex) candidates(path []byte) uint64 {
	m := ix.always | ix.exact[string(path)]
	for i := range ix.patterns {
		p := &ix.patterns[i]
		if m&p.mask != p.mask && bytes.HasPrefix(path, p.prefix) && bytes.HasSuffix(path, p.suffix) &&
			(len(p.contains) == 0 || bytes.Contains(path, p.contains)) {
			m |= p.mask
		}
	}
	return m
}

func newChain(regs []shim.Registration, log hclog.Logger) (*chain, error) {
	sorted, err := Order(regs)
	if err != nil {
		return nil, err
	}
	ops := make([]shim.OpSet, len(sorted))
	asOpen := make([]bool, len(sorted))
	for i, r := range sorted {
		ops[i] = shim.Ops(shim.OpOpen) | shim.LookupOps
		asOpen[i] = true
		if h, ok := r.Handler.(shim.OpHandler); ok {
			ops[i], asOpen[i] = h.Ops(), false
		}
	}
	return &chain{regs: sorted, ops: ops, asOpen: asOpen, log: log, index: newClaimIndex(sorted), listed: listedNames(sorted)}, nil
}

// Order checks regs and returns them in the order the chain asks them: by band, then by
// priority, equal priorities in registration order (shim.Band's contract). It is the one
// place that order is decided: `scrim check` lists what it returns.
func Order(regs []shim.Registration) ([]shim.Registration, error) {
	for i, r := range regs {
		if r.Handler == nil {
			return nil, fmt.Errorf("build chain: registration %d has no handler", i)
		}
		if r.Band != shim.BandSecurity && r.Band != shim.BandVirtual {
			return nil, fmt.Errorf("build chain: handler %s: unknown band %d", r.Handler.ID(), r.Band)
		}
	}
	sorted := slices.Clone(regs)
	slices.SortStableFunc(sorted, func(a, b shim.Registration) int {
		if a.Band != b.Band {
			return int(a.Band) - int(b.Band)
		}
		switch {
		case a.Priority < b.Priority:
			return -1
		case a.Priority > b.Priority:
			return 1
		}
		return 0
	})
	return sorted, nil
}

// Chain returns the handlers of the core's open chain, in the order it asks them.
func (s *Core) Chain() []shim.Registration {
	return slices.Clone(s.chain.regs)
}

// decision is the chain's verdict and who made it.
type decision struct {
	res     shim.Result
	handler string
	err     error // the handler failed; res is then Deny(EIO)
	// by is the handler that decided, nil for the root.
	by shim.Handler
}

// run asks each handler in turn until one decides. A handler that errs or panics ends the
// chain with EIO: scrim fails closed rather than guess.
func (c *chain) run(ctx context.Context, req *shim.Request) decision {
	var asked uint64
	if c.index != nil {
		asked = c.index.candidates(req.Path)
	}
	for i, r := range c.regs {
		if c.index != nil && asked&(1<<i) == 0 || !c.ops[i].Has(req.Op) {
			continue
		}
		res, err := c.call(ctx, r.Handler, req)
		if err != nil {
			return decision{res: shim.Deny(unix.EIO), handler: r.Handler.ID(), err: err}
		}
		switch res.Action {
		case shim.ActNext:
			continue
		case shim.ActDeny:
			if res.Errno == 0 {
				return decision{res: shim.Deny(unix.EIO), handler: r.Handler.ID(), err: errors.New("deny without an errno")}
			}
			if c.asOpen[i] && shim.ShownOps.Has(req.Op) && res.Errno != unix.ENOENT {
				// An open it would refuse: the look-up shows the object as it is. ENOENT
				// hides the object from every call.
				continue
			}
			return decision{res: res, handler: r.Handler.ID(), by: r.Handler}
		case shim.ActServe:
			if res.Content == nil {
				return decision{res: shim.Deny(unix.EIO), handler: r.Handler.ID(), err: errors.New("serve without content")}
			}
			if req.Op != shim.OpOpen && !shim.LookupOps.Has(req.Op) {
				closeContent(res.Content)
				return decision{res: shim.Deny(unix.EIO), handler: r.Handler.ID(), err: fmt.Errorf("serve for a %s call", req.Op)}
			}
			if _, meta := metaOf(res.Content); meta && req.Op == shim.OpOpen {
				return decision{res: shim.Deny(unix.EIO), handler: r.Handler.ID(), err: errors.New("serve metadata for an open")}
			}
			return decision{res: res, handler: r.Handler.ID(), by: r.Handler}
		case shim.ActReal:
			return decision{res: res, handler: r.Handler.ID(), by: r.Handler}
		default:
			return decision{res: shim.Deny(unix.EIO), handler: r.Handler.ID(), err: fmt.Errorf("unknown action %d", res.Action)}
		}
	}
	return decision{res: shim.Next(), handler: rootHandlerID}
}

func (c *chain) call(ctx context.Context, h shim.Handler, req *shim.Request) (res shim.Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler %s panicked: %v\n%s", h.ID(), p, debug.Stack())
		}
	}()
	return h.Open(ctx, req)
}

// contentFile turns served content into the descriptor to inject. Bytes and Stream are
// read-only virtual files: writes get EROFS and O_DIRECTORY gets ENOTDIR before anything is
// made.
func contentFile(req *shim.Request, c shim.Content, memfds *memfdCache, log hclog.Logger) (*os.File, unix.Errno, error) {
	if b, ok := bytesOf(c); ok {
		if e := req.ReadOnlyErrno(); e != 0 {
			return nil, e, nil
		}
		f, err := memfds.file(req.Path, b, req.Flags&unix.O_NONBLOCK)
		return f, 0, err
	}
	switch c := c.(type) {
	case shim.File:
		if c.F == nil {
			return nil, unix.EIO, errors.New("serve a nil file")
		}
		return c.F, 0, nil
	case shim.Bytes, *shim.Bytes, shim.Stream, *shim.Stream:
		if e := req.ReadOnlyErrno(); e != 0 {
			closeContent(c)
			return nil, e, nil
		}
	}
	nonblock := req.Flags & unix.O_NONBLOCK
	switch c := c.(type) {
	case shim.Stream:
		f, err := streamPipe(c, nonblock, log)
		return f, 0, err
	case *shim.Stream:
		f, err := streamPipe(*c, nonblock, log)
		return f, 0, err
	}
	return nil, unix.EIO, fmt.Errorf("serve content of type %T: unknown", c)
}

// bytesOf returns c as Bytes, if it is.
func bytesOf(c shim.Content) (shim.Bytes, bool) {
	switch c := c.(type) {
	case shim.Bytes:
		return c, true
	case *shim.Bytes:
		if c != nil {
			return *c, true
		}
	}
	return shim.Bytes{}, false
}

// metaOf returns c as Meta, if it is.
func metaOf(c shim.Content) (shim.Meta, bool) {
	switch c := c.(type) {
	case shim.Meta:
		return c, true
	case *shim.Meta:
		if c != nil {
			return *c, true
		}
	}
	return shim.Meta{}, false
}

func closeContent(c shim.Content) {
	switch c := c.(type) {
	case shim.Stream:
		if cl, ok := c.Reader.(io.Closer); ok {
			cl.Close()
		}
	case *shim.Stream:
		if cl, ok := c.Reader.(io.Closer); ok {
			cl.Close()
		}
	case shim.File:
		if c.F != nil {
			c.F.Close()
		}
	}
}

// newSealedMemfd creates a memfd holding data, with the permission bits mode and, unless it is
// zero, the access and modification time mtime, and seals it.
func newSealedMemfd(name string, data []byte, mode uint32, mtime time.Time) (fd int, err error) {
	fd, err = unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return -1, fmt.Errorf("memfd_create %q: %w", name, err)
	}
	defer func() {
		if err != nil {
			unix.Close(fd)
			fd = -1
		}
	}()
	for p := data; len(p) > 0; {
		n, err := unix.Write(fd, p)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fd, fmt.Errorf("write memfd %q: %w", name, err)
		}
		p = p[n:]
	}
	if err := unix.Fchmod(fd, mode&0o7777); err != nil {
		return fd, fmt.Errorf("fchmod memfd %q: %w", name, err)
	}
	if !mtime.IsZero() {
		ts := unix.NsecToTimespec(mtime.UnixNano())
		if err := unix.UtimesNanoAt(fd, "", []unix.Timespec{ts, ts}, unix.AT_EMPTY_PATH); err != nil {
			return fd, fmt.Errorf("set times of memfd %q: %w", name, err)
		}
	}
	seals := unix.F_SEAL_WRITE | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_SEAL
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		return fd, fmt.Errorf("seal memfd %q: %w", name, err)
	}
	return fd, nil
}

// reopenMemfd returns a new read-only description of the memfd fd.
func reopenMemfd(fd int, name string, nonblock int) (*os.File, error) {
	ro, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", fd), unix.O_RDONLY|unix.O_CLOEXEC|nonblock, 0)
	if err != nil {
		return nil, fmt.Errorf("reopen memfd %q read-only: %w", name, err)
	}
	return os.NewFile(uintptr(ro), "memfd:"+name), nil
}

// streamPipe serves a Stream through a pipe a goroutine fills until the child closes its end
// (EPIPE) or the reader ends.
func streamPipe(s shim.Stream, nonblock int, log hclog.Logger) (*os.File, error) {
	if s.Reader == nil {
		return nil, errors.New("serve stream without a reader")
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return nil, fmt.Errorf("pipe2 for stream %q: %w", s.Name, err)
	}
	r := os.NewFile(uintptr(p[0]), "pipe:"+s.Name)
	w := os.NewFile(uintptr(p[1]), "pipe:"+s.Name)
	if nonblock != 0 {
		if err := unix.SetNonblock(p[0], true); err != nil {
			r.Close()
			w.Close()
			return nil, fmt.Errorf("set stream %q non-blocking: %w", s.Name, err)
		}
	}
	go func() {
		defer w.Close()
		if c, ok := s.Reader.(io.Closer); ok {
			defer c.Close()
		}
		if _, err := io.Copy(w, s.Reader); err != nil && !errors.Is(err, unix.EPIPE) {
			log.Debug("stream ended with an error", "shim", s.Name, "error", err)
		}
	}()
	return r, nil
}
