package testprog

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
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
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := readStat(filepath.Join("/proc", e.Name(), "stat")); ok {
			children[st.ppid] = append(children[st.ppid], pid)
		}
	}
	var b strings.Builder
	var walk func(pid, depth int)
	walk = func(pid, depth int) {
		dir := "/proc/" + strconv.Itoa(pid)
		tasks, _ := os.ReadDir(dir + "/task")
		for _, task := range tasks {
			tdir := dir + "/task/" + task.Name()
			st, ok := readStat(tdir + "/stat")
			if !ok {
				continue
			}
			fmt.Fprintf(&b, "%spid %d tid %s %s state %s wchan %s syscall %s\n", strings.Repeat("  ", depth),
				pid, task.Name(), st.comm, st.state, readTrim(tdir+"/wchan"), firstField(readTrim(tdir+"/syscall")))
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

type stat struct {
	comm, state string
	ppid        int
}

// readStat parses the fields of a stat file that follow the command name, which may hold
// spaces and parentheses of its own.
func readStat(path string) (stat, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return stat{}, false
	}
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return stat{}, false
	}
	f := strings.Fields(s[end+1:])
	if len(f) < 2 {
		return stat{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	return stat{comm: s[open+1 : end], state: f[0], ppid: ppid}, true
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
