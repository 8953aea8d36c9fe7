// Package archtest holds the test that keeps scrim's imports pointing one way (DESIGN.md §3). It
// has no code of its own.
package archtest
