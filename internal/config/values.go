package config

import (
	"fmt"
	"math"
	"net/netip"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// The checks in this file are shared by the config file and the command line, so a value means
// the same wherever it is written. Their errors say what is allowed; the caller adds where.
// Every value a message repeats goes through Quote.

// maxQuoted is how many bytes of a value Quote repeats.
const maxQuoted = 64

// Quote quotes v for a message as %q does, abbreviated when v is long: a config file can hold a
// string of megabytes, and a message names such a value, it does not repeat it.
func Quote(v string) string {
	if len(v) <= maxQuoted {
		return strconv.Quote(v)
	}
	cut := maxQuoted
	for cut > 0 && !utf8.RuneStart(v[cut]) {
		cut--
	}
	return fmt.Sprintf("%s (%d bytes)", strconv.Quote(v[:cut]+"…"), len(v))
}

// nameChar names the character at the start of s for a message: 'ü', or the byte when s does
// not start with valid UTF-8.
func nameChar(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError && n <= 1 {
		return fmt.Sprintf("byte 0x%02x (not UTF-8)", s[0])
	}
	return strconv.QuoteRune(r)
}

// MaxCPUs is the largest CPU count the sandbox may be shown: x86_64's CONFIG_NR_CPUS limit.
const MaxCPUs = 8192

var (
	modes      = []string{"strict", "fast"}
	logLevels  = []string{"trace", "debug", "info", "warn", "error", "off"}
	logFormats = []string{"text", "json"}
)

func oneOf(what, v string, allowed []string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return fmt.Errorf("%s is not a %s; allowed: %s", Quote(v), what, strings.Join(allowed, ", "))
}

func checkMode(v string) error      { return oneOf("mode", v, modes) }
func checkLogLevel(v string) error  { return oneOf("log level", v, logLevels) }
func checkLogFormat(v string) error { return oneOf("log format", v, logFormats) }

// MinMemory and MaxMemory bound the memory total the sandbox may be shown (0 keeps the host's):
// builtin.memory needs a whole MiB, and x86_64 addresses at most 4 PiB of physical memory (52
// bits).
const (
	MinMemory = 1 << 20
	MaxMemory = 1 << 52
)

func checkMemory(n uint64) error {
	if n != 0 && (n < MinMemory || n > MaxMemory) {
		return fmt.Errorf("%s is out of range; allowed: 0 (keep the host's total) or a size from %s to %s", FormatSize(n), FormatSize(MinMemory), FormatSize(MaxMemory))
	}
	return nil
}

func checkCPUs(n int64) error {
	if n < 0 || n > MaxCPUs {
		return fmt.Errorf("%d is out of range; allowed: a whole number from 0 (keep the host's count) to %d", n, MaxCPUs)
	}
	return nil
}

// CheckHostname reports whether name is a host name the kernel and resolvers accept: at most 64
// bytes (HOST_NAME_MAX), dot-separated labels of letters, digits and '-', no label empty, longer
// than 63 bytes, or starting or ending with '-'.
func CheckHostname(name string) error {
	const allowed = "letters, digits, '-' and '.', labels of 1 to 63 bytes not starting or ending with '-', at most 64 bytes"
	for i := 0; i < len(name); i++ {
		if !isHostByte(name[i]) && name[i] != '.' {
			return fmt.Errorf("%s is not a valid host name: %s is not allowed; allowed: %s", Quote(name), nameChar(name[i:]), allowed)
		}
	}
	if name == "" || len(name) > 64 {
		return fmt.Errorf("%s is not a valid host name; allowed: %s", Quote(name), allowed)
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("%s is not a valid host name; allowed: %s", Quote(name), allowed)
		}
	}
	return nil
}

func isHostByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-'
}

// ParseSize reads a byte count: a whole number of bytes, or a number with a binary suffix K, M,
// G or T (also KB, KiB and so on; any case), like "512M" or "1.5G".
func ParseSize(s string) (uint64, error) {
	m := sizePattern().FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf("%s is not a size; allowed: bytes as a whole number, or a number with K, M, G or T (powers of 1024), like 512M or 2G", Quote(s))
	}
	mult := map[string]float64{"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}[strings.ToUpper(m[2])]
	if n, err := strconv.ParseUint(m[1], 10, 64); err == nil && float64(n)*mult < math.MaxUint64/2 {
		return n * uint64(mult), nil
	}
	f, _ := strconv.ParseFloat(m[1], 64)
	v := f * mult
	if v >= math.MaxUint64/2 {
		return 0, fmt.Errorf("%s is too large", Quote(s))
	}
	if v != math.Trunc(v) {
		return 0, fmt.Errorf("%s is not a whole number of bytes", Quote(s))
	}
	return uint64(v), nil
}

var sizePattern = lazyRegexp(`^([0-9]+(?:\.[0-9]+)?) ?(?:([KMGTkmgt])(?:[iI]?[bB])?|[bB])?$`)

