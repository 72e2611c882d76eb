package main

// ring in Go, as the Go version of the thread-ring benchmark writes it: N
// goroutines, each with its own unbuffered inbox channel. Goroutine i
// receives the token (hops left) from its inbox and sends it, decremented, to
// goroutine i+1's inbox; every other goroutine is blocked on its receive. The
// one that receives the token with 0 hops left records its index and closes
// every inbox, which ends every other goroutine's range loop. main starts the
// token with T hops left at goroutine 0 and waits on a sync.WaitGroup.
//
// hopsMade and lastHolder are plain variables: only the token's holder
// writes them, and each handoff over a channel orders its writes before the
// next holder's (the Go memory model's happens-before).

import (
	"fmt"
	"sync"
)

// ring in cmbench-go's registry (main.go): its run function and its
// operation count, workloads/ring/spec.cpp's operations().
func init() {
	register("ring", workload{run: runRing, operations: func(p Params) uint64 { return p.U("hops") }})
}

func runRing(p Params, probe *Probe) error {
	n := p.U("units")
	hops := p.U("hops")
	inbox := make([]chan uint64, n)
	for i := range inbox {
		inbox[i] = make(chan uint64)
	}
	lastHolder := n // none yet
	var hopsMade uint64
	var wg sync.WaitGroup
	probe.Note("channel", "one unbuffered chan uint64 per goroutine")
	probe.Note("termination", "the final holder closes every inbox")

	probe.Start()
	wg.Add(int(n))
	for i := uint64(0); i < n; i++ {
		go func(i uint64) {
			defer wg.Done()
			out := inbox[(i+1)%n]
			for left := range inbox[i] {
				if left == 0 {
					lastHolder = i
					for _, c := range inbox {
						close(c)
					}
					return
				}
				hopsMade++
				out <- left - 1
			}
		}(i)
	}
	inbox[0] <- hops
	wg.Wait()
	probe.Stop()

	switch {
	case hopsMade != hops:
		probe.Verify(fail(fmt.Sprintf("expected %d hops, got %d", hops, hopsMade)))
	case lastHolder != hops%n:
		probe.Verify(fail(fmt.Sprintf("expected the token to end at unit %d, it ended at %d", hops%n, lastHolder)))
	default:
		probe.Verify(pass())
	}
	return nil
}
