// Package builtin holds scrim's built-in shims: /etc/hosts, /proc deny, per-PID /proc, the CPU
// and memory view, the hostname and deterministic randomness.
package builtin
