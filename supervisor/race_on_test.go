//go:build race

package supervisor

// raceEnabled is set when the tests run under the race detector.
const raceEnabled = true
