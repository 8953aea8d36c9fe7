package testprog

import (
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/internal/procfs"
)

// HangReport is what DiagnoseHang saw of a command that outlived its context.
type HangReport struct {
	mu sync.Mutex
	b  strings.Builder
}

// String is the report, empty when the command ended in time.
func (h *HangReport) String() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.b.String()
}

// DiagnoseHang makes cmd, when its context ends, say where it hung rather than be killed
// silently: the report gets every process and thread of its tree (state, wait channel, system
// call, kernel stack where readable), and the command gets SIGABRT with GOTRACEBACK=all, so a
// Go program (scrim) writes every goroutine's stack to its standard error before it dies. A
// hang seen once, on a loaded CI machine, then names its place. Call it before cmd starts.
func DiagnoseHang(cmd *exec.Cmd) *HangReport {
	h := &HangReport{}
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, "GOTRACEBACK=all")
	cmd.Cancel = func() error {
		h.mu.Lock()
		fmt.Fprintf(&h.b, "the command outlived its context; its processes then:\n%s", ProcessTree(cmd.Process.Pid))
		h.mu.Unlock()
		return cmd.Process.Signal(syscall.SIGABRT)
	}
	// After the abort, the dump has this long to be written before the process is killed.
	cmd.WaitDelay = 10 * time.Second
	return h
}

// ProcessTree describes root and its descendants, one line a thread.
func ProcessTree(root int) string {
	children := map[int][]int{}
	procfs.Pids(func(pid int) bool {
		if st, ok := procfs.ReadStat(unix.AT_FDCWD, strconv.Itoa(pid)); ok {
			children[st.PPID] = append(children[st.PPID], pid)
		}
		return false
	})
	var b strings.Builder
	var walk func(pid, depth int)
	walk = func(pid, depth int) {
		dir := strconv.Itoa(pid)
		tasks, _ := os.ReadDir("/proc/" + dir + "/task")
		for _, task := range tasks {
			tdir := dir + "/task/" + task.Name()
			st, ok := procfs.ReadStat(unix.AT_FDCWD, tdir)
			if !ok {
				continue
			}
			tdir = "/proc/" + tdir
			fmt.Fprintf(&b, "%spid %d tid %s %s state %c wchan %s syscall %s\n", strings.Repeat("  ", depth),
				pid, task.Name(), readTrim(tdir+"/comm"), st.State, readTrim(tdir+"/wchan"), firstField(readTrim(tdir+"/syscall")))
			if stack := readTrim(tdir + "/stack"); stack != "" {
				for _, line := range strings.Split(stack, "\n") {
					fmt.Fprintf(&b, "%s    %s\n", strings.Repeat("  ", depth), line)
				}
			}
		}
		kids := children[pid]
		sort.Ints(kids)
		for _, k := range kids {
			walk(k, depth+1)
		}
	}
	walk(root, 0)
	return b.String()
}

func readTrim(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

func firstField(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return "?"
}
