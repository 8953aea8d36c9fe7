package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/scrim-sandbox/scrim/internal/config"
	"github.com/scrim-sandbox/scrim/supervisor"
	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

const ociUsage = `Usage: scrim oci profile --socket PATH [--metadata STRING] [-c FILE]

Prints the linux.seccomp section (JSON) a container runtime needs to send each container's
seccomp listener to 'scrim agent --socket PATH': the calls scrim mediates as SCMP_ACT_NOTIFY,
the calls scrim refuses as SCMP_ACT_ERRNO with scrim's errno, everything else allowed, for
x86_64. It is derived from the same tables as the filter scrim run installs, for the
configuration FILE (the agent must use the same one), or for its profile NAME when STRING is
"profile=NAME". docs/containers.md says how to use it.

Flags:
  --socket PATH       the agent's socket, an absolute path (listenerPath)
  --metadata STRING   passed to the agent with every listener (listenerMetadata);
                      "profile=NAME" chooses the profile [profiles.NAME] of FILE
  -c, --config FILE   the configuration the agent runs with
`

// ociSeccomp is the linux.seccomp object of an OCI runtime's config.json.
type ociSeccomp struct {
	DefaultAction    string       `json:"defaultAction"`
	Architectures    []string     `json:"architectures"`
	ListenerPath     string       `json:"listenerPath"`
	ListenerMetadata string       `json:"listenerMetadata,omitempty"`
	Syscalls         []ociSyscall `json:"syscalls"`
}

// ociSyscall is one entry of linux.seccomp.syscalls.
type ociSyscall struct {
	Names    []string `json:"names"`
	Action   string   `json:"action"`
	ErrnoRet *uint    `json:"errnoRet,omitempty"`
	Args     []ociArg `json:"args,omitempty"`
}

// ociArg is one argument condition. For SCMP_CMP_MASKED_EQ Value is the mask and ValueTwo
// the value the masked argument must equal, as libseccomp takes them.
type ociArg struct {
	Index    uint   `json:"index"`
	Value    uint64 `json:"value"`
	ValueTwo uint64 `json:"valueTwo"`
	Op       string `json:"op"`
}

func cmdOCI(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, ociUsage)
		return exitFailure
	}
	switch args[0] {
	case "profile":
		return cmdOCIProfile(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, ociUsage)
		return 0
	}
	return report(stderr, "oci", fmt.Errorf("%s: unknown subcommand; the one subcommand is profile ('scrim oci --help')", config.Quote(args[0])))
}

func cmdOCIProfile(args []string, stdout, stderr io.Writer) int {
	const cmd = "oci profile"
	var p parsed
	var socket, metadata string
	fs := flag.NewFlagSet("scrim "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&socket, "socket", "", "")
	fs.StringVar(&metadata, "metadata", "", "")
	fs.StringVar(&p.config, "config", "", "")
	fs.StringVar(&p.config, "c", "", "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, ociUsage)
			return 0
		}
		return usageError(stderr, cmd, err)
	}
	if fs.NArg() > 0 {
		return usageError(stderr, cmd, fmt.Errorf("unexpected argument %s", config.Quote(fs.Arg(0))))
	}
	if socket == "" || !filepath.IsAbs(socket) {
		return usageError(stderr, cmd, errors.New("--socket: name the agent's socket by an absolute path"))
	}
	cfg, ok := loadConfig(p, cmd, stderr)
	if !ok {
		return exitFailure
	}
	// The agent reads the same metadata: a string it would refuse is refused here first.
	name, err := metadataProfile(metadata)
	if err != nil {
		return usageError(stderr, cmd, fmt.Errorf("--metadata: %w", err))
	}
	cfg, ok = cfg.ForProfile(name)
	if !ok {
		return report(stderr, cmd, fmt.Errorf("--metadata: profile %s: %s has no [profiles.%s]", config.Quote(name), orDefault(p.config, "the built-in configuration"), name))
	}
	ctx := context.Background()
	h, err := buildHandlers(ctx, cfg, hclog.NewNullLogger(), false)
	if err != nil {
		return report(stderr, cmd, err)
	}
	defer h.close(ctx, hclog.NewNullLogger())
	prof, err := ociProfile(containerFilter(cfg, h), socket, metadata)
	if err != nil {
		return report(stderr, cmd, err)
	}
	out, err := json.MarshalIndent(prof, "", "  ")
	if err != nil {
		return report(stderr, cmd, err)
	}
	fmt.Fprintf(stdout, "%s\n", out)
	return 0
}

// containerFilter is the filter a container served by the agent runs under: scrim run's, but
// with the kill family left to the kernel, since the agent serves only containers in a pid
// namespace of their own (agent.go), which keeps their signals in.
func containerFilter(cfg config.Config, h *handlers) supervisor.FilterOptions {
	return supervisor.FilterOptions{SyscallHandlers: h.syscalls, Stat: cfg.MediateStat, Keyring: cfg.Keyring, Changes: true}
}

// ociProfile turns the filter's rules into a linux.seccomp section: rules with the same action
// and conditions share one entry, in the order of their first call number.
func ociProfile(o supervisor.FilterOptions, socket, metadata string) (ociSeccomp, error) {
	rules, err := supervisor.Rules(o)
	if err != nil {
		return ociSeccomp{}, err
	}
	prof := ociSeccomp{
		DefaultAction:    "SCMP_ACT_ALLOW",
		Architectures:    []string{"SCMP_ARCH_X86_64"},
		ListenerPath:     socket,
		ListenerMetadata: metadata,
	}
	index := map[string]int{}
	for _, r := range rules {
		name := shim.SyscallName(r.Nr)
		if strings.HasPrefix(name, "syscall(") {
			return ociSeccomp{}, fmt.Errorf("oci profile: syscall %d has no name", r.Nr)
		}
		e := ociSyscall{}
		switch r.Action {
		case supervisor.RuleNotify:
			e.Action = "SCMP_ACT_NOTIFY"
		case supervisor.RuleErrno:
			e.Action = "SCMP_ACT_ERRNO"
			n := uint(r.Errno)
			e.ErrnoRet = &n
		default:
			return ociSeccomp{}, fmt.Errorf("oci profile: %s: unknown rule action %d", name, r.Action)
		}
		for _, c := range r.Args {
			a := ociArg{Index: uint(c.Index)}
			switch c.Op {
			case supervisor.CmpNE:
				a.Op, a.Value = "SCMP_CMP_NE", c.Value
			case supervisor.CmpMaskedEQ:
				a.Op, a.Value, a.ValueTwo = "SCMP_CMP_MASKED_EQ", c.Mask, c.Value
			default:
				return ociSeccomp{}, fmt.Errorf("oci profile: %s: unknown comparison %d", name, c.Op)
			}
			e.Args = append(e.Args, a)
		}
		key, _ := json.Marshal(e)
		if i, ok := index[string(key)]; ok {
			prof.Syscalls[i].Names = append(prof.Syscalls[i].Names, name)
			continue
		}
		index[string(key)] = len(prof.Syscalls)
		e.Names = []string{name}
		prof.Syscalls = append(prof.Syscalls, e)
	}
	return prof, nil
}
