package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// maxBundleConfig bounds the bundle's config.json the agent reads. A runtime's config.json
// is a few kilobytes, tens with a long seccomp section.
const maxBundleConfig = 4 << 20

// bundleHostname returns the hostname field of the OCI config.json in bundle, "" when the
// bundle or its config.json does not exist or names no host name. The file is the runtime's,
// on the host: it is read only if it is a regular file (a FIFO there must not hang the agent)
// of at most maxBundleConfig bytes.
func bundleHostname(bundle string) (string, error) {
	if bundle == "" {
		return "", nil
	}
	if !filepath.IsAbs(bundle) {
		return "", fmt.Errorf("bundle %q is not an absolute path", bundle)
	}
	name := filepath.Join(bundle, "config.json")
	fd, err := unix.Open(name, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("open %s: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", name)
	}
	if fi.Size() > maxBundleConfig {
		return "", fmt.Errorf("%s has %d bytes, more than the %d the agent reads", name, fi.Size(), maxBundleConfig)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxBundleConfig+1))
	if err != nil {
		return "", fmt.Errorf("read %s: %w", name, err)
	}
	if len(b) > maxBundleConfig {
		return "", fmt.Errorf("%s grew past the %d bytes the agent reads", name, maxBundleConfig)
	}
	var spec struct {
		Hostname string `json:"hostname"`
	}
	if err := json.Unmarshal(b, &spec); err != nil {
		return "", fmt.Errorf("decode %s: %w", name, err)
	}
	return spec.Hostname, nil
}
