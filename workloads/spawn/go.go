package main

// spawn in Go: main starts N goroutines; each counts itself parked (a
// sync.WaitGroup that main waits on) and blocks receiving from one shared
// `release` channel. When all N are parked main has memory read, closes
// `release` (every blocked receive returns), and waits on a second WaitGroup
// until every goroutine has counted itself finished and returned.
//
// A goroutine's stack comes from the Go heap's stack spans: 2 KiB to start
// (runtime/stack.go _StackMin; since Go 1.19 the starting size follows the
// average stack scanned at the last GC), grown by copying. Go has no error
// for a goroutine that cannot be created: when memory runs out the runtime
// aborts the process ("fatal error: out of memory"), so this model cannot
// report a `limit` with the largest N reached; the cell then fails instead.

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// spawn in cmbench-go's registry (main.go): its run function and its
// operation count, workloads/spawn/spec.cpp's operations().
func init() {
	register("spawn", workload{run: runSpawn, operations: func(p Params) uint64 { return p.U("units") }})
}

func runSpawn(p Params, probe *Probe) error {
	n := p.U("units")
	var parked, finished atomic.Uint64
	var allParked, allDone sync.WaitGroup
	probe.Note("park", "receive on one shared unbuffered chan struct{}; release = close()")
	probe.Note("join", "sync.WaitGroup")
	probe.Note("stack", "growable, on the Go heap: 2 KiB to start, or the average stack scanned at the last GC (Go 1.19)")
	probe.Note("limit", "none detectable: the Go runtime aborts the process when it cannot allocate a goroutine")

	probe.MemoryBaseline()
	probe.Start()
	release := make(chan struct{})
	allParked.Add(int(n))
	allDone.Add(int(n))
	for i := uint64(0); i < n; i++ {
		go func() {
			defer allDone.Done()
			parked.Add(1)
			allParked.Done()
			<-release
			finished.Add(1)
		}()
	}
	allParked.Wait()
	probe.MemoryParked(n)
	close(release)
	allDone.Wait()
	probe.Stop()

	switch {
	case parked.Load() != n:
		probe.Verify(fail(fmt.Sprintf("expected %d units parked, got %d", n, parked.Load())))
	case finished.Load() != n:
		probe.Verify(fail(fmt.Sprintf("expected %d units finished, got %d", n, finished.Load())))
	default:
		probe.Verify(pass())
	}
	return nil
}
