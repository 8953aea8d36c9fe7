package launch

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/internal/audit"
	"github.com/scrim-sandbox/scrim/supervisor"
	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// pathShim serves or denies by canonical path, with any content.
type pathShim struct {
	id  string
	res map[string]shim.Result
}

func (p *pathShim) ID() string { return p.id }
func (p *pathShim) Open(ctx context.Context, req *shim.Request) (shim.Result, error) {
	if r, ok := p.res[string(req.Path)]; ok {
		if r.Action == shim.ActServe {
			if s, ok := r.Content.(shim.Stream); ok {
				// A fresh reader per open.
				return shim.Serve(shim.Stream{Name: s.Name, Reader: io.LimitReader(zeroes{}, 100000)}), nil
			}
			if _, ok := r.Content.(shim.File); ok {
				f, err := os.Open("/etc/passwd")
				if err != nil {
					return shim.Result{}, err
				}
				return shim.Serve(shim.File{F: f}), nil
			}
		}
		return r, nil
	}
	return shim.Next(), nil
}

type zeroes struct{}

func (zeroes) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'z'
	}
	return len(p), nil
}

// memAudit collects audit records.
type memAudit struct {
	mu   sync.Mutex
	recs []audit.Record
}

func (m *memAudit) Record(r audit.Record) {
	m.mu.Lock()
	m.recs = append(m.recs, r)
	m.mu.Unlock()
}

func (m *memAudit) find(path string) []audit.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []audit.Record
	for _, r := range m.recs {
		if r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// TestServe checks what the child gets for each kind of content, with its flags honoured, and
// what the audit log says.
func TestServe(t *testing.T) {
	probe := probeProgram(t)
	h := &pathShim{id: "test.serve", res: map[string]shim.Result{
		"/etc/hosts":    shim.ServeBytes("hosts", []byte("bytes content\n")),
		"/etc/hostname": shim.Serve(shim.Stream{Name: "stream"}),
		"/etc/shells":   shim.Serve(shim.File{}),
		"/etc/issue":    shim.Deny(unix.EPERM),
		"/etc/motd":     {Action: shim.ActServe},
	}}
	own := filepath.Join(t.TempDir(), "own")
	require.NoError(t, os.WriteFile(own, nil, 0o600))
	o := func(op, path, flags string) []string { return probeCase{Op: op, Path: path, Flags: flags}.Args() }
	var args []string
	cases := []struct {
		args []string
		want string
	}{
		{o("open", "/etc/hosts", "0"), "OK bytes content."},
		{o("flags", "/etc/hosts", "0"), "OK acc=0 cloexec=0 nonblock=0"},
		{o("flags", "/etc/hosts", "0x80000"), "OK acc=0 cloexec=1 nonblock=0"},
		{o("flags", "/etc/hosts", "0x800"), "OK acc=0 cloexec=0 nonblock=1"},
		{o("open", "/etc/hosts", "0x2"), "EROFS -"},
		{o("open", "/etc/hosts", "0x241"), "EROFS -"},
		{o("open", "/etc/hostname", "0"), "OK -"}, // a pipe: pread fails with ESPIPE
		{o("flags", "/etc/hostname", "0x80800"), "OK acc=0 cloexec=1 nonblock=1"},
		{o("open", "/etc/hostname", "0x1"), "EROFS -"},
		{o("open", "/etc/shells", "0"), "OK root:x:0:0:root:/root:/bin/bash.daemon:x:1:1:daemo"},
		{o("open", "/etc/issue", "0"), "EPERM -"},
		{o("open", "/etc/motd", "0"), "EIO -"},
		{o("flags", own, "0x80002"), "OK acc=2 cloexec=1 nonblock=0"},
	}
	for _, c := range cases {
		args = append(args, c.args...)
	}
	rec := &memAudit{}
	status, out, serr := runOut(t, Config{Args: append([]string{probe}, args...), Handlers: []shim.Registration{{Handler: h, Band: shim.BandVirtual}}, Audit: rec})
	require.Equal(t, 0, status, serr)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, len(cases), out)
	passwd, err := os.ReadFile("/etc/passwd")
	require.NoError(t, err)
	for i, c := range cases {
		want := c.want
		if c.args[2] == "/etc/shells" && c.args[0] == "open" {
			want = "OK " + strings.Map(func(r rune) rune {
				if r < 32 || r > 126 {
					return '.'
				}
				return r
			}, string(passwd[:min(48, len(passwd))]))
		}
		require.Equal(t, want, lines[i], "case %v", c.args)
	}

	// The stream's bytes, read the way a pipe is read; the child closing early ends the feeder.
	status, out, serr = runOut(t, Config{Args: []string{"head", "-c", "10", "/etc/hostname"}, Handlers: []shim.Registration{{Handler: h, Band: shim.BandVirtual}}})
	require.Equal(t, 0, status, serr)
	require.Equal(t, "zzzzzzzzzz", out)

	hosts := rec.find("/etc/hosts")
	require.Len(t, hosts, 6)
	// Records are written after the answer, so their order may differ from the calls'.
	erofs := 0
	for _, r := range hosts {
		require.Equal(t, "serve", r.Verdict)
		require.Equal(t, "test.serve", r.Handler)
		require.Equal(t, "open", r.Syscall)
		require.Equal(t, "/etc/hosts", r.Spelled)
		if r.Errno == "EROFS" {
			erofs++
		} else {
			require.Empty(t, r.Errno)
		}
	}
	require.Equal(t, 2, erofs)
	issue := rec.find("/etc/issue")
	require.Len(t, issue, 1)
	require.Equal(t, "deny", issue[0].Verdict)
	require.Equal(t, "EPERM", issue[0].Errno)
	motd := rec.find("/etc/motd")
	require.Len(t, motd, 1)
	require.Equal(t, "error", motd[0].Verdict)
	passwdRecs := rec.find(own)
	require.NotEmpty(t, passwdRecs)
	require.Equal(t, "real", passwdRecs[len(passwdRecs)-1].Verdict)
	require.Equal(t, "root", passwdRecs[len(passwdRecs)-1].Handler)
}

// TestFastMode: unclaimed opens are continued, claimed ones still served.
func TestFastMode(t *testing.T) {
	rec := &memAudit{}
	h := &fixedShim{id: "test.hosts", path: "/etc/hosts", data: []byte("127.0.0.1 fast\n")}
	status, out, serr := runOut(t, Config{
		Args: []string{"sh", "-c", "cat /etc/hosts; head -c 4 /etc/passwd"}, Mode: supervisor.ModeFast,
		Handlers: []shim.Registration{{Handler: h, Band: shim.BandVirtual}}, Audit: rec,
	})
	require.Equal(t, 0, status, serr)
	require.Equal(t, "127.0.0.1 fast\nroot", out)
	require.Equal(t, "serve", rec.find("/etc/hosts")[0].Verdict)
	require.Equal(t, "continue", rec.find("/etc/passwd")[0].Verdict)
}

func (m *memAudit) all() []audit.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.recs)
}
