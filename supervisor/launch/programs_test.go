package launch

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scrim-sandbox/scrim/internal/testprog"
)

// TestRealPrograms runs ordinary programs unchanged under strict mediation.
func TestRealPrograms(t *testing.T) {
	src, err := os.ReadFile("testdata/files.c")
	require.NoError(t, err)
	files := testprog.C(t, string(src))

	gosrc := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(gosrc, "go.mod"), []byte("module hello\n\ngo 1.21\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(gosrc, "main.go"), []byte("package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello from go\") }\n"), 0o644))

	repo := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(repo, "tracked"), []byte("x\n"), 0o644))
	tree := t.TempDir()
	for _, n := range []string{"a", "b/c", "b/d/e"} {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(tree, n)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(tree, n), []byte(n), 0o644))
	}

	tests := []struct {
		name string
		need string
		args []string
		dir  string
		want string
	}{
		{"shell pipeline", "sh", []string{"sh", "-c", "printf 'b\\na\\nb\\n' | sort | uniq -c | sed 's/^ *//' | tr '\\n' ' '"}, "", "1 a 2 b "},
		{"python imports", "python3", []string{"python3", "-c", "import json, sqlite3, asyncio; print(json.dumps(sqlite3.sqlite_version_info[0] >= 3))"}, "", "true\n"},
		{"go build", "go", []string{"sh", "-c", "go build -o hello . && ./hello"}, gosrc, "hello from go\n"},
		{"git status", "git", []string{"sh", "-c", "git init -q . && git add tracked && git -c user.email=t@t -c user.name=t commit -qm init && echo more > untracked && git status --short"}, repo, "?? untracked\n"},
		{"tar of a directory", "tar", []string{"sh", "-c", "tar -cf - . | tar -tf - | sort | tr '\\n' ' '"}, tree, "./ ./a ./b/ ./b/c ./b/d/ ./b/d/e "},
		{"fifo", "", []string{files, "fifo", t.TempDir()}, "", "fifo read 16: through the fifo, writer 0\nnonblock writer: ENXIO\n"},
		{"O_TMPFILE", "", []string{files, "tmpfile", t.TempDir()}, "", "tmpfile nlink=0 mode=600 read=anonymous link=OK\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.need != "" {
				if _, err := exec.LookPath(tt.need); err != nil {
					t.Skipf("needs %s: %v", tt.need, err)
				}
			}
			status, out, serr := runOut(t, Config{Args: tt.args, Dir: tt.dir})
			require.Equal(t, 0, status, serr)
			require.Equal(t, tt.want, out, serr)
			require.False(t, strings.Contains(serr, "[ERROR]"), serr)
		})
	}
}

// TestFifoOpenAbandoned: a reader killed while scrim opens a FIFO for it must not leave a
// worker blocked for good (Run would then never return).
func TestFifoOpenAbandoned(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	script := fmt.Sprintf("mkfifo %[1]s; cat %[1]s & sleep 0.3; kill -9 $!; wait; echo done", fifo)
	start := time.Now()
	status, out, serr := runOut(t, Config{Args: []string{"sh", "-c", script}})
	require.Equal(t, 0, status, serr)
	require.Equal(t, "done\n", out)
	require.Less(t, time.Since(start), 5*time.Second)
}
