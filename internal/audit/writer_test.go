package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"
)

func record(i int) Record {
	return Record{
		Time:    time.Date(2026, 11, 28, 6, 0, 0, i, time.UTC),
		Seq:     uint64(i + 1),
		PID:     100 + i,
		TID:     200 + i,
		Syscall: "openat",
		Spelled: "../etc/hosts",
		Path:    "/etc/hosts",
		Handler: "builtin.hosts",
		Verdict: "serve",
		Micros:  int64(i),
	}
}

func TestAppendJSON(t *testing.T) {
	tests := []struct {
		name string
		rec  Record
		want string
	}{
		{
			name: "served",
			rec:  record(7),
			want: `{"time":"2026-11-28T06:00:00.000000007Z","seq":8,"pid":107,"tid":207,"syscall":"openat","spelled":"../etc/hosts","path":"/etc/hosts","handler":"builtin.hosts","verdict":"serve","us":7}`,
		},
		{
			name: "denied with errno",
			rec: Record{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), PID: 1, TID: 2, Syscall: "open",
				Spelled: "/proc/kcore", Path: "/proc/kcore", Handler: "builtin.proc_deny", Verdict: "deny", Errno: "EACCES", Micros: 12},
			want: `{"time":"2026-01-02T03:04:05Z","seq":0,"pid":1,"tid":2,"syscall":"open","spelled":"/proc/kcore","path":"/proc/kcore","handler":"builtin.proc_deny","verdict":"deny","errno":"EACCES","us":12}`,
		},
		{
			name: "a call that names no path",
			rec: Record{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Seq: 41, PID: 1, TID: 2, Syscall: "uname",
				NoPath: true, Handler: "builtin.hostname", Verdict: "serve", Micros: 3},
			want: `{"time":"2026-01-02T03:04:05Z","seq":41,"pid":1,"tid":2,"syscall":"uname","handler":"builtin.hostname","verdict":"serve","us":3}`,
		},
		{
			name: "a call with two paths",
			rec: Record{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Seq: 42, PID: 1, TID: 2, Syscall: "rename",
				Spelled: "a", Path: "/tmp/a", Spelled2: "../b", Path2: "/b", Handler: "root", Verdict: "real", Micros: 9},
			want: `{"time":"2026-01-02T03:04:05Z","seq":42,"pid":1,"tid":2,"syscall":"rename","spelled":"a","path":"/tmp/a","spelled2":"../b","path2":"/b","handler":"root","verdict":"real","us":9}`,
		},
		{
			name: "a container's call",
			rec: Record{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Seq: 3, PID: 1, TID: 1, Syscall: "openat", Container: "web-1",
				Spelled: "/etc/hosts", Path: "/etc/hosts", Handler: "builtin.hosts", Verdict: "serve", Micros: 5},
			want: `{"time":"2026-01-02T03:04:05Z","seq":3,"pid":1,"tid":1,"syscall":"openat","container":"web-1","spelled":"/etc/hosts","path":"/etc/hosts","handler":"builtin.hosts","verdict":"serve","us":5}`,
		},
		{
			name: "escapes",
			rec:  Record{Spelled: "a\"b\\c\nd\te\x01\x7f", Path: "/x\u2028y"},
			want: `{"time":"0001-01-01T00:00:00Z","seq":0,"pid":0,"tid":0,"syscall":"","spelled":"a\"b\\c\nd\te\u0001\u007f","path":"/x\u2028y","handler":"","verdict":"","us":0}`,
		},
		{
			name: "invalid UTF-8 is kept as surrogate escapes",
			rec:  Record{Spelled: "caf\xe9/\xff\xfe", Path: "/tmp/héllo"},
			want: `{"time":"0001-01-01T00:00:00Z","seq":0,"pid":0,"tid":0,"syscall":"","spelled":"caf\udce9/\udcff\udcfe","path":"/tmp/héllo","handler":"","verdict":"","us":0}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := string(AppendJSON(nil, tc.rec))
			require.Equal(t, tc.want+"\n", got)
			require.True(t, json.Valid([]byte(got)), "every line is valid JSON")
		})
	}
}

// TestAppendJSON_LongPath: a canonical path longer than PATH_MAX is cut, so that no line grows
// past what Check reads to find the last one; the 4096 bytes of a path too long to open are
// kept whole.
func TestAppendJSON_LongPath(t *testing.T) {
	long := "/" + strings.Repeat("\xff", 200_000)
	spelled := strings.Repeat("a", 4096)
	line := AppendJSON(nil, Record{Spelled: spelled, Path: long, Spelled2: long, Path2: long})
	require.Less(t, len(line), maxLine)
	var got map[string]any
	require.NoError(t, json.Unmarshal(line, &got))
	require.Equal(t, spelled, got["spelled"])
	require.True(t, strings.HasSuffix(got["path"].(string), "…"), "a cut path ends with …")
	require.NotContains(t, string(AppendJSON(nil, Record{Path: strings.Repeat("b", 4096)})), "…", "4096 bytes are kept whole")

	path := filepath.Join(t.TempDir(), "audit.jsonl")
	w, err := Open(path, Options{})
	require.NoError(t, err)
	w.Record(Record{Time: time.Now(), Seq: 1, Syscall: "openat", Spelled: "x", Path: long, Handler: "root", Verdict: "real"})
	require.NoError(t, w.Close())
	w, err = Open(path, Options{})
	require.NoError(t, err, "a later run appends to the log")
	require.NoError(t, w.Close())
}

func TestAppendJSON_MatchesEncodingJSON(t *testing.T) {
	// For valid UTF-8 the hand-written encoder must agree with encoding/json field for field.
	rec := record(3)
	rec.Errno = "ENOENT"
	var viaStd, viaOurs map[string]any
	std, err := json.Marshal(rec)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(std, &viaStd))
	require.NoError(t, json.Unmarshal(AppendJSON(nil, rec), &viaOurs))
	require.Equal(t, viaStd, viaOurs)
}

func TestWriter_WritesEveryRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	w, err := Open(path, Options{})
	require.NoError(t, err)
	const goroutines, each = 8, 200
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				w.Record(record(g*each + i))
				if i%50 == 0 {
					time.Sleep(time.Millisecond) // let the writer catch up: nothing may drop
				}
			}
		}()
	}
	wg.Wait()
	require.NoError(t, w.Close())
	require.Zero(t, w.Dropped())
	require.EqualValues(t, goroutines*each, w.Written())

	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	fi, err := f.Stat()
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "the audit log is private")
	seen := map[int]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r Record
		require.NoError(t, json.Unmarshal(sc.Bytes(), &r))
		seen[r.PID] = true
	}
	require.NoError(t, sc.Err())
	require.Len(t, seen, goroutines*each)
}

// blockingWriter holds every write until release is closed, like a disk that stalls.
type blockingWriter struct {
	release chan struct{}
	buf     bytes.Buffer
}

func (b *blockingWriter) Write(p []byte) (int, error) {
	<-b.release
	return b.buf.Write(p)
}

func TestWriter_FullBufferDropsAndCounts(t *testing.T) {
	out := &blockingWriter{release: make(chan struct{})}
	var logs bytes.Buffer
	w := NewWriter(out, Options{Buffer: 4, Log: hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Warn})})

	// The disk is stuck: Record must still return at once every time.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 1000 {
			w.Record(record(i))
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Record blocked on a stalled disk")
	}
	// 1000 records are far more than the queue and the writer's 64 KiB buffer can hold.
	require.Positive(t, w.Dropped())

	close(out.release)
	require.NoError(t, w.Close())
	require.EqualValues(t, 1000, w.Dropped()+w.Written())
	lines := strings.Count(out.buf.String(), "\n")
	require.EqualValues(t, w.Written(), lines)
	require.Equal(t, 1, strings.Count(logs.String(), "audit records dropped"), "the count is reported once, at close: %s", logs.String())
	require.Contains(t, logs.String(), "dropped=")
}

func TestWriter_FullDisk(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("skipped: this system has no /dev/full to simulate a full disk")
	}
	var logs bytes.Buffer
	w, err := Open("/dev/full", Options{Log: hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Warn})})
	require.NoError(t, err)
	for i := range 100 {
		w.Record(record(i))
		if i%10 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	err = w.Close()
	require.ErrorContains(t, err, "no space left on device")
	require.EqualValues(t, 100, w.Dropped(), "nothing reached the disk")
	require.Zero(t, w.Written())
	require.Equal(t, 1, strings.Count(logs.String(), "audit log write failed"), "a full disk is logged once: %s", logs.String())
	require.Equal(t, 1, strings.Count(logs.String(), "audit records dropped"))
}

func TestWriter_RecordAfterClose(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out, Options{})
	w.Record(record(1))
	require.NoError(t, w.Close())
	require.NoError(t, w.Close(), "Close is idempotent")
	w.Record(record(2)) // must neither panic nor block
	require.EqualValues(t, 1, w.Written())
	require.EqualValues(t, 1, w.Dropped())
	require.Equal(t, 1, strings.Count(out.String(), "\n"))
}

func TestOpen_Error(t *testing.T) {
	_, err := Open(filepath.Join(t.TempDir(), "no", "such", "dir", "audit.jsonl"), Options{})
	require.ErrorIs(t, err, os.ErrNotExist)
	require.ErrorContains(t, err, "open audit log ")
}

func BenchmarkAppendJSON(b *testing.B) {
	rec := record(1)
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendJSON(buf[:0], rec)
	}
}

// BenchmarkWriter_Record measures what a mediated call pays for auditing: the queue, not the
// disk.
func BenchmarkWriter_Record(b *testing.B) {
	w := NewWriter(io.Discard, Options{})
	defer w.Close()
	rec := record(1)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w.Record(rec)
		}
	})
}

func TestAppendJSON_PluginStats(t *testing.T) {
	at := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)
	line := AppendJSON(nil, Record{Time: at, Plugin: &PluginStats{
		Name: "motd", Calls: 7, Faults: 2, Traps: 1, Timeouts: 1, Broken: 0, Replaced: 2, MeanMicros: 40, MaxMicros: 900,
	}})
	require.True(t, bytes.HasSuffix(line, []byte("}\n")))
	var got map[string]any
	require.NoError(t, json.Unmarshal(line, &got), string(line))
	require.Equal(t, map[string]any{
		"time": "2026-11-28T08:00:00Z", "plugin": "motd", "calls": 7.0, "faults": 2.0, "traps": 1.0,
		"timeouts": 1.0, "broken": 0.0, "replaced": 2.0, "mean_us": 40.0, "max_us": 900.0,
	}, got)
}

// TestOpen_Appends: a second Open adds to what the first wrote, and a new file is 0600.
func TestOpen_Appends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	for i := 1; i <= 2; i++ {
		w, err := Open(path, Options{})
		require.NoError(t, err)
		w.Record(record(i))
		require.NoError(t, w.Close())
	}
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, string(AppendJSON(AppendJSON(nil, record(1)), record(2))), string(data))
}

// TestOpen_RefusesWhatScrimDidNotWrite: Open refuses a file whose first or last line is not a
// record of scrim's, and leaves it byte for byte as it was.
func TestOpen_RefusesWhatScrimDidNotWrite(t *testing.T) {
	rec := string(AppendJSON(nil, record(1)))
	stats := string(AppendJSON(nil, Record{Time: time.Now(), Plugin: &PluginStats{Name: "motd"}}))
	long := strings.Repeat(rec, 4000) // longer than the window each end is read through
	for _, tc := range []struct {
		name, content, why string
	}{
		{"toml", "hostname = \"box\"\n[[plugin]]\nname = \"motd\"\n", "line 1 is not a JSON object"},
		{"other JSON lines", `{"time":"2026-01-01T00:00:00Z","level":"info"}` + "\n", `line 1 has no "pid" field`},
		{"JSON without time", `{"pid":1}` + "\n", `line 1 has no "time" string`},
		{"foreign last line", rec + "echo forged\n", "its last line is not a JSON object"},
		{"foreign last line after a long log", long + "#!/bin/sh\n", "its last line is not a JSON object"},
		{"foreign first line of a long log", "forged\n" + long, "line 1 is not a JSON object"},
		{"incomplete last line", rec + rec[:20], "its last line is incomplete"},
		{"no newline at all", "binary\x00data", "its first line does not end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "file")
			require.NoError(t, os.WriteFile(path, []byte(tc.content), 0o644))
			_, err := Open(path, Options{})
			require.ErrorIs(t, err, ErrNotAuditLog)
			require.ErrorContains(t, err, "open audit log "+path+": not a scrim audit log: "+tc.why)
			data, rerr := os.ReadFile(path)
			require.NoError(t, rerr)
			require.Equal(t, tc.content, string(data))
		})
	}
	noPath := string(AppendJSON(nil, Record{Time: time.Now(), Seq: 3, Syscall: "getdents64", NoPath: true}))
	unnumbered := `{"time":"2026-11-28T06:17:47.685309552Z","pid":2609,"tid":2609,"syscall":"openat","spelled":"a","path":"/a","handler":"root","verdict":"real","us":75}` + "\n"
	for _, tc := range []struct{ name, content string }{
		{"empty", ""},
		{"calls", rec + rec},
		{"calls that name no path", noPath + rec + noPath},
		{"records written before seq", unnumbered + rec},
		{"ends with plugin counters", rec + stats},
		{"long", long},
	} {
		t.Run("accepts "+tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.jsonl")
			require.NoError(t, os.WriteFile(path, []byte(tc.content), 0o600))
			w, err := Open(path, Options{})
			require.NoError(t, err)
			require.NoError(t, w.Close())
		})
	}
}
