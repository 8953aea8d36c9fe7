package launch

// The keeper stands between scrim and the sandboxed child. scrim starts /proc/self/exe with
// argv[0] set to keeperArg0; the keeper, which is not sandboxed, starts the command as its own
// child (from a filtered thread of its own, or through the stub in image mode) and makes
// itself the child subreaper of the whole sandbox. Its one job is that no
// process of the sandbox outlives scrim: when scrim dies, even of SIGKILL, the keeper learns
// it (its parent-death signal, a new parent, or the end of its socket to scrim) and kills
// every process below it before it exits. While scrim lives, the keeper reaps the sandbox's
// processes and reports each exit to scrim before the pid can be reused, and at the end it
// exits with the child's status. RATIONALE.md, "Why a keeper process between scrim and the
// program?", has the reasons.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/internal/kernel"
	"github.com/scrim-sandbox/scrim/internal/procfs"
)

// keeperArg0 marks a keeper process. Its argv is [keeperArg0, scrim's pid, the Landlock
// domain (kernel.Domain's String), the closed standard descriptors (closedArg), command...].
const keeperArg0 = "[scrim-keeper]"

// keeperFd is the keeper's end of its socket pair to scrim (ExtraFiles[1]). The stub socket
// (stubFd, ExtraFiles[0]) is the keeper's own without an image, and passes through to the
// stub untouched in image mode.
const keeperFd = 4

// Messages on the keeper socket, besides msgFailed (status byte, then an error text), which
// the keeper sends when it cannot start the child (on the stub socket when it starts the
// command itself).
const (
	msgChild  = 'C' // keeper → scrim: the child's pid, uint32
	msgExited = 'X' // keeper → scrim: a process of the sandbox exited (pid, uint32); not yet reaped
	msgReap   = 'K' // scrim → keeper: the pid is forgotten; reap it
)

// keeper is the state of the keeper process.
type keeper struct {
	self   int // the keeper's pid
	parent int // scrim's pid
	proc   int // a descriptor of /proc, opened before the child may change the keeper's view
	child  int // the command (in image mode the stub, which becomes it)

	// viaStub is set in image mode and whenever the sandbox gets a Landlock domain: the
	// command then starts from a stub (stub.go) that enters the image and the domain first.
	// Otherwise the keeper starts the command itself.
	viaStub bool
	// domain is the sandbox's Landlock domain, passed on to the stub.
	domain string
	// closed lists the standard descriptors the command starts without (closedArg).
	closed string

	goneOnce sync.Once
	gone     chan struct{} // closed once scrim is gone
	reap     chan struct{} // scrim's msgReap answers
}

// keep runs the keeper and returns its exit status: the child's, in the shell's convention.
func keep(parent, domain, closed string, args []string) int {
	k := &keeper{self: os.Getpid(), domain: domain, closed: closed, gone: make(chan struct{}), reap: make(chan struct{}, 1)}
	// The parent-death signal (SIGCONT) does nothing until the handler exists; if scrim died
	// before then, start sees the new parent and starts nothing. The job-control signals are
	// caught so that nothing stops the keeper but SIGSTOP, which scrim undoes; and caught,
	// not ignored: an ignored disposition survives exec and would reach the child, while a
	// caught one is reset, so the child gets the default ones whatever scrim ignores.
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, forwarded...)
	signal.Notify(sigs, jobControl...)
	signal.Notify(sigs, unix.SIGCONT)
	_, image := os.LookupEnv(imageEnv)
	k.viaStub = image || domain != kernel.Domain{}.String()
	status, err := k.start(parent, args)
	if err != nil {
		// scrim waits on the stub socket while the keeper starts the command itself, and
		// on the keeper socket while a stub does.
		fd := stubFd
		if k.viaStub {
			fd = keeperFd
		}
		msg := append([]byte{msgFailed, byte(status)}, err.Error()...)
		unix.Sendmsg(fd, msg, nil, nil, unix.MSG_NOSIGNAL)
		return status
	}
	go k.watchSignals(sigs)
	go k.watchSocket()
	go func() {
		<-k.gone
		k.killAll()
	}()
	return k.reapAll()
}

