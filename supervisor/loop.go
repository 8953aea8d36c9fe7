package supervisor

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/internal/kernel/seccomp"
)

// The loop is a leader/follower pool of worker threads with several leaders (lanes). Each
// leader waits on the listener, receives, and answers the notification itself on the same
// thread, then goes straight back to receiving: the common answer wakes no other thread.
// Several wait at once so that while one answers, another is already asleep on the listener
// when the child's next call comes: the kernel then wakes it on the child's own CPU
// (SYNC_WAKE_UP), which keeps the child and its answerer on one CPU (RATIONALE.md, "Why do
// several workers wait on the listener?"). A leader gives up its lane (wakes a follower to take
// over the waiting) only when the call may block: before a FIFO open that waits for its other
// end, and, through a watchdog, when a call has taken longer than resignAfter (a slow plugin, a
// slow filesystem). So a worker stuck in a blocking open only costs one thread: when the last
// idle worker resigns, a new one is started.

const (
	// lanes is how many workers wait on the listener at once. Measured on two CPUs with
	// openloop (µs per open, 1 / 8 child threads): 2 lanes 24-28 / 30-34, 4 lanes 23-25 /
	// 23-24, 6 lanes 22-25 / 21-23, 8 lanes 28-29 / 20-21; a call wakes every idle lane, so
	// beyond 4 a one-threaded child pays for the crowd.
	lanes      = 4
	minWorkers = lanes
	// maxWorkers bounds the threads a sandbox can make scrim create by blocking opens.
	// Beyond it, new calls wait for a worker instead of getting a thread each.
	maxWorkers = MaxWorkers
	// keepIdle is how many idle workers stay; more exit (and take their threads) when done.
	keepIdle = 4
	// resignAfter is how long the leader may spend on one call before the watchdog hands the
	// waiting to a follower; watchEvery is how often it looks while calls come, watchIdle
	// while none does.
	resignAfter = time.Millisecond
	watchEvery  = time.Millisecond
	watchIdle   = 8 * time.Millisecond
	// parkAfter is how many idle looks in a row make the watchdog sleep until the next call,
	// so a sandbox that makes no calls (a daemon waiting on a socket) costs no wake-ups.
	parkAfter = 8
)

// MaxWorkers bounds the worker threads of one core: a sandbox that blocks that many opens
// makes its further calls wait for a worker instead of getting a thread each.
const MaxWorkers = 256

type loop struct {
	s        *Core
	listener int
	stopfd   int // an eventfd; readable means stop
	log      hclog.Logger

	// free holds the lanes no worker leads; followers wait on it for one.
	free chan int
	// busy[k] is when (nanoseconds since epoch, never 0) lane k's leader started the call it
	// is handling, or 0. Whoever swaps it to 0 from a call's value (the leader when done, or
	// the leader or watchdog resigning for it) decides whether that call still holds the lane.
	busy  [lanes]atomic.Int64
	epoch time.Time
	done  chan struct{}
	// parked is set while the watchdog sleeps on wake; the first call to find it set takes
	// it back and wakes the watchdog.
	parked atomic.Bool
	wake   chan struct{}
	// idle counts the workers not handling a call on their own: the followers and the leader.
	idle    atomic.Int32
	workers atomic.Int32
	wg      sync.WaitGroup
	// gate bounds the workers beyond the first minWorkers.
	gate chan struct{}
	// started is set by start, before stop can run.
	started bool
}

// procShare is the Ps the running loops have added to GOMAXPROCS. Each loop's lanes spend
// their lives in blocking system calls, each holding a P while it does; with no P left idle the
// runtime's monitor keeps taking them back and never backs off, waking a CPU every 20 µs. So a
// loop adds a P per lane while it runs and takes them away when it stops: two cores in one
// process add two shares, and the last to stop leaves GOMAXPROCS where it found it. A user's
// own GOMAXPROCS is left alone.
var procShare struct {
	sync.Mutex
	added int // Ps added by running loops
	base  int // GOMAXPROCS before the first of them
}

// addProcs adds n Ps to GOMAXPROCS (n < 0 removes them).
func addProcs(n int) {
	if os.Getenv("GOMAXPROCS") != "" {
		return
	}
	procShare.Lock()
	defer procShare.Unlock()
	if procShare.added == 0 {
		procShare.base = runtime.GOMAXPROCS(0)
	}
	procShare.added += n
	runtime.GOMAXPROCS(procShare.base + procShare.added)
}

func newLoop(s *Core, listener int) (*loop, error) {
	stopfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, err
	}
	l := &loop{s: s, listener: listener, stopfd: stopfd, log: s.log, gate: make(chan struct{}, maxWorkers),
		epoch: time.Now(), done: make(chan struct{}), wake: make(chan struct{}, 1), free: make(chan int, lanes)}
	for k := range lanes {
		l.free <- k
	}
	return l, nil
}

func (l *loop) start(ctx context.Context) {
	l.started = true
	addProcs(lanes)
	for range minWorkers {
		l.spawn(ctx)
	}
	l.wg.Add(1)
	go l.watch(ctx)
}

