package plugin

import (
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func blob(path, sandbox string, mutate func([]byte)) []byte {
	b := make([]byte, headerV1+len(path)+len(sandbox))
	le := binary.LittleEndian
	le.PutUint32(b[0:], headerV1)
	le.PutUint16(b[4:], 1)
	le.PutUint32(b[12:], 2)
	le.PutUint64(b[16:], O_RDONLY|O_CLOEXEC)
	le.PutUint32(b[32:], 7)
	le.PutUint32(b[40:], 1000)
	le.PutUint32(b[48:], headerV1)
	le.PutUint32(b[52:], uint32(len(path)))
	le.PutUint32(b[56:], uint32(headerV1+len(path)))
	le.PutUint32(b[60:], uint32(len(sandbox)))
	copy(b[headerV1:], path)
	copy(b[headerV1+len(path):], sandbox)
	if mutate != nil {
		mutate(b)
	}
	return b
}

func TestDecodeRequest(t *testing.T) {
	tests := []struct {
		name    string
		blob    []byte
		want    Request
		wantErr string
	}{
		{
			name: "a v1.0 request",
			blob: blob("/etc/motd", "box", nil),
			want: Request{Path: []byte("/etc/motd"), Flags: O_CLOEXEC, Syscall: SysOpenat, PID: 7, UID: 1000, Sandbox: "box"},
		},
		{
			name: "a longer header from a later minor is skipped",
			blob: func() []byte {
				b := blob("", "", nil)
				b = append(b[:headerV1], make([]byte, 8)...)
				binary.LittleEndian.PutUint32(b[0:], headerV1+8)
				binary.LittleEndian.PutUint32(b[48:], headerV1+8)
				binary.LittleEndian.PutUint32(b[56:], headerV1+8)
				return b
			}(),
			want: Request{Path: []byte{}, Flags: O_CLOEXEC, Syscall: SysOpenat, PID: 7, UID: 1000},
		},
		{
			name: "a v1.1 request carries the op",
			blob: func() []byte {
				b := blob("", "", nil)
				b = append(b[:headerV1], make([]byte, 16)...)
				binary.LittleEndian.PutUint32(b[0:], headerV11+8)
				binary.LittleEndian.PutUint32(b[48:], headerV11+8)
				binary.LittleEndian.PutUint32(b[56:], headerV11+8)
				binary.LittleEndian.PutUint32(b[12:], uint32(SysStatx))
				binary.LittleEndian.PutUint32(b[80:], uint32(OpStat))
				return b
			}(),
			want: Request{Path: []byte{}, Flags: O_CLOEXEC, Syscall: SysStatx, Op: OpStat, PID: 7, UID: 1000},
		},
		{name: "too short", blob: make([]byte, 10), wantErr: "shorter than its header"},
		{
			name:    "path outside the request",
			blob:    blob("/x", "", func(b []byte) { binary.LittleEndian.PutUint32(b[52:], 1000) }),
			wantErr: "path outside the request",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req Request
			err := decodeRequest(tt.blob, &req)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, req)
		})
	}
}

func TestDescribeJSON(t *testing.T) {
	p := &Plugin{Name: "a\"b", Version: "1.0", Claims: []string{"/etc/motd", "/x/\x01"}}
	var doc struct {
		Name     string   `json:"name"`
		Version  string   `json:"version"`
		ABIMinor int      `json:"abi_minor"`
		Claims   []string `json:"claims"`
	}
	require.NoError(t, json.Unmarshal(describeJSON(p, p.Claims, 0), &doc))
	require.Equal(t, "a\"b", doc.Name)
	require.Equal(t, "1.0", doc.Version)
	require.Equal(t, 0, doc.ABIMinor)
	require.Equal(t, []string{"/etc/motd", "/x/\x01"}, doc.Claims)
	require.NoError(t, json.Unmarshal(describeJSON(p, []string{"/cfg"}, 1), &doc))
	require.Equal(t, 1, doc.ABIMinor)
	require.Equal(t, []string{"/cfg"}, doc.Claims)
}

func TestVerdicts(t *testing.T) {
	tests := []struct {
		name string
		v    Verdict
		code int32
	}{
		{"next", Next(), 0},
		{"serve", ServeString("x"), 1},
		{"real", Real(), 2},
		{"read real", ReadReal(), 3},
		{"fail", Fail(nil), 4},
		{"deny", Deny(EACCES), -13},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.code, tt.v.code)
		})
	}
	require.Equal(t, uint32(0o640), Serve(nil).WithMode(0o640).mode)
	require.Equal(t, "errno -13", Errno(-13).Error())
}
