package builtin

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

const idRandom = "builtin.random"

// The devices of the kernel's random driver (drivers/char/mem.c devlist).
var (
	devRandom  = unix.Mkdev(1, 8)
	devURandom = unix.Mkdev(1, 9)
)

// getrandom's flags (include/uapi/linux/random.h).
const (
	grndNonblock = 0x1
	grndRandom   = 0x2
	grndInsecure = 0x4
)

// mapDroppable and mapType are mmap flags of Linux 6.11 (include/uapi/linux/mman.h). Only the
// vDSO getrandom's state pages are mapped droppable, by glibc ≥ 2.41 and Go ≥ 1.24.
const (
	mapType      = 0x0f
	mapDroppable = 0x08
)

// getrandomMax bounds one getrandom answer; callers loop on a short count, as they must for
// the kernel's own (it stops at MAX_RW_COUNT or a signal).
const getrandomMax = 32 << 20

// random makes /dev/urandom, /dev/random and getrandom deterministic from a seed.
//
// Streams are per process, and a process is named by where it stands in the sandbox's process
// tree, not by when it first drew: its key is derived from its parent's key, its command line
// and how many siblings with that command line the parent started before it. So in
// "head -c 16 /dev/urandom | od", head's bytes do not depend on whether od (whose malloc draws 8
// bytes at start-up) ran first. A process's getrandom calls read one stream, in call order; its
// j-th open of a device reads its own endless stream. Threads of one process drawing
// concurrently, and identical siblings started concurrently, are deterministic only as far as
// their order is.
type random struct {
	seed    uint64
	sandbox shim.Sandbox

	mu    sync.Mutex
	procs map[int]*randomProc
	// started counts, per parent key and command line, the children named so far.
	started map[[64]byte]uint64

	ids map[fileID]bool
}

// randomProc is one process's randomness: its key, its getrandom stream and how many device
// opens it has made.
type randomProc struct {
	start uint64   // start time, to notice a reused pid
	cmd   [32]byte // hash of the command line, to notice an exec
	key   [32]byte
	opens uint64

	mu     sync.Mutex
	stream *keystream
}

var (
	_ shim.Handler        = (*random)(nil)
	_ shim.SyscallHandler = (*random)(nil)
	_ shim.OpHandler      = (*random)(nil)
	_ shim.Provisioner    = (*random)(nil)
)

func newRandom(opts Options, _ *listing) (shim.Handler, error) {
	return &random{seed: *opts.RandomSeed, procs: map[int]*randomProc{}, started: map[[64]byte]uint64{}}, nil
}

func (r *random) ID() string { return idRandom }

// Provision records the identities of the device nodes in the child's root, for a resolver
// that does not report st_rdev.
func (r *random) Provision(env shim.Env) error {
	r.sandbox = env.Sandbox
	r.ids = map[fileID]bool{}
	for _, p := range []string{"/dev/urandom", "/dev/random"} {
		if obj, ok, err := objectInRoot(rootOf(env, ""), p); err == nil && ok && isRandomDevice(obj) {
			r.ids[objectID(obj)] = true
		}
	}
	return nil
}

func isRandomDevice(obj shim.Object) bool {
	return obj.Exists && obj.Mode&unix.S_IFMT == unix.S_IFCHR && (obj.Rdev == devRandom || obj.Rdev == devURandom)
}

// Ops: opens only. A stat of the devices shows them as they are, and asking the shim about a
// stat as if it were an open would draw a stream number from the process.
func (r *random) Ops() shim.OpSet { return shim.Ops(shim.OpOpen) }

// Open serves an endless stream for either device, under any name.
func (r *random) Open(_ context.Context, req *shim.Request) (shim.Result, error) {
	obj := req.Object
	if !isRandomDevice(obj) && !(obj.Exists && r.ids[objectID(obj)]) {
		return shim.Next(), nil
	}
	p := r.proc(req.PID)
	p.mu.Lock()
	j := p.opens
	p.opens++
	p.mu.Unlock()
	return shim.Serve(shim.Stream{Name: "urandom", Reader: newKeystream(r.seed, p.key, j+1)}), nil
}

// proc returns the randomness of process pid, naming it on its first draw (and again after
// an exec or when its pid is reused).
func (r *random) proc(pid int) *randomProc {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.procLocked(pid, 0)
}

// randomMaxProcs is how many processes the shim remembers before it forgets those that have
// exited. Forgetting an exited process changes nothing: its pid, if reused, is a new process.
const randomMaxProcs = 4096

// forgetExited drops the processes that are no longer the sandbox's, and those that have
// ended (or whose pid a new process holds), which a sandbox that answers by pid namespace
// alone (a container's, under scrim agent) still counts as its own.
func (r *random) forgetExited() {
	for pid, p := range r.procs {
		if r.sandbox == nil || !r.sandbox.Contains(pid) || readProcInfo(pid).start != p.start {
			delete(r.procs, pid)
		}
	}
}

// maxTreeDepth bounds the walk up the process tree.
const maxTreeDepth = 256

