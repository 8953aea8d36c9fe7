package logging

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// several stands for config.Errors: an error that unwraps to one problem per line.
type several []error

func (s several) Error() string   { return errors.Join(s...).Error() }
func (s several) Unwrap() []error { return s }

func TestReport(t *testing.T) {
	long := strings.Repeat("a", 50<<20)
	tests := []struct {
		name string
		cmd  string
		err  error
		want string
	}{
		{name: "one problem", cmd: "run", err: errors.New("--cwd /nope: does not exist; give an existing directory"),
			want: "scrim run: --cwd /nope: does not exist; give an existing directory\n"},
		{name: "scrim itself", err: errors.New("frobnicate: unknown command; see 'scrim help'"),
			want: "scrim: frobnicate: unknown command; see 'scrim help'\n"},
		{name: "one line per problem", cmd: "check", err: several{errors.New("a.toml:1: cpus: bad"), errors.New("a.toml:2: mode: bad")},
			want: "scrim check: a.toml:1: cpus: bad\nscrim check: a.toml:2: mode: bad\n"},
		{name: "control characters escaped", cmd: "run", err: errors.New("x\nscrim run: forged\x1b[2J\xff; y"),
			want: `scrim run: x\nscrim run: forged\x1b[2J\xff; y` + "\n"},
		{name: "unicode kept", cmd: "run", err: errors.New(`"ünï": 'ü' is not allowed`),
			want: "scrim run: \"ünï\": 'ü' is not allowed\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			Report(&buf, tc.cmd, tc.err)
			require.Equal(t, tc.want, buf.String())
		})
	}

	t.Run("problems bounded", func(t *testing.T) {
		var many several
		for i := range 100000 {
			many = append(many, fmt.Errorf("a.toml:%d: k%d: unknown key", i+1, i))
		}
		var buf bytes.Buffer
		Report(&buf, "check", many)
		lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
		require.Len(t, lines, MaxProblems+1)
		require.Equal(t, "scrim check: a.toml:1: k0: unknown key", lines[0])
		require.Equal(t, fmt.Sprintf("scrim check: a.toml:%d: k%d: unknown key", MaxProblems, MaxProblems-1), lines[MaxProblems-1])
		require.Equal(t, fmt.Sprintf("scrim check: %d more problems not shown; correct the ones above and run again", 100000-MaxProblems), lines[MaxProblems])

		// One more than the bound is shown whole: a line saying so would be no shorter.
		buf.Reset()
		Report(&buf, "check", many[:MaxProblems+1])
		require.Equal(t, MaxProblems+1, strings.Count(buf.String(), "unknown key\n"))
	})

	t.Run("long line shortened, its end kept", func(t *testing.T) {
		var buf bytes.Buffer
		Report(&buf, "run", errors.New("stat /"+long+": file name too long; give a shorter path"))
		out := buf.String()
		require.Less(t, len(out), MaxMessage+100)
		require.True(t, strings.HasPrefix(out, "scrim run: stat /aaa"), out)
		require.True(t, strings.HasSuffix(out, ": file name too long; give a shorter path\n"), out)
		require.Contains(t, out, " bytes left out) …")
		require.Equal(t, 1, strings.Count(out, "\n"))
	})
}

func TestAbbreviate(t *testing.T) {
	require.Equal(t, "short", Abbreviate("short", 10))
	got := Abbreviate(strings.Repeat("ü", 100), 30)
	require.Equal(t, "üüüüüüüüüü… (170 bytes left out) …üüüüü", got, "cut at character boundaries")
}
