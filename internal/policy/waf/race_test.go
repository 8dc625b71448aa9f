//go:build race

package waf

// raceEnabled: the race detector slows the Core Rule Set tenfold, so the regression test
// samples its payloads.
const raceEnabled = true
