// Package examples_test checks the example plugins written with the C, Rust and
// AssemblyScript SDKs: their decisions through package plugins without a sandbox, then their
// effect on a real program under `scrim run`.
//
// The .wasm files are checked in, so these tests need no guest toolchain.
// .ci/sdk-rebuild.sh rebuilds them into a scratch tree and points SCRIM_WASM_ROOT at it to
// test the fresh builds instead.
//
// Package-level names here start with sdk (tests with TestSDKExamples_) so that other test
// files can share the package; its TestMain is this file's.
package examples_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/plugins"
	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// sdkWasm finds an example's module: examples/NAME/NAME.wasm, or its fresh build under
// $SCRIM_WASM_ROOT.
func sdkWasm(name string) string {
	rel := filepath.Join("examples", name, name+".wasm")
	if root := os.Getenv("SCRIM_WASM_ROOT"); root != "" {
		return filepath.Join(root, rel)
	}
	p, err := filepath.Abs(filepath.Join("..", rel))
	if err != nil {
		panic(err)
	}
	return p
}

// sdkCallTimeout replaces the 250 ms default per call: these tests check decisions, not speed,
// and a loaded CI machine can take longer to push a megabyte through a plugin.
const sdkCallTimeout = 10 * time.Second

var (
	sdkTmp      string
	sdkScrimBin string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "scrim-sdk-examples-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "create temp dir:", err)
		os.Exit(1)
	}
	sdkTmp = dir
	sdkScrimBin = filepath.Join(dir, "scrim")
	build := exec.Command("go", "build", "-buildvcs=false", "-o", sdkScrimBin, "github.com/scrim-sandbox/scrim/cmd/scrim")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build scrim:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// sdkFileTarget opens a host file as the test process, standing in for the supervisor's open
// with the child's credentials.
type sdkFileTarget string

func (f sdkFileTarget) Open(flags int, mode uint32) (*os.File, error) {
	return os.OpenFile(string(f), flags, os.FileMode(mode))
}

// sdkDecide loads one example with cfg and returns its decision for path.
func sdkDecide(t *testing.T, name string, cfg map[string]any, req *shim.Request) shim.Result {
	t.Helper()
	h, err := plugins.Load(context.Background(), []plugins.Spec{{Name: name, Path: sdkWasm(name), Config: cfg, Timeout: sdkCallTimeout}},
		plugins.Options{CacheDir: filepath.Join(sdkTmp, "cache"), Sandbox: "test-box"})
	require.NoError(t, err)
	defer func() { require.NoError(t, h.Close(context.Background())) }()
	res, err := h.Decide(context.Background(), name, req)
	require.NoError(t, err)
	return res
}

func sdkRequest(path string, target string) *shim.Request {
	r := &shim.Request{
		Syscall: shim.SysOpenat, PID: 42, TID: 42, Path: []byte(path), Flags: unix.O_RDONLY,
		Cred: shim.Cred{FSUID: 1000, FSGID: 100},
	}
	if target != "" {
		r.Target = sdkFileTarget(target)
	}
	return r
}

// sdkServed reads a Serve sdkResult's content.
func sdkServed(t *testing.T, res shim.Result) string {
	t.Helper()
	require.Equal(t, shim.ActServe, res.Action, "result %+v", res)
	b, ok := res.Content.(shim.Bytes)
	require.True(t, ok, "content is %T", res.Content)
	return string(b.Data)
}

const sdkPasswd = `root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
alice:x:1000:1000::/home/alice:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
`

const sdkGroup = `root:x:0:
daemon:x:1:
users:x:100:alice,root,daemon
sudo:x:27:alice,root
nogroup:x:65534:
`

