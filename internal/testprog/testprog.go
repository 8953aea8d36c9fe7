// Package testprog builds the small C and Go programs that integration tests run inside the
// sandbox. Each program is built once and cached by the hash of its source.
package testprog

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

var (
	mu    sync.Mutex
	dir   string
	built = map[string]string{}
)

// cacheDir is a build cache shared by every test binary of one user: programs are named by
// the hash of their source, so reruns reuse them and nothing piles up in /tmp. A directory of
// that name that is not ours (a symlink, another owner) is not trusted: a private one is made.
func cacheDir(t testing.TB) string {
	if dir != "" {
		return dir
	}
	d := filepath.Join(os.TempDir(), fmt.Sprintf("scrim-testprog-%d", os.Getuid()))
	if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		t.Fatalf("create testprog dir: %v", err)
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(d, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFDIR || int(st.Uid) != os.Getuid() || st.Mode&0o022 != 0 {
		priv, err := os.MkdirTemp("", "scrim-testprog-")
		if err != nil {
			t.Fatalf("create testprog dir: %v", err)
		}
		d = priv
	}
	// World-readable so tests that drop to nobody can still run the programs.
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatalf("chmod testprog dir: %v", err)
	}
	dir = d
	return dir
}

// C compiles src with gcc (extra flags appended) and returns the executable's path. The test
// is skipped when gcc is missing, which .ci/run installs.
func C(t testing.TB, src string, flags ...string) string {
	t.Helper()
	return build(t, "c", src, flags, func(out, in string) *exec.Cmd {
		args := append([]string{"-O1", "-Wall", "-o", out, in, "-lpthread"}, flags...)
		return exec.Command("gcc", args...)
	})
}

// Go builds src as a main package and returns the executable's path.
func Go(t testing.TB, src string) string {
	t.Helper()
	return build(t, "go", src, nil, func(out, in string) *exec.Cmd {
		cmd := exec.Command("go", "build", "-o", out, in)
		// A standalone file with the standard library only: no module, no flags of the caller's.
		cmd.Env = append(os.Environ(), "GOFLAGS=", "CGO_ENABLED=0", "GO111MODULE=off")
		return cmd
	})
}

func build(t testing.TB, lang, src string, flags []string, cmdFor func(out, in string) *exec.Cmd) string {
	t.Helper()
	tool := "gcc"
	if lang == "go" {
		tool = "go"
	}
	if _, err := exec.LookPath(tool); err != nil {
		t.Skipf("needs %s to build test programs: %v", tool, err)
	}
	h := sha256.New()
	h.Write([]byte(lang))
	h.Write([]byte(src))
	for _, f := range flags {
		h.Write([]byte{0})
		h.Write([]byte(f))
	}
	key := hex.EncodeToString(h.Sum(nil))[:16]
	mu.Lock()
	defer mu.Unlock()
	if p, ok := built[key]; ok {
		return p
	}
	d := cacheDir(t)
	out := filepath.Join(d, key)
	if fi, err := os.Stat(out); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
		built[key] = out
		return out
	}
	// Build under a name of this process's own and rename into place, so test binaries
	// running at the same time never see half a program.
	tmp := fmt.Sprintf("%s.%d", out, os.Getpid())
	in := tmp + "." + lang
	if err := os.WriteFile(in, []byte(src), 0o644); err != nil {
		t.Fatalf("write %s: %v", in, err)
	}
	defer os.Remove(in)
	cmd := cmdFor(tmp, in)
	if lang == "go" {
		cmd.Dir = d
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build test program: %v\n%s", err, b)
	}
	if err := os.Rename(tmp, out); err != nil {
		t.Fatalf("install test program: %v", err)
	}
	built[key] = out
	return out
}
