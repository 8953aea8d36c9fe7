package main

import (
	"context"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor"
	"github.com/scrim-sandbox/scrim/supervisor/agent"
	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

func TestMetadataProfile(t *testing.T) {
	for _, tc := range []struct{ meta, want, err string }{
		{meta: ""},
		{meta: "profile=ci", want: "ci"},
		{meta: " profile=ci ,", want: "ci"},
		{meta: "profile=ci profile=web", err: "profile is named twice"},
		{meta: "profile=", err: "names no profile"},
		{meta: "team=a,profile=ci", err: `unknown key "team"`},
		{meta: "ci", err: "is not KEY=VALUE"},
	} {
		got, err := metadataProfile(tc.meta)
		if tc.err != "" {
			require.ErrorContains(t, err, tc.err, tc.meta)
			continue
		}
		require.NoError(t, err, tc.meta)
		require.Equal(t, tc.want, got, tc.meta)
	}
}

// TestContainerProfile: the metadata's profile wins over the annotation's, an annotation
// alone chooses, neither means the top level.
func TestContainerProfile(t *testing.T) {
	log := hclog.NewNullLogger()
	for _, tc := range []struct {
		name       string
		c          agent.Container
		want, from string
		err        string
	}{
		{name: "neither", want: "", from: "default"},
		{name: "metadata", c: agent.Container{Metadata: "profile=ci"}, want: "ci", from: "listenerMetadata"},
		{name: "annotation", c: agent.Container{Annotations: map[string]string{profileAnnotation: "web"}}, want: "web", from: "annotation " + profileAnnotation},
		{name: "both", c: agent.Container{Metadata: "profile=ci", Annotations: map[string]string{profileAnnotation: "web"}}, want: "ci", from: "listenerMetadata"},
		{name: "empty annotation", c: agent.Container{Annotations: map[string]string{profileAnnotation: ""}}, err: "is empty"},
		{name: "bad metadata", c: agent.Container{Metadata: "profile"}, err: "is not KEY=VALUE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name, from, err := containerProfile(tc.c, log)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, name)
			require.Equal(t, tc.from, from)
		})
	}
}

// TestUnnotifiedAnswersAsItsProfile: a call another profile's filter notifies gets the answer
// the container's own profile's filter gives it: its refusal's errno, else the kernel's.
func TestUnnotifiedAnswersAsItsProfile(t *testing.T) {
	rules, err := supervisor.Rules(supervisor.FilterOptions{Changes: true})
	require.NoError(t, err)
	u := &unnotified{nrs: []int{unix.SYS_NEWFSTATAT, unix.SYS_KEYCTL}, rules: rules}
	res, err := u.Syscall(context.Background(), &shim.Call{Nr: unix.SYS_NEWFSTATAT})
	require.NoError(t, err)
	require.Equal(t, shim.Continue(), res, "without mediate_stat the kernel answers stat")
	res, err = u.Syscall(context.Background(), &shim.Call{Nr: unix.SYS_KEYCTL})
	require.NoError(t, err)
	require.Equal(t, shim.Fail(unix.ENOSYS), res, "without keyring, keyctl is refused as the profile's filter refuses it")
}
