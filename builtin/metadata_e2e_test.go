package builtin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestE2EServedMetadata: through `scrim run` itself, cp, install, tar, rsync and Python's
// shutil.copy copy the served /etc/hosts, /etc/hostname, /proc/cpuinfo and /proc/meminfo
// whole; stat's size is what a read gives; stat(1) and Python's fstat of an open name one
// inode; readlink of the open descriptor is the path.
func TestE2EServedMetadata(t *testing.T) {
	needTool(t, "rsync")
	if _, err := os.Stat(python); err != nil {
		t.Skipf("needs %s: %v", python, err)
	}
	dir := t.TempDir()
	require.NoError(t, os.Chmod(dir, 0o777))
	script := `set -e
cd ` + dir + `
for f in /etc/hosts /etc/hostname /proc/cpuinfo /proc/meminfo; do
	n=$(basename $f)
	cp $f $n.cp
	install -m 644 $f $n.install
	rsync $f $n.rsync
	tar cf $n.tar $f 2>/dev/null
	tar xOf $n.tar > $n.tar.out
	` + python + ` -c 'import shutil, sys; shutil.copy(sys.argv[1], sys.argv[2])' $f $n.py
	echo "$n $(stat -c %s $f) $(wc -c < $f)"
	for c in cp install rsync tar.out py; do echo "$n $c $(wc -c < $n.$c)"; done
done
stat -c '%d %i %s %F' /etc/hosts
` + python + ` -c '
import os, stat
fd = os.open("/etc/hosts", os.O_RDONLY)
st = os.fstat(fd)
print(os.major(st.st_dev) * 256 + os.minor(st.st_dev), st.st_ino, st.st_size, "regular file" if stat.S_ISREG(st.st_mode) else "other")
print(os.readlink("/proc/self/fd/%d" % fd))
'`
	out := sh(t, []string{"--hostname", "box", "--cpus", "1", "--memory", "256M"}, script)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 4*6+3, out)
	sizes := map[string]string{}
	for _, l := range lines[:24] {
		f := strings.Fields(l)
		if len(f) == 3 && f[1] != "cp" && f[1] != "install" && f[1] != "rsync" && f[1] != "tar.out" && f[1] != "py" {
			require.Equal(t, f[1], f[2], "stat -c %%s and wc -c of %s", f[0])
			require.NotEqual(t, "0", f[1], l)
			sizes[f[0]] = f[1]
			continue
		}
		require.Equal(t, sizes[f[0]], f[2], "%s: a copy of another size than the served file", l)
	}
	require.Len(t, sizes, 4)
	require.Equal(t, lines[24], lines[25], "stat(1) of the path and fstat of an open of it")
	require.True(t, strings.HasSuffix(lines[24], " regular file"), lines[24])
	require.Equal(t, "/etc/hosts", lines[26])
	hostname, err := os.ReadFile(filepath.Join(dir, "hostname.cp"))
	require.NoError(t, err)
	require.Equal(t, "box\n", string(hostname))
	cpuinfo, err := os.ReadFile(filepath.Join(dir, "cpuinfo.rsync"))
	require.NoError(t, err)
	require.Equal(t, 1, strings.Count(string(cpuinfo), "processor\t:"))
	meminfo, err := os.ReadFile(filepath.Join(dir, "meminfo.tar.out"))
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(meminfo), "MemTotal:         262144 kB\n"), string(meminfo))
}
