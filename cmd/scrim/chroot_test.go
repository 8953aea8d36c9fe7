package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scrim-sandbox/scrim/internal/testprog"
)

// showSrc prints its working directory and then each file named on its command line, or the
// error opening it, and tries to create the file named by $SCRIM_TEST_CREATE.
const showSrc = `package main

import (
	"fmt"
	"os"
)

func main() {
	wd, err := os.Getwd()
	fmt.Println("cwd", wd, err)
	for _, name := range os.Args[1:] {
		data, err := os.ReadFile(name)
		if err != nil {
			fmt.Println(name, "error", err)
			continue
		}
		fmt.Printf("%s %q\n", name, data)
	}
	if name := os.Getenv("SCRIM_TEST_CREATE"); name != "" {
		err := os.WriteFile(name, []byte("x"), 0o644)
		fmt.Println("create", name, err)
	}
}
`

// TestRun_Chroot runs a static program inside a tiny image with a read-only mount, configured
// by flags and by a config file, and checks what it sees.
func TestRun_Chroot(t *testing.T) {
	show := testprog.Go(t, showSrc)
	outer := t.TempDir()
	require.NoError(t, os.Chmod(outer, 0o755))
	img := filepath.Join(outer, "img")
	for _, d := range []string{"bin", "etc", "proc", "dev", "tmp", "work", "data"} {
		require.NoError(t, os.MkdirAll(filepath.Join(img, d), 0o755))
	}
	bin, err := os.ReadFile(show)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(img, "bin", "show"), bin, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(img, "etc", "os-release"), []byte("ID=scrimtest\n"), 0o644))
	shared := filepath.Join(outer, "shared")
	require.NoError(t, os.MkdirAll(shared, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(shared, "note"), []byte("from the host\n"), 0o644))

	want := `cwd /work <nil>
/etc/os-release "ID=scrimtest\n"
/data/note "from the host\n"
create /data/new open /data/new: read-only file system
`
	env := append(testEnv(t), "SCRIM_TEST_CREATE=/data/new")
	args := []string{"--", "/bin/show", "/etc/os-release", "/data/note"}

	r := scrimEnv(t, env, append([]string{"run", "--chroot", img, "--cwd", "/work", "--mount", shared + ":/data:ro"}, args...)...)
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, want, r.stdout)

	file := filepath.Join(outer, "scrim.toml")
	require.NoError(t, os.WriteFile(file, []byte(`chroot = "img"
cwd = "/work"
mount = ["shared:/data:ro"]
`), 0o644))
	r = scrimEnv(t, env, append([]string{"run", "-c", file}, args...)...)
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, want, r.stdout, "paths in the file resolve against its directory")

	_, err = os.Stat(filepath.Join(shared, "new"))
	require.ErrorIs(t, err, os.ErrNotExist, "the read-only mount kept the host directory unchanged")
}

func TestRun_MountWithoutChroot(t *testing.T) {
	r := scrim(t, "run", "--mount", "/tmp:/data", "--", "true")
	require.Equal(t, exitFailure, r.code)
	require.Equal(t, "scrim run: --mount: needs chroot: mounts go into the image, and there is none\n", r.stderr)
}