// watch makes the leader resign when one call has kept it longer than resignAfter, so a
// call that blocks where scrim did not expect it (a slow plugin, a slow filesystem) stalls
// the others for a few milliseconds at most. It looks every watchEvery while calls come, backs
// off to watchIdle while none is seen, and parks after parkAfter idle looks, so an idle
// sandbox costs no wake-ups.
func (l *loop) watch(ctx context.Context) {
	defer l.wg.Done()
	every := watchEvery
	tick := time.NewTimer(every)
	defer tick.Stop()
	idle := 0
	for {
		select {
		case <-l.done:
			return
		case <-tick.C:
			working := false
			for k := range lanes {
				v := l.busy[k].Load()
				if v == 0 {
					continue
				}
				working = true
				if l.now()-v > int64(resignAfter) {
					l.resign(ctx, k, v)
				}
			}
			if working {
				idle = 0
			} else {
				idle++
			}
			switch {
			case !working && idle >= parkAfter:
				if !l.park() {
					return
				}
				idle, every = 0, watchEvery
			case !working:
				every = min(2*every, watchIdle)
			default:
				every = watchEvery
			}
			tick.Reset(every)
		}
	}
}

// park sleeps until a call starts (or the loop stops: false). A call that started between
// the watchdog's last look and its parking is seen by one side or the other: the watchdog
// rechecks busy after setting parked, the leader checks parked after setting busy, and the
// CompareAndSwap gives the wake to exactly one of them.
func (l *loop) park() bool {
	l.parked.Store(true)
	if l.anyBusy() && l.parked.CompareAndSwap(true, false) {
		return true
	}
	select {
	case <-l.wake:
		return true
	case <-l.done:
		return false
	}
}

// unpark wakes a parked watchdog; the leader calls it after marking a call busy.
func (l *loop) unpark() {
	if l.parked.Load() && l.parked.CompareAndSwap(true, false) {
		l.wake <- struct{}{}
	}
}

func (l *loop) now() int64 { return int64(time.Since(l.epoch)) + 1 }

func (l *loop) anyBusy() bool {
	for k := range lanes {
		if l.busy[k].Load() != 0 {
			return true
		}
	}
	return false
}

// resign ends the leadership of lane k's call that started at v, if it still holds it: a
// follower (a new one if none is idle) takes over receiving while that call goes on.
func (l *loop) resign(ctx context.Context, k int, v int64) {
	if !l.busy[k].CompareAndSwap(v, 0) {
		return
	}
	if l.idle.Add(-1) == 0 {
		l.spawn(ctx)
	}
	l.free <- k
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

// stopWait bounds how long stop waits for workers still answering. By then the sandbox is
// gone and every call with it; a worker blocked in a FIFO open is released within two
// fifoPoll. One still blocked is in an open nothing in scrim can interrupt (a device, a hung
// network filesystem: Go restarts interrupted system calls), and must not keep scrim alive.
const stopWait = 500 * time.Millisecond

// stop wakes every worker and waits for them, at most stopWait. The loop owns the listener: it
// is closed, with the loop's other descriptors and the core's resolver, once the last worker
// is done, so a worker left behind never answers on a descriptor number that was reused.
func (l *loop) stop() {
	var one [8]byte
	one[0] = 1
	unix.Write(l.stopfd, one[:])
	close(l.done)
	if l.started {
		addProcs(-lanes)
	}
	finished := make(chan struct{})
	go func() {
		l.wg.Wait()
		unix.Close(l.stopfd)
		unix.Close(l.listener)
		l.s.memfds.close()
		l.s.resolver.Close()
		close(finished)
	}()
	select {
	case <-finished:
	case <-time.After(stopWait):
		l.log.Warn("workers still blocked in a call after the sandbox ended; leaving them", "workers", l.workers.Load())
	}
}

func (l *loop) worker(ctx context.Context) {
	defer l.wg.Done()
	defer func() { <-l.gate }()
	// Locked for life: the thread's credentials and umask change per call, so it must never
	// run other goroutines, and the runtime ends the thread when this goroutine returns.
	runtime.LockOSThread()
	t, err := newThread(l.s.self)
	if err == nil {
		// For the thread's life: no signal may interrupt ADDFD with SEND (AddfdSend).
		err = seccomp.BlockAsyncSignals()
	}
	if err != nil {
		l.log.Error("cannot start worker thread", "error", err)
		l.idle.Add(-1)
		l.workers.Add(-1)
		return
	}
	var lane int
	t.resign = func(v int64) { l.resign(ctx, lane, v) }
	var n seccomp.Notif
	for {
		select {
		case lane = <-l.free:
		case <-l.done:
			l.idle.Add(-1)
			l.workers.Add(-1)
			return
		}
		for {
			if !l.receive(&n) {
				l.free <- lane
				l.idle.Add(-1)
				l.workers.Add(-1)
				return
			}
			v := l.now()
			l.busy[lane].Store(v)
			l.unpark()
			t.leading = v
			ok := l.handle(ctx, t, &n)
			t.leading = 0
			if l.busy[lane].CompareAndSwap(v, 0) {
				// Still the leader: receive the next call on this thread.
				if ok {
					continue
				}
				// The thread's credentials are unknown after a panic: let it die, and
				// its lane pass on.
				if l.idle.Add(-1) == 0 {
					l.spawn(ctx)
				}
				l.free <- lane
				l.workers.Add(-1)
				return
			}
			// Resigned during the call: no longer the leader nor idle.
			if !ok {
				l.workers.Add(-1)
				return
			}
			break
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
func (l *loop) handle(ctx context.Context, t *thread, n *seccomp.Notif) (ok bool) {
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
func (l *loop) receive(n *seccomp.Notif) bool {
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
		switch e := seccomp.Recv(l.listener, n); e {
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
