package builtin

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// hostsDefault is the virtual /etc/hosts with no options: loopback and the default host name.
const hostsDefault = hostsLoopback + "127.0.1.1 " + DefaultHostname + "\n::1 " + DefaultHostname + "\n"

func fakeLookup(ctx context.Context, host string) ([]netip.Addr, error) {
	switch host {
	case "example.test":
		return []netip.Addr{netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("2001:db8::10")}, nil
	case "localhost":
		return []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")}, nil
	}
	return nil, errors.New("no such host")
}

func TestComposeHosts(t *testing.T) {
	tests := []struct {
		name   string
		chroot bool
		base   string
		allow  []string
		extra  []string
		self   string
	}{
		{name: "loopback"},
		{name: "net_allow", allow: []string{"example.test", "pinned.test=198.51.100.7", "203.0.113.0/24", "example.test"}},
		{name: "extra", allow: []string{"localhost"}, extra: []string{"10.1.2.3 db db.internal", "127.0.0.1 localhost"}},
		{name: "chroot_full", chroot: true, base: "# image\n127.0.0.1\tlocalhost box\n::1 localhost ip6-localhost\n192.0.2.10 example.test", allow: []string{"example.test"}},
		{name: "chroot_v4_only", chroot: true, base: "127.0.0.1 localhost\n10.0.0.1 gw\n"},
		{name: "chroot_empty", chroot: true, allow: []string{"pinned.test=198.51.100.7"}},
		{name: "self", self: "javabox"},
		{name: "self_net_allow", self: "javabox", allow: []string{"JavaBox=198.51.100.7"}},
		{name: "self_extra", self: "box", extra: []string{"10.1.2.3 db box"}},
		{name: "self_chroot_base", chroot: true, self: "box", base: "127.0.0.1 localhost box\n::1 localhost\n"},
		{name: "self_chroot_v4_only", chroot: true, self: "box", base: "127.0.0.1 localhost\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entries, err := resolveNetAllow(context.Background(), tt.allow, fakeLookup)
			require.NoError(t, err)
			got := composeHosts(tt.chroot, []byte(tt.base), entries, tt.extra, tt.self)
			golden(t, "hosts_"+tt.name+".golden", got)
		})
	}
}

func TestResolveNetAllowErrors(t *testing.T) {
	tests := []struct {
		name, allow, want string
	}{
		{"unresolvable", "nowhere.test", `net_allow "nowhere.test"`},
		{"bad_pin", "a.test=999.1.1.1", `net_allow "a.test=999.1.1.1"`},
		{"empty_host", "=192.0.2.1", "not a host name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := resolveNetAllow(context.Background(), []string{tt.allow}, fakeLookup)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestHostsNewRejectsBadExtraHosts(t *testing.T) {
	_, _, err := New(Options{ExtraHosts: []string{"not-an-ip name"}})
	require.ErrorContains(t, err, "extra_hosts")
}

func TestHostsOpen(t *testing.T) {
	h := build(t, Options{}, idHosts, &fakeSandbox{})
	tests := []struct {
		name, path string
		serve      bool
	}{
		{"canonical", "/etc/hosts", true},
		{"other_file", "/etc/passwd", false},
		{"prefix_only", "/etc/hostsX", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := open(t, h, tt.path, unix.O_RDONLY)
			if !tt.serve {
				require.Equal(t, shim.ActNext, res.Action)
				return
			}
			require.Equal(t, shim.ActServe, res.Action)
			require.Equal(t, hostsDefault, string(res.Content.(shim.Bytes).Data))
		})
	}
	t.Run("hard_link_by_identity", func(t *testing.T) {
		dir := t.TempDir()
		src := filepath.Join(dir, "hosts")
		require.NoError(t, os.WriteFile(src, []byte("x"), 0o644))
		obj, ok, err := objectInRoot("/", src)
		require.NoError(t, err)
		require.True(t, ok)
		hh := h.(*hosts)
		saved := hh.id
		hh.id = objectID(obj)
		defer func() { hh.id = saved }()
		res, err := h.Open(context.Background(), &shim.Request{Path: []byte(dir + "/link"), Object: obj})
		require.NoError(t, err)
		require.Equal(t, shim.ActServe, res.Action)
	})
}

func TestHostsChrootImageSymlinkStaysInside(t *testing.T) {
	secretDir := t.TempDir()
	secret := filepath.Join(secretDir, "secret")
	require.NoError(t, os.WriteFile(secret, []byte("10.9.9.9 host-secret\n"), 0o600))
	image := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(image, "etc"), 0o755))
	require.NoError(t, os.Symlink(secret, filepath.Join(image, "etc", "hosts")))

	h := build(t, Options{ImageRoot: image}, idHosts, &fakeSandbox{root: image})
	got := served(t, h, "/etc/hosts")
	require.NotContains(t, string(got), "host-secret")
	require.Equal(t, hostsDefault, string(got))

	// The same link target inside the image is what the child would read.
	inside := filepath.Join(image, secretDir)
	require.NoError(t, os.MkdirAll(inside, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(inside, "secret"), []byte("10.1.1.1 image-host\n"), 0o644))
	h = build(t, Options{ImageRoot: image}, idHosts, &fakeSandbox{root: image})
	require.Equal(t, "10.1.1.1 image-host\n"+hostsDefault, string(served(t, h, "/etc/hosts")))
}

