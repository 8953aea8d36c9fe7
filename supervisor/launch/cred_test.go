package launch

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestProcSelfIsTheChild(t *testing.T) {
	// Both lines come from the same shell: the redirection opens /proc/self/status as sh.
	script := `while IFS= read -r l; do case $l in Pid:*) echo "${l#Pid:}";; esac; done < /proc/self/status; echo $$`
	status, out, serr := runOut(t, Config{Args: []string{"sh", "-c", script}})
	require.Equal(t, 0, status, serr)
	f := strings.Fields(out)
	require.Len(t, f, 2, out)
	require.Equal(t, f[1], f[0])
	require.NotEqual(t, strconv.Itoa(os.Getpid()), f[0])
}

// TestChildAsNobody checks that scrim, running as root, opens files with the child's
// credentials and umask, never its own.
func TestChildAsNobody(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the supervisor must hold privileges the child lacks")
	}
	if _, err := os.Stat("/usr/bin/setpriv"); err != nil {
		t.Skip("needs setpriv (util-linux) to drop to nobody inside the sandbox")
	}
	dir := worldDir(t)
	secret := filepath.Join(dir, "secret")
	require.NoError(t, os.WriteFile(secret, []byte("root only\n"), 0o600))
	rootDir := filepath.Join(dir, "rootdir")
	require.NoError(t, os.Mkdir(rootDir, 0o755))
	pubDir := filepath.Join(dir, "pub")
	require.NoError(t, os.Mkdir(pubDir, 0o777))
	require.NoError(t, os.Chmod(pubDir, 0o777))

	script := fmt.Sprintf(`umask 027
try() { if ( eval "$2" ) 2>/dev/null; then echo "$1=ok"; else echo "$1=denied"; fi; }
try read 'cat %[1]s >/dev/null'
try rootdir ': > %[2]s/f'
try pub ': > %[3]s/f'
try mkdir 'mkdir %[3]s/d'
`, secret, rootDir, pubDir)
	status, out, serr := runOut(t, Config{Args: []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "sh", "-c", script}})
	require.Equal(t, 0, status, serr)
	require.Equal(t, "read=denied\nrootdir=denied\npub=ok\nmkdir=ok\n", out)
	_, err := os.Stat(filepath.Join(rootDir, "f"))
	require.ErrorIs(t, err, os.ErrNotExist)

	fi, err := os.Stat(filepath.Join(pubDir, "f"))
	require.NoError(t, err)
	st := fi.Sys().(*syscall.Stat_t)
	require.Equal(t, uint32(65534), st.Uid)
	require.Equal(t, uint32(65534), st.Gid)
	require.Equal(t, os.FileMode(0o640), fi.Mode().Perm(), "0666 with umask 027")
}

// worldDir makes a directory every user can traverse (t.TempDir's parent is private).
func worldDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "scrim-test-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	return dir
}

// TestUmaskFollowed: files the child creates get the umask it has at that moment, however
// often it changes it.
func TestUmaskFollowed(t *testing.T) {
	dir := t.TempDir()
	script := fmt.Sprintf("cd %s && umask 077 && : > a && cat /etc/hostname >/dev/null && umask 022 && : > b && umask 0 && mkdir c && : > c/d", dir)
	status, _, serr := runOut(t, Config{Args: []string{"sh", "-c", script}})
	require.Equal(t, 0, status, serr)
	for name, want := range map[string]os.FileMode{"a": 0o600, "b": 0o644, "c/d": 0o666} {
		fi, err := os.Stat(filepath.Join(dir, name))
		require.NoError(t, err)
		require.Equal(t, want, fi.Mode().Perm(), name)
	}
}
