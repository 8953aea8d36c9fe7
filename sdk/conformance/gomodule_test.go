package conformance_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestGoSDK_OutsideModule follows sdk/go/README.md as a plugin author would: the README's
// plugin as main.go in an empty directory, then the commands of its "Your plugin's module"
// section, word for word, with scrim on PATH. It runs them offline (no module proxy, an empty
// module cache, the local toolchain only), so the author's module must need nothing but the
// checkout, and it checks that the module asks for no newer Go than the README states.
func TestGoSDK_OutsideModule(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode: builds scrim and a Go plugin (a minute with a cold build cache)")
	}
	goBin := goCommand(t)
	root := repoRoot(t)
	readme, err := os.ReadFile(filepath.Join(root, "sdk", "go", "README.md"))
	require.NoError(t, err)
	text := string(readme)

	stated := regexp.MustCompile(`Go (1\.\d+) or later`).FindStringSubmatch(text)
	require.NotNil(t, stated, "sdk/go/README.md states no Go version as \"Go 1.N or later\"")
	sdkMod, err := os.ReadFile(filepath.Join(root, "sdk", "go", "go.mod"))
	require.NoError(t, err)
	require.Regexp(t, `(?m)^go `+regexp.QuoteMeta(stated[1])+`$`, string(sdkMod),
		"sdk/go/go.mod must ask for the Go version the README states, no newer")

	program := regexp.MustCompile("(?s)```go\n(.*?)```").FindStringSubmatch(text)
	require.NotNil(t, program, "sdk/go/README.md has no ```go block")
	_, section, ok := strings.Cut(text, "## Your plugin's module")
	require.True(t, ok, "sdk/go/README.md has no \"Your plugin's module\" section")
	commands := regexp.MustCompile("(?s)```sh\n(.*?)```").FindStringSubmatch(section)
	require.NotNil(t, commands, "the \"Your plugin's module\" section has no ```sh block")

	tmp := t.TempDir()
	bin := filepath.Join(tmp, "bin")
	build := exec.Command(goBin, "build", "-o", filepath.Join(bin, "scrim"), "github.com/scrim-sandbox/scrim/cmd/scrim")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "build scrim: %s", out)

	dir := filepath.Join(tmp, "motd")
	require.NoError(t, os.Mkdir(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(program[1]), 0o644))
	sh := exec.Command("/bin/sh", "-eu", "-c", commands[1])
	sh.Dir = dir
	sh.Env = append(envWithout("PATH", "GOFLAGS", "GOPROXY", "GOMODCACHE", "GOTOOLCHAIN", "GOWORK", "SCRIM", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"),
		"PATH="+bin+string(os.PathListSeparator)+filepath.Dir(goBin)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"SCRIM="+root,
		"GOPROXY=off", "GOTOOLCHAIN=local", "GOWORK=off",
		"GOMODCACHE="+filepath.Join(tmp, "modcache"), "GOFLAGS=-modcacherw",
		"XDG_CONFIG_HOME="+filepath.Join(tmp, "config"), "XDG_CACHE_HOME="+filepath.Join(tmp, "cache"))
	var stdout, stderr bytes.Buffer
	sh.Stdout, sh.Stderr = &stdout, &stderr
	require.NoError(t, sh.Run(), "the README's commands failed\nstdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())

	mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	require.NoError(t, err)
	require.Regexp(t, `(?m)^go `+regexp.QuoteMeta(stated[1])+`$`, string(mod))
	require.Contains(t, string(mod), "github.com/scrim-sandbox/scrim/sdk/go")
	require.NotContains(t, string(mod), "github.com/scrim-sandbox/scrim ", "the plugin's module must not need scrim itself")
	require.FileExists(t, filepath.Join(dir, "motd.wasm"))
	require.Contains(t, stdout.String(), "problems  none: scrim can load this plugin")
	require.Contains(t, stdout.String(), "handler: plugin.motd\nverdict: serve\n")
	require.True(t, strings.HasSuffix(stdout.String(), "Welcome.\nWelcome.\n"), "plugin test, then scrim run, serve the plugin's text:\n%s", stdout.String())
}

// TestGoSDK_Modules vets and tests the Go SDK's module and vets every plugin module that uses
// it (the Go examples and goprobe): they are modules of their own, which go test ./... and
// go vet ./... of scrim's module do not reach.
func TestGoSDK_Modules(t *testing.T) {
	goBin := goCommand(t)
	root := repoRoot(t)
	run := func(dir string, env []string, args ...string) {
		t.Helper()
		cmd := exec.Command(goBin, args...)
		cmd.Dir = dir
		cmd.Env = append(envWithout("GOWORK", "GOOS", "GOARCH"), append([]string{"GOWORK=off"}, env...)...)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "go %s in %s:\n%s", strings.Join(args, " "), dir, out)
	}
	sdk := filepath.Join(root, "sdk", "go")
	run(sdk, nil, "vet", "./...")
	run(sdk, []string{"GOOS=wasip1", "GOARCH=wasm"}, "vet", "./...")
	run(sdk, nil, "test", "-count=1", "./...")

	var plugins []string
	for _, top := range []string{"examples", "sdk"} {
		err := filepath.WalkDir(filepath.Join(root, top), func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && d.Name() == "node_modules" {
				return filepath.SkipDir
			}
			if d.Name() == "go.mod" && filepath.Dir(p) != sdk {
				plugins = append(plugins, filepath.Dir(p))
			}
			return nil
		})
		require.NoError(t, err)
	}
	require.NotEmpty(t, plugins)
	for _, dir := range plugins {
		mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		require.NoError(t, err)
		require.Contains(t, string(mod), "replace github.com/scrim-sandbox/scrim/sdk/go => ", "%s: a plugin module uses the checkout's SDK", dir)
		run(dir, []string{"GOOS=wasip1", "GOARCH=wasm"}, "vet", ".")
	}
}

// goCommand returns the go command that runs this test, or skips the test without one.
func goCommand(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("go")
	if err != nil {
		t.Skip("skipped: the go command is not in PATH")
	}
	return p
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	return root
}

// envWithout is the environment without the variables named.
func envWithout(names ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !contains(names, name) {
			env = append(env, kv)
		}
	}
	return env
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