func TestCanonicalInRoot(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "etc", "real"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "etc", "real", "hosts"), nil, 0o644))
	links := map[string]string{
		"etc/abs":     "/tmp/missing",
		"etc/rel":     "real/hosts",
		"etc/chain":   "rel",
		"etc/climb":   "../../../../etc/real/hosts",
		"etc/loop":    "loop",
		"etc/dirlink": "real",
		"etc/devnull": "/dev/null",
		"etc/viadir":  "dirlink/hosts",
		"etc/nowhere": "nodir/hosts",
	}
	for name, to := range links {
		require.NoError(t, os.Symlink(to, filepath.Join(root, name)))
	}
	tests := []struct {
		name, want string
		err        bool
	}{
		{"/etc/real/hosts", "/etc/real/hosts", false},
		{"/etc/missing", "/etc/missing", false},
		{"/etc/abs", "/tmp/missing", false},
		{"/etc/rel", "/etc/real/hosts", false},
		{"/etc/chain", "/etc/real/hosts", false},
		{"/etc/climb", "/etc/real/hosts", false},
		{"/etc/viadir", "/etc/real/hosts", false},
		{"/etc/dirlink/hosts", "/etc/real/hosts", false},
		{"/etc/nowhere", "/etc/nodir/hosts", false},
		{"/etc/loop", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := canonicalInRoot(root, tt.name)
			if tt.err {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
	t.Run("device_at_target_is_not_served", func(t *testing.T) {
		_, hasID, target, err := regularTarget(root, "/etc/devnull")
		require.NoError(t, err)
		require.False(t, hasID, "nothing exists at the target in this root")
		require.Equal(t, "/dev/null", target)
		dev := &shim.Request{Path: []byte("/dev/null"), Object: shim.Object{Exists: true, Mode: unix.S_IFCHR | 0o666}}
		require.False(t, servedTarget(dev, target))
		require.True(t, servedTarget(&shim.Request{Path: []byte("/dev/null")}, target))
	})
}

func TestHostsChrootDanglingSymlinkIsServed(t *testing.T) {
	image := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(image, "etc"), 0o755))
	require.NoError(t, os.Symlink("/run/hosts-from-host", filepath.Join(image, "etc", "hosts")))
	h := build(t, Options{ImageRoot: image}, idHosts, &fakeSandbox{root: image})
	// The resolver reports the missing target as the canonical path.
	res, err := h.Open(context.Background(), &shim.Request{Path: []byte("/run/hosts-from-host")})
	require.NoError(t, err)
	require.Equal(t, shim.ActServe, res.Action)
	require.Equal(t, hostsDefault, string(res.Content.(shim.Bytes).Data))
}

// TestE2EHostnameResolves runs the programs that ask for the machine's own address: each must
// find the sandbox's host name in the virtual /etc/hosts, by default and with --hostname.
func TestE2EHostnameResolves(t *testing.T) {
	for _, name := range []string{DefaultHostname, "javabox"} {
		flags := []string{"--hostname", name}
		if name == DefaultHostname {
			flags = nil
		}
		t.Run(name, func(t *testing.T) {
			t.Run("hostname", func(t *testing.T) {
				needTool(t, "hostname")
				out := sh(t, flags, "hostname -f; hostname -i")
				require.Equal(t, name+"\n::1 127.0.1.1\n", out)
			})
			t.Run("getent", func(t *testing.T) {
				needTool(t, "getent")
				out := sh(t, flags, `getent hosts "$(hostname)"; getent ahostsv4 "$(hostname)" | grep -c 127.0.1.1`)
				require.Regexp(t, `^::1\s+`+name+`\n[1-9]\d*\n$`, out)
			})
			t.Run("python", func(t *testing.T) {
				out := py(t, flags, `import socket
n = socket.gethostname()
print(n, socket.gethostbyname(n), sorted({a[4][0] for a in socket.getaddrinfo(n, 0)}))`)
				// glibc answers ::1 to an IPv4 question as 127.0.0.1.
				require.Equal(t, name+" 127.0.0.1 ['127.0.1.1', '::1']\n", out)
			})
			t.Run("java", func(t *testing.T) {
				java := needTool(t, "java")
				r := runScrim(t, flags, java, "-Xshare:auto", "-cp", javaProbe(t), "Probe", "localhost")
				require.Equal(t, 0, r.code, r.stderr)
				require.Equal(t, name+" 127.0.1.1\n", r.stdout)
			})
		})
	}
	t.Run("net_allow_maps_it", func(t *testing.T) {
		needTool(t, "getent")
		out := sh(t, []string{"--hostname", "javabox", "--net-allow", "javabox=198.51.100.9"}, `grep -c javabox /etc/hosts; getent hosts javabox`)
		require.Regexp(t, `^1\n198\.51\.100\.9\s+javabox\n$`, out)
	})
}

// javaProbe is the directory of the compiled testdata/java/Probe.class, as an absolute path:
// scrim runs the program in a directory of its own.
func javaProbe(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("testdata", "java"))
	require.NoError(t, err)
	return dir
}
