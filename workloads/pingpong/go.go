package main

// pingpong in Go: two goroutines pass one value back and forth over two
// unbuffered channels, one each way. Goroutine A (main) sends v on ping and
// receives the reply on pong; B receives v and sends v + 1. With GOMAXPROCS
// 1 each operation finds the other goroutine parked on the matching one, so
// the runtime copies the value straight to it and readies it (runnext): one
// round trip is two goroutine switches and no kernel call. With more Ps the
// partner may be woken on another thread, which can cost futex wake-ups.
// A reads the clock once per round and records the difference of
// consecutive readings. A closes ping after the last round; B's range ends.

import "fmt"

// pingpong in cmbench-go's registry (main.go): its run function and its
// operation count, workloads/pingpong/spec.cpp's operations().
func init() {
	register("pingpong", workload{run: runPingpong, operations: func(p Params) uint64 { return p.U("rounds") }})
}

func runPingpong(p Params, probe *Probe) error {
	rounds := p.U("rounds")
	hist := probe.LatencyHistograms(1)[0]
	var replies, wrong uint64
	probe.Note("channel", "two unbuffered chan uint64 (rendezvous), one each way")

	probe.Start()
	ping := make(chan uint64)
	pong := make(chan uint64)
	done := make(chan struct{})
	go func() { // B
		for v := range ping {
			pong <- v + 1
		}
		close(done)
	}()
	prev := nanotime()
	for v := uint64(0); v < rounds; v++ {
		ping <- v
		reply := <-pong
		now := nanotime()
		hist.Record(uint64(now - prev))
		prev = now
		replies++
		if reply != v+1 {
			wrong++
		}
	}
	close(ping)
	<-done
	probe.Stop()

	switch {
	case wrong != 0:
		probe.Verify(fail(fmt.Sprintf("%d replies were not the value sent plus one", wrong)))
	case replies != rounds:
		probe.Verify(fail(fmt.Sprintf("expected %d round trips, got %d", rounds, replies)))
	default:
		probe.Verify(pass())
	}
	return nil
}
