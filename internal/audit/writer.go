package audit

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"
)

// DefaultBuffer is how many records wait for the disk before new ones are dropped.
const DefaultBuffer = 4096

// Options configures a Writer.
type Options struct {
	// Buffer is how many records may wait for the disk; 0 means DefaultBuffer.
	Buffer int
	// Log receives the one-time reports: a failed write, the count of dropped records.
	Log hclog.Logger
}

// Writer is the audit.Sink behind --audit: it writes records as JSON lines from its own
// goroutine. Record never blocks: when the buffer is full the record is dropped and counted,
// and a failed write (a full disk) is logged once while later records are counted as dropped
// instead of failing the child.
type Writer struct {
	records chan Record
	done    chan struct{}
	out     io.Writer
	closer  io.Closer
	log     hclog.Logger

	closeOnce sync.Once
	closed    atomic.Bool
	// mu keeps Record from sending on records while Close closes it.
	mu sync.RWMutex

	dropped atomic.Uint64 // full buffer, or after a write error
	written atomic.Uint64
	err     error // the first write error; owned by the goroutine until done is closed
}

// Open starts appending to the audit log at path, creating it with mode 0600 when it does not
// exist. It never truncates: an existing file must be empty or hold scrim's audit records
// (see Check), or Open returns an error wrapping ErrNotAuditLog and leaves the file as it was.
func Open(path string, opts Options) (*Writer, error) {
	// O_APPEND: every write lands at the end, whoever else holds the file and wherever they
	// moved their offset, so a record already written is never overwritten by scrim.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open audit log %s: %w", path, err)
	}
	if err := checkOpened(f, path); err != nil {
		f.Close()
		return nil, err
	}
	w := NewWriter(f, opts)
	w.closer = f
	return w, nil
}

// NewWriter starts writing records to out. Close does not close out.
func NewWriter(out io.Writer, opts Options) *Writer {
	if opts.Buffer <= 0 {
		opts.Buffer = DefaultBuffer
	}
	if opts.Log == nil {
		opts.Log = hclog.NewNullLogger()
	}
	w := &Writer{
		records: make(chan Record, opts.Buffer),
		done:    make(chan struct{}),
		out:     out,
		log:     opts.Log,
	}
	go w.loop()
	return w
}

var _ Sink = (*Writer)(nil)

// Record queues r for writing, or drops and counts it when the buffer is full or the writer is
// closed. It never waits.
func (w *Writer) Record(r Record) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed.Load() {
		w.dropped.Add(1)
		return
	}
	select {
	case w.records <- r:
	default:
		w.dropped.Add(1)
	}
}

func (w *Writer) loop() {
	defer close(w.done)
	bw := bufio.NewWriterSize(w.out, 64<<10)
	line := make([]byte, 0, 512)
	var pending uint64 // records handed to bw since the last successful flush
	flush := func() {
		if err := bw.Flush(); err != nil {
			w.fail(err, pending)
		} else {
			w.written.Add(pending)
		}
		pending = 0
	}
	for r := range w.records {
		if w.err != nil {
			w.dropped.Add(1)
			continue
		}
		line = AppendJSON(line[:0], r)
		pending++
		if _, err := bw.Write(line); err != nil {
			w.fail(err, pending)
			pending = 0
			continue
		}
		// Flush when the queue runs dry, so the file is current whenever the child is idle
		// and a burst costs few writes, not one per record.
		if len(w.records) == 0 {
			flush()
		}
	}
	if w.err == nil && pending > 0 {
		flush()
	}
}

// fail remembers the first write error and logs it once. The records not yet known to be on
// disk count as dropped (some of their bytes may have reached the file).
func (w *Writer) fail(err error, lost uint64) {
	w.err = err
	w.dropped.Add(lost)
	w.log.Error("audit log write failed; later records are dropped", "error", err)
}

// Close stops accepting records, writes those queued, closes the file Open opened, and logs
// how many records were dropped. It returns the first write error, if any.
func (w *Writer) Close() error {
	var err error
	w.closeOnce.Do(func() {
		w.mu.Lock()
		w.closed.Store(true)
		close(w.records)
		w.mu.Unlock()
		<-w.done
		err = w.err
		if w.closer != nil {
			if cerr := w.closer.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("close audit log: %w", cerr)
			}
		}
		if n := w.dropped.Load(); n > 0 {
			w.log.Warn("audit records dropped", "dropped", n, "written", w.written.Load())
		}
	})
	return err
}

