package launch

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor"
)

// forwarded are the signals scrim passes on to the child (README.md, "Exit status").
var forwarded = []os.Signal{unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH}

// jobControl are the signals whose default action stops a process and that the sandbox can
// send, or make a terminal send, to scrim and the keeper: neither lets them stop it (forward
// says when scrim stops itself). SIGSTOP cannot be caught; scrim continues a stopped keeper
// (continueKeeper).
var jobControl = []os.Signal{unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU}

// ignoreTTY makes scrim ignore SIGTTIN and SIGTTOU, once per process. Caught, they would make
// a write to a terminal that moved scrim to the background (TOSTOP) fail and restart for ever,
// signalling the whole process group each time (tty_check_change); ignored, the write goes
// through. The disposition survives exec, but only the keeper is executed from scrim, and it
// catches both before it starts anything, so the program gets the default ones.
var ignoreTTY sync.Once

// DefaultKillGrace is how long the sandbox has to end after scrim forwards it SIGTERM, before
// scrim kills it (Config.KillGrace).
const DefaultKillGrace = 10 * time.Second

func (s *Supervisor) run(ctx context.Context) (int, error) {
	// PR_SET_PDEATHSIG fires when the thread that forked the child exits, not the process:
	// keep this goroutine, and so that thread, alive and locked until the child is gone.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// Orphans inside the sandbox must stay scrim's descendants, to be reaped, counted by
	// Sandbox.Contains and killed at the end.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return 125, fmt.Errorf("prctl(PR_SET_CHILD_SUBREAPER): %w", err)
	}
	defer unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)

	sock, stubEnd, err := socketPair("stub")
	if err != nil {
		return 125, err
	}
	defer sock.Close()
	defer stubEnd.Close()
	ksock, keeperEnd, err := socketPair("keeper")
	if err != nil {
		return 125, err
	}
	defer ksock.Close()
	defer keeperEnd.Close()

	s.cfg.Stdin = orDefault(s.cfg.Stdin, os.Stdin)
	s.cfg.Stdout = orDefault(s.cfg.Stdout, os.Stdout)
	s.cfg.Stderr = orDefault(s.cfg.Stderr, os.Stderr)
	// scrim starts the keeper (keeper.go), which starts the program. The keeper's parent-death
	// signal is SIGCONT, which it catches, to kill the whole sandbox when scrim dies; the
	// kernel sets it before the keeper's exec, so there is no moment without it. SIGCONT
	// because it also wakes a keeper the sandbox stopped, where any other signal would wait,
	// pending, and the sandbox outlive scrim.
	cmd := &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        append([]string{keeperArg0, strconv.Itoa(os.Getpid()), s.domain.String(), closedArg(s.cfg.Closed)}, s.cfg.Args...),
		Env:         s.cfg.Env,
		Dir:         s.cfg.Dir,
		Stdin:       s.cfg.Stdin,
		Stdout:      s.cfg.Stdout,
		Stderr:      s.cfg.Stderr,
		ExtraFiles:  []*os.File{stubEnd, keeperEnd},
		SysProcAttr: &syscall.SysProcAttr{Pdeathsig: syscall.SIGCONT},
	}
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	// The namespaces of image mode are the keeper's, and so those of everything below it.
	if err := s.imageCmd(cmd); err != nil {
		return 125, err
	}
	// Signals arriving while the child starts are kept and delivered once it runs.
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, forwarded...)
	signal.Notify(sigs, unix.SIGTSTP, unix.SIGCONT)
	defer signal.Stop(sigs)
	ignoreTTY.Do(func() { signal.Ignore(unix.SIGTTIN, unix.SIGTTOU) })

	if err := startKeeper(cmd); err != nil {
		return 125, err
	}
	// Only the keeper and the stub may hold these ends: their closing is news.
	stubEnd.Close()
	keeperEnd.Close()
	keeper := cmd.Process.Pid
	// From here on scrim reaps with wait4 itself; exec.Cmd would race it for the status.
	cmd.Process.Release()
	s.sandbox.keeper = keeper
	s.log.Debug("keeper started", "pid", keeper)
	// Ends once the keeper has exited, which every return below waits for.
	var continuer sync.WaitGroup
	defer continuer.Wait()
	continuer.Add(1)
	go func() {
		defer continuer.Done()
		s.continueKeeper(keeper)
	}()

	// The keeper reports every exit in the sandbox before it reaps the process; scrim forgets
	// the pid first, so no cache of scrim's outlives the process it was about.
	var reports sync.WaitGroup
	defer reports.Wait()
	k := &keeperLink{sock: ksock, pid: keeper, reports: &reports, viaStub: s.cfg.Image != nil || s.domain.Active()}
	if k.viaStub {
		// A stub enters the image and the domain and becomes the child; the keeper reports its
		// pid at once, and image mode needs it before the child runs.
		if status, err := s.childPid(k); err != nil || k.child == 0 {
			return status, err
		}
	}
	status, err := s.supervise(ctx, sock, k, sigs)
	var cmdErr *CommandError
	if err != nil && !errors.As(err, &cmdErr) {
		if k.child != 0 {
			unix.Kill(k.child, unix.SIGKILL)
		}
		s.reapAll(keeper, k.child)
		return 125, err
	}
	return status, err
}

