package main

import (
	"runtime"
	"runtime/debug"
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

// TestLessGC: GOGC=400 once started, unless the operator set GOGC.
func TestLessGC(t *testing.T) {
	before := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(before) })
	lessGC(func(string) string { return "50" })
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC set: GC percent %d, want 100 unchanged", got)
	}
	lessGC(func(string) string { return "" })
	if got := debug.SetGCPercent(100); got != 400 {
		t.Errorf("without GOGC: GC percent %d, want 400", got)
	}
}
