//go:build !race

package server

// raceDetector reports whether the tests run under the race detector (go test -race).
const raceDetector = false