// dumpable serialises the moments when scrim must be dumpable (startUndumpable).
var dumpable sync.Mutex

// startKeeper starts the keeper and leaves scrim not dumpable (startUndumpable).
func startKeeper(cmd *exec.Cmd) error {
	if err := startUndumpable(cmd); err != nil {
		return fmt.Errorf("start keeper: %w", err)
	}
	return nil
}

// startUndumpable starts cmd and leaves scrim not dumpable, for good: the sandbox's user can
// then neither ptrace scrim nor read its memory or copy its descriptors (the listener among
// them) through /proc or pidfd_getfd, even on a kernel without Landlock. A worker that takes a
// child's fsuid would make scrim non-dumpable anyway (commit_creds); this makes it so in every
// case.
//
// The one exception is the start of a process in a user namespace (image mode without root):
// scrim writes its uid_map before it runs, and a process forked from a non-dumpable one has a
// /proc directory that belongs to root, so scrim is dumpable while it starts such a process.
// That happens before anything of the sandbox being started runs; another sandbox of the same
// process (tests, an agent) is kept from scrim by its Landlock domain meanwhile.
func startUndumpable(cmd *exec.Cmd) error {
	dumpable.Lock()
	defer dumpable.Unlock()
	if cmd.SysProcAttr != nil && cmd.SysProcAttr.Cloneflags&unix.CLONE_NEWUSER != 0 {
		if err := unix.Prctl(unix.PR_SET_DUMPABLE, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("prctl(PR_SET_DUMPABLE): %w", err)
		}
	}
	if err := cmd.Start(); err != nil {
		unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
		return err
	}
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		unix.Kill(cmd.Process.Pid, unix.SIGKILL)
		cmd.Wait()
		return fmt.Errorf("prctl(PR_SET_DUMPABLE): %w", err)
	}
	return nil
}

// keeperLink is scrim's side of the keeper: its socket, its pid and, once the keeper has
// reported it, the child's pid.
type keeperLink struct {
	sock    *os.File
	pid     int
	child   int
	reports *sync.WaitGroup
	// viaStub is set in image mode and with a Landlock domain, where a stub installs the
	// filter and becomes the child; otherwise the keeper installs it and forks the child
	// (keeper.go).
	viaStub bool
}

