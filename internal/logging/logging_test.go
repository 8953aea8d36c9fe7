package logging

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name          string
		level, format string
		wantErr       string
		wantShown     bool // whether an info message is written
		wantJSON      bool
	}{
		{name: "text info", level: "info", format: "text", wantShown: true},
		{name: "json debug", level: "debug", format: "json", wantShown: true, wantJSON: true},
		{name: "warn hides info", level: "warn", format: "text"},
		{name: "off", level: "off", format: "json"},
		{name: "bad level", level: "loud", format: "text", wantErr: `logging: level "loud": want trace, debug, info, warn, error or off`},
		{name: "bad format", level: "info", format: "xml", wantErr: `logging: format "xml": want text or json`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			log, err := New(&buf, tc.level, tc.format)
			if tc.wantErr != "" {
				require.EqualError(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			log.Named("supervisor").Info("child started", "pid", 42)
			if !tc.wantShown {
				require.Empty(t, buf.String())
				return
			}
			if tc.wantJSON {
				var rec map[string]any
				require.NoError(t, json.Unmarshal(buf.Bytes(), &rec))
				require.Equal(t, "scrim.supervisor", rec["@module"])
				require.Equal(t, "child started", rec["@message"])
				require.EqualValues(t, 42, rec["pid"])
				return
			}
			require.Contains(t, buf.String(), "[INFO]  scrim.supervisor: child started: pid=42")
		})
	}
}
