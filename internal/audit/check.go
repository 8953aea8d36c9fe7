package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// ErrNotAuditLog is wrapped by Open and Check when a file holds something other than scrim's
// audit records, so that scrim refuses to append to it rather than damage it.
var ErrNotAuditLog = errors.New("not a scrim audit log")

// maxLine bounds the bytes read to find a first or last line. A record's four paths are at
// most maxPath bytes each (see AppendJSON), six bytes per byte when escaped, so a record is
// below 100 KiB.
const maxLine = 128 << 10

// checkOpened checks the regular file f, just opened for appending, with Check. Anything else
// (a FIFO, a terminal, /dev/null) is a stream scrim cannot clobber and is accepted as it is.
func checkOpened(f *os.File, path string) error {
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("open audit log %s: %w", path, err)
	}
	if !st.Mode().IsRegular() || st.Size() == 0 {
		return nil
	}
	// The descriptor is write-only; read the same file through a second one, and make sure it
	// is the same file (the path may have been replaced in between).
	r, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open audit log %s: it is not empty and cannot be read to check that it is one: %w", path, err)
	}
	defer r.Close()
	rst, err := r.Stat()
	if err != nil {
		return fmt.Errorf("open audit log %s: %w", path, err)
	}
	if !os.SameFile(st, rst) {
		return fmt.Errorf("open audit log %s: the file was replaced while scrim opened it", path)
	}
	if err := Check(r, rst.Size()); err != nil {
		return fmt.Errorf("open audit log %s: %w; scrim appends only to a log it wrote and left the file as it was", path, err)
	}
	return nil
}

// Check reports whether the size bytes of r are an audit log scrim may append to: empty, or
// newline-terminated lines of which the first and the last are records scrim writes (a call
// or a plugin's counters, see AppendJSON). Checking the two ends costs two small reads
// whatever the log's size, and tells a scrim log from any other file a path could name: a
// config file, a script, another program's JSON lines. The error wraps ErrNotAuditLog and
// says which line failed and why.
func Check(r io.ReaderAt, size int64) error {
	if size == 0 {
		return nil
	}
	head := make([]byte, min(size, maxLine))
	if _, err := r.ReadAt(head, 0); err != nil && err != io.EOF {
		return fmt.Errorf("read it: %w", err)
	}
	first, _, ok := bytes.Cut(head, []byte("\n"))
	if !ok {
		return fmt.Errorf("%w: its first line does not end within %d bytes", ErrNotAuditLog, len(head))
	}
	if err := checkLine(first); err != nil {
		return fmt.Errorf("%w: line 1 %v", ErrNotAuditLog, err)
	}
	tail := head
	if size > int64(len(head)) {
		tail = make([]byte, maxLine)
		if _, err := r.ReadAt(tail, size-maxLine); err != nil && err != io.EOF {
			return fmt.Errorf("read it: %w", err)
		}
	}
	if tail[len(tail)-1] != '\n' {
		return fmt.Errorf("%w: its last line is incomplete (no newline at the end)", ErrNotAuditLog)
	}
	tail = tail[:len(tail)-1]
	last := tail[bytes.LastIndexByte(tail, '\n')+1:]
	if err := checkLine(last); err != nil {
		return fmt.Errorf("%w: its last line %v", ErrNotAuditLog, err)
	}
	return nil
}

// checkLine reports whether line is one record as AppendJSON writes it: a JSON object with a
// "time" in RFC 3339 and either the fields of a call or a plugin's name.
func checkLine(line []byte) error {
	var rec map[string]json.RawMessage
	if err := json.Unmarshal(line, &rec); err != nil {
		return errors.New("is not a JSON object")
	}
	var ts string
	if json.Unmarshal(rec["time"], &ts) != nil {
		return errors.New(`has no "time" string`)
	}
	if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
		return errors.New(`has a "time" that is not RFC 3339`)
	}
	if _, ok := rec["plugin"]; ok {
		return nil
	}
	// Not "seq", "spelled" or "path": a call that names no path has neither of the latter,
	// and logs written before scrim numbered its records have no "seq".
	for _, k := range []string{"pid", "tid", "syscall", "handler", "verdict", "us"} {
		if _, ok := rec[k]; !ok {
			return fmt.Errorf("has no %q field", k)
		}
	}
	return nil
}
