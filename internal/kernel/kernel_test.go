package kernel

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDetect(t *testing.T) {
	f := Detect()
	// scrim's minimum (Linux 5.14) is what this test machine and CI run on; a kernel without
	// these cannot run scrim at all.
	require.NoError(t, f.Require(), f.String())
	require.True(t, f.ProcessVMReadv)
	require.Equal(t, f, Detect(), "probed once, same answer")
	s := f.String()
	for _, r := range f.Table() {
		require.Contains(t, s, r.Name)
	}
}

func TestRequire(t *testing.T) {
	tests := []struct {
		name    string
		f       Features
		missing []string
	}{
		{"nothing", Features{}, []string{"ADDFD+SEND", "pidfd_getfd", "openat2"}},
		{"no addfd send", Features{PidfdGetfd: true, Openat2: true}, []string{"ADDFD+SEND (Linux 5.14)"}},
		{"optional ones missing", Features{AddfdSend: true, PidfdGetfd: true, Openat2: true}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.f.Require()
			if tt.missing == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrMissing)
			for _, m := range tt.missing {
				require.True(t, strings.Contains(err.Error(), m), err.Error())
			}
		})
	}
}
