package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// TestAgentProfiles: containers served at once by one `scrim agent` each see their own
// profile: the one their listenerMetadata names, else the one their annotation names, else
// the top level; the host name comes from the bundle's config.json unless the config sets
// one; a container naming a profile the agent does not have is refused and fails closed; and
// a profile that leaves stat to the kernel works under a filter that notifies stat.
func TestAgentProfiles(t *testing.T) {
	rt := buildOCIRuntime(t)
	dir := t.TempDir()
	require.NoError(t, os.Chmod(dir, 0o755))
	sock := filepath.Join(dir, "agent.sock")
	cfg := filepath.Join(dir, "agent.toml")
	require.NoError(t, os.WriteFile(cfg, []byte(`cpus = 1
[log]
level = "info"

[profiles.ci]
hostname = "ci-box"
cpus = 3
extra_hosts = ["10.1.1.1 ci-db"]

[profiles.web]
cpus = 2
extra_hosts = ["10.2.2.2 web-db"]

[profiles.nostat]
hostname = "nostat-box"
mediate_stat = false
`), 0o644))
	profile := func(meta string) string {
		args := []string{"oci", "profile", "--socket", sock, "-c", cfg}
		if meta != "" {
			args = append(args, "--metadata", meta)
		}
		r := scrim(t, args...)
		require.Equal(t, 0, r.code, r.stderr)
		f := filepath.Join(dir, "profile-"+strings.TrimPrefix(meta, "profile=")+".json")
		require.NoError(t, os.WriteFile(f, []byte(r.stdout), 0o644))
		return f
	}
	ciProfile, webProfile, plainProfile := profile("profile=ci"), profile("profile=web"), profile("")
	bundle := filepath.Join(dir, "bundle")
	require.NoError(t, os.Mkdir(bundle, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(bundle, "config.json"), []byte(`{"ociVersion":"1.0.2","hostname":"web-from-bundle"}`), 0o644))

	_, agentErr, _ := startAgent(t, sock, cfg)
	gate := filepath.Join(dir, "go")
	type box struct {
		id, profile, bundle, annotations string
	}
	boxes := []box{
		{id: "ci-1", profile: ciProfile, bundle: bundle},
		{id: "web-1", profile: webProfile, bundle: bundle},
		{id: "ann-1", profile: plainProfile, annotations: `{"run.scrim.profile":"ci"}`},
		{id: "top-1", profile: plainProfile, bundle: bundle},
		{id: "nostat-1", profile: plainProfile, annotations: `{"run.scrim.profile":"nostat"}`},
	}
	script := `cat /etc/hosts; cat /etc/hostname; grep -c ^processor /proc/cpuinfo; ls /etc/hostname; : > ` + dir + `/started-$ID; ` +
		`while [ ! -e ` + gate + ` ]; do sleep 0.01; done; echo done`
	outs := make(chan [2]string, len(boxes))
	for _, b := range boxes {
		go func() {
			cmd := exec.Command(rt, b.profile, b.id, "/bin/sh", "-c", "ID="+b.id+"; "+script)
			cmd.Env = append(os.Environ(), "OCIRUNTIME_BUNDLE="+b.bundle, "OCIRUNTIME_ANNOTATIONS="+b.annotations)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Start()
			if err == nil {
				timer := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() })
				err = cmd.Wait()
				timer.Stop()
			}
			if err != nil {
				out.WriteString("error: " + err.Error())
			}
			outs <- [2]string{b.id, out.String()}
		}()
	}
	// Every container has read its files before any ends: they are served at once.
	for _, b := range boxes {
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if _, err := os.Stat(filepath.Join(dir, "started-"+b.id)); err == nil {
				break
			}
			require.True(t, time.Now().Before(deadline), "container %s did not start within 60s; agent: %s", b.id, agentErr.String())
		}
	}
	// A container naming a profile the agent does not have, while the others run.
	refused := exec.Command(rt, plainProfile, "bad-1", "/bin/cat", "/etc/hostname")
	refused.Env = append(os.Environ(), `OCIRUNTIME_ANNOTATIONS={"run.scrim.profile":"nope"}`)
	refusedOut, err := refused.CombinedOutput()
	require.Error(t, err, "a container with an unknown profile fails: %s", refusedOut)
	require.NoError(t, os.WriteFile(gate, nil, 0o644))

	got := map[string]string{}
	for range boxes {
		o := <-outs
		got[o[0]] = o[1]
	}
	for id, want := range map[string]struct{ name, extra, cpus string }{
		"ci-1":     {"ci-box", "10.1.1.1 ci-db", "3"},
		"web-1":    {"web-from-bundle", "10.2.2.2 web-db", "2"},
		"ann-1":    {"ci-box", "10.1.1.1 ci-db", "3"},
		"top-1":    {"web-from-bundle", "", "1"},
		"nostat-1": {"nostat-box", "", "1"},
	} {
		out := got[id]
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		require.GreaterOrEqual(t, len(lines), 4, "%s: %s", id, out)
		// /etc/hosts, then the host name, the CPU count, what ls says of /etc/hostname.
		require.Equal(t, []string{want.name, want.cpus, "/etc/hostname", "done"}, lines[len(lines)-4:], "%s: %s; agent: %s", id, out, agentErr.String())
		hosts := strings.Join(lines[:len(lines)-4], "\n") + "\n"
		require.Contains(t, hosts, "127.0.1.1 "+want.name+"\n", id)
		for _, extra := range []string{"10.1.1.1 ci-db", "10.2.2.2 web-db"} {
			if extra == want.extra {
				require.Contains(t, hosts, extra+"\n", "%s: its profile's extra_hosts", id)
			} else {
				require.NotContains(t, hosts, extra, "%s: another profile's extra_hosts", id)
			}
		}
	}
	log := agentErr.String()
	require.Contains(t, log, `names profile \"nope\", which the agent's configuration does not have (it has: ci, nostat, web)`)
	require.NotContains(t, string(refusedOut), "ci-box")
	require.NotContains(t, log, "unhandled syscall", "the nostat container's stat calls are answered, not refused")
}

