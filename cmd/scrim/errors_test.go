package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestErrorStyle: everything scrim says when it fails is one line, "scrim COMMAND: WHAT: WHY;
// WHAT TO DO", whatever the log level, with long values abbreviated and characters named as
// written.
func TestErrorStyle(t *testing.T) {
	dir := t.TempDir()
	huge := filepath.Join(dir, "huge.toml")
	require.NoError(t, os.WriteFile(huge, []byte("hostname = \""+strings.Repeat("a", 50<<20)+"\"\n"), 0o644))
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{name: "not found, log level off", args: []string{"run", "--log-level", "off", "--", "scrim-no-such-command"}, code: 127,
			want: "scrim run: scrim-no-such-command: command not found in PATH; check its spelling, or give its path\n"},
		{name: "not found, json logs", args: []string{"run", "--log-format", "json", "--", "/nonexistent/prog"}, code: 127,
			want: "scrim run: /nonexistent/prog: no such file; give the path of an existing program\n"},
		{name: "a directory", args: []string{"run", "--log-level", "off", "--", dir}, code: 126,
			want: "scrim run: " + dir + ": is a directory, not a program; name a program\n"},
		{name: "50 MB host name", args: []string{"check", "-c", huge}, code: exitFailure,
			want: "scrim check: " + huge + `:1: hostname: "` + strings.Repeat("a", 64) + `…" (52428800 bytes) is not a valid host name; allowed: letters, digits, '-' and '.', labels of 1 to 63 bytes not starting or ending with '-', at most 64 bytes` + "\n"},
		{name: "character named whole", args: []string{"run", "--hostname", "ünï", "--", "true"}, code: exitFailure,
			want: `scrim run: --hostname: "ünï" is not a valid host name: 'ü' is not allowed; allowed: letters, digits, '-' and '.', labels of 1 to 63 bytes not starting or ending with '-', at most 64 bytes` + "\n"},
		{name: "cwd that does not exist", args: []string{"run", "--log-level", "off", "--cwd", "/nonexistent/dir", "--", "true"}, code: exitFailure,
			want: "scrim run: --cwd: /nonexistent/dir does not exist; allowed: an existing directory, or none for scrim's own\n"},
		{name: "memory out of range", args: []string{"run", "--memory", "1K", "--", "true"}, code: exitFailure,
			want: "scrim run: --memory: 1K is out of range; allowed: 0 (keep the host's total) or a size from 1M to 4096T\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := scrim(t, tc.args...)
			require.Equal(t, tc.code, r.code, r.stderr)
			require.Equal(t, tc.want, r.stderr)
			require.Empty(t, r.stdout)
		})
	}
}

// TestCheckRunParity: scrim check fails wherever scrim run fails before it starts the program,
// with the same message, naming the flag or the file's key and line.
func TestCheckRunParity(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
		return p
	}
	unresolvable := write("net.toml", "hostname = \"box\"\nnet_allow = [\"localhost\", \"no-such-host.invalid\"]\n")
	resolvable := write("resolvable.toml", "net_allow = [\"localhost\", \"pinned.example=192.0.2.1\"]\n")
	cwd := write("cwd.toml", "cwd = \"/nonexistent/dir\"\n")
	memory := write("memory.toml", "memory = \"512K\"\n")
	notAudit := write("notaudit.jsonl", "just some text\n")
	marker := filepath.Join(dir, "ran")
	tests := []struct {
		name  string
		flags []string
		want  string // the message after "scrim CMD: "
	}{
		{name: "net_allow in the file", flags: []string{"-c", unresolvable},
			want: unresolvable + `:2: net_allow[1]: "no-such-host.invalid": resolve: `},
		{name: "--net-allow after the file", flags: []string{"-c", resolvable, "--net-allow", "no-such-host.invalid"},
			want: `--net-allow: "no-such-host.invalid": resolve: `},
		{name: "--net-allow alone", flags: []string{"--net-allow", "no-such-host.invalid"},
			want: `--net-allow: "no-such-host.invalid": resolve: `},
		{name: "cwd in the file", flags: []string{"-c", cwd},
			want: cwd + ":1: cwd: /nonexistent/dir does not exist; allowed: an existing directory, or none for scrim's own"},
		{name: "cwd in an image", flags: []string{"--chroot", dir, "--cwd", "/nonexistent"},
			want: "--cwd: /nonexistent: no such file or directory in the image " + dir + "; allowed: a directory of the image or of a mount, or none for the image's root"},
		{name: "memory in the file", flags: []string{"-c", memory},
			want: memory + ":1: memory: 512K is out of range; allowed: 0 (keep the host's total) or a size from 1M to 4096T"},
		{name: "--audit naming another file", flags: []string{"--audit", notAudit},
			want: "--audit: open audit log " + notAudit + ": not a scrim audit log: line 1 is not a JSON object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			check := scrim(t, append([]string{"check"}, tc.flags...)...)
			run := scrim(t, append(append([]string{"run"}, tc.flags...), "--", "touch", marker)...)
			for _, r := range []result{check, run} {
				require.Equal(t, exitFailure, r.code, r.stderr)
				require.Equal(t, 1, strings.Count(r.stderr, "\n"), r.stderr)
			}
			require.True(t, strings.HasPrefix(check.stderr, "scrim check: "+tc.want), check.stderr)
			require.True(t, strings.HasPrefix(run.stderr, "scrim run: "+tc.want), run.stderr)
			require.Equal(t, strings.TrimPrefix(check.stderr, "scrim check: "), strings.TrimPrefix(run.stderr, "scrim run: "))
			require.NoFileExists(t, marker, "the program did not run")
			require.Empty(t, check.stdout, "check printed nothing of what would run")
		})
	}
}