func TestSDKExamples_Decisions(t *testing.T) {
	dir := t.TempDir()
	passwd := filepath.Join(dir, "passwd")
	require.NoError(t, os.WriteFile(passwd, []byte(sdkPasswd), 0o644))
	group := filepath.Join(dir, "group")
	require.NoError(t, os.WriteFile(group, []byte(sdkGroup), 0o644))
	// A file cut by the 1 MiB cap must not show its partial last line.
	long := filepath.Join(dir, "long")
	require.NoError(t, os.WriteFile(long, []byte("root:x:0:0::/root:/bin/sh\n"+strings.Repeat("#", 1<<20)+"\nnobody:x:65534:65534::/:/bin/false\n"), 0o644))

	tests := []struct {
		name    string
		example string
		cfg     map[string]any
		req     *shim.Request
		want    shim.Result // when not served
		served  string
	}{
		// C: deny by pattern.
		{name: "secrets denies a pem file anywhere", example: "secrets",
			req: sdkRequest("/srv/app/tls/server.pem", ""), want: shim.Deny(unix.EACCES)},
		{name: "secrets denies an ssh private key", example: "secrets",
			req: sdkRequest("/home/alice/.ssh/id_ed25519", ""), want: shim.Deny(unix.EACCES)},
		{name: "secrets denies cloud credentials", example: "secrets",
			req: sdkRequest("/root/.aws/credentials", ""), want: shim.Deny(unix.EACCES)},
		{name: "secrets leaves a public key to the next handler", example: "secrets",
			req: sdkRequest("/home/alice/.ssh/id_ed25519.pub", ""), want: shim.Next()},
		{name: "secrets leaves known_hosts to the next handler", example: "secrets",
			req: sdkRequest("/home/alice/.ssh/known_hosts", ""), want: shim.Next()},
		{name: "secrets hides with the configured errno", example: "secrets",
			cfg: map[string]any{"errno": "ENOENT", "log": true},
			req: sdkRequest("/etc/ssl/private/site.key", ""), want: shim.Deny(unix.ENOENT)},

		// Rust: transform the real file.
		{name: "users keeps the default users and the caller", example: "users",
			req:    sdkRequest("/etc/passwd", passwd),
			served: "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"},
		{name: "users keeps only the configured users", example: "users",
			cfg: map[string]any{"allow": []any{"daemon"}, "keep_caller": false},
			req: sdkRequest("/etc/passwd", passwd), served: "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"},
		{name: "users cuts group members to the allowed users", example: "users",
			req:    sdkRequest("/etc/group", group),
			served: "root:x:0:\nusers:x:100:root\n"},
		{name: "users drops a line cut by the cap", example: "users",
			cfg: map[string]any{"keep_caller": false},
			req: sdkRequest("/etc/passwd", long), served: "root:x:0:0::/root:/bin/sh\n"},
		{name: "users passes on the real read's errno", example: "users",
			req: sdkRequest("/etc/passwd", filepath.Join(dir, "missing")), want: shim.Deny(unix.ENOENT)},

		// AssemblyScript: serve from configuration, filled in per open.
		{name: "banner serves its default", example: "banner",
			req: sdkRequest("/etc/motd", ""), served: "Welcome to test-box.\n"},
		{name: "banner fills in the caller", example: "banner",
			cfg: map[string]any{"text": "{sandbox}: pid {pid}, uid {uid}, gid {gid}, {{literal}\n"},
			req: sdkRequest("/etc/motd", ""), served: "test-box: pid 42, uid 1000, gid 100, {literal}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := sdkDecide(t, tt.example, tt.cfg, tt.req)
			if tt.served != "" {
				require.Equal(t, tt.served, sdkServed(t, res))
				return
			}
			require.Equal(t, tt.want, res)
		})
	}
}

func TestSDKExamples_RefusedConfigs(t *testing.T) {
	tests := []struct {
		name    string
		example string
		cfg     map[string]any
		want    string
	}{
		{"secrets: an errno it does not offer", "secrets", map[string]any{"errno": "EIO"}, `errno: want "EACCES", "ENOENT" or "EPERM"`},
		{"secrets: log not a boolean", "secrets", map[string]any{"log": "yes"}, "log: want true or false"},
		{"users: allow not a list", "users", map[string]any{"allow": "root"}, "allow: want an array of strings"},
		{"users: allow with a number", "users", map[string]any{"allow": []any{"root", int64(1)}}, "allow: want an array of strings"},
		{"banner: an unknown placeholder", "banner", map[string]any{"text": "hi {user}"}, "text: unknown placeholder {user}"},
		{"banner: an open brace", "banner", map[string]any{"text": "hi {uid"}, `text: "{" at 3 is not closed`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := plugins.Load(context.Background(),
				[]plugins.Spec{{Name: tt.example, Path: sdkWasm(tt.example), Config: tt.cfg}},
				plugins.Options{CacheDir: filepath.Join(sdkTmp, "cache")})
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.want)
		})
	}
}

type sdkResult struct {
	code           int
	stdout, stderr string
}

// sdkScrimRun runs `scrim run ARGS...` with the user's drop-in plugins out of the way.
func sdkScrimRun(t *testing.T, args ...string) sdkResult {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(sdkScrimBin, append([]string{"run"}, args...)...)
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+home, "XDG_CACHE_HOME="+home)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("scrim run %q did not finish within 60s; stderr: %s", args, stderr.String())
	}
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return sdkResult{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// sdkConfig writes a scrim configuration that loads one example with a sdkConfig table (and a
// call timeout for a loaded machine).
func sdkConfig(t *testing.T, example, table string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "scrim.toml")
	body := fmt.Sprintf("[[plugin]]\nname = %q\npath = %q\ntimeout = %q\n[plugin.config]\n%s",
		example, sdkWasm(example), sdkCallTimeout.String(), table)
	require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	return p
}

