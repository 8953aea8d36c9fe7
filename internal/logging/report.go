package logging

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// MaxMessage bounds one line of Report. A value scrim quotes is abbreviated where it is quoted
// (config.Quote); this bound catches what was not, such as a path inside an error of the
// operating system, and keeps the line's end, where the message says what to do.
const MaxMessage = 1024

// MaxProblems bounds the lines of one Report: a config file with thousands of mistakes (a
// generated one, the wrong file) gives the first MaxProblems and how many more there are.
const MaxProblems = 20

// Report prints err to w in the one style of everything scrim tells its user,
//
//	scrim COMMAND: WHAT: WHY; WHAT TO DO
//
// one line per problem (an error that unwraps to several, such as config.Errors, gives one line
// each, up to MaxProblems). It is not a log line: it is printed whatever the log level and format, because it
// says why scrim stopped. cmd is the subcommand ("run", "plugin test"), "" for scrim itself.
// Control characters are escaped, so a value cannot forge lines or move the terminal's cursor,
// and a line longer than MaxMessage is shortened in its middle.
func Report(w io.Writer, cmd string, err error) {
	prefix := "scrim: "
	if cmd != "" {
		prefix = "scrim " + cmd + ": "
	}
	var b strings.Builder
	errs := split(err)
	for i, e := range errs {
		if i == MaxProblems && len(errs) > MaxProblems+1 {
			fmt.Fprintf(&b, "%s%d more problems not shown; correct the ones above and run again\n", prefix, len(errs)-i)
			break
		}
		b.WriteString(prefix)
		b.WriteString(Abbreviate(oneLine(e.Error()), MaxMessage))
		b.WriteByte('\n')
	}
	io.WriteString(w, b.String())
}

// split returns the problems err holds: the errors it unwraps to with Unwrap() []error, or err.
func split(err error) []error {
	if multi, ok := err.(interface{ Unwrap() []error }); ok {
		if errs := multi.Unwrap(); len(errs) > 0 {
			return errs
		}
	}
	return []error{err}
}

// oneLine escapes the control characters of s (newlines, escape sequences, NUL) and bytes that
// are not UTF-8, the way Go quotes them.
func oneLine(s string) string {
	clean := true
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == utf8.RuneError {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// Abbreviate shortens s to about max bytes when it is longer: its first two thirds and its last
// third, cut at UTF-8 boundaries, with how much was left out in between.
func Abbreviate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	head, tail := max*2/3, max/3
	for head > 0 && !utf8.RuneStart(s[head]) {
		head--
	}
	start := len(s) - tail
	for start < len(s) && !utf8.RuneStart(s[start]) {
		start++
	}
	return fmt.Sprintf("%s… (%d bytes left out) …%s", s[:head], start-head, s[start:])
}
