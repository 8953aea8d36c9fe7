package plugins

import (
	"path"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestClaims(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		match   []string
		miss    []string
	}{
		{"exact", "/etc/motd", []string{"/etc/motd"}, []string{"/etc/motd2", "/etc", "/etc/motd/x", "/ETC/motd"}},
		{"root", "/", []string{"/"}, []string{"/etc"}},
		{"below a directory", "/run/vendor/**", []string{"/run/vendor/a", "/run/vendor/a/b/c"}, []string{"/run/vendor", "/run/vendorx/a", "/run"}},
		{"everything", "/**", []string{"/a", "/a/b"}, []string{"/"}},
		{"star in a component", "/etc/*.conf", []string{"/etc/a.conf", "/etc/.conf"}, []string{"/etc/a/b.conf", "/etc/a.confx", "/etc/a.con"}},
		{"question mark", "/dev/tty?", []string{"/dev/tty1"}, []string{"/dev/tty", "/dev/tty12"}},
		{"any depth", "/**/*.pem", []string{"/a.pem", "/etc/ssl/b.pem"}, []string{"/etc/ssl/b.pem.bak", "/pem"}},
		{"any depth in the middle", "/home/**/id_rsa", []string{"/home/id_rsa", "/home/a/.ssh/id_rsa"}, []string{"/root/.ssh/id_rsa", "/home/a/id_rsa.pub"}},
		{"star then literal tail", "/proc/*/status", []string{"/proc/1/status"}, []string{"/proc/1/task/1/status", "/proc/status"}},
		{"escaped star is literal", `/etc/a\*b`, []string{"/etc/a*b"}, []string{"/etc/axb"}},
		{"non-UTF-8 bytes", "/t/caf\xe9", []string{"/t/caf\xe9"}, []string{"/t/café"}},
		{"backtracking star", "/x/a*b*c", []string{"/x/abc", "/x/aXbYbZc", "/x/abbc"}, []string{"/x/acb", "/x/ab"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := newClaimSet([]string{tt.pattern})
			require.NoError(t, err)
			for _, p := range tt.match {
				require.True(t, c.match([]byte(p)), "%q should match %q", tt.pattern, p)
			}
			for _, p := range tt.miss {
				require.False(t, c.match([]byte(p)), "%q should not match %q", tt.pattern, p)
			}
		})
	}
}

func TestClaimErrors(t *testing.T) {
	tests := []struct {
		name, pattern, want string
	}{
		{"empty", "", "empty pattern"},
		{"relative", "etc/motd", "not an absolute path"},
		{"NUL", "/etc/\x00", "NUL byte"},
		{"double slash", "/etc//motd", "empty component"},
		{"trailing slash", "/etc/", "empty component"},
		{"star star inside a component", "/etc/a**", "must stand alone"},
		{"lone backslash", `/etc/\`, "lone backslash"},
		{"too long", "/" + string(make([]byte, maxPath)), "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newClaimSet([]string{tt.pattern})
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestRateLimit(t *testing.T) {
	var r rateLimit
	now := time.Unix(1000, 0)
	for i := 0; i < rateBurst; i++ {
		ok, _ := r.allow(now)
		require.True(t, ok)
	}
	for i := 0; i < 5; i++ {
		ok, _ := r.allow(now)
		require.False(t, ok)
	}
	ok, dropped := r.allow(now.Add(time.Second))
	require.True(t, ok)
	require.Equal(t, int64(5), dropped)
}

// FuzzMatchName checks the component matcher against path.Match, which implements the same
// '*' and '?' for ASCII names without '/', '[' or '\' ('?' is one byte to scrim, one rune to
// path.Match).
func FuzzMatchName(f *testing.F) {
	for _, seed := range [][2]string{{"*.pem", "a.pem"}, {"a*b*c", "aXbYbZc"}, {"?x*", "yx"}, {"**", "ab"}, {"", ""}} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, pattern, name string) {
		if strings.ContainsAny(pattern, "/[]\\\\") || strings.Contains(name, "/") || !ascii(pattern+name) {
			return
		}
		g, _, err := compileGlob("/" + pattern)
		if err != nil || len(g.comps) != 1 || g.comps[0].doubleStar {
			return
		}
		want, err := path.Match(pattern, name)
		if err != nil {
			return
		}
		require.Equal(t, want, matchName(g.comps[0].toks, []byte(name)), "pattern %q name %q", pattern, name)
	})
}

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