// start prepares the keeper and starts the command, through a stub in image mode.
func (k *keeper) start(parent string, args []string) (int, error) {
	var err error
	if k.parent, err = strconv.Atoi(parent); err != nil {
		return 125, fmt.Errorf("keeper: parse scrim's pid %q: %w", parent, err)
	}
	// The child must not inherit the keeper's socket: its end is how scrim's death shows.
	if _, err := unix.FcntlInt(keeperFd, unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
		return 125, fmt.Errorf("keeper: set close-on-exec on the scrim socket: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return 125, fmt.Errorf("keeper: prctl(PR_SET_CHILD_SUBREAPER): %w", err)
	}
	if k.proc, err = unix.Open("/proc", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
		return 125, fmt.Errorf("keeper: open /proc: %w", err)
	}
	// scrim may have died before the handler above existed; then nothing may start.
	if unix.Getppid() != k.parent {
		return 125, errors.New("keeper: scrim is gone")
	}
	if k.viaStub {
		return k.undumpable(k.startStub(args))
	}
	return k.undumpable(k.startCommand(args))
}

// startStub starts the stub, which enters the image, installs the filter and becomes the
// command, and tells scrim its pid.
func (k *keeper) startStub(args []string) (int, error) {
	attr := &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: []uintptr{0, 1, 2, stubFd},
		Sys:   &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
	}
	var err error
	k.child, err = syscall.ForkExec("/proc/self/exe", append([]string{stubArg0, k.domain, k.closed}, args...), attr)
	// scrim learns that the command was executed from the end of the stub socket: only the
	// stub may hold it.
	unix.Close(stubFd)
	if err != nil {
		return 125, fmt.Errorf("keeper: start stub: %w", err)
	}
	k.tellChild()
	return 0, nil
}

// startCommand does the stub's work without a stub, saving the start of one more process:
// the keeper installs the filter on its own thread, the one init locked for the keeper's life,
// and forks the command from it, which inherits the filter as it would from a stub. The
// filter and no_new_privs are per thread: the keeper's other threads, and so the goroutines
// that kill the sandbox when scrim dies, carry neither (the Go runtime creates every later
// thread from a template thread, never from a locked one). What remains on this thread, the
// reaping loop, makes no call the filter notifies. The child's parent-death signal follows
// this thread, which lives as long as the keeper.
func (k *keeper) startCommand(args []string) (int, error) {
	// The command must not inherit the stub socket: its end tells scrim the exec happened.
	if _, err := unix.FcntlInt(stubFd, unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
		return 125, fmt.Errorf("keeper: set close-on-exec on the supervisor socket: %w", err)
	}
	prog, flags, err := readFilter()
	if err != nil {
		return 125, fmt.Errorf("keeper: %w", err)
	}
	path, env, status, err := armFilter("keeper", prog, flags, args[0])
	if err != nil {
		return status, err
	}
	attr := &syscall.ProcAttr{
		Env:   env,
		Files: []uintptr{0, 1, 2},
		Sys:   &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
	}
	closed, err := parseClosed(k.closed)
	if err != nil {
		return 125, fmt.Errorf("keeper: %w", err)
	}
	for _, fd := range closed {
		// ForkExec closes a descriptor given as -1 in the child, right before the exec: the
		// keeper's own stays open, so nothing else lands there.
		attr.Files[fd] = ^uintptr(0)
	}
	k.child, err = syscall.ForkExec(path, args, attr)
	if errors.Is(err, unix.ENOEXEC) {
		// execvp runs a file the kernel cannot execute (a script without "#!") with the
		// shell, and so does every shell; so does scrim.
		k.child, err = syscall.ForkExec("/bin/sh", append([]string{args[0], path}, args[1:]...), attr)
	}
	if err != nil {
		return execStatus(err), commandError(args[0], err, true)
	}
	// The pid first, then the end of the stub socket: scrim reads the pid once it sees the
	// exec happened.
	k.tellChild()
	unix.Close(stubFd)
	return 0, nil
}

// undumpable makes the keeper not dumpable once the child runs a program of its own: then
// /proc/<keeper> belongs to root and the sandbox's user cannot ptrace, read the memory of or
// copy descriptors from the keeper, whatever else fails. Not before: the command starts as a
// vfork child sharing the keeper's memory, and scrim, as that user, must read the path of its
// execve, which the filter notifies, from that memory. Nothing of the sandbox's own runs
// before the exec completes, and the filter and the per-PID /proc keep it from the keeper
// meanwhile.
func (k *keeper) undumpable(status int, err error) (int, error) {
	if err != nil {
		return status, err
	}
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return 125, fmt.Errorf("keeper: prctl(PR_SET_DUMPABLE): %w", err)
	}
	return status, nil
}

