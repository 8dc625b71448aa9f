//go:build race

package authserver

// raceDetector is true when the tests run under -race, which makes long loops ten times
// slower: tests that measure throughput or memory skip themselves.
const raceDetector = true
