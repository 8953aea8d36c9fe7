package launch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/internal/kernel"
	"github.com/scrim-sandbox/scrim/internal/kernel/seccomp"
)

// The stub is the program that becomes the sandboxed child in image mode and wherever a
// Landlock domain is used. The keeper starts /proc/self/exe with argv[0] set to stubArg0;
// Dispatch, which every binary that starts sandboxes calls first (scrim itself, test
// binaries), notices it and runs stub. The stub enters the image, installs the filter on its own thread, hands the listener
// to the supervisor and execs the command in place: the child keeps the stub's pid. Without an
// image the keeper does the same on its own thread and forks the command (keeper.go), and the
// filter, lookup and hand-over below are shared.

// stubArg0 marks a stub process. A NUL-free string no one types as a command name.
const stubArg0 = "[scrim-stub]"

// stubFd is the stub's end of the socket pair to the supervisor (ExtraFiles[0]).
const stubFd = 3

// Messages on the stub socket.
const (
	msgListener = 'L' // stub → supervisor: the listener fd (SCM_RIGHTS) and one flags byte
	msgFailed   = 'E' // stub → supervisor: exit status byte, then an error text
	msgGo       = 'G' // supervisor → stub: the supervisor is listening, exec now
)

// Flags byte of msgListener.
const listenerKillable = 1 // installed with SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV

// stub runs in the child. It returns only on failure, with the exit status to report.
// domain is the Landlock domain to enter (kernel.Domain's String), closed the standard
// descriptors the command starts without (closedArg).
func stub(domain, closed string, args []string) (int, error) {
	closedFds, err := parseClosed(closed)
	if err != nil {
		return 125, fmt.Errorf("stub: %w", err)
	}
	// The socket must not survive execve: its EOF tells the supervisor the exec happened.
	if _, err := unix.FcntlInt(stubFd, unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
		return 125, fmt.Errorf("stub: set close-on-exec on the supervisor socket: %w", err)
	}
	prog, flags, err := readFilter()
	if err != nil {
		return 125, err
	}
	d, err := kernel.ParseDomain(domain)
	if err != nil {
		return 125, fmt.Errorf("stub: %w", err)
	}
	// Enter the image, if any, while mount and pivot_root are still allowed: a Landlock
	// domain forbids both.
	if status, err := enterImage(args); err != nil {
		return status, err
	}
	// Then the domain, on this thread only: it is the one that execs, so the command is in
	// the domain from its first instruction, and no thread of scrim's or the keeper's ever is
	// (RATIONALE.md, "Why does a stub put the program in a Landlock domain?").
	if err := kernel.RestrictSelf(d); err != nil {
		return 125, fmt.Errorf("stub: %w", err)
	}
	// The exec closes them, and nothing the stub opens before it can take their place.
	for _, fd := range closedFds {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
			return 125, fmt.Errorf("stub: close descriptor %d on exec: %w", fd, err)
		}
	}
	path, env, status, err := armFilter("stub", prog, flags, args[0])
	if err != nil {
		return status, err
	}
	err = syscall.Exec(path, args, env)
	if errors.Is(err, unix.ENOEXEC) {
		// execvp runs a file the kernel cannot execute (a script without "#!") with the
		// shell, and so does every shell; so does scrim.
		err = syscall.Exec("/bin/sh", append([]string{args[0], path}, args[1:]...), env)
	}
	return execStatus(err), commandError(args[0], err, true)
}

// armFilter is what the stub and the keeper do before they start the command: look it up,
// install the filter on the calling thread and hand the listener to the supervisor, returning
// the command's path and environment. who names the caller in errors. Afterwards the thread
// may only start the command: any call the filter notifies would go to the supervisor.
func armFilter(who string, prog []unix.SockFilter, flags uint32, name string) (string, []string, int, error) {
	// Looked up before the filter exists: a lookup stats and opens.
	path, err := lookPath(name)
	if err != nil {
		return "", nil, lookStatus(err), commandError(name, err, false)
	}
	env := os.Environ()
	listener, sent, err := installFilter(prog, flags)
	if err != nil {
		return "", nil, 125, fmt.Errorf("%s: %w", who, err)
	}
	// From here on: sendmsg, read and close, then the exec, none of them notified.
	if err := handOver(listener, sent); err != nil {
		return "", nil, 125, fmt.Errorf("%s: %w", who, err)
	}
	return path, env, 0, nil
}

// installFilter installs prog on the calling thread, which must be locked to its goroutine for
// good: no_new_privs and the filter are the thread's, and every process it forks inherits
// them. The flags byte for msgListener says what the kernel accepted.
func installFilter(prog []unix.SockFilter, flags uint32) (int, byte, error) {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return -1, 0, fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	install := func(f uintptr) (int, unix.Errno) { return seccomp.SetModeFilter(prog, f) }
	var sent byte
	listener, errno := install(unix.SECCOMP_FILTER_FLAG_NEW_LISTENER | uintptr(flags))
	if errno == unix.EINVAL && flags != 0 {
		// The supervisor logs the downgrade when it sees the flags byte.
		listener, errno = install(unix.SECCOMP_FILTER_FLAG_NEW_LISTENER)
	} else if errno == 0 && flags&unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV != 0 {
		sent = listenerKillable
	}
	if errno != 0 {
		return -1, 0, fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER): %w", errno)
	}
	return listener, sent, nil
}