// TestCheckProfiles: scrim check loads every profile's plugins, as the agent does at start-up,
// and lists the profiles; a profile's bad plugin is an error naming the profile.
func TestCheckProfiles(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "agent.toml")
	require.NoError(t, os.WriteFile(cfg, []byte("cpus = 2\n[profiles.ci]\nhostname = \"ci-box\"\nmode = \"fast\"\n[profiles.web]\nmediate_stat = false\n"), 0o644))
	r := scrim(t, "check", "-c", cfg)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "\nprofiles (scrim agent), each the top level with its own keys over it:\n"+
		"     ci               mode fast, hostname ci-box, cpus 2, mediate_stat true, plugins none\n"+
		"     web              mode strict, hostname the bundle's, else scrim, cpus 2, mediate_stat false, plugins none\n")

	notWasm := filepath.Join(dir, "broken.wasm")
	require.NoError(t, os.WriteFile(notWasm, []byte("not a module"), 0o644))
	require.NoError(t, os.WriteFile(cfg, []byte("[profiles.ci]\n[[profiles.ci.plugin]]\npath = \"broken.wasm\"\n"), 0o644))
	r = scrim(t, "check", "-c", cfg)
	require.Equal(t, exitFailure, r.code)
	require.Contains(t, r.stderr, "scrim check: profile ci: load plugins: ")
	r = scrim(t, "agent", "--socket", filepath.Join(dir, "agent.sock"), "-c", cfg)
	require.Equal(t, exitFailure, r.code)
	require.Contains(t, r.stderr, "scrim agent: profile ci: load plugins: ")
	require.NoFileExists(t, filepath.Join(dir, "agent.sock"), "the agent stops before it listens")
}

