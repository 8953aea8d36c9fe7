package examples_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/plugins"
	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// TestSDKExamples_ReleaseDecides checks examples/release through package plugins: its one
// claim comes from its configuration, and a look-up gets the size without the content.
func TestSDKExamples_ReleaseDecides(t *testing.T) {
	h, err := plugins.Load(context.Background(),
		[]plugins.Spec{{Name: "release", Path: sdkWasm("release"), Timeout: sdkCallTimeout,
			Config: map[string]any{"path": "/opt/acme/release", "text": "ACME 4.2\n", "mtime": int64(1700000000)}}},
		plugins.Options{CacheDir: filepath.Join(sdkTmp, "cache")})
	require.NoError(t, err)
	defer func() { require.NoError(t, h.Close(context.Background())) }()
	require.Equal(t, []string{"/opt/acme/release"}, h.Claims("release"))

	res, err := h.Decide(context.Background(), "release", sdkRequest("/opt/acme/release", ""))
	require.NoError(t, err)
	require.Equal(t, "ACME 4.2\n", sdkServed(t, res))
	stat := sdkRequest("/opt/acme/release", "")
	stat.Op, stat.Syscall = shim.OpStat, shim.SysStatx
	res, err = h.Decide(context.Background(), "release", stat)
	require.NoError(t, err)
	require.Equal(t, shim.Serve(shim.Meta{Size: 9, Mode: unix.S_IFREG | 0o444, ModTime: time.Unix(1700000000, 0)}), res)
	_, err = h.Decide(context.Background(), "release", sdkRequest("/etc/vendor-release", ""))
	require.ErrorIs(t, err, plugins.ErrNotClaimed, "the configured path replaces the default")
}

// TestSDKExamples_ReleaseUnderScrim checks that a file examples/release serves where the disk
// has none is there for every call a program makes: test -f, Python's os.path.exists, a listing
// of its directory, stat's size against the bytes read, ls -l (which reads its extended
// attributes) without an error, statfs (the memfd's filesystem), and readlink of /proc/self/fd/N of an open of it, which names
// the path and not the memfd behind it.
func TestSDKExamples_ReleaseUnderScrim(t *testing.T) {
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("needs /usr/bin/python3")
	}
	dir := t.TempDir()
	require.NoError(t, os.Chmod(dir, 0o755))
	path := filepath.Join(dir, "vendor-release")
	cfg := sdkConfig(t, "release", "path = \""+path+"\"\ntext = \"ACME Linux 4.2\\n\"\n")
	script := `p=$1
test -f "$p" && echo test-f
/usr/bin/python3 -c 'import os, sys; print("exists", os.path.exists(sys.argv[1]), os.path.isfile(sys.argv[1]))' "$p"
ls "$(dirname "$p")"
echo "size $(stat -c %s "$p") $(wc -c < "$p")"
echo "ls -l errors $( (ls -l "$p"; ls -la "$(dirname "$p")") 2>&1 >/dev/null | wc -l)"
/usr/bin/python3 -c 'import os, sys; print("xattrs", os.listxattr(sys.argv[1]))' "$p"
echo "fs $(stat -f -c %T "$p")"
exec 3< "$p"
echo "fd $(readlink /proc/self/fd/3)"
cat <&3`
	r := sdkScrimRun(t, "-c", cfg, "--", "sh", "-c", script, "sh", path)
	require.Equal(t, 0, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
	require.Equal(t, "test-f\nexists True True\nvendor-release\nsize 15 15\nls -l errors 0\nxattrs []\nfs tmpfs\nfd "+path+"\nACME Linux 4.2\n", r.stdout,
		"stderr: %s", r.stderr)
	_, err := os.Stat(path)
	require.ErrorIs(t, err, os.ErrNotExist, "the file exists only in the sandbox")
}
