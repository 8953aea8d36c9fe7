package config

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    uint64
		wantErr string
	}{
		{in: "0", want: 0},
		{in: "4096", want: 4096},
		{in: "512M", want: 512 << 20},
		{in: "512m", want: 512 << 20},
		{in: "2G", want: 2 << 30},
		{in: "2GiB", want: 2 << 30},
		{in: "2GB", want: 2 << 30},
		{in: "1.5G", want: 3 << 29},
		{in: "64K", want: 64 << 10},
		{in: "1T", want: 1 << 40},
		{in: "100B", want: 100},
		{in: "1 M", want: 1 << 20},
		{in: "", wantErr: `"" is not a size`},
		{in: "12Q", wantErr: `"12Q" is not a size`},
		{in: "-1M", wantErr: `"-1M" is not a size`},
		{in: "1e9", wantErr: `"1e9" is not a size`},
		{in: "M", wantErr: `"M" is not a size`},
		{in: "iB", wantErr: `"iB" is not a size`},
		{in: "1.5", wantErr: `"1.5" is not a whole number of bytes`},
		{in: "99999999999T", wantErr: `"99999999999T" is too large`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseSize(tc.in)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			// What FormatSize writes, ParseSize reads back.
			back, err := ParseSize(FormatSize(got))
			require.NoError(t, err)
			require.Equal(t, got, back)
		})
	}
}

func TestFormatSize(t *testing.T) {
	tests := map[uint64]string{0: "0", 100: "100", 1024: "1K", 16 << 20: "16M", 3 << 29: "1536M", 2 << 30: "2G", 5 << 40: "5T"}
	for in, want := range tests {
		t.Run(want, func(t *testing.T) { require.Equal(t, want, FormatSize(in)) })
	}
}

func TestCheckHostname(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"scrim", true},
		{"build-01.example.com", true},
		{"A1", true},
		{"a", true},
		{"", false},
		{"a/b", false},
		{"a b", false},
		{"-lead", false},
		{"trail-", false},
		{"a..b", false},
		{".a", false},
		{"under_score", false},
		{"x\x00y", false},
		{string(make([]byte, 65)), false},
		{"a123456789012345678901234567890123456789012345678901234567890123.b", false}, // 64-byte label
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckHostname(tc.name)
			if tc.ok {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
			}
		})
	}
}

func TestErrno(t *testing.T) {
	e, err := Errno("EACCES")
	require.NoError(t, err)
	require.Equal(t, "permission denied", e.Error())
	e, err = Errno("EIO")
	require.NoError(t, err)
	require.EqualValues(t, 5, e)
	_, err = Errno("eio")
	require.Error(t, err, "errno names are upper case, as the kernel spells them")
}

func TestParseMount(t *testing.T) {
	tests := []struct {
		in      string
		want    Mount
		wantErr bool
	}{
		{in: "/srv:/data", want: Mount{Host: "/srv", Inside: "/data"}},
		{in: "/srv:/data:ro", want: Mount{Host: "/srv", Inside: "/data", ReadOnly: true}},
		{in: "rel:/data/:rw", want: Mount{Host: "rel", Inside: "/data"}},
		{in: "/srv", wantErr: true},
		{in: "/srv:data", wantErr: true},
		{in: ":/data", wantErr: true},
		{in: "/srv:/data:rx", wantErr: true},
		{in: "/a:/b:ro:x", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseMount(tc.in)
			if tc.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestCheckNetAllow(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"example.com", true},
		{"db.internal=10.0.0.7", true},
		{"v6=fd00::1", true},
		{"10.0.0.0/8", true},
		{"192.0.2.1", true},
		{"::1", true},
		{"example.com=", false},
		{"=1.2.3.4", false},
		{"a/b", false},
		{"host=not-an-ip", false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if tc.ok {
				require.NoError(t, checkNetAllow(tc.in))
			} else {
				require.Error(t, checkNetAllow(tc.in))
			}
		})
	}
}