// Dropped returns how many records were lost so far: to a full buffer, a write error, or a
// Record after Close.
func (w *Writer) Dropped() uint64 { return w.dropped.Load() }

// Written returns how many records reached the output so far.
func (w *Writer) Written() uint64 { return w.written.Load() }

// AppendJSON appends r as one JSON object and a newline, its fields in a fixed order. Spelled
// and Path are left out for a call that names no path (NoPath), Spelled2 and Path2 for a call
// with one path; a path longer than 4096 bytes is cut to those and "…". The paths are raw
// bytes, not necessarily UTF-8: a byte that is not part of valid UTF-8 is written as the
// escape \udcXX (0xDC00 plus the byte, as Python's "surrogateescape" does), so no byte is
// lost and a reader can tell it from the text "\ufffd". encoding/json would replace such
// bytes with U+FFFD.
func AppendJSON(b []byte, r Record) []byte {
	if r.Plugin != nil {
		return appendPluginStats(b, r.Time, r.Plugin)
	}
	b = append(b, `{"time":"`...)
	b = r.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","seq":`...)
	b = strconv.AppendUint(b, r.Seq, 10)
	b = append(b, `,"pid":`...)
	b = strconv.AppendInt(b, int64(r.PID), 10)
	b = append(b, `,"tid":`...)
	b = strconv.AppendInt(b, int64(r.TID), 10)
	b = append(b, `,"syscall":`...)
	b = appendString(b, r.Syscall)
	if r.Container != "" {
		b = append(b, `,"container":`...)
		b = appendString(b, r.Container)
	}
	if !r.NoPath {
		b = append(b, `,"spelled":`...)
		b = appendPath(b, r.Spelled)
		b = append(b, `,"path":`...)
		b = appendPath(b, r.Path)
	}
	if r.Spelled2 != "" || r.Path2 != "" {
		b = append(b, `,"spelled2":`...)
		b = appendPath(b, r.Spelled2)
		b = append(b, `,"path2":`...)
		b = appendPath(b, r.Path2)
	}
	b = append(b, `,"handler":`...)
	b = appendString(b, r.Handler)
	b = append(b, `,"verdict":`...)
	b = appendString(b, r.Verdict)
	if r.Errno != "" {
		b = append(b, `,"errno":`...)
		b = appendString(b, r.Errno)
	}
	b = append(b, `,"us":`...)
	b = strconv.AppendInt(b, r.Micros, 10)
	return append(b, "}\n"...)
}

func appendPluginStats(b []byte, t time.Time, s *PluginStats) []byte {
	b = append(b, `{"time":"`...)
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","plugin":`...)
	b = appendString(b, s.Name)
	for _, f := range []struct {
		key string
		n   uint64
	}{{"calls", s.Calls}, {"faults", s.Faults}, {"traps", s.Traps}, {"timeouts", s.Timeouts}, {"broken", s.Broken}, {"replaced", s.Replaced}} {
		b = append(b, `,"`...)
		b = append(b, f.key...)
		b = append(b, `":`...)
		b = strconv.AppendUint(b, f.n, 10)
	}
	b = append(b, `,"mean_us":`...)
	b = strconv.AppendInt(b, s.MeanMicros, 10)
	b = append(b, `,"max_us":`...)
	b = strconv.AppendInt(b, s.MaxMicros, 10)
	return append(b, "}\n"...)
}

const hexDigits = "0123456789abcdef"

// maxPath is the most bytes of a path a record holds: PATH_MAX, all a program can spell. A
// canonical path can be longer (a descriptor deep in a tree, and a name below it); it is cut,
// so that every line stays short enough for Check to find the last one.
const maxPath = 4096

// appendPath appends the path p as appendString does, cut to its first maxPath bytes and "…"
// when it is longer.
func appendPath(b []byte, p string) []byte {
	if len(p) <= maxPath {
		return appendString(b, p)
	}
	b = appendString(b, p[:maxPath])
	return append(b[:len(b)-1], "…\""...)
}

// appendString appends s as a JSON string, escaping invalid UTF-8 bytes as \udcXX.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, '\\', 'u', 'd', 'c', hexDigits[c>>4], hexDigits[c&0xf])
		case r == '\u2028' || r == '\u2029':
			// Valid JSON, but JavaScript readers of the log choke on them raw.
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
