// Package archtest holds the test that keeps scrim's imports pointing one way (see the rules in imports_test.go). It
// has no code of its own.
package archtest
