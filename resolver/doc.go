// Package resolver turns a decoded open-family call and the calling thread's state into one
// shim.Request: the path resolved exactly as the kernel would for that thread.
package resolver
