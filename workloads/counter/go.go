package main

// counter in Go: U goroutines each add 1 to one count K times.
//
//	lock     sync.Mutex around count++;
//	atomic   atomic.Uint64.Add(1) (sync/atomic; Go's atomics are sequentially
//	         consistent, there is no relaxed order to ask for);
//	message  an owner goroutine ranges over `make(chan uint64, 1024)` and adds
//	         every value; each increment is one send of 1; a sync.WaitGroup
//	         of the units lets main close the channel, and the owner's end is
//	         awaited on a done channel.
//
// Contention depends on GOMAXPROCS: with 1 the scheduler runs one goroutine
// at a time and preempts it only every 10 ms (sysmon), so the lock and the
// atomic are nearly uncontended, as in the fiber model; with all cores the
// units run in parallel and contend for real, as threads do.

import (
	"fmt"
	"sync"
	"sync/atomic"
)

const counterMessageCapacity = 1024 // counter::kMessageCapacity

// counter in cmbench-go's registry (main.go): its run function and its
// operation count, workloads/counter/spec.cpp's operations().
func init() {
	register("counter", workload{run: runCounter, operations: func(p Params) uint64 { return p.U("units") * p.U("increments") }})
}

func runCounter(p Params, probe *Probe) error {
	units := p.U("units")
	increments := p.U("increments")
	mode := p.S("mode")
	var final uint64
	var wg sync.WaitGroup

	switch mode {
	case "lock":
		var mu sync.Mutex
		var count uint64
		probe.Note("lock", "sync.Mutex (spins briefly, then parks the goroutine on a runtime semaphore)")
		probe.Start()
		wg.Add(int(units))
		for u := uint64(0); u < units; u++ {
			go func() {
				defer wg.Done()
				for k := uint64(0); k < increments; k++ {
					mu.Lock()
					count++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		probe.Stop()
		final = count
	case "atomic":
		var count atomic.Uint64
		probe.Note("lock", "none: sync/atomic Uint64.Add (LOCK XADD)")
		probe.Start()
		wg.Add(int(units))
		for u := uint64(0); u < units; u++ {
			go func() {
				defer wg.Done()
				for k := uint64(0); k < increments; k++ {
					count.Add(1)
				}
			}()
		}
		wg.Wait()
		probe.Stop()
		final = count.Load()
	default: // message
		var count uint64
		probe.Note("channel", fmt.Sprintf("buffered chan uint64 of capacity %d to one owner goroutine", counterMessageCapacity))
		probe.Note("termination", "main waits on a sync.WaitGroup of the units, closes the channel, and waits for the owner")
		probe.Start()
		ch := make(chan uint64, counterMessageCapacity)
		done := make(chan struct{})
		go func() {
			for v := range ch {
				count += v
			}
			close(done)
		}()
		wg.Add(int(units))
		for u := uint64(0); u < units; u++ {
			go func() {
				defer wg.Done()
				for k := uint64(0); k < increments; k++ {
					ch <- 1
				}
			}()
		}
		wg.Wait()
		close(ch)
		<-done
		probe.Stop()
		final = count
	}
	want := units * increments
	if final != want {
		probe.Verify(fail(fmt.Sprintf("expected count %d (units %d x increments %d), got %d", want, units, increments, final)))
	} else {
		probe.Verify(pass())
	}
	return nil
}
