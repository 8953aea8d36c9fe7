package builtin

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// TestListingServedNames: the names the chain serves in a directory (shim.Call.Served) come
// first in the batch that starts the directory, with their type, once per pass, in both record
// layouts and however small the buffer; a pass that starts over (rewinddir) shows them again.
func TestListingServedNames(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"a", "b", "c"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, n), nil, 0o644))
	}
	served := []shim.DirEntry{{Name: "vendor-release", Type: unix.DT_REG}, {Name: "vendor.d", Type: unix.DT_DIR}}
	l := &listing{}
	for _, tc := range []struct {
		name  string
		nr    int
		count int
	}{
		{"getdents64", unix.SYS_GETDENTS64, 32768},
		{"getdents64 small", unix.SYS_GETDENTS64, 64},
		{"getdents legacy", unix.SYS_GETDENTS, 32768},
		{"getdents legacy small", unix.SYS_GETDENTS, 48},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := os.Open(dir)
			require.NoError(t, err)
			defer f.Close()
			legacy := tc.nr == unix.SYS_GETDENTS
			asked := 0
			call := func() (shim.SyscallResult, []byte) {
				mem := &bufMem{base: 0x10000, buf: make([]byte, tc.count)}
				res, err := l.Syscall(context.Background(), &shim.Call{
					Nr: tc.nr, Args: [6]uint64{uint64(f.Fd()), mem.base, uint64(tc.count)}, PID: os.Getpid(), TID: unix.Gettid(),
					Mem: mem, Fd: fdTable,
					Served: func(*os.File) ([]shim.DirEntry, error) { asked++; return served, nil },
				})
				require.NoError(t, err)
				require.Zero(t, res.Errno)
				return res, mem.buf[:res.Val]
			}
			pass := func() ([]string, map[string]byte) {
				var all []string
				types := map[string]byte{}
				for range 1000 {
					res, recs := call()
					if res.Val == 0 {
						return all, types
					}
					all = append(all, names(t, recs, legacy)...)
					for r := 0; r < len(recs); {
						reclen := int(recs[r+16]) | int(recs[r+17])<<8
						rec := recs[r : r+reclen]
						typ := rec[18]
						if legacy {
							typ = rec[reclen-1]
						}
						types[string(direntName(rec, legacy))] = typ
						r += reclen
					}
				}
				t.Fatal("listing never ended")
				return nil, nil
			}
			all, types := pass()
			want := []string{".", "..", "a", "b", "c", "vendor-release", "vendor.d"}
			got := slices.Clone(all)
			slices.Sort(got)
			if tc.count >= 280+64 {
				require.Equal(t, want, got)
				require.Equal(t, []string{"vendor-release", "vendor.d"}, all[:2], "served names come first")
				require.Equal(t, byte(unix.DT_REG), types["vendor-release"])
				require.Equal(t, byte(unix.DT_DIR), types["vendor.d"])
			} else {
				// No room beside a real record: the names are left out rather than
				// shown on every call that starts from the beginning.
				require.Equal(t, want[:5], got)
			}
			require.Equal(t, 1, asked, "asked once, at the start of the directory")
			_, err = f.Seek(0, 0)
			require.NoError(t, err)
			again, _ := pass()
			require.ElementsMatch(t, all, again, "a pass from the start shows them again")
		})
	}
}
