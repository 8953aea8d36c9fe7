package supervisor

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// The loop is a leader/follower pool of worker threads. One idle worker at a time (the
// leader) waits on the listener and receives; it then answers that notification itself, on
// the same thread, while the next idle worker takes over the waiting. So the common answer
// costs no hand-off between threads (and SYNC_WAKE_UP can wake the child where the answer
// was made), while a worker stuck in a blocking open (a FIFO, a slow plugin) only costs one
// thread: when the last idle worker starts handling a call, a new one is started.

const (
	minWorkers = 2
	// maxWorkers bounds the threads a sandbox can make scrim create by blocking opens.
	// Beyond it, new calls wait for a worker instead of getting a thread each.
	maxWorkers = 256
	// keepIdle is how many idle workers stay; more exit (and take their threads) when done.
	keepIdle = 4
)

type loop struct {
	s        *Supervisor
	listener int
	stopfd   int // an eventfd; readable means stop
	log      hclog.Logger

	leader  sync.Mutex
	idle    atomic.Int32
	workers atomic.Int32
	wg      sync.WaitGroup
	// gate bounds the workers beyond the first minWorkers.
	gate chan struct{}
}

func newLoop(s *Supervisor, listener int) (*loop, error) {
	stopfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, err
	}
	return &loop{s: s, listener: listener, stopfd: stopfd, log: s.log, gate: make(chan struct{}, maxWorkers)}, nil
}

func (l *loop) start(ctx context.Context) {
	for range minWorkers {
		l.spawn(ctx)
	}
}

func (l *loop) spawn(ctx context.Context) bool {
	select {
	case l.gate <- struct{}{}:
	default:
		return false
	}
	l.workers.Add(1)
	l.idle.Add(1)
	l.wg.Add(1)
	go l.worker(ctx)
	return true
}

// stop wakes every worker and waits for them; workers in a blocking open finish it first.
func (l *loop) stop() {
	var one [8]byte
	one[0] = 1
	unix.Write(l.stopfd, one[:])
	l.wg.Wait()
	unix.Close(l.stopfd)
}

func (l *loop) worker(ctx context.Context) {
	defer l.wg.Done()
	defer func() { <-l.gate }()
	// Locked for life: the thread's credentials and umask change per call, so it must never
	// run other goroutines, and the runtime ends the thread when this goroutine returns.
	runtime.LockOSThread()
	t, err := newThread(l.s.self)
	if err != nil {
		l.log.Error("cannot start worker thread", "error", err)
		l.idle.Add(-1)
		l.workers.Add(-1)
		return
	}
	var n notif
	for {
		l.leader.Lock()
		ok := l.receive(&n)
		l.leader.Unlock()
		if !ok {
			l.idle.Add(-1)
			l.workers.Add(-1)
			return
		}
		if l.idle.Add(-1) == 0 {
			l.spawn(ctx)
		}
		if !l.handle(ctx, t, &n) {
			// The thread's credentials are unknown after a panic: let it die. (It is not
			// counted idle while it handles.)
			l.workers.Add(-1)
			return
		}
		if l.idle.Add(1) > keepIdle && l.workers.Load() > minWorkers {
			l.idle.Add(-1)
			l.workers.Add(-1)
			return
		}
	}
}

// handle answers n and reports false if handling panicked, after answering EIO: a bug in
// scrim must fail the call closed, not take the sandbox down.
func (l *loop) handle(ctx context.Context, t *thread, n *notif) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			l.log.Error("panic while answering a notification", "tid", n.Pid, "syscall", n.Data.Nr, "error", fmt.Sprint(p), "stack", string(debug.Stack()))
			l.s.respond(n.ID, 0, unix.EIO, false)
			ok = false
		}
	}()
	l.s.handle(ctx, t, n, time.Now())
	return true
}

// receive waits for the next notification. It returns false when the loop must stop: the
// stop eventfd fired, or the listener hung up because no process uses the filter any more.
func (l *loop) receive(n *notif) bool {
	fds := []unix.PollFd{{Fd: int32(l.listener), Events: unix.POLLIN}, {Fd: int32(l.stopfd), Events: unix.POLLIN}}
	for {
		fds[0].Revents, fds[1].Revents = 0, 0
		_, err := unix.Poll(fds, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			l.log.Error("cannot poll the seccomp listener", "error", err)
			return false
		}
		if fds[1].Revents != 0 {
			return false
		}
		if fds[0].Revents&unix.POLLIN == 0 {
			if fds[0].Revents&(unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0 {
				return false
			}
			continue
		}
		switch e := notifRecv(l.listener, n); e {
		case 0:
			return true
		case unix.ENOENT:
			// The caller was interrupted between poll and receive (containers/crun#526).
			continue
		default:
			l.log.Error("cannot receive a seccomp notification", "error", e)
			return false
		}
	}
}
