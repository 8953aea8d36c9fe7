package main

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/internal/config"
)

// version is scrim's version. Release builds set it:
//
//	go build -ldflags "-X main.version=v1.2.3" ./cmd/scrim
//
// Otherwise it comes from the module's build information.
var version = ""

const versionUsage = `Usage: scrim version

Prints scrim's version, the Go version it was built with, and the kernel and the kernel
features scrim found on this machine. scrim --version (or -V) prints the first line alone.
`

func cmdVersion(args []string, stdout, stderr io.Writer) int {
	p, err := parseNoFlags("version", versionUsage, args, stdout)
	if errors.Is(err, errHelp) {
		return 0
	}
	if err != nil {
		return usageError(stderr, "version", err)
	}
	if len(p) > 0 {
		return usageError(stderr, "version", fmt.Errorf("unexpected argument %s", config.Quote(p[0])))
	}
	fmt.Fprintf(stdout, "scrim %s\n", scrimVersion())
	fmt.Fprintf(stdout, "go %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(stdout, "kernel %s\n", kernelRelease())
	printKernelFeatures(stdout)
	return 0
}

// cmdShortVersion is scrim --version and scrim -V: the first line of scrim version alone,
// without probing the kernel.
func cmdShortVersion(args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		fmt.Fprint(stdout, versionUsage)
		return 0
	}
	if len(args) > 0 {
		return usageError(stderr, "--version", fmt.Errorf("unexpected argument %s", config.Quote(args[0])))
	}
	fmt.Fprintf(stdout, "scrim %s\n", scrimVersion())
	return 0
}

func scrimVersion() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := info.Main.Version
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += "+" + s.Value[:12]
		}
	}
	return v
}

func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "unknown: " + err.Error()
	}
	return unix.ByteSliceToString(u.Release[:]) + " " + unix.ByteSliceToString(u.Machine[:])
}
