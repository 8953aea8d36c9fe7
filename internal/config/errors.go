package config

import (
	"fmt"
	"strings"
)

// Error is one problem in a config file or on the command line.
type Error struct {
	// File is the config file, "" for the command line.
	File string
	// Line is the 1-based line the key is on, 0 when it is not known.
	Line int
	// Key is the key's path ("plugin[1].timeout", "net_allow[0]") or the flag ("--cpus").
	Key string
	// Msg says what is wrong and what is allowed.
	Msg string
}

func (e *Error) Error() string {
	where := e.File
	if e.File != "" && e.Line > 0 {
		where = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	parts := make([]string, 0, 3)
	for _, p := range []string{where, e.Key, e.Msg} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, ": ")
}

// Errors is every problem found in one pass, in the order of the file.
type Errors []*Error

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Unwrap returns each problem, so that errors.Is and errors.As see them all.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// err returns es as an error, nil when there are none.
func (es Errors) err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

// suggest returns the allowed name closest to a mistyped one, "" when none is close.
func suggest(typo string, allowed []string) string {
	best, bestDist := "", 3
	for _, a := range allowed {
		if d := editDistance(typo, a); d < bestDist {
			best, bestDist = a, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
