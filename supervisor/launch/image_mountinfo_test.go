package launch

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRewriteMountinfo(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{
			name: "image root and its submounts",
			in: "69 45 254:0 /srv/img / rw - ext4 /dev/vda rw\n" +
				"70 69 0:39 / /proc rw - proc proc rw\n" +
				"81 69 254:0 /srv/img/data /data rw - ext4 /dev/vda rw\n",
			want: "69 45 254:0 / / rw - ext4 /dev/vda rw\n" +
				"70 69 0:39 / /proc rw - proc proc rw\n" +
				"81 69 254:0 /data /data rw - ext4 /dev/vda rw\n",
		},
		{
			name: "a user's bind mount from the same disk keeps its host path",
			in: "69 45 254:0 /srv/img / rw - ext4 /dev/vda rw\n" +
				"82 69 254:0 /home/u/src /src ro - ext4 /dev/vda rw\n" +
				"83 69 254:0 /srv/img2 /other ro - ext4 /dev/vda rw\n",
			want: "69 45 254:0 / / rw - ext4 /dev/vda rw\n" +
				"82 69 254:0 /home/u/src /src ro - ext4 /dev/vda rw\n" +
				"83 69 254:0 /srv/img2 /other ro - ext4 /dev/vda rw\n",
		},
		{
			name: "same path on another disk is left alone",
			in: "69 45 254:0 /srv/img / rw - ext4 /dev/vda rw\n" +
				"84 69 254:1 /srv/img/x /x rw - ext4 /dev/vdb rw\n",
			want: "69 45 254:0 / / rw - ext4 /dev/vda rw\n" +
				"84 69 254:1 /srv/img/x /x rw - ext4 /dev/vdb rw\n",
		},
		{
			name: "escaped spaces",
			in:   "69 45 254:0 /srv/my\\040img / rw - ext4 /dev/vda rw\n",
			want: "69 45 254:0 / / rw - ext4 /dev/vda rw\n",
		},
		{
			name: "host root: nothing to hide",
			in:   "1 0 254:0 / / rw - ext4 /dev/vda rw\n",
			want: "1 0 254:0 / / rw - ext4 /dev/vda rw\n",
		},
		{
			name: "no root line",
			in:   "70 69 0:39 / /proc rw - proc proc rw\n",
			want: "70 69 0:39 / /proc rw - proc proc rw\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, string(rewriteMountinfo([]byte(tt.in))))
		})
	}
}
