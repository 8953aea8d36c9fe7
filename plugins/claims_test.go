package plugins

import (
	"path"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
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
		{"literal inside", "/**/.ssh/*", []string{"/.ssh/id", "/home/a/.ssh/id"}, []string{"/home/a/ssh/id", "/home/a/.ssh", "/home/.sshx/id"}},
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
			// What the chain's index is told must cover every path the set matches.
			for _, p := range append(append([]string(nil), tt.match...), tt.miss...) {
				if c.match([]byte(p)) {
					require.True(t, indexCovers(c, p), "the index would not ask %q about %q", tt.pattern, p)
				}
			}
		})
	}
}

// indexCovers reports whether the chain's index, told c.claims(), would ask about p.
func indexCovers(c *claimSet, p string) bool {
	exact, patterns := c.claims()
	for _, e := range exact {
		if e == p {
			return true
		}
	}
	for _, q := range patterns {
		if strings.HasPrefix(p, q.Prefix) && strings.HasSuffix(p, q.Suffix) && strings.Contains(p, q.Contains) {
			return true
		}
	}
	return false
}

func TestClaimsForTheIndex(t *testing.T) {
	c, err := newClaimSet([]string{"/etc/motd", "/run/vendor/**", `/etc/a\*b`, "/**/.ssh/*", "/**/*.pem", "/home/*/x/**/y.conf"})
	require.NoError(t, err)
	exact, patterns := c.claims()
	require.ElementsMatch(t, []string{"/etc/motd", "/etc/a*b"}, exact)
	require.ElementsMatch(t, []shim.PathPattern{
		{Prefix: "/run/vendor/"},
		{Prefix: "/", Contains: "/.ssh/"},
		{Prefix: "/", Suffix: ".pem"},
		{Prefix: "/home/", Suffix: "y.conf", Contains: "/x/"},
	}, patterns)
	require.False(t, indexCovers(c, "/etc/passwd"), "an unclaimed path is left out")
	require.False(t, indexCovers(c, "/home/a/ssh/id"), "a path without the inner bytes is left out")
	for _, p := range []string{"/.ssh/id", "/home/a/.ssh/id", "/a/b.pem", "/home/u/x/y.conf", "/home/u/x/a/b/y.conf", "/run/vendor/z"} {
		require.True(t, c.match([]byte(p)), p)
		require.True(t, indexCovers(c, p), p)
	}
}

// FuzzClaimsIndexCovers: whatever a claim matches, the index's description of it covers.
func FuzzClaimsIndexCovers(f *testing.F) {
	f.Add("/**/.ssh/*", "/home/a/.ssh/id")
	f.Add("/a/**/b/c*d/**", "/a/b/cd/e")
	f.Add("/x/*/y/**/z?", "/x/1/y/z1")
	f.Fuzz(func(t *testing.T, pattern, fill string) {
		c, err := newClaimSet([]string{pattern})
		if err != nil {
			return
		}
		// Random paths rarely match, so also build one from the pattern: each "**" becomes
		// nothing or fill's components, each "*" fill without slashes, each "?" one byte.
		noSlash := strings.ReplaceAll(fill, "/", "")
		deep := strings.Trim(fill, "/")
		var b strings.Builder
		for i := 0; i < len(pattern); i++ {
			switch {
			case pattern[i] == '\\' && i+1 < len(pattern):
				i++
				b.WriteByte(pattern[i])
			case strings.HasPrefix(pattern[i:], "/**"):
				i += 2
				if deep != "" && !strings.Contains(deep, "//") {
					b.WriteString("/" + deep)
				}
			case pattern[i] == '*':
				b.WriteString(noSlash)
			case pattern[i] == '?':
				b.WriteByte('q')
			default:
				b.WriteByte(pattern[i])
			}
		}
		for _, p := range []string{fill, b.String()} {
			if strings.HasPrefix(p, "/") && c.match([]byte(p)) && !indexCovers(c, p) {
				t.Fatalf("%q matches %q but the index would not ask", pattern, p)
			}
		}
	})
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