// childPid reads the child's pid from the keeper into k.child and starts answering the
// keeper's exit reports. A keeper that could not start the child says why, and is reaped; then
// k.child stays 0.
func (s *Supervisor) childPid(k *keeperLink) (int, error) {
	pid, status, err := s.readChildPid(k.sock, k.pid)
	if err != nil || pid == 0 {
		return status, err
	}
	k.child = pid
	s.log.Debug("child started", "pid", pid)
	k.reports.Add(1)
	go func() {
		defer k.reports.Done()
		s.serveKeeper(k.sock)
	}()
	return 0, nil
}

// readChildPid reads the child's pid from the keeper. A keeper that could not start the child
// says why, and is reaped; then the pid is 0.
func (s *Supervisor) readChildPid(ksock *os.File, keeper int) (int, int, error) {
	buf := make([]byte, 4096)
	n, _, err := recvmsg(int(ksock.Fd()), buf, nil)
	if err == nil && n == 5 && buf[0] == msgChild {
		return int(binary.LittleEndian.Uint32(buf[1:])), 0, nil
	}
	unix.Kill(keeper, unix.SIGKILL)
	s.reapAll(keeper, 0)
	switch {
	case err != nil:
		return 0, 125, fmt.Errorf("receive child pid from keeper: %w", err)
	case n == 0:
		return 0, 125, errors.New("receive child pid from keeper: keeper exited")
	case buf[0] == msgFailed && n >= 2:
		return 0, 125, fmt.Errorf("start child: %s", buf[2:n])
	}
	return 0, 125, fmt.Errorf("receive child pid from keeper: unexpected message %q", buf[:n])
}

// serveKeeper answers the keeper's exit reports until the keeper is gone.
func (s *Supervisor) serveKeeper(ksock *os.File) {
	fd := int(ksock.Fd())
	buf := make([]byte, 64)
	for {
		n, _, err := recvmsg(fd, buf, nil)
		if err != nil || n == 0 {
			return
		}
		if n != 5 || buf[0] != msgExited {
			s.log.Error("unexpected message from the keeper", "error", fmt.Sprintf("%q", buf[:n]))
			continue
		}
		s.forget(int(binary.LittleEndian.Uint32(buf[1:])))
		if _, err := unix.Write(fd, []byte{msgReap}); err != nil {
			return
		}
	}
}

// socketPair makes the close-on-exec SOCK_SEQPACKET pair scrim talks to the keeper or the
// stub over: scrim's end first.
func socketPair(to string) (*os.File, *os.File, error) {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair for the %s: %w", to, err)
	}
	return os.NewFile(uintptr(pair[0]), to+"-socket"), os.NewFile(uintptr(pair[1]), to+"-socket"), nil
}

func orDefault(f, def *os.File) *os.File {
	if f != nil {
		return f
	}
	return def
}