// TestNested: scrim inside a scrim sandbox refuses, says why and what to do instead; so does
// scrim check.
func TestNested(t *testing.T) {
	const want = "already inside a scrim sandbox, whose filter refuses a second supervisor (its answers would overrule the first's); run the program without scrim, it is sandboxed already, or run this scrim outside the sandbox\n"
	r := scrim(t, "run", "--", scrimBin, "run", "--", "true")
	require.Equal(t, exitFailure, r.code, r.stderr)
	require.Equal(t, "scrim run: "+want, r.stderr)
	r = scrim(t, "run", "--", scrimBin, "check")
	require.Equal(t, exitFailure, r.code, r.stderr)
	require.Equal(t, "scrim check: "+want, r.stderr)
}

// TestClosedStdio: a standard descriptor the shell closed stays closed for the program; one
// that a caller passes as a read-write /dev/null, as Python's subprocess.DEVNULL does, stays a
// /dev/null.
func TestClosedStdio(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("needs bash")
	}
	probe := `for fd in 0 1 2; do if [ -e /proc/self/fd/$fd ]; then echo "$fd open" >&2; else echo "$fd closed" >&2; fi; done`
	shell := func(t *testing.T, script string, stdin *os.File) (string, string) {
		t.Helper()
		cmd := exec.Command("bash", "-c", script)
		cmd.Env = append(testEnv(t), "SCRIM="+scrimBin, "PROBE="+probe)
		if stdin != nil {
			cmd.Stdin = stdin
		}
		var out, serr strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &serr
		require.NoError(t, cmd.Run(), serr.String())
		return out.String(), serr.String()
	}

	out, serr := shell(t, `"$SCRIM" run -- cat <&-; echo "status $?"`, nil)
	require.Equal(t, "status 1\n", out)
	require.Contains(t, serr, "cat: -: Bad file descriptor")

	_, serr = shell(t, `"$SCRIM" run -- sh -c "$PROBE" <&- >&-; true`, nil)
	require.Equal(t, "0 closed\n1 closed\n2 open\n", serr)

	_, serr = shell(t, `"$SCRIM" run -- sh -c "$PROBE"; true`, nil)
	require.Equal(t, "0 open\n1 open\n2 open\n", serr, "nothing closed, nothing closed for the program")

	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	require.NoError(t, err)
	defer devnull.Close()
	out, _ = shell(t, `"$SCRIM" run -- cat; echo "status $?"`, devnull)
	require.Equal(t, "status 0\n", out, "a /dev/null the shell holds is passed on, not closed")

	cmd := exec.Command(scrimBin, "run", "--", "cat")
	cmd.Env = testEnv(t)
	cmd.Stdin = devnull
	outb, err := cmd.CombinedOutput()
	require.NoError(t, err, "a read-write /dev/null from a program that is not a shell is a /dev/null: %s", outb)
}

// TestCheck_AuditFIFO: check accepts an audit FIFO, as run writes to it, without opening it: an
// open for reading would wait for a writer.
func TestCheck_AuditFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "audit.fifo")
	require.NoError(t, unix.Mkfifo(fifo, 0o600))
	r := scrim(t, "check", "--audit", fifo)
	require.Equal(t, 0, r.code, r.stderr)
	require.Regexp(t, `(?m)^audit\s+`+regexp.QuoteMeta(fifo)+`$`, r.stdout)
}
