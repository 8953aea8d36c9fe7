// Package archtest holds the test that keeps scrim's imports pointing one way; the rules are
// in imports_test.go. It has no code of its own.
package archtest