// handOver sends the listener to the supervisor over stubFd, closes it, and waits for msgGo:
// the supervisor is listening and the command may start.
func handOver(listener int, sent byte) error {
	rights := unix.UnixRights(listener)
	err := unix.Sendmsg(stubFd, []byte{msgListener, sent}, rights, nil, 0)
	unix.Close(listener)
	if err != nil {
		return fmt.Errorf("send listener: %w", err)
	}
	var b [1]byte
	for {
		n, err := unix.Read(stubFd, b[:])
		if err == unix.EINTR {
			continue
		}
		if err != nil || n != 1 || b[0] != msgGo {
			// The supervisor went away; exiting is the only safe thing left.
			return errors.New("supervisor did not start listening")
		}
		return nil
	}
}

// readFilter reads the one message the supervisor sends first: a uint32 count of
// instructions, a uint32 of seccomp flags, the instructions, then the CPUs the program may run
// on, if any; and it confines the calling thread, which starts the program, to those CPUs
// (affinity.go). The socket keeps message boundaries (SOCK_SEQPACKET), so the message is read
// whole.
func readFilter() ([]unix.SockFilter, uint32, error) {
	buf := make([]byte, 8+8*seccomp.MaxInsns+cpuSetBits/8)
	var n int
	var err error
	for {
		n, err = unix.Read(stubFd, buf)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return nil, 0, fmt.Errorf("stub: read filter: %w", err)
	}
	if n < 8 {
		return nil, 0, fmt.Errorf("stub: read filter: short message of %d bytes", n)
	}
	count := binary.LittleEndian.Uint32(buf[:4])
	flags := binary.LittleEndian.Uint32(buf[4:])
	end := 8 + 8*int(count)
	if count == 0 || count > seccomp.MaxInsns || n < end {
		return nil, 0, fmt.Errorf("stub: read filter: %d instructions in %d bytes", count, n)
	}
	if err := confineThread(buf[end:n]); err != nil {
		return nil, 0, fmt.Errorf("stub: confine to the CPU view: %w", err)
	}
	return decodeFilter(buf[8:end]), flags, nil
}

func encodeFilter(prog []unix.SockFilter) []byte {
	out := make([]byte, 0, 8*len(prog))
	for _, in := range prog {
		out = binary.LittleEndian.AppendUint16(out, in.Code)
		out = append(out, in.Jt, in.Jf)
		out = binary.LittleEndian.AppendUint32(out, in.K)
	}
	return out
}

func decodeFilter(raw []byte) []unix.SockFilter {
	prog := make([]unix.SockFilter, len(raw)/8)
	for i := range prog {
		b := raw[8*i:]
		prog[i] = unix.SockFilter{Code: binary.LittleEndian.Uint16(b), Jt: b[2], Jf: b[3], K: binary.LittleEndian.Uint32(b[4:])}
	}
	return prog
}

// closedArg writes the closed standard descriptors for the keeper's and the stub's argv: "-"
// for none, else their numbers joined by ",".
func closedArg(fds []int) string {
	if len(fds) == 0 {
		return "-"
	}
	parts := make([]string, len(fds))
	for i, fd := range fds {
		parts[i] = strconv.Itoa(fd)
	}
	return strings.Join(parts, ",")
}

// parseClosed reads what closedArg wrote.
func parseClosed(arg string) ([]int, error) {
	if arg == "-" {
		return nil, nil
	}
	var fds []int
	for _, f := range strings.Split(arg, ",") {
		fd, err := strconv.Atoi(f)
		if err != nil || fd < 0 || fd > 2 {
			return nil, fmt.Errorf("closed descriptors %q: want 0, 1 or 2, joined by commas", arg)
		}
		fds = append(fds, fd)
	}
	return fds, nil
}

// lookPath finds the command as execvp would, in the PATH the child will have.
func lookPath(name string) (string, error) {
	if _, set := os.LookupEnv("PATH"); !set && name != "" && !strings.ContainsRune(name, '/') {
		// execvp searches confstr(_CS_PATH), /bin:/usr/bin, when PATH is unset (env -i).
		for _, dir := range []string{"/bin", "/usr/bin"} {
			if p, err := exec.LookPath(dir + "/" + name); err == nil {
				name = p
				break
			}
		}
	}
	path, err := exec.LookPath(name)
	if errors.Is(err, exec.ErrDot) {
		// A PATH entry of "." is the user's choice; execvp honours it.
		err = nil
	}
	if err != nil {
		return "", fmt.Errorf("look up %s: %w", name, err)
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return "", fmt.Errorf("look up %s: %w", name, syscall.EISDIR)
	}
	return path, nil
}

// lookStatus maps a lookup failure to the shell's convention: 127 not found, 126 found but
// not executable.
func lookStatus(err error) int {
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
		return 127
	}
	return 126
}

// commandError says why the command name could not be looked up, or executed once found, and
// what to do, for the user: the text of a CommandError.
func commandError(name string, err error, found bool) error {
	var msg string
	switch {
	case errors.Is(err, exec.ErrNotFound):
		msg = "command not found in PATH; check its spelling, or give its path"
	case errors.Is(err, syscall.EISDIR):
		msg = "is a directory, not a program; name a program"
	case errors.Is(err, fs.ErrPermission):
		msg = "cannot execute: permission denied; make it executable (chmod +x), or run it through its interpreter"
	case errors.Is(err, fs.ErrNotExist) && found:
		// The lookup found the file: what is missing is its interpreter.
		msg = fmt.Sprintf("cannot execute: %v; check its #! line or its ELF interpreter", unwrapPathError(err))
	case errors.Is(err, fs.ErrNotExist):
		msg = "no such file; give the path of an existing program"
	default:
		msg = fmt.Sprintf("cannot execute: %v; check that it is a program for this machine", unwrapPathError(err))
	}
	return fmt.Errorf("%s: %s", name, msg)
}

func execStatus(err error) int {
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return 127
	}
	return 126
}