// supervise completes the handshake with the stub (or the keeper, which does the stub's work
// without an image), serves the child and returns its exit status. The keeper is reaped for
// the status; the child is what signals and logs are about.
func (s *Supervisor) supervise(ctx context.Context, sock *os.File, k *keeperLink, sigs chan os.Signal) (int, error) {
	keeper := k.pid
	sfd := int(sock.Fd())
	starter := "keeper"
	if k.viaStub {
		starter = "stub"
	}
	var flags uint32
	if s.features.WaitKillableRecv {
		flags |= unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
	}
	if err := sendFilter(sfd, s.filter, flags, s.cpus); err != nil {
		return 0, fmt.Errorf("send filter to the %s: %w", starter, err)
	}
	listener, killable, failed, err := receiveListener(sfd)
	if err != nil {
		return 0, fmt.Errorf("receive listener from the %s: %w", starter, err)
	}
	if failed != nil {
		return s.stubFailed(failed, keeper, k.child)
	}
	// The core owns the listener from here on, also if it cannot be built.
	if flags != 0 && !killable {
		s.log.Warn("filter installed without WAIT_KILLABLE_RECV: the kernel refused it")
	}
	core, err := supervisor.New(supervisor.Config{
		// scrim's own filter notifies every call that changes credentials (supervisor.Filter).
		Listener:        supervisor.Listener{Fd: listener, Killable: killable, NotifiesCredCalls: true},
		Members:         s.sandbox,
		Root:            s.resolveRoot(k.child),
		Mode:            s.cfg.Mode,
		Handlers:        s.cfg.Handlers,
		SyscallHandlers: s.cfg.SyscallHandlers,
		Stat:            s.mediateStat,
		Changes:         true,
		Signals:         s.keepSignals,
		Log:             s.log,
		Audit:           s.cfg.Audit,
	})
	if err != nil {
		return 0, err
	}
	s.core.Store(core)
	core.Start(ctx)
	defer core.Stop()

	if _, err := unix.Write(sfd, []byte{msgGo}); err != nil {
		return 0, fmt.Errorf("tell the %s to start the command: %w", starter, err)
	}
	// The stub's socket is close-on-exec, and the keeper closes its end once the command
	// runs: end of stream means the exec happened.
	buf := make([]byte, 4096)
	n, _, err := recvmsg(sfd, buf, nil)
	if err != nil {
		return 0, fmt.Errorf("wait for exec: %w", err)
	}
	if n > 0 && buf[0] == msgFailed {
		return s.stubFailed(buf[:n], keeper, k.child)
	}
	if k.child == 0 {
		// The keeper started the command itself and has sent its pid by now.
		if status, err := s.childPid(k); err != nil || k.child == 0 {
			return status, err
		}
	}
	pid := k.child
	s.log.Info("child running", "pid", pid)

	// Both helpers are gone before supervise returns: the caller may close the child's
	// files, and signals after the end must not reach a reused pid.
	var helpers sync.WaitGroup
	defer helpers.Wait()
	done := make(chan struct{})
	defer close(done)
	ttys := s.stdioFds()
	var killed atomic.Bool
	helpers.Add(2)
	go func() {
		defer helpers.Done()
		s.forward(pid, sigs, done, ttys, &killed)
	}()
	go func() {
		defer helpers.Done()
		select {
		case <-ctx.Done():
			s.log.Info("stopping the sandbox", "error", ctx.Err())
			s.killSandbox()
			unix.Kill(pid, unix.SIGKILL)
		case <-done:
		}
	}()
	status := s.reapAll(keeper, pid)
	if killed.Load() {
		// Killed after SIGTERM: the status is that of SIGTERM, whatever the kill left.
		status = 128 + int(unix.SIGTERM)
	}
	return status, nil
}

// sendFilter sends the stub (or the keeper) the filter to install, its seccomp flags and the
// CPUs to confine the program to (none: its affinity is left alone).
func sendFilter(sfd int, prog []unix.SockFilter, flags uint32, cpus []int) error {
	msg := binary.LittleEndian.AppendUint32(nil, uint32(len(prog)))
	msg = binary.LittleEndian.AppendUint32(msg, flags)
	msg = append(msg, encodeFilter(prog)...)
	msg = append(msg, encodeCPUs(cpus)...)
	_, err := unix.Write(sfd, msg)
	return err
}

// receiveListener receives the listener the stub (or the keeper) made by installing the
// filter, and whether the filter has WAIT_KILLABLE_RECV. A starter that failed sends its
// msgFailed instead, returned as failed.
func receiveListener(sfd int) (listener int, killable bool, failed []byte, err error) {
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, err := recvmsg(sfd, buf, oob)
	if err != nil {
		return -1, false, nil, err
	}
	if n == 0 {
		return -1, false, nil, errors.New("it exited")
	}
	if buf[0] == msgFailed {
		return -1, false, buf[:n], nil
	}
	if buf[0] != msgListener || n < 2 {
		return -1, false, nil, fmt.Errorf("unexpected message %q", buf[:n])
	}
	cmsgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(cmsgs) != 1 {
		return -1, false, nil, fmt.Errorf("no descriptor: %v", err)
	}
	fds, err := unix.ParseUnixRights(&cmsgs[0])
	if err != nil || len(fds) != 1 {
		return -1, false, nil, fmt.Errorf("no descriptor: %v", err)
	}
	return fds[0], buf[1]&listenerKillable != 0, nil, nil
}

