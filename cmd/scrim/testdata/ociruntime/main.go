// Command ociruntime does what a container runtime does with a linux.seccomp section that
// names a listener, for scrim's tests: it compiles the section's rules into a BPF program (as
// libseccomp would, for x86_64), installs it with a listener, sends the listener and a
// container process state to the section's listenerPath, and executes the command under it.
//
//	ociruntime PROFILE.json CONTAINER-ID CMD [ARGS...]
//
// OCIRUNTIME_BUNDLE names the state's bundle ("/nonexistent" without it) and
// OCIRUNTIME_ANNOTATIONS holds its annotations as a JSON object.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/internal/kernel/seccomp"
	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

type profile struct {
	DefaultAction    string `json:"defaultAction"`
	ListenerPath     string `json:"listenerPath"`
	ListenerMetadata string `json:"listenerMetadata"`
	Syscalls         []struct {
		Names    []string `json:"names"`
		Action   string   `json:"action"`
		ErrnoRet *uint    `json:"errnoRet"`
		Args     []struct {
			Index    uint   `json:"index"`
			Value    uint64 `json:"value"`
			ValueTwo uint64 `json:"valueTwo"`
			Op       string `json:"op"`
		} `json:"args"`
	} `json:"syscalls"`
}

func main() {
	runtime.LockOSThread()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ociruntime:", err)
		os.Exit(99)
	}
}

func stmt(code uint16, k uint32) unix.SockFilter { return unix.SockFilter{Code: code, K: k} }

func run() error {
	b, err := os.ReadFile(os.Args[1])
	if err != nil {
		return err
	}
	var p profile
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	if p.DefaultAction != "SCMP_ACT_ALLOW" {
		return fmt.Errorf("default action %s", p.DefaultAction)
	}
	const ld = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
	const jeq = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	prog := []unix.SockFilter{
		stmt(ld, 4), {Code: jeq, K: 0xc000003e, Jt: 1}, stmt(unix.BPF_RET|unix.BPF_K, unix.SECCOMP_RET_KILL_PROCESS),
		stmt(ld, 0), {Code: unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K, K: 0x40000000, Jf: 1}, stmt(unix.BPF_RET|unix.BPF_K, unix.SECCOMP_RET_KILL_PROCESS),
	}
	for _, e := range p.Syscalls {
		ret := uint32(unix.SECCOMP_RET_USER_NOTIF)
		switch e.Action {
		case "SCMP_ACT_NOTIFY":
		case "SCMP_ACT_ERRNO":
			ret = unix.SECCOMP_RET_ERRNO | uint32(*e.ErrnoRet)
		default:
			return fmt.Errorf("action %s", e.Action)
		}
		for _, name := range e.Names {
			nr, ok := shim.SyscallNumber(name)
			if !ok {
				return fmt.Errorf("unknown call %s", name)
			}
			// One block per rule; every "no" jumps to its end, the next rule. skip marks
			// those jumps, fixed once the block's length is known.
			var blk []unix.SockFilter
			var skips []int
			no := func(jt bool) {
				skips = append(skips, len(blk)-1)
				if jt {
					blk[len(blk)-1].Jt = 255
				} else {
					blk[len(blk)-1].Jf = 255
				}
			}
			blk = append(blk, stmt(ld, 0), unix.SockFilter{Code: jeq, K: uint32(nr)})
			no(false)
			for _, a := range e.Args {
				lo, hi := uint32(16+8*a.Index), uint32(16+8*a.Index+4)
				switch a.Op {
				case "SCMP_CMP_MASKED_EQ":
					for _, w := range []struct {
						off        uint32
						mask, want uint32
					}{{lo, uint32(a.Value), uint32(a.ValueTwo)}, {hi, uint32(a.Value >> 32), uint32(a.ValueTwo >> 32)}} {
						blk = append(blk, stmt(ld, w.off), stmt(unix.BPF_ALU|unix.BPF_AND|unix.BPF_K, w.mask), unix.SockFilter{Code: jeq, K: w.want})
						no(false)
					}
				case "SCMP_CMP_NE":
					// Equal in both words: no.
					blk = append(blk, stmt(ld, lo), unix.SockFilter{Code: jeq, K: uint32(a.Value), Jf: 2},
						stmt(ld, hi), unix.SockFilter{Code: jeq, K: uint32(a.Value >> 32)})
					no(true)
				default:
					return fmt.Errorf("op %s", a.Op)
				}
			}
			blk = append(blk, stmt(unix.BPF_RET|unix.BPF_K, ret))
			for _, i := range skips {
				off := uint8(len(blk) - 1 - i)
				if blk[i].Jt == 255 {
					blk[i].Jt = off
				} else {
					blk[i].Jf = off
				}
			}
			prog = append(prog, blk...)
		}
	}
	prog = append(prog, stmt(unix.BPF_RET|unix.BPF_K, unix.SECCOMP_RET_ALLOW))

	bundle := os.Getenv("OCIRUNTIME_BUNDLE")
	if bundle == "" {
		bundle = "/nonexistent"
	}
	var annotations map[string]string
	if a := os.Getenv("OCIRUNTIME_ANNOTATIONS"); a != "" {
		if err := json.Unmarshal([]byte(a), &annotations); err != nil {
			return fmt.Errorf("OCIRUNTIME_ANNOTATIONS: %w", err)
		}
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return err
	}
	listener, e := seccomp.SetModeFilter(prog, unix.SECCOMP_FILTER_FLAG_NEW_LISTENER)
	if e != 0 {
		return fmt.Errorf("install filter: %w", e)
	}
	// Raw calls on this thread only from here: none of them is notified.
	state := map[string]any{"ociVersion": "1.0.2", "fds": []string{"seccompFd"}, "pid": os.Getpid(),
		"metadata": p.ListenerMetadata, "state": map[string]any{"ociVersion": "1.0.2", "id": os.Args[2],
			"status": "creating", "pid": os.Getpid(), "bundle": bundle, "annotations": annotations}}
	msg, _ := json.Marshal(state)
	sock, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	if err := unix.Connect(sock, &unix.SockaddrUnix{Name: p.ListenerPath}); err != nil {
		return fmt.Errorf("connect %s: %w", p.ListenerPath, err)
	}
	if err := unix.Sendmsg(sock, msg, unix.UnixRights(listener), nil, 0); err != nil {
		return err
	}
	unix.Close(listener)
	unix.Close(sock)
	return syscall.Exec(os.Args[3], os.Args[3:], []string{"PATH=/usr/bin:/bin"})
}