// TestAgentPluginMemoryPerContainer: plugin_memory_total is a profile's, and bounds each
// container's plugin instances apart: two containers at once each hold an instance of a plugin
// whose one instance (2.1M here) fits in the profile's 3M but two would not. A profile whose
// plugin cannot fit even once stops the agent at start-up, naming the profile.
func TestAgentPluginMemoryPerContainer(t *testing.T) {
	rt := buildOCIRuntime(t)
	dir := t.TempDir()
	require.NoError(t, os.Chmod(dir, 0o755))
	sock := filepath.Join(dir, "agent.sock")
	cfg := filepath.Join(dir, "agent.toml")
	motd := motdWasm(t)
	require.NoError(t, os.WriteFile(cfg, []byte(`[profiles.tight]
plugin_memory_total = "1M"
[[profiles.tight.plugin]]
path = "`+motd+`"
`), 0o644))
	r := scrim(t, "agent", "--socket", sock, "-c", cfg)
	require.Equal(t, exitFailure, r.code)
	require.Contains(t, r.stderr, "scrim agent: profile tight: load plugins: ")
	require.Contains(t, r.stderr, "plugin_memory_total = 1M")

	require.NoError(t, os.WriteFile(cfg, []byte(`[profiles.motd]
plugin_memory_total = "3M"
[[profiles.motd.plugin]]
path = "`+motd+`"
instances = 1
[profiles.motd.plugin.config]
text = "served to $ID\n"
`), 0o644))
	r = scrim(t, "oci", "profile", "--socket", sock, "--metadata", "profile=motd", "-c", cfg)
	require.Equal(t, 0, r.code, r.stderr)
	profile := filepath.Join(dir, "profile.json")
	require.NoError(t, os.WriteFile(profile, []byte(r.stdout), 0o644))
	_, agentErr, _ := startAgent(t, sock, cfg)

	gate := filepath.Join(dir, "go")
	outs := make(chan string, 2)
	for _, id := range []string{"one", "two"} {
		go func() {
			cmd := exec.Command(rt, profile, id, "/bin/sh", "-c", "cat /etc/motd; : > "+dir+"/started-"+id+
				"; while [ ! -e "+gate+" ]; do sleep 0.01; done; cat /etc/motd")
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Start()
			if err == nil {
				timer := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() })
				err = cmd.Wait()
				timer.Stop()
			}
			if err != nil {
				out.WriteString("error: " + err.Error())
			}
			outs <- id + ": " + out.String()
		}()
	}
	for _, id := range []string{"one", "two"} {
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if _, err := os.Stat(filepath.Join(dir, "started-"+id)); err == nil {
				break
			}
			require.True(t, time.Now().Before(deadline), "container %s did not start within 60s; agent: %s", id, agentErr.String())
		}
	}
	require.NoError(t, os.WriteFile(gate, nil, 0o644))
	got := []string{<-outs, <-outs}
	want := "served to $ID\nserved to $ID\n"
	require.ElementsMatch(t, []string{"one: " + want, "two: " + want}, got, "agent: %s", agentErr.String())
}

// TestRuncProfiles: two runc containers at once under one agent, each with the seccomp
// section of its own profile (listenerMetadata profile=NAME), each see their profile: the
// host name the profile sets, or else their bundle's, its CPU count and extra hosts line; a
// `runc exec` into each is served with the same profile. Root only: runc needs it.
func TestRuncProfiles(t *testing.T) {
	testRuntimeProfiles(t, findRuntime(t, "runc"))
}

// TestCrunProfiles is TestRuncProfiles with crun, whose exec listeners name no process.
func TestCrunProfiles(t *testing.T) {
	testRuntimeProfiles(t, findRuntime(t, "crun"))
}

