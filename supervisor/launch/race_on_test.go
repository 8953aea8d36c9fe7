//go:build race

package launch

// raceEnabled is set when the tests run under the race detector.
const raceEnabled = true
