package main

// sleepers in Go: N goroutines each sleep K times until an absolute wake
// time (its start + k*D, on the monotonic clock) with time.Sleep(due - now),
// then add 1 to its own counter. A sleeping goroutine is a runtime timer in
// its P's timer heap; an idle thread waits for the nearest timer in
// epoll_pwait, whose timeout is in whole milliseconds (runtime/netpoll_epoll.go:
// a delay under 1 ms waits 1 ms, a longer one is rounded down and the runtime
// waits again if it woke before the timer), so lateness includes that
// rounding. A timer fires only once nanotime() has reached its time, so a
// wake is never early.
//
// Start: each goroutine announces itself on a sync.WaitGroup; main waits on
// it, has memory read, then waits for every goroutine to finish.

import (
	"fmt"
	"sync"
	"time"
)

// sleepers in cmbench-go's registry (main.go): its run function and its
// operation count, workloads/sleepers/spec.cpp's operations().
func init() {
	register("sleepers", workload{run: runSleepers, operations: func(p Params) uint64 { return p.U("units") * p.U("sleeps") }})
}

func runSleepers(p Params, probe *Probe) error {
	n := p.U("units")
	sleeps := p.U("sleeps")
	period := int64(p.U("sleep_ms")) * 1_000_000
	hists := probe.LatencyHistograms(int(n))
	type sleeperTally struct{ wakes, early uint64 }
	tallies := make([]sleeperTally, n)
	var started, done sync.WaitGroup
	probe.Note("timer", "time.Sleep until an absolute monotonic deadline: a runtime timer in the P's heap; "+
		"idle threads wait in epoll_pwait with a millisecond timeout")

	probe.MemoryBaseline()
	probe.Start()
	started.Add(int(n))
	done.Add(int(n))
	for u := uint64(0); u < n; u++ {
		go func(u uint64) {
			defer done.Done()
			start := nanotime()
			started.Done()
			t := &tallies[u]
			lateness := hists[u]
			for k := int64(1); k <= int64(sleeps); k++ {
				due := start + k*period
				time.Sleep(time.Duration(due - nanotime()))
				late := nanotime() - due
				if late < 0 {
					t.early++
				} else {
					lateness.Record(uint64(late))
				}
				t.wakes++
			}
		}(u)
	}
	started.Wait()
	probe.MemoryParked(n)
	done.Wait()
	probe.Stop()

	var wakes, early uint64
	for _, t := range tallies {
		wakes += t.wakes
		early += t.early
	}
	switch want := n * sleeps; {
	case early != 0:
		probe.Verify(fail(fmt.Sprintf("%d wakes came before their time", early)))
	case wakes != want:
		probe.Verify(fail(fmt.Sprintf("expected %d wakes, got %d", want, wakes)))
	default:
		probe.Verify(pass())
	}
	return nil
}
