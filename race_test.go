//go:build race

package main

// raceEnabled makes the server binary under test build with -race too, so it
// reuses the test's build cache.
const raceEnabled = true
