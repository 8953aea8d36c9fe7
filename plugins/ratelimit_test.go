package plugins

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// TestLog_RateLimited: a plugin that logs 100,000 warnings per open does not flood scrim's
// log: at most rateBurst lines a second get through, and every line held back is counted,
// either in the next line let through (unlogged_before) or in the last warning at close.
func TestLog_RateLimited(t *testing.T) {
	var out logLines
	log := hclog.New(&hclog.LoggerOptions{Output: &out, Level: hclog.Warn})
	h, err := Load(context.Background(), []Spec{{Name: "flood", Path: testdata("logflood"), Timeout: time.Minute}}, Options{Log: log})
	require.NoError(t, err)
	const opens, perOpen = 3, 100_000
	start := time.Now()
	for range opens {
		res, err := h.Decide(context.Background(), "flood", request("/t/x", 0))
		require.NoError(t, err)
		require.Equal(t, shim.Deny(13), res)
	}
	require.NoError(t, h.Close(context.Background()))
	// The limit is per second of the clock: the calls spanned at most this many.
	seconds := int(time.Since(start)/time.Second) + 2

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	logged, counted := 0, 0
	for _, l := range lines {
		switch {
		case strings.Contains(l, "plugin log:"):
			logged++
			require.Contains(t, l, `text=flood`)
			if m := regexp.MustCompile(`unlogged_before=(\d+)`).FindStringSubmatch(l); m != nil {
				n, _ := strconv.Atoi(m[1])
				counted += n
			}
		case strings.Contains(l, "plugin log lines held back by the rate limit"):
			m := regexp.MustCompile(`count=(\d+)`).FindStringSubmatch(l)
			require.NotNil(t, m, l)
			n, _ := strconv.Atoi(m[1])
			counted += n
		default:
			t.Fatalf("unexpected line %q", l)
		}
	}
	require.Equal(t, opens*perOpen, logged+counted, "every line is logged or counted")
	require.LessOrEqual(t, logged, seconds*rateBurst, "the flood is cut to rateBurst lines a second")
	require.Contains(t, out.String(), "plugin log lines held back by the rate limit")
}

// TestLog_BelowLevelNotCounted: lines below the log level are neither logged nor counted, so
// that debug chatter never uses up the warnings' allowance.
func TestLog_BelowLevelNotCounted(t *testing.T) {
	var out logLines
	log := hclog.New(&hclog.LoggerOptions{Output: &out, Level: hclog.Error})
	h, err := Load(context.Background(), []Spec{{Name: "flood", Path: testdata("logflood"), Timeout: time.Minute}}, Options{Log: log})
	require.NoError(t, err)
	_, err = h.Decide(context.Background(), "flood", request("/t/x", 0))
	require.NoError(t, err)
	require.Zero(t, h.plugins[0].logs.dropped.Load())
	require.NoError(t, h.Close(context.Background()))
	require.Empty(t, out.String())
}
