package doccheck

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// readmeBlock is one fenced code block of README.md the README test acts on.
type readmeBlock struct {
	line int    // where its fence opens
	lang string // "sh" or "toml"
	text string
	// write names the file a toml block is saved as (<!-- README test: write FILE -->);
	// skip says why an sh block is not run (<!-- README test: skip: WHY -->).
	write, skip string
}

// readmeBlocks returns README's sh and toml blocks in order, each with the marker on the line
// before its fence, if any. A toml block without a write marker and a marker before anything
// but such a block are errors: the test must act on every example, or say why not.
func readmeBlocks(readme []byte) ([]readmeBlock, error) {
	var out []readmeBlock
	var cur *readmeBlock
	marker := ""
	sc := bufio.NewScanner(bytes.NewReader(readme))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur != nil && strings.HasPrefix(line, "```"):
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.text += line + "\n"
		case strings.HasPrefix(line, "```"):
			lang := strings.TrimPrefix(line, "```")
			b := readmeBlock{line: n, lang: lang}
			if m, ok := strings.CutPrefix(marker, "write "); ok {
				b.write = m
			} else if m, ok := strings.CutPrefix(marker, "skip: "); ok {
				b.skip = m
			} else if marker != "" {
				return nil, fmt.Errorf("README.md:%d: unknown README test marker %q", n-1, marker)
			}
			if lang == "sh" || lang == "toml" {
				if lang == "toml" && b.write == "" {
					return nil, fmt.Errorf("README.md:%d: a toml block needs <!-- README test: write FILE -->", n)
				}
				cur = &b
			} else if marker != "" {
				return nil, fmt.Errorf("README.md:%d: a README test marker before a %q block", n-1, lang)
			}
			// Other blocks (console transcripts, JSON) are shown, not run.
			if cur == nil {
				cur = &readmeBlock{lang: "ignored"}
			}
		}
		marker = ""
		if m, ok := strings.CutPrefix(line, "<!-- README test: "); ok {
			marker = strings.TrimSuffix(m, " -->")
		}
	}
	var kept []readmeBlock
	for _, b := range out {
		if b.lang != "ignored" {
			kept = append(kept, b)
		}
	}
	return kept, sc.Err()
}

// TestREADME follows README.md as a new user would, from a fresh copy of the clone with a home
// of its own: it saves each toml block where its marker says, then runs every sh block in one
// bash, in the order of the file, with set -e and pipefail, so the set-up and every example
// must work as written. README and test cannot drift apart: a new example is run too.
func TestREADME(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the README test builds scrim and runs its examples")
	}
	for _, tool := range []string{"bash", "go", "python3"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("README's examples need %s: %v", tool, err)
		}
	}
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	require.NoError(t, err)
	blocks, err := readmeBlocks(readme)
	require.NoError(t, err)

	clone := filepath.Join(t.TempDir(), "scrim")
	copyClone(t, root, clone)
	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	ran := 0
	for _, b := range blocks {
		switch {
		case b.write != "":
			require.NoError(t, os.WriteFile(filepath.Join(clone, b.write), []byte(b.text), 0o644))
		case b.skip != "":
			t.Logf("README.md:%d: not run: %s", b.line, b.skip)
		default:
			fmt.Fprintf(&script, "echo '>>> README.md:%d' >&2\n%s", b.line, b.text)
			ran++
		}
	}
	require.GreaterOrEqual(t, ran, 4, "the set-up, the first run, More and the config file")

	home := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script.String())
	cmd.Dir = clone
	cmd.Env = readmeEnv(t, home)
	var out, serr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &serr
	err = cmd.Run()
	require.NoError(t, err, "README.md's commands failed as written.\nstdout:\n%s\nstderr:\n%s", out.String(), serr.String())
	// What the examples promise, seen in what they printed.
	for _, want := range []string{"127.0.0.1 localhost", "ci-box\n2\nWelcome to the build sandbox.\n10.1.4.20 build-cache.corp\n", "config  "} {
		require.Contains(t, out.String(), want, "stdout:\n%s\nstderr:\n%s", out.String(), serr.String())
	}
	// The examples configure nothing that overlaps or is demoted: scrim check has no warning
	// for them (it once warned about two built-in shims sharing cgroup files).
	require.NotContains(t, serr.String(), "scrim check: warning:")
	require.FileExists(t, filepath.Join(clone, "opens.jsonl"))
	require.FileExists(t, filepath.Join(clone, "audit.jsonl"))
}

// readmeEnv is a new user's environment: this one's PATH and Go settings (the module and build
// caches, so that the copy builds offline and fast, as CI's unprivileged pass needs), a home
// that holds nothing, and no XDG directories.
func readmeEnv(t *testing.T, home string) []string {
	env := []string{"HOME=" + home}
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if name == "HOME" || strings.HasPrefix(name, "XDG_") || name == "CGO_ENABLED" {
			continue
		}
		env = append(env, kv)
	}
	for _, v := range []string{"GOCACHE", "GOMODCACHE", "GOPATH"} {
		out, err := exec.Command("go", "env", v).Output()
		require.NoError(t, err)
		env = append(env, v+"="+strings.TrimSpace(string(out)))
	}
	return env
}

// copyClone copies what a fresh clone of root holds into dir: the files git tracks, or, where
// root is no git work tree (CI's unprivileged pass copies only those), every file.
func copyClone(t *testing.T, root, dir string) {
	var files []string
	if out, err := exec.Command("git", "-C", root, "ls-files", "-z").Output(); err == nil {
		for _, f := range strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00") {
			files = append(files, f)
		}
	} else {
		require.NoError(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules" || rel == "bin") {
				return filepath.SkipDir
			}
			if d.Type().IsRegular() {
				files = append(files, rel)
			}
			return nil
		}))
	}
	for _, f := range files {
		src := filepath.Join(root, f)
		st, err := os.Lstat(src)
		if os.IsNotExist(err) {
			continue // deleted in the work tree, not yet in git
		}
		require.NoError(t, err)
		dst := filepath.Join(dir, f)
		require.NoError(t, os.MkdirAll(filepath.Dir(dst), 0o755))
		if st.Mode()&fs.ModeSymlink != 0 {
			target, err := os.Readlink(src)
			require.NoError(t, err)
			require.NoError(t, os.Symlink(target, dst))
			continue
		}
		data, err := os.ReadFile(src)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(dst, data, st.Mode().Perm()))
	}
}
