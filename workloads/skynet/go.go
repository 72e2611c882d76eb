package main

// skynet in Go, the original: every unit is a goroutine, each inner unit
// makes an unbuffered channel, starts ten children that send their results
// on it, and sends the sum of the ten to its parent. The leaves send their
// ordinal; the root's sum must be leaves*(leaves-1)/2.

import "fmt"

func skynet(c chan<- uint64, num, size uint64) {
	if size == 1 {
		c <- num
		return
	}
	rc := make(chan uint64)
	child := size / 10
	for i := uint64(0); i < 10; i++ {
		go skynet(rc, num+i*child, child)
	}
	var sum uint64
	for i := 0; i < 10; i++ {
		sum += <-rc
	}
	c <- sum
}

// skynet in cmbench-go's registry (main.go): its run function and its
// operation count, workloads/skynet/spec.cpp's operations().
func init() {
	register("skynet", workload{run: runSkynet, operations: func(p Params) uint64 { return (10*p.U("leaves") - 1) / 9 }})
}

func runSkynet(p Params, probe *Probe) error {
	leaves := p.U("leaves")
	probe.Note("channel", "an unbuffered chan uint64 per inner unit, made by that unit")
	probe.Note("stack", "growable, on the Go heap: 2 KiB to start, or the average stack scanned at the last GC (Go 1.19)")

	probe.Start()
	c := make(chan uint64)
	go skynet(c, 0, leaves)
	sum := <-c
	probe.Stop()

	if want := leaves * (leaves - 1) / 2; sum != want {
		probe.Verify(fail(fmt.Sprintf("expected sum %d, got %d", want, sum)))
	} else {
		probe.Verify(pass())
	}
	return nil
}