func (r *random) procLocked(pid, depth int) *randomProc {
	info := readProcInfo(pid)
	if p, ok := r.procs[pid]; ok && p.start == info.start && p.cmd == info.cmd {
		return p
	}
	var parent [32]byte // the sandbox's root: the parent is outside it
	if depth < maxTreeDepth && info.ppid > 0 && info.ppid != pid && r.sandbox != nil && r.sandbox.Contains(info.ppid) {
		parent = r.procLocked(info.ppid, depth+1).key
	}
	var sib [64]byte
	copy(sib[:32], parent[:])
	copy(sib[32:], info.cmd[:])
	n := r.started[sib]
	r.started[sib] = n + 1
	var in [72]byte
	copy(in[:], sib[:])
	binary.LittleEndian.PutUint64(in[64:], n)
	p := &randomProc{start: info.start, cmd: info.cmd, key: sha256.Sum256(in[:])}
	p.stream = newKeystream(r.seed, p.key, 0)
	if len(r.procs) >= randomMaxProcs {
		r.forgetExited()
	}
	r.procs[pid] = p
	return p
}

// procInfo is what names a process: its start time, parent and command line.
type procInfo struct {
	start uint64
	ppid  int
	cmd   [32]byte
}

// readProcInfo reads pid's procInfo; a process that is gone reads as zero.
func readProcInfo(pid int) procInfo {
	var info procInfo
	dir := "/proc/" + strconv.Itoa(pid)
	if b, err := os.ReadFile(dir + "/stat"); err == nil {
		s := string(b)
		// The command name may hold spaces and parentheses: fields start after the last ')'.
		if i := strings.LastIndexByte(s, ')'); i >= 0 {
			if f := strings.Fields(s[i+1:]); len(f) >= 20 {
				info.ppid, _ = strconv.Atoi(f[1])
				info.start, _ = strconv.ParseUint(f[19], 10, 64)
			}
		}
	}
	if b, err := os.ReadFile(dir + "/cmdline"); err == nil {
		info.cmd = sha256.Sum256(b)
	}
	return info
}

// Syscalls are getrandom.
func (r *random) Syscalls() []int { return []int{unix.SYS_GETRANDOM} }

// FilterRefusals keep the vDSO getrandom out of use: the filter fails mmap of a MAP_DROPPABLE
// mapping with ENOMEM, by its flags register alone, so no other mmap waits on scrim. The vDSO
// getrandom of Linux 6.11 runs without a system call, and its users, glibc ≥ 2.41 and Go ≥
// 1.24, fall back to the system call when they cannot map its droppable state.
func (r *random) FilterRefusals() []shim.FilterRefusal {
	return []shim.FilterRefusal{{Nr: unix.SYS_MMAP, Arg: 3, Mask: mapType, Value: mapDroppable, Errno: unix.ENOMEM}}
}

// Syscall answers getrandom from the caller's stream.
func (r *random) Syscall(_ context.Context, call *shim.Call) (shim.SyscallResult, error) {
	addr, count, flags := call.Args[0], call.Args[1], call.Args[2]
	// drivers/char/random.c: unknown flags, and RANDOM with INSECURE, are invalid. This also
	// refuses the flags ~0 query of the vDSO parameters, as a kernel without it would.
	if flags&^(grndNonblock|grndRandom|grndInsecure) != 0 ||
		flags&(grndRandom|grndInsecure) == grndRandom|grndInsecure {
		return shim.Fail(unix.EINVAL), nil
	}
	count = min(count, getrandomMax)
	p := r.proc(call.PID)
	p.mu.Lock()
	defer p.mu.Unlock()
	buf := make([]byte, min(count, 64<<10))
	var done uint64
	for done < count {
		chunk := buf[:min(uint64(len(buf)), count-done)]
		// Draw at the stream's position, but advance it only by what reached the caller, so
		// a fault does not shift the bytes later calls see.
		p.stream.readAt(chunk, p.stream.pos)
		n, err := call.Mem.WriteAt(chunk, addr+done)
		p.stream.pos += uint64(n)
		done += uint64(n)
		if err != nil {
			if done == 0 {
				return shim.Fail(unix.EFAULT), nil
			}
			break
		}
	}
	return shim.Return(int64(done)), nil
}

// keystream is AES-256 in counter mode under a key derived from the seed and the stream's
// place: a stream of CSPRNG quality that any position of can be computed directly.
type keystream struct {
	block cipher.Block
	pos   uint64
}

// newKeystream derives stream sub of the process named proc. sub 0 is the process's getrandom
// stream and sub j+1 its j-th device open.
func newKeystream(seed uint64, proc [32]byte, sub uint64) *keystream {
	var in [len("scrim random v1") + 8 + 32 + 8]byte
	n := copy(in[:], "scrim random v1")
	binary.LittleEndian.PutUint64(in[n:], seed)
	n += 8
	n += copy(in[n:], proc[:])
	binary.LittleEndian.PutUint64(in[n:], sub)
	key := sha256.Sum256(in[:])
	block, err := aes.NewCipher(key[:])
	if err != nil {
		panic("builtin: aes.NewCipher with a 32-byte key: " + err.Error()) // wiring bug
	}
	return &keystream{block: block}
}

// Read fills p with the next bytes of the stream. It never ends.
func (k *keystream) Read(p []byte) (int, error) {
	k.readAt(p, k.pos)
	k.pos += uint64(len(p))
	return len(p), nil
}

// readAt fills p with the stream's bytes from position off: byte i of the stream is byte
// i%16 of AES_key(i/16 as a big-endian 128-bit counter).
func (k *keystream) readAt(p []byte, off uint64) {
	var ctr, ks [aes.BlockSize]byte
	for len(p) > 0 {
		binary.BigEndian.PutUint64(ctr[8:], off/aes.BlockSize)
		k.block.Encrypt(ks[:], ctr[:])
		n := copy(p, ks[off%aes.BlockSize:])
		p = p[n:]
		off += uint64(n)
	}
}