// FormatSize writes n the way ParseSize reads it, with the largest exact unit.
func FormatSize(n uint64) string {
	for _, u := range []struct {
		suffix string
		shift  uint
	}{{"T", 40}, {"G", 30}, {"M", 20}, {"K", 10}} {
		if n != 0 && n%(1<<u.shift) == 0 {
			return strconv.FormatUint(n>>u.shift, 10) + u.suffix
		}
	}
	return strconv.FormatUint(n, 10)
}

// checkNetAllow checks a "HOST" or "HOST=IP" entry. An address or a CIDR network is accepted
// too: builtin.hosts writes no line for it.
func checkNetAllow(v string) error {
	if _, err := netip.ParsePrefix(v); err == nil {
		return nil
	}
	if _, err := netip.ParseAddr(v); err == nil {
		return nil
	}
	host, ip, hasIP := strings.Cut(v, "=")
	if err := CheckHostname(host); err != nil {
		return fmt.Errorf("%s: want HOST or HOST=IP: %w", Quote(v), err)
	}
	if hasIP {
		if _, err := netip.ParseAddr(ip); err != nil {
			return fmt.Errorf("%s: want HOST or HOST=IP: %s is not an IP address", Quote(v), Quote(ip))
		}
	}
	return nil
}

// checkExtraHost checks an "IP NAME..." line for /etc/hosts.
func checkExtraHost(v string) error {
	fields := strings.Fields(v)
	if len(fields) < 2 {
		return fmt.Errorf("%s: want \"IP NAME...\", an address and at least one name", Quote(v))
	}
	if _, err := netip.ParseAddr(fields[0]); err != nil {
		return fmt.Errorf("%s: want \"IP NAME...\": %s is not an IP address", Quote(v), Quote(fields[0]))
	}
	for _, name := range fields[1:] {
		if err := CheckHostname(name); err != nil {
			return fmt.Errorf("%s: %w", Quote(v), err)
		}
	}
	return nil
}

func checkAbsPath(v string) error {
	if !filepath.IsAbs(v) {
		return fmt.Errorf("%s is not an absolute path; allowed: a path starting with /", Quote(v))
	}
	if strings.IndexByte(v, 0) >= 0 {
		return fmt.Errorf("%s holds a NUL byte; allowed: a path without one", Quote(v))
	}
	return nil
}

// ParseMount reads a HOST:INSIDE[:ro] mount spec. INSIDE must be absolute; HOST is returned as
// written for the caller to resolve.
func ParseMount(v string) (Mount, error) {
	const allowed = "HOST:INSIDE or HOST:INSIDE:ro, INSIDE an absolute path"
	parts := strings.Split(v, ":")
	var m Mount
	switch {
	case len(parts) == 2:
	case len(parts) == 3 && parts[2] == "ro":
		m.ReadOnly = true
	case len(parts) == 3 && parts[2] == "rw":
	default:
		return Mount{}, fmt.Errorf("%s is not a mount; allowed: %s", Quote(v), allowed)
	}
	m.Host, m.Inside = parts[0], parts[1]
	if m.Host == "" || m.Inside == "" {
		return Mount{}, fmt.Errorf("%s is not a mount; allowed: %s", Quote(v), allowed)
	}
	if !filepath.IsAbs(m.Inside) {
		return Mount{}, fmt.Errorf("%s: %s is not an absolute path; allowed: %s", Quote(v), Quote(m.Inside), allowed)
	}
	m.Inside = filepath.Clean(m.Inside)
	return m, nil
}

// errnos maps errno names ("EIO") to values, built from the x/sys/unix name table on first use:
// like the patterns below, it is not built at start-up, which every re-executed scrim (the
// keeper, the stub) pays for.
var errnos = sync.OnceValue(func() map[string]unix.Errno {
	m := map[string]unix.Errno{}
	for e := unix.Errno(1); e < 256; e++ {
		if name := unix.ErrnoName(e); name != "" {
			m[name] = e
		}
	}
	return m
})

// Errno returns the errno named name ("EACCES").
func Errno(name string) (unix.Errno, error) {
	if e, ok := errnos()[name]; ok {
		return e, nil
	}
	return 0, fmt.Errorf("%s is not an errno name; allowed: a Linux errno name such as EIO, EACCES, ENOENT, EPERM", Quote(name))
}

var pluginName = lazyRegexp(`^[a-z0-9][a-z0-9_-]{0,62}$`)

func checkPluginName(v string) error {
	if !pluginName().MatchString(v) {
		return fmt.Errorf("%s is not a plugin name; allowed: lowercase letters, digits, '_' and '-', starting with a letter or digit, at most 63 bytes", Quote(v))
	}
	return nil
}

func checkDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s is not a positive duration; allowed: a number with a unit, like 250ms or 2s", Quote(v))
	}
	return d, nil
}

var hexDigest = lazyRegexp(`^[0-9a-f]{64}$`)

func checkSHA256(v string) error {
	if !hexDigest().MatchString(v) {
		return fmt.Errorf("%s is not a SHA-256 digest; allowed: 64 lowercase hex digits", Quote(v))
	}
	return nil
}

// lazyRegexp compiles pattern on first use.
func lazyRegexp(pattern string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(pattern) })
}
