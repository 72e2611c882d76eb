package main

// blocking in Go: B goroutines each make K nanosleep(2) system calls
// (syscall.Nanosleep: the system call itself, through syscall.Syscall, never
// time.Sleep, which only parks the goroutine), while P pairs of goroutines
// ping-pong over unbuffered channels until the last blocker is done. The
// spec is workloads/blocking/spec.hpp.
//
// offload=inline and offload=pool run the same code: the runtime already
// does what the other models' pools do. A goroutine entering a system call
// (entersyscall) keeps its thread (M) but leaves its P in _Psyscall; sysmon,
// which wakes every 20 us to 10 ms, retakes a P that has stayed in a system
// call for one of its ticks and hands it to another M (handoffp, starting a
// thread when no idle one exists), which runs the other goroutines. When the
// call returns, the goroutine takes a free P if there is one, else it is
// queued and its M sleeps. So the bystanders run while the blockers sleep,
// and the cell's thread count grows by the Ms the hand-offs needed.
//
// A blocker does not yield between calls: the system call parks it, and Go
// preempts. The thread count (os_threads_peak) is read from /proc/self/stat
// after every call and once at the end, as in the C++ models.

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// blocking in cmbench-go's registry (main.go): its run function and its
// operation count, workloads/blocking/spec.cpp's operations().
func init() {
	register("blocking", workload{run: runBlocking, operations: func(p Params) uint64 { return p.U("blockers") * p.U("calls") }})
}

// blockingCall is workloads/blocking/spec.cpp's blocking_call: nanosleep(2)
// for delayNs, restarted for the remaining time after a signal; returns the
// nanoseconds it took.
func blockingCall(delayNs int64) int64 {
	start := nanotime()
	req := syscall.NsecToTimespec(delayNs)
	var rem syscall.Timespec
	for syscall.Nanosleep(&req, &rem) == syscall.EINTR {
		req = rem
	}
	return nanotime() - start
}

// threadsNow is threads_now(): num_threads, field 20 of /proc/self/stat.
func threadsNow() uint64 {
	data, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 18 {
		return 0
	}
	n, _ := strconv.ParseUint(f[17], 10, 64)
	return n
}

// threadPeak is ThreadPeak: the largest thread count sampled.
type threadPeak struct{ peak atomic.Uint64 }

func (t *threadPeak) sample() {
	n := threadsNow()
	for {
		cur := t.peak.Load()
		if n <= cur || t.peak.CompareAndSwap(cur, n) {
			return
		}
	}
}

// bystanderTally is bystanders::Tally.
type bystanderTally struct{ replies, wrong, answered uint64 }

// runBystanderPair is one bystander pair: A (this goroutine) sends v and
// receives v + 1, at least once and until done() says stop; then it closes
// ping and waits for B to end.
func runBystanderPair(hist *Histogram, t *bystanderTally, done func() bool) {
	ping := make(chan uint64)
	pong := make(chan uint64)
	bdone := make(chan struct{})
	go func() { // B
		for v := range ping {
			t.answered++
			pong <- v + 1
		}
		close(bdone)
	}()
	prev := nanotime()
	for v := uint64(0); ; v++ {
		ping <- v
		got := <-pong
		now := nanotime()
		hist.Record(uint64(now - prev))
		prev = now
		t.replies++
		if got != v+1 {
			t.wrong++
		}
		if done() {
			break
		}
	}
	close(ping)
	<-bdone
}

// verifyBystanders is bystanders::verify.
func verifyBystanders(pairs []bystanderTally, hists []*Histogram) Verdict {
	for i, t := range pairs {
		switch {
		case t.wrong != 0:
			return fail(fmt.Sprintf("bystander pair %d: %d replies were not the value sent plus one", i, t.wrong))
		case t.replies == 0:
			return fail(fmt.Sprintf("bystander pair %d made no round trip", i))
		case t.answered != t.replies:
			return fail(fmt.Sprintf("bystander pair %d: B answered %d values but A got %d replies", i, t.answered, t.replies))
		case hists[i].Count() != t.replies:
			return fail(fmt.Sprintf("bystander pair %d: %d latency samples for %d round trips", i, hists[i].Count(), t.replies))
		}
	}
	return pass()
}

func roundTrips(pairs []bystanderTally) uint64 {
	var n uint64
	for _, t := range pairs {
		n += t.replies
	}
	return n
}

func runBlocking(p Params, probe *Probe) error {
	nblockers := p.U("blockers")
	calls := p.U("calls")
	npairs := p.U("pairs")
	delay := int64(p.U("delay_us")) * 1000
	hists := probe.LatencyHistograms(int(npairs))
	type blockerTally struct{ calls, early uint64 }
	tallies := make([]blockerTally, nblockers)
	pairs := make([]bystanderTally, npairs)
	var remaining atomic.Int64
	remaining.Store(int64(nblockers))
	var peak threadPeak
	var wg sync.WaitGroup

	// Warm, as the other models' pools are started before their timed
	// region (spec.hpp: "Warm"): one call per blocker, all at once, so that
	// the threads the runtime starts for goroutines blocked in a system call
	// exist (it keeps idle ones for the next).
	wg.Add(int(nblockers))
	for b := uint64(0); b < nblockers; b++ {
		go func() {
			defer wg.Done()
			blockingCall(delay)
		}()
	}
	wg.Wait()

	probe.Start()
	wg.Add(int(nblockers + npairs))
	// The bystanders first, so that they are running when the others start.
	for i := uint64(0); i < npairs; i++ {
		go func(i uint64) {
			defer wg.Done()
			runBystanderPair(hists[i], &pairs[i], func() bool { return remaining.Load() == 0 })
		}(i)
	}
	for b := uint64(0); b < nblockers; b++ {
		go func(t *blockerTally) {
			defer wg.Done()
			for k := uint64(0); k < calls; k++ {
				took := blockingCall(delay)
				t.calls++
				if took < delay {
					t.early++
				}
				peak.sample()
			}
			remaining.Add(-1)
		}(&tallies[b])
	}
	wg.Wait()
	peak.sample()
	probe.Stop()

	if wall := float64(probe.stopNs-probe.startNs-probe.excludedNs) / 1e9; wall > 0 {
		probe.Metric("blocking_calls_per_s", float64(nblockers*calls)/wall)
		probe.Metric("bystander_round_trips_per_s", float64(roundTrips(pairs))/wall)
	}
	probe.Metric("os_threads_peak", float64(peak.peak.Load()))
	probe.Note("blocking_call", fmt.Sprintf("nanosleep(2) of %d us through syscall.Nanosleep (syscall.Syscall)", p.U("delay_us")))
	probe.Note("offload", "the runtime's own, for inline and pool alike (the same code): a goroutine in a system call "+
		"leaves its P, which sysmon hands to another thread (handoffp) when the call lasts beyond its tick (20 us to 10 ms); one call per blocker before the timed region starts its threads")
	probe.Note("bystander_round_trips", roundTrips(pairs))
	probe.Note("bystanders", "two goroutines and two unbuffered chan uint64 per pair")

	for b, t := range tallies {
		if t.early != 0 {
			probe.Verify(fail(fmt.Sprintf("blocker %d: %d of its calls returned before %d us had passed: they did not block", b, t.early, p.U("delay_us"))))
			return nil
		}
		if t.calls != calls {
			probe.Verify(fail(fmt.Sprintf("blocker %d made %d calls, expected %d", b, t.calls, calls)))
			return nil
		}
	}
	probe.Verify(verifyBystanders(pairs, hists))
	return nil
}