// cldStopped is CLD_STOPPED, the si_code of a child's stop (include/uapi/asm-generic/siginfo.h).
const cldStopped = 5

// continueKeeper continues the keeper each time it stops, until it exits. The sandbox can
// stop it (SIGSTOP to its parent, on a kernel whose Landlock lacks signal scoping); a stopped
// keeper reaps nothing and reports nothing, and scrim would wait on it for ever. waitid with
// WNOWAIT only looks: reapAll reaps the keeper, and once it has, waitid fails with ECHILD.
func (s *Supervisor) continueKeeper(keeper int) {
	fd, err := unix.PidfdOpen(keeper, 0)
	if err != nil {
		s.log.Warn("cannot watch the keeper for stops: a stopped keeper will not be continued", "pid", keeper, "error", err)
		return
	}
	defer unix.Close(fd)
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PIDFD, fd, &info, unix.WSTOPPED|unix.WEXITED|unix.WNOWAIT, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || info.Code != cldStopped {
			return
		}
		s.log.Debug("keeper stopped; continuing it", "pid", keeper)
		if err := unix.PidfdSendSignal(fd, unix.SIGCONT, nil, 0); err != nil {
			s.log.Error("cannot continue the stopped keeper", "pid", keeper, "error", err)
			return
		}
	}
}

func recvmsg(fd int, buf, oob []byte) (int, int, error) {
	for {
		n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		return n, oobn, err
	}
}

// stubFailed reports a command that could not be found or executed: the stub's status (126,
// 127) is scrim's, with its reason as a *CommandError.
func (s *Supervisor) stubFailed(msg []byte, keeper, pid int) (int, error) {
	status := 125
	if len(msg) >= 2 {
		status = int(msg[1])
	}
	reason := ""
	if len(msg) > 2 {
		reason = string(msg[2:])
	}
	s.reapAll(keeper, pid)
	if status == 125 {
		return 0, fmt.Errorf("start child: %s", reason)
	}
	s.log.Debug("cannot execute the command", "error", reason, "status", status)
	return status, &CommandError{Status: status, Msg: reason}
}

