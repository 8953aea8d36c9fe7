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
	}{
		{name: "loopback"},
		{name: "net_allow", allow: []string{"example.test", "pinned.test=198.51.100.7", "203.0.113.0/24", "example.test"}},
		{name: "extra", allow: []string{"localhost"}, extra: []string{"10.1.2.3 db db.internal", "127.0.0.1 localhost"}},
		{name: "chroot_full", chroot: true, base: "# image\n127.0.0.1\tlocalhost box\n::1 localhost ip6-localhost\n192.0.2.10 example.test", allow: []string{"example.test"}},
		{name: "chroot_v4_only", chroot: true, base: "127.0.0.1 localhost\n10.0.0.1 gw\n"},
		{name: "chroot_empty", chroot: true, allow: []string{"pinned.test=198.51.100.7"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entries, err := resolveNetAllow(context.Background(), tt.allow, fakeLookup)
			require.NoError(t, err)
			got := composeHosts(tt.chroot, []byte(tt.base), entries, tt.extra)
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
			require.Equal(t, hostsLoopback, string(res.Content.(shim.Bytes).Data))
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
	require.Equal(t, hostsLoopback, string(got))

	// The same link target inside the image is what the child would read.
	inside := filepath.Join(image, secretDir)
	require.NoError(t, os.MkdirAll(inside, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(inside, "secret"), []byte("10.1.1.1 image-host\n"), 0o644))
	h = build(t, Options{ImageRoot: image}, idHosts, &fakeSandbox{root: image})
	require.Equal(t, "10.1.1.1 image-host\n"+hostsLoopback, string(served(t, h, "/etc/hosts")))
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
	require.Equal(t, hostsLoopback, string(res.Content.(shim.Bytes).Data))
}
