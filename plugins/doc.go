// Package plugins runs third-party virtual-file shims compiled to WebAssembly, with wazero.
package plugins