// reapAll waits for the keeper, then kills and reaps whatever remains of the sandbox, and
// returns the keeper's status, which is the child's in the shell's convention. The keeper
// reaps the sandbox's processes; scrim reaps only those orphaned by a keeper that was killed.
func (s *Supervisor) reapAll(keeper, pid int) int {
	status := 125
	mainDone := false
	var killed sync.WaitGroup
	defer killed.Wait()
	for {
		var ws unix.WaitStatus
		wpid, err := unix.Wait4(-1, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err == unix.ECHILD {
			return status
		}
		if err != nil {
			s.log.Error("wait4 failed", "error", err)
			return status
		}
		s.forget(wpid)
		if wpid != keeper {
			continue
		}
		// What the keeper left behind is now scrim's, and still the sandbox's.
		s.sandbox.keeperGone.Store(true)
		if ws.Exited() {
			status = ws.ExitStatus()
		} else if ws.Signaled() {
			status = 128 + int(ws.Signal())
		}
		if !mainDone {
			mainDone = true
			s.log.Info("child exited", "pid", pid, "status", status)
			if !hasChildren() {
				// Every process of the sandbox descends from a child of scrim's: none is left.
				return status
			}
			// What the child left behind dies with it. The killing runs beside this loop,
			// which must keep reaping, and is over before the loop returns.
			killed.Add(1)
			go func() {
				defer killed.Done()
				s.killSandbox()
			}()
		}
	}
}

// hasChildren reports whether the calling process has a child, exited or not.
func hasChildren() bool {
	var info unix.Siginfo
	err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
	return err != unix.ECHILD
}

// killSandbox SIGKILLs every process of the sandbox until none is left; forks racing the
// scan are caught by the next round.
func (s *Supervisor) killSandbox() {
	for range 100 {
		pids := s.sandbox.Pids()
		if len(pids) == 0 {
			return
		}
		for _, p := range pids {
			unix.Kill(p, unix.SIGKILL)
		}
	}
}

// forward passes signals sent to scrim on to the child. A terminal's INT, QUIT and TSTP
// already reach the child when it shares scrim's foreground process group; passing them again
// would deliver them twice, so those are skipped.
//
// SIGTERM starts the grace period (Config.KillGrace): a sandbox still running at its end is
// killed, and killed set. SIGTSTP from a terminal that has scrim in the foreground stops the
// job as users expect: the child (which the terminal stopped too, if it is in scrim's group),
// then scrim itself, until the SIGCONT of fg continues scrim and so the child. Without such a
// terminal no one would continue scrim, and anyone can send SIGTSTP, the sandbox too: then it
// is only forwarded.
func (s *Supervisor) forward(pid int, sigs chan os.Signal, done chan struct{}, ttys []int, killed *atomic.Bool) {
	var grace <-chan time.Time
	suspended := false
	for {
		select {
		case <-done:
			return
		case <-grace:
			grace = nil
			s.log.Warn("the sandbox outlived the grace period after SIGTERM; killing it", "pid", pid, "grace", s.killGrace().String())
			killed.Store(true)
			unix.Kill(pid, unix.SIGKILL)
			s.killSandbox()
		case sig := <-sigs:
			ss := sig.(syscall.Signal)
			switch ss {
			case unix.SIGCONT:
				if suspended {
					suspended = false
					unix.Kill(pid, unix.SIGCONT)
				}
				continue
			case unix.SIGTSTP:
				if sharesTerminal(ttys) {
					s.suspend(pid)
					suspended = true
					continue
				}
			case unix.SIGTERM:
				if grace == nil && !killed.Load() {
					grace = time.After(s.killGrace())
				}
			}
			if (ss == unix.SIGINT || ss == unix.SIGQUIT) && sharesTerminal(ttys) {
				continue
			}
			if s.log.IsDebug() {
				s.log.Debug("forwarding signal", "pid", pid, "signal", ss.String())
			}
			unix.Kill(pid, ss)
		}
	}
}

func (s *Supervisor) killGrace() time.Duration {
	if s.cfg.KillGrace > 0 {
		return s.cfg.KillGrace
	}
	return DefaultKillGrace
}

// suspend stops the child, unless the terminal's SIGTSTP reached it already, then scrim. The
// keeper runs on: it has nothing to do while the child is stopped.
func (s *Supervisor) suspend(pid int) {
	if pg, err := unix.Getpgid(pid); err == nil && pg != unix.Getpgrp() {
		unix.Kill(pid, unix.SIGTSTP)
	}
	s.log.Debug("stopping for the terminal", "pid", pid)
	unix.Kill(os.Getpid(), unix.SIGSTOP)
}

// stdioFds are the child's standard descriptors as scrim holds them.
func (s *Supervisor) stdioFds() []int {
	var fds []int
	for _, f := range []*os.File{s.cfg.Stdin, s.cfg.Stdout, s.cfg.Stderr} {
		if f != nil {
			fds = append(fds, int(f.Fd()))
		}
	}
	return fds
}

// sharesTerminal reports whether the child's terminal has scrim's process group in the
// foreground, so a keyboard INT or QUIT reached the whole group, the child included. A child
// that moved to its own group (an interactive shell with job control) gets everything
// forwarded.
func sharesTerminal(fds []int) bool {
	pgrp := unix.Getpgrp()
	for _, fd := range fds {
		fg, err := unix.IoctlGetInt(fd, unix.TIOCGPGRP)
		if err == nil {
			return fg == pgrp
		}
	}
	return false
}