// tellChild sends scrim the child's pid.
func (k *keeper) tellChild() {
	msg := binary.LittleEndian.AppendUint32([]byte{msgChild}, uint32(k.child))
	if err := unix.Sendmsg(keeperFd, msg, nil, nil, unix.MSG_NOSIGNAL); err != nil {
		k.scrimGone()
	}
}

// scrimGone records that scrim is gone: everything below the keeper is killed.
func (k *keeper) scrimGone() {
	k.goneOnce.Do(func() { close(k.gone) })
}

// watchSignals swallows the signals scrim forwards (scrim passes them to the child itself; a
// terminal's INT reaches the keeper too, and must not kill it) and the job-control ones, and
// recognises the parent-death signal, SIGCONT, by the parent it leaves: the kernel re-parents
// the keeper before it sends the signal. A SIGCONT from scrim, which continues a keeper the
// sandbox stopped, finds scrim still the parent.
func (k *keeper) watchSignals(sigs chan os.Signal) {
	for range sigs {
		if unix.Getppid() != k.parent {
			k.scrimGone()
			return
		}
	}
}

// watchSocket reads scrim's answers until the socket ends, which happens when scrim exits.
func (k *keeper) watchSocket() {
	var b [16]byte
	for {
		n, err := unix.Read(keeperFd, b[:])
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			k.scrimGone()
			return
		}
		if b[0] == msgReap {
			k.reap <- struct{}{}
		}
	}
}

// reapAll reaps every process of the sandbox until none is left and returns the child's
// status. Each exit is reported to scrim before the zombie is reaped, so scrim forgets what it
// knew of the pid before the kernel can give it to another process. Once the child has exited
// (or scrim is gone) whatever is left is killed.
func (k *keeper) reapAll() int {
	status := 125
	for {
		pid, err := waitExited()
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			// ECHILD: nothing below the keeper is left.
			return status
		}
		k.report(pid)
		var ws unix.WaitStatus
		for {
			_, err = unix.Wait4(pid, &ws, 0, nil)
			if err != unix.EINTR {
				break
			}
		}
		if pid != k.child || err != nil {
			continue
		}
		if ws.Exited() {
			status = ws.ExitStatus()
		} else if ws.Signaled() {
			status = 128 + int(ws.Signal())
		}
		if !hasChildren() {
			// The usual end: the child left nothing behind, and no scan is needed.
			return status
		}
		go k.killAll()
	}
}

// report tells scrim that pid exited and waits until scrim has forgotten it.
func (k *keeper) report(pid int) {
	select {
	case <-k.gone:
		return
	default:
	}
	msg := binary.LittleEndian.AppendUint32([]byte{msgExited}, uint32(pid))
	if err := unix.Sendmsg(keeperFd, msg, nil, nil, unix.MSG_NOSIGNAL); err != nil {
		k.scrimGone()
		return
	}
	select {
	case <-k.reap:
	case <-k.gone:
	}
}

// killAll SIGKILLs every live process below the keeper until none is left. A fork that races
// a scan is caught by the next one; a killed process forks no more.
func (k *keeper) killAll() {
	for round := 0; ; round++ {
		pids := k.descendants()
		if len(pids) == 0 {
			return
		}
		for _, pid := range pids {
			k.kill(pid)
		}
		if round >= 3 {
			// Dying takes a moment; do not spin on processes that already have SIGKILL.
			time.Sleep(time.Millisecond)
		}
	}
}

// kill SIGKILLs pid through a pidfd, after checking that the pidfd's process is still below
// the keeper: a pid freed and reused by a process outside the sandbox is never signalled.
func (k *keeper) kill(pid int) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		if err == unix.ENOSYS {
			unix.Kill(pid, unix.SIGKILL)
		}
		return
	}
	defer unix.Close(fd)
	if k.below(pid) {
		unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
	}
}

// descendants lists the live (not zombie) processes below the keeper.
func (k *keeper) descendants() []int {
	fd, err := unix.Openat(k.proc, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	d := os.NewFile(uintptr(fd), "/proc")
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	var out []int
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil || pid == k.self {
			continue
		}
		if st, ok := procfs.ReadStat(k.proc, n); ok && st.State != 'Z' && k.below(pid) {
			out = append(out, pid)
		}
	}
	return out
}

// below reports whether pid descends from the keeper. The keeper is the sandbox's subreaper,
// so every chain from a process of the sandbox ends at the keeper.
func (k *keeper) below(pid int) bool {
	return descends(k.proc, pid, k.self)
}
