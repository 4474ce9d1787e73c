package main

import (
	"runtime"
	"testing"
)

// TestSpareProcessor: one processor more than the default, unless the
// operator set GOMAXPROCS.
func TestSpareProcessor(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(before) })
	spareProcessor(func(string) string { return "3" })
	if got := runtime.GOMAXPROCS(0); got != before {
		t.Errorf("with GOMAXPROCS set: %d processors, want %d unchanged", got, before)
	}
	spareProcessor(func(string) string { return "" })
	if got := runtime.GOMAXPROCS(0); got != before+1 {
		t.Errorf("without GOMAXPROCS: %d processors, want %d", got, before+1)
	}
}
