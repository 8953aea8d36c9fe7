//go:build race

package plugins

// raceEnabled is set when the tests run under the race detector, where wazero's compiler is
// itself instrumented and compiling a 2 MB Go plugin takes over a minute.
const raceEnabled = true
