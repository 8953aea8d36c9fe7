package archtest

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const launchPkg = module + "/supervisor/launch"

// listed is the part of `go list -json` output the checks below need.
type listed struct {
	ImportPath   string
	Name         string
	Dir          string
	GoFiles      []string
	Imports      []string
	TestGoFiles  []string
	XTestGoFiles []string
	TestImports  []string
	XTestImports []string
}

func listFiles(t *testing.T) []listed {
	return goList[listed](t, "ImportPath,Name,Dir,GoFiles,Imports,TestGoFiles,XTestGoFiles,TestImports,XTestImports")
}

// dispatchCall is a call of launch.Dispatch, or of Dispatch inside package launch.
var dispatchCall = regexp.MustCompile(`(?m)^\s*(launch\.)?Dispatch\(\)`)

// TestSandboxBinariesDispatch: scrim starts a sandbox's keeper and stub by executing
// /proc/self/exe, so every binary that can start one must call launch.Dispatch before anything
// else: main packages that import launch in main, and packages whose tests import it (or
// launch's own tests) in TestMain. launch.New also refuses to run without it; this finds the
// omission before a test does.
func TestSandboxBinariesDispatch(t *testing.T) {
	var checked []string
	for _, p := range listFiles(t) {
		var files []string
		switch {
		case p.Name == "main" && slices.Contains(p.Imports, launchPkg):
			files = p.GoFiles
		case p.ImportPath == launchPkg || slices.Contains(p.TestImports, launchPkg) || slices.Contains(p.XTestImports, launchPkg):
			files = append(slices.Clone(p.TestGoFiles), p.XTestGoFiles...)
		default:
			continue
		}
		checked = append(checked, p.ImportPath)
		found := false
		for _, f := range files {
			src, err := os.ReadFile(filepath.Join(p.Dir, f))
			require.NoError(t, err)
			body := string(src)
			fn := "func main() {"
			if strings.HasSuffix(f, "_test.go") {
				fn = "func TestMain(m *testing.M) {"
			}
			i := strings.Index(body, fn)
			if i < 0 {
				continue
			}
			end := strings.Index(body[i:], "\n}\n")
			if end >= 0 && dispatchCall.MatchString(body[i:i+end]) {
				found = true
			}
		}
		require.True(t, found, "%s starts sandboxes but its %s does not call launch.Dispatch", p.ImportPath, map[bool]string{true: "main", false: "TestMain"}[p.Name == "main"])
	}
	require.Contains(t, checked, launchPkg, "launch's own tests")
	require.Contains(t, checked, module+"/cmd/scrim", "scrim's main")
}

// seccompUse is what marks code that talks to the kernel's seccomp interface directly.
var seccompUse = regexp.MustCompile(`SYS_SECCOMP|SECCOMP_IOCTL|SECCOMP_SET_MODE|0x4008210|0x4018210`)

// TestSeccompUnsafeInOnePackage: only internal/kernel/seccomp uses unsafe for seccomp; the
// rest of scrim calls it.
func TestSeccompUnsafeInOnePackage(t *testing.T) {
	var users []string
	for _, p := range listFiles(t) {
		for _, f := range p.GoFiles {
			src, err := os.ReadFile(filepath.Join(p.Dir, f))
			require.NoError(t, err)
			if bytes.Contains(src, []byte(`"unsafe"`)) && seccompUse.Match(src) {
				name, _ := rel(p.ImportPath)
				users = append(users, name+"/"+f)
			}
		}
	}
	require.Equal(t, []string{"internal/kernel/seccomp/seccomp_unsafe.go"}, users)
}