func TestSDKExamples_UnderScrim(t *testing.T) {
	// Files the C example must hide, reached through every spelling the program may use.
	home := t.TempDir()
	require.NoError(t, os.Chmod(home, 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(home, ".ssh"), 0o755))
	for name, body := range map[string]string{
		"server.pem":       "-----BEGIN PRIVATE KEY-----\n",
		".ssh/id_rsa":      "-----BEGIN OPENSSH PRIVATE KEY-----\n",
		".ssh/id_rsa.pub":  "ssh-rsa AAAA test\n",
		"notes.txt":        "just notes\n",
		".ssh/known_hosts": "host ssh-rsa AAAA\n",
	} {
		require.NoError(t, os.WriteFile(filepath.Join(home, name), []byte(body), 0o644))
	}
	require.NoError(t, os.Symlink("server.pem", filepath.Join(home, "innocent.txt")))

	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantOut    string
		wantErrHas string
	}{
		{name: "C secrets hides a pem file",
			args:     []string{"--plugin", sdkWasm("secrets"), "--", "cat", filepath.Join(home, "server.pem")},
			wantCode: 1, wantErrHas: "Permission denied"},
		{name: "C secrets hides a pem file behind a symlink",
			args:     []string{"--plugin", sdkWasm("secrets"), "--", "cat", filepath.Join(home, "innocent.txt")},
			wantCode: 1, wantErrHas: "Permission denied"},
		{name: "C secrets hides a key reached through ..",
			args:     []string{"--plugin", sdkWasm("secrets"), "--", "cat", filepath.Join(home, ".ssh", "..", ".ssh", "id_rsa")},
			wantCode: 1, wantErrHas: "Permission denied"},
		{name: "C secrets hides a key opened relative to its directory",
			args:     []string{"--plugin", sdkWasm("secrets"), "--", "sh", "-c", "cd " + filepath.Join(home, ".ssh") + " && cat id_rsa"},
			wantCode: 1, wantErrHas: "Permission denied"},
		{name: "C secrets leaves public files alone",
			args:    []string{"--plugin", sdkWasm("secrets"), "--", "cat", filepath.Join(home, ".ssh", "id_rsa.pub"), filepath.Join(home, ".ssh", "known_hosts"), filepath.Join(home, "notes.txt")},
			wantOut: "ssh-rsa AAAA test\nhost ssh-rsa AAAA\njust notes\n"},
		{name: "C secrets pretends the file is missing",
			args:     []string{"-c", sdkConfig(t, "secrets", `errno = "ENOENT"`+"\n"), "--", "cat", filepath.Join(home, "server.pem")},
			wantCode: 1, wantErrHas: "No such file or directory"},
		{name: "C secrets logs what it hid",
			args:     []string{"-c", sdkConfig(t, "secrets", "log = true\n"), "--log-level", "info", "--", "cat", filepath.Join(home, "server.pem")},
			wantCode: 1, wantErrHas: "secrets: hid " + filepath.Join(home, "server.pem")},
		{name: "Rust users filters /etc/passwd",
			args:    []string{"-c", sdkConfig(t, "users", "allow = [\"root\"]\nkeep_caller = false\n"), "--", "cat", "/etc/passwd"},
			wantOut: sdkPasswdLines(t, "root")},
		{name: "AssemblyScript banner serves /etc/motd",
			args:    []string{"-c", sdkConfig(t, "banner", `text = "Welcome to {sandbox}.\n"`+"\n"), "--", "cat", "/etc/motd"},
			wantOut: "Welcome to scrim.\n"},
		{name: "AssemblyScript banner's file is read-only",
			args:     []string{"--plugin", sdkWasm("banner"), "--", "sh", "-c", "echo x >> /etc/motd"},
			wantCode: 2, wantErrHas: "Read-only file system"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := sdkScrimRun(t, tt.args...)
			require.Equal(t, tt.wantCode, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
			require.Equal(t, tt.wantOut, r.stdout)
			require.Contains(t, r.stderr, tt.wantErrHas)
		})
	}
}

// sdkPasswdLines returns the host's /etc/passwd lines of the named users, in file order.
func sdkPasswdLines(t *testing.T, users ...string) string {
	t.Helper()
	data, err := os.ReadFile("/etc/passwd")
	require.NoError(t, err)
	var out strings.Builder
	for _, line := range strings.SplitAfter(string(data), "\n") {
		name, _, _ := strings.Cut(line, ":")
		for _, u := range users {
			if name == u && strings.HasSuffix(line, "\n") {
				out.WriteString(line)
			}
		}
	}
	return out.String()
}
