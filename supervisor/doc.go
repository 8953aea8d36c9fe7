// Package supervisor launches a program under scrim's seccomp filter, receives its open-family
// calls, runs each through the handler chain and answers with an injected file descriptor or an
// errno. It sees handlers only through package shim.
package supervisor
