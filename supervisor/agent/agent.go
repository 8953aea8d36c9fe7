// Package agent serves containers as their runtime's seccomp agent: a runtime (runc) installs
// the container's filter from the profile `scrim oci profile` prints, and sends the filter's
// listener with the container's state to the agent's unix socket. The agent builds one
// supervisor.Core per listener, on handlers built once per container, so that every listener
// of one container (runc run, then each runc exec) shares its state.
//
// Only containers whose processes run without a user namespace of their own are served
// (docs/containers.md says what user-namespaced containers need).
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/internal/audit"
	"github.com/scrim-sandbox/scrim/supervisor"
	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// ProcessState is the message a runtime sends with a listener: the runtime specification's
// container process state.
type ProcessState struct {
	Version string `json:"ociVersion"`
	// Fds names the descriptors sent with the message, in order; the listener is "seccompFd".
	Fds      []string `json:"fds"`
	Pid      int      `json:"pid"`
	Metadata string   `json:"metadata,omitempty"`
	State    State    `json:"state"`
}

// State is the container's state as the runtime reports it.
type State struct {
	Version     string            `json:"ociVersion"`
	ID          string            `json:"id"`
	Status      string            `json:"status"`
	Pid         int               `json:"pid,omitempty"`
	Bundle      string            `json:"bundle"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Container is what the agent knows of a container when its first listener arrives.
type Container struct {
	ID          string
	Bundle      string
	Metadata    string
	Annotations map[string]string
	// Pid is the container's first process as the agent numbers it.
	Pid int
	// Root is the host path of the container's root: /proc/<Pid>/root.
	Root string
	// Hostname is the host name the bundle's config.json gives the container, "" when it
	// gives none or cannot be read (the agent logs why).
	Hostname string
}

// Handlers are one container's handlers, built by Config.Build when its first listener
// arrives, provisioned by the agent, and released once its last listener closed.
type Handlers struct {
	Chain    []shim.Registration
	Syscalls []shim.SyscallHandler
	// Mode and Stat are the container's, as its profile's filter notifies (supervisor.Config).
	Mode supervisor.Mode
	Stat bool
	// Audit receives the container's records, tagged with its id; nil writes none.
	Audit audit.Sink
	// Close releases what Build made; nil when nothing needs it.
	Close func()
}

// Config is what an agent needs.
type Config struct {
	// Socket is the unix socket runtimes send listeners to (linux.seccomp.listenerPath).
	Socket string
	// Build makes a container's handlers. An error refuses the container: its listener is
	// closed, which fails its mediated calls.
	Build func(Container) (*Handlers, error)
	Log   hclog.Logger
}

// maxMessage bounds a runtime's message; the state of a container with many annotations is
// a few kilobytes.
const maxMessage = 1 << 20

// Agent serves the containers whose listeners reach its socket.
type Agent struct {
	cfg Config
	log hclog.Logger
	ln  *net.UnixListener
	// sock identifies the socket file the agent made, so that it removes that one only.
	sock unix.Stat_t

	mu         sync.Mutex
	containers map[string]*container
	// building holds the ids of containers whose first listener is being built; the channel
	// closes when it is done.
	building map[string]chan struct{}
	// wg counts the listeners being served.
	wg sync.WaitGroup
}

// Listen creates the agent's socket, readable and writable by its owner only. A socket that
// another process still listens on is left alone and an error; a stale one is replaced.
func Listen(cfg Config) (*Agent, error) {
	if cfg.Build == nil {
		return nil, errors.New("listen: no handler builder")
	}
	log := cfg.Log
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if c, err := net.Dial("unix", cfg.Socket); err == nil {
		c.Close()
		return nil, fmt.Errorf("listen on %s: another agent is listening there", cfg.Socket)
	}
	var st unix.Stat_t
	if err := unix.Lstat(cfg.Socket, &st); err == nil {
		if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
			return nil, fmt.Errorf("listen on %s: exists and is not a socket", cfg.Socket)
		}
		if err := os.Remove(cfg.Socket); err != nil {
			return nil, fmt.Errorf("listen on %s: remove the stale socket: %w", cfg.Socket, err)
		}
	}
	ln, err := listenAtomically(cfg.Socket)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Socket, err)
	}
	a := &Agent{cfg: cfg, log: log, ln: ln, containers: map[string]*container{}, building: map[string]chan struct{}{}}
	if err := unix.Stat(cfg.Socket, &a.sock); err != nil {
		ln.Close()
		return nil, fmt.Errorf("listen on %s: %w", cfg.Socket, err)
	}
	return a, nil
}

// listenAtomically listens on a socket that appears at path only once it accepts: bound and
// listening under a temporary name beside it, then renamed into place. A socket file that
// exists but does not listen yet would refuse a runtime that connects in that moment (its
// container fails to start). Created without any permission for others from the start: a
// chmod after bind would leave a moment in which anyone could connect.
func listenAtomically(path string) (*net.UnixListener, error) {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+"."+strconv.Itoa(os.Getpid()))
	os.Remove(tmp) // left by an earlier agent of the same pid
	old := unix.Umask(0o177)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	unix.Umask(old)
	if err != nil {
		return nil, err
	}
	// The agent removes its socket itself (closeListener), under the name it has.
	ln.SetUnlinkOnClose(false)
	if err := os.Rename(tmp, path); err != nil {
		ln.Close()
		os.Remove(tmp)
		return nil, err
	}
	return ln, nil
}

// closeListener removes the socket, unless another agent has put its own in its place since,
// and stops accepting. The removal comes first: Serve returns once accepting fails, and the
// agent may exit right after, so the socket must be gone by then.
func (a *Agent) closeListener() error {
	var st unix.Stat_t
	if unix.Stat(a.cfg.Socket, &st) == nil && st.Dev == a.sock.Dev && st.Ino == a.sock.Ino && st.Ctim == a.sock.Ctim {
		os.Remove(a.cfg.Socket)
	}
	return a.ln.Close()
}

// Serve accepts listeners until ctx ends, then stops accepting, removes the socket and waits
// until every container it serves has ended: a container whose agent is gone fails every
// mediated call, so the agent drains rather than leaves them.
func (a *Agent) Serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { a.closeListener() })
	defer stop()
	for {
		conn, err := a.ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				a.log.Info("draining: no new containers", "containers", a.Containers())
				a.wg.Wait()
				return nil
			}
			// Out of descriptors, or a connection reset before it was taken: the containers
			// served must not lose their agent over it.
			a.log.Error("cannot accept a runtime's connection", "error", err)
			time.Sleep(acceptBackoff)
			continue
		}
		// Each connection on its own: a runtime that connects and sends nothing must not
		// keep the others waiting.
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			if err := a.accept(conn); err != nil {
				a.log.Error("listener refused", "error", err)
			}
		}()
	}
}

// acceptBackoff is the pause after a failed accept, so that a lasting failure (no descriptors
// left) does not spin.
const acceptBackoff = 100 * time.Millisecond

// readTimeout bounds how long a runtime may take to send its message once connected.
const readTimeout = 30 * time.Second

// Containers counts the containers being served.
func (a *Agent) Containers() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.containers)
}

// accept reads one runtime message and serves its listener.
func (a *Agent) accept(conn *net.UnixConn) error {
	defer conn.Close()
	peer, err := checkPeer(conn)
	if err != nil {
		return err
	}
	if err := conn.SetReadDeadline(time.Now().Add(readTimeout)); err != nil {
		return err
	}
	buf := make([]byte, maxMessage)
	oob := make([]byte, unix.CmsgSpace(4*8))
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return fmt.Errorf("read the runtime's message: %w", err)
	}
	fds, err := rights(oob[:oobn])
	if err != nil {
		return err
	}
	var msg ProcessState
	err = json.Unmarshal(buf[:n], &msg)
	listener := -1
	for i, name := range msg.Fds {
		if name == "seccompFd" && i < len(fds) {
			listener = fds[i]
		}
	}
	for _, fd := range fds {
		if fd != listener {
			unix.Close(fd)
		}
	}
	switch {
	case err != nil:
		err = fmt.Errorf("decode the runtime's message: %w", err)
	case listener < 0:
		err = fmt.Errorf("container %q: no seccompFd among the %d descriptors sent", msg.State.ID, len(fds))
	case msg.State.ID == "":
		err = errors.New("the runtime's message names no container")
	}
	if err != nil {
		if listener >= 0 {
			// Closing the listener fails the container's mediated calls: never unmediated.
			unix.Close(listener)
		}
		return err
	}
	return a.serve(msg, listener, peer)
}

// checkPeer admits runtimes running as root or as the agent's own user, and returns the
// runtime's pid (0 when the kernel cannot name it in the agent's pid namespace).
func checkPeer(conn *net.UnixConn) (int, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if cerr != nil {
		return 0, fmt.Errorf("read the runtime's credentials: %w", cerr)
	}
	if cred.Uid != 0 && int(cred.Uid) != os.Geteuid() {
		return 0, fmt.Errorf("peer pid %d uid %d: only root or the agent's own user may send listeners", cred.Pid, cred.Uid)
	}
	return int(cred.Pid), nil
}

// rights returns the descriptors of an SCM_RIGHTS message.
func rights(oob []byte) ([]int, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("parse the runtime's control message: %w", err)
	}
	var fds []int
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_RIGHTS {
			got, err := unix.ParseUnixRights(&m)
			if err != nil {
				return nil, err
			}
			fds = append(fds, got...)
		}
	}
	return fds, nil
}

// serve builds a core for listener on its container's state, making the state for the
// container's first listener. peer is the pid of the runtime that sent it.
func (a *Agent) serve(msg ProcessState, listener, peer int) error {
	id := msg.State.ID
	log := a.log.With("container", id)
	a.mu.Lock()
	// A later listener of a container being built waits for it, then finds it (or, when the
	// build failed, builds it again).
	for ch, busy := a.building[id]; busy; ch, busy = a.building[id] {
		a.mu.Unlock()
		<-ch
		a.mu.Lock()
	}
	c, ok := a.containers[id]
	if !ok {
		if msg.Pid <= 0 {
			a.mu.Unlock()
			unix.Close(listener)
			return fmt.Errorf("container %q: no process id", id)
		}
		// Built outside the agent's lock: reading the bundle, loading plugins and
		// provisioning shims in the container's root may be slow, and must hold up neither
		// other containers' listeners nor their ends.
		ch := make(chan struct{})
		a.building[id] = ch
		a.mu.Unlock()
		built, err := a.newContainer(msg, log)
		a.mu.Lock()
		delete(a.building, id)
		close(ch)
		if err != nil {
			a.mu.Unlock()
			unix.Close(listener)
			return err
		}
		c = built
		a.containers[id] = c
	}
	roots := []int{msg.Pid}
	switch {
	case msg.Pid > 0:
	case c.members.pidns != 0:
		// Every process in the container's own pid namespace is a member already.
		roots = nil
	default:
		// crun 1.8.1 sends an exec's listener with pid 0, from the crun process whose child
		// the exec's process is: the sender's children are the exec's processes.
		if peer > 0 {
			roots = children(peer)
		}
		if len(roots) == 0 {
			a.mu.Unlock()
			unix.Close(listener)
			return fmt.Errorf("container %q: an exec with no process id whose runtime (pid %d) has no child, in the host's pid namespace", id, peer)
		}
	}
	c.listeners++
	a.mu.Unlock()

	// The core owns listener; a duplicate tells when no process uses the filter any more.
	watch, err := unix.FcntlInt(uintptr(listener), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		unix.Close(listener)
		a.release(c)
		return fmt.Errorf("container %q: duplicate the listener: %w", id, err)
	}
	core, err := supervisor.New(supervisor.Config{
		// The profile's filter notifies every call that changes credentials (supervisor.Rules).
		Listener:        supervisor.Listener{Fd: listener, NotifiesCredCalls: true},
		Members:         c.members,
		Root:            c.info.Root,
		Mode:            c.h.Mode,
		Handlers:        c.h.Chain,
		SyscallHandlers: c.h.Syscalls,
		Stat:            c.h.Stat,
		Changes:         true,
		Log:             log,
		Audit:           c.audit,
	})
	if err != nil {
		unix.Close(watch)
		a.release(c)
		return fmt.Errorf("container %q: %w", id, err)
	}
	for _, p := range roots {
		c.members.add(p)
	}
	core.Start(c.ctx)
	log.Info("serving a listener", "pid", msg.Pid, "status", msg.State.Status, "metadata", msg.Metadata)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		waitHangup(watch)
		unix.Close(watch)
		core.Stop()
		log.Info("listener closed", "pid", msg.Pid)
		a.release(c)
	}()
	return nil
}

// waitHangup blocks until no process uses the filter behind the listener fd.
func waitHangup(fd int) {
	fds := []unix.PollFd{{Fd: int32(fd)}}
	for {
		fds[0].Revents = 0
		_, err := unix.Poll(fds, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil || fds[0].Revents&(unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0 {
			return
		}
	}
}

// container is one container's state, shared by its listeners.
type container struct {
	info      Container
	h         *Handlers
	members   *members
	audit     audit.Sink
	ctx       context.Context
	cancel    context.CancelFunc
	listeners int
	cleanup   func()
}

// newContainer builds and provisions a container's handlers. Called without a.mu, once per
// container at a time (Agent.building).
func (a *Agent) newContainer(msg ProcessState, log hclog.Logger) (*container, error) {
	pid := msg.State.Pid
	if pid <= 0 {
		pid = msg.Pid
	}
	info := Container{ID: msg.State.ID, Bundle: msg.State.Bundle, Metadata: msg.Metadata,
		Annotations: msg.State.Annotations, Pid: pid, Root: "/proc/" + strconv.Itoa(pid) + "/root"}
	if err := sameUserNamespace(pid); err != nil {
		return nil, fmt.Errorf("container %q: %w", info.ID, err)
	}
	m, err := newMembers(pid)
	if err != nil {
		return nil, fmt.Errorf("container %q: %w", info.ID, err)
	}
	if info.Hostname, err = bundleHostname(info.Bundle); err != nil {
		log.Warn("cannot read the host name of the container's bundle", "bundle", info.Bundle, "error", err)
	}
	h, err := a.cfg.Build(info)
	if err != nil {
		return nil, fmt.Errorf("container %q: build handlers: %w", info.ID, err)
	}
	c := &container{info: info, h: h, members: m}
	if h.Audit != nil {
		c.audit = tagged{id: info.ID, sink: h.Audit}
	}
	sb := &sandbox{members: m, root: info.Root}
	items := lifecycle(h)
	var provisioned []any
	c.cleanup = func() {
		for _, x := range provisioned {
			if cl, ok := x.(shim.Cleaner); ok {
				if err := cl.Cleanup(); err != nil {
					log.Error("cleanup failed", "error", err)
				}
			}
		}
		if h.Close != nil {
			h.Close()
		}
	}
	for _, x := range items {
		provisioned = append(provisioned, x.h)
		if p, ok := x.h.(shim.Provisioner); ok {
			if err := p.Provision(shim.Env{Log: log.Named("shim").Named(x.id), Sandbox: sb}); err != nil {
				c.cleanup()
				return nil, fmt.Errorf("container %q: provision %s: %w", info.ID, x.id, err)
			}
		}
		if v, ok := x.h.(shim.Validator); ok {
			if err := v.Validate(); err != nil {
				c.cleanup()
				return nil, fmt.Errorf("container %q: validate %s: %w", info.ID, x.id, err)
			}
		}
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	log.Info("container started", "pid", pid, "bundle", info.Bundle, "own_pid_namespace", m.pidns != 0)
	return c, nil
}

// release drops one listener of c, and c itself with its last.
func (a *Agent) release(c *container) {
	a.mu.Lock()
	c.listeners--
	last := c.listeners == 0
	if last && a.containers[c.info.ID] == c {
		delete(a.containers, c.info.ID)
	}
	a.mu.Unlock()
	if last {
		c.cancel()
		c.cleanup()
		a.log.Info("container ended", "container", c.info.ID)
	}
}

// Close stops accepting and removes the socket, as the end of Serve's context does: the
// containers being served keep being served until Serve's drain ends.
func (a *Agent) Close() error { return a.closeListener() }

type lifecycleItem struct {
	id string
	h  any
}

// lifecycle lists every handler of h once, open handlers first.
func lifecycle(h *Handlers) []lifecycleItem {
	var out []lifecycleItem
	seen := map[any]bool{}
	add := func(id string, x any) {
		if !comparable(x) {
			out = append(out, lifecycleItem{id, x})
			return
		}
		if !seen[x] {
			seen[x] = true
			out = append(out, lifecycleItem{id, x})
		}
	}
	for _, r := range h.Chain {
		add(r.Handler.ID(), r.Handler)
	}
	for _, s := range h.Syscalls {
		add(s.ID(), s)
	}
	return out
}

func comparable(x any) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	_ = map[any]bool{x: true}
	return true
}

// tagged adds the container's id to every record.
type tagged struct {
	id   string
	sink audit.Sink
}

func (t tagged) Record(r audit.Record) {
	r.Container = t.id
	t.sink.Record(r)
}