func testRuntimeProfiles(t *testing.T, rt *containerRuntime) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "agent.sock")
	cfg := filepath.Join(dir, "scrim.toml")
	require.NoError(t, os.WriteFile(cfg, []byte(`[log]
level = "info"
[profiles.ci]
hostname = "ci-box"
cpus = 3
extra_hosts = ["10.1.1.1 ci-db"]
[profiles.web]
cpus = 2
extra_hosts = ["10.2.2.2 web-db"]
`), 0o644))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	type box struct {
		profile, bundleHost, wantHost, wantCPUs, wantExtra string
		b                                                  *testBundle
		id, out                                            string
	}
	boxes := []*box{
		{profile: "ci", bundleHost: "ci-bundle", wantHost: "ci-box", wantCPUs: "3", wantExtra: "10.1.1.1 ci-db"},
		{profile: "web", bundleHost: "web-bundle", wantHost: "web-bundle", wantCPUs: "2", wantExtra: "10.2.2.2 web-db"},
	}
	for _, x := range boxes {
		prof := scrim(t, "oci", "profile", "--socket", sock, "--metadata", "profile="+x.profile, "-c", cfg)
		require.Equal(t, 0, prof.code, prof.stderr)
		x.b = newTestBundle(t, rt)
		x.b.file("/etc/hosts", "10.0.0.7 seeded\n", 0o644)
		x.b.hostname(x.bundleHost)
		x.b.args("/bin/sh", "-c", "cat /etc/hosts; hostname; grep -c ^processor /proc/cpuinfo; "+
			"while [ ! -e /tmp/done ]; do sleep 0.05; done")
		x.b.seccomp(prof.stdout)
		x.b.write()
		x.id = "scrim-test-profile-" + rt.name + "-" + x.profile + "-" + filepath.Base(x.b.dir)
	}
	_, agentErr, _ := startAgent(t, sock, cfg)
	for _, x := range boxes {
		var err error
		x.out, err = rt.start(ctx, x.b, x.id)
		require.NoError(t, err, "%s run %s; agent: %s", rt.name, x.id, agentErr.String())
	}
	want := func(x *box) string {
		return "10.0.0.7 seeded\n127.0.0.1 localhost\n::1 localhost\n127.0.1.1 " + x.wantHost + "\n::1 " + x.wantHost + "\n" +
			x.wantExtra + "\n" + x.wantHost + "\n" + x.wantCPUs + "\n"
	}
	// Both run: each exec sees its own container's profile.
	for _, x := range boxes {
		got, err := rt.exec(ctx, x.id, "/bin/sh", "-c", "cat /etc/hosts; hostname; grep -c ^processor /proc/cpuinfo")
		require.NoError(t, err, "%s exec: %s; agent: %s", rt.name, got, agentErr.String())
		require.Equal(t, want(x), string(got), "exec into %s", x.id)
	}
	for _, x := range boxes {
		rt.touchToEnd(t, ctx, x.id, "/tmp/done")
		first, err := os.ReadFile(x.out)
		require.NoError(t, err)
		require.Equal(t, want(x), string(first), "%s", x.id)
		require.NoError(t, rt.delete(x.id))
	}
	require.Contains(t, agentErr.String(), "profile=ci chosen_by=listenerMetadata hostname=ci-box hostname_from=config")
	require.Contains(t, agentErr.String(), "profile=web chosen_by=listenerMetadata hostname=web-bundle hostname_from=bundle")
}

// TestAgentProtectsEveryProfilesFiles: a container may not change the plugin another profile
// loads (builtin.state protects the agent's files of every profile), though its own profile
// loads none.
func TestAgentProtectsEveryProfilesFiles(t *testing.T) {
	rt := buildOCIRuntime(t)
	dir := t.TempDir()
	require.NoError(t, os.Chmod(dir, 0o755))
	wasm, err := os.ReadFile(motdWasm(t))
	require.NoError(t, err)
	plugin := filepath.Join(dir, "motd.wasm")
	require.NoError(t, os.WriteFile(plugin, wasm, 0o666))
	sock := filepath.Join(dir, "agent.sock")
	cfg := filepath.Join(dir, "agent.toml")
	require.NoError(t, os.WriteFile(cfg, []byte("[profiles.motd]\n[[profiles.motd.plugin]]\npath = \""+plugin+"\"\n"), 0o644))
	r := scrim(t, "oci", "profile", "--socket", sock, "-c", cfg)
	require.Equal(t, 0, r.code, r.stderr)
	profile := filepath.Join(dir, "profile.json")
	require.NoError(t, os.WriteFile(profile, []byte(r.stdout), 0o644))
	_, agentErr, _ := startAgent(t, sock, cfg)

	cmd := exec.Command(rt, profile, "plain-1", "/bin/sh", "-c", "echo x >> "+plugin+"; echo rc=$?")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s; agent: %s", out, agentErr.String())
	require.Contains(t, string(out), "motd.wasm: Permission denied\n", "the other profile's plugin is not writable")
	require.NotContains(t, string(out), "rc=0")
	got, err := os.ReadFile(plugin)
	require.NoError(t, err)
	require.Equal(t, wasm, got, "the plugin is unchanged")
}
