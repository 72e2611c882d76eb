package main

// fairness in Go: H goroutines compute, P pairs of goroutines ping-pong over
// unbuffered channels until every hog is done. The spec is
// workloads/fairness/spec.hpp; the computation (hogUnit) is its work_unit,
// the same LCG steps, and the count is converted from milliseconds at the
// same fixed rate.
//
// Go preempts: sysmon marks a goroutine that has run for 10 ms
// (forcePreemptNS) for preemption and, since Go 1.14, interrupts it with a
// signal even in a loop without function calls, sending it to the global run
// queue. So with yield=never the hogs still take turns in 10 ms slices, and
// a bystander waits behind them. With yield=slice a hog calls
// runtime.Gosched() after every slice.

import (
	"fmt"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
)

// fairness in cmbench-go's registry (main.go): its run function and its
// operation count, workloads/fairness/spec.cpp's operations().
func init() {
	register("fairness", workload{run: runFairness, operations: func(p Params) uint64 { return p.U("hogs") * p.U("budget_ms") * hogUnitsPerMs }})
}

const (
	lcgMul         = 6364136223846793005 // fairness::kLcgMul
	lcgInc         = 1442695040888963407 // fairness::kLcgInc
	hogUnitSteps   = 4096                // fairness::kUnitSteps
	hogUnitsPerMs  = 225                 // fairness::kUnitsPerMs
	seedMultiplier = 0x9e3779b97f4a7c15  // fairness::seed_of
)

// hogUnit is work_unit: hogUnitSteps dependent multiply-adds.
//
//go:noinline
func hogUnit(x uint64) uint64 {
	for i := 0; i < hogUnitSteps; i++ {
		x = x*lcgMul + lcgInc
	}
	return x
}

// lcgJump is lcg_jump: x after `steps` LCG steps, in O(log steps).
func lcgJump(x, steps uint64) uint64 {
	accMul, accInc := uint64(1), uint64(0)
	curMul, curInc := uint64(lcgMul), uint64(lcgInc)
	for steps > 0 {
		if steps&1 != 0 {
			accMul *= curMul
			accInc = accInc*curMul + curInc
		}
		curInc = (curMul + 1) * curInc
		curMul *= curMul
		steps >>= 1
	}
	return accMul*x + accInc
}

// jainIndex is jain_index.
func jainIndex(x []uint64) float64 {
	var sum, squares float64
	for _, v := range x {
		d := float64(v)
		sum += d
		squares += d * d
	}
	if len(x) == 0 || squares == 0 {
		return 1
	}
	return sum * sum / (float64(len(x)) * squares)
}

// hogBoard is fairness::Board: the hogs' published counts and states, the
// finished count and the snapshot the first finisher takes.
type hogBoard struct {
	units    []atomic.Uint64
	state    []uint64
	snapshot []uint64
	taken    atomic.Bool
	first    atomic.Int64
	finished atomic.Uint64
}

func newHogBoard(h uint64) *hogBoard {
	b := &hogBoard{units: make([]atomic.Uint64, h), state: make([]uint64, h), snapshot: make([]uint64, h)}
	b.first.Store(-1)
	for i := range b.state {
		b.state[i] = seedMultiplier * uint64(i+1)
	}
	return b
}

func (b *hogBoard) work(h, n uint64) {
	x := b.state[h]
	done := b.units[h].Load()
	for i := uint64(0); i < n; i++ {
		x = hogUnit(x)
		done++
		b.units[h].Store(done)
	}
	b.state[h] = x
}

func (b *hogBoard) finish(h uint64) {
	if b.taken.CompareAndSwap(false, true) {
		for i := range b.units {
			b.snapshot[i] = b.units[i].Load()
		}
		b.first.Store(int64(h))
	}
	b.finished.Add(1)
}

func (b *hogBoard) allFinished() bool { return b.finished.Load() == uint64(len(b.units)) }

// measureUnitNs is measure_unit_ns: the median of five timings of 20 units.
func measureUnitNs() float64 {
	t := make([]float64, 5)
	x := uint64(1)
	for i := range t {
		t0 := nanotime()
		for u := 0; u < 20; u++ {
			x = hogUnit(x)
		}
		t[i] = float64(nanotime()-t0) / 20
	}
	sink.Store(x)
	sort.Float64s(t)
	return t[len(t)/2]
}

var sink atomic.Uint64

func runFairness(p Params, probe *Probe) error {
	nhogs := p.U("hogs")
	npairs := p.U("pairs")
	slice := p.U("work_ms") * hogUnitsPerMs
	budget := p.U("budget_ms") * hogUnitsPerMs
	yield := p.S("yield") == "slice"
	hists := probe.LatencyHistograms(int(npairs))
	board := newHogBoard(nhogs)
	pairs := make([]bystanderTally, npairs)
	var wg sync.WaitGroup

	probe.Start()
	wg.Add(int(nhogs + npairs))
	// The bystanders first, so that they are running when the others start.
	for i := uint64(0); i < npairs; i++ {
		go func(i uint64) {
			defer wg.Done()
			runBystanderPair(hists[i], &pairs[i], board.allFinished)
		}(i)
	}
	for h := uint64(0); h < nhogs; h++ {
		go func(h uint64) {
			defer wg.Done()
			for done := uint64(0); done < budget; {
				n := budget
				if yield {
					n = slice
					if budget-done < n {
						n = budget - done
					}
				}
				board.work(h, n)
				done += n
				if yield && done < budget {
					runtime.Gosched()
				}
			}
			board.finish(h)
		}(h)
	}
	wg.Wait()
	probe.Stop()

	probe.Metric("jain_index", jainIndex(board.snapshot))
	var worst uint64
	for _, h := range hists {
		if h.Max() > worst {
			worst = h.Max()
		}
	}
	probe.Metric("bystander_max_latency_ns", float64(worst))
	probe.Note("progress_at_first_finish", board.snapshot)
	probe.Note("first_finisher", board.first.Load())
	probe.Note("work_unit", fmt.Sprintf("%d steps of the LCG x = x * %#x + %#x; %d units per nominal millisecond",
		uint64(hogUnitSteps), uint64(lcgMul), uint64(lcgInc), hogUnitsPerMs))
	probe.Note("unit_ns", measureUnitNs())
	probe.Note("units_per_slice", slice)
	probe.Note("units_per_hog", budget)
	if yield {
		probe.Note("yield", "runtime.Gosched() after every slice; the runtime also preempts after 10 ms")
	} else {
		probe.Note("yield", "none: the runtime preempts a goroutine that has run for 10 ms (async preemption)")
	}
	probe.Note("bystander_round_trips", roundTrips(pairs))
	probe.Note("bystanders", "two goroutines and two unbuffered chan uint64 per pair")

	for h := uint64(0); h < nhogs; h++ {
		if got := board.units[h].Load(); got != budget {
			probe.Verify(fail(fmt.Sprintf("hog %d computed %d units, expected %d", h, got, budget)))
			return nil
		}
		if want := lcgJump(seedMultiplier*(h+1), budget*hogUnitSteps); board.state[h] != want {
			probe.Verify(fail(fmt.Sprintf("hog %d ended in state %#x, expected %#x: its computation was not the spec's", h, board.state[h], want)))
			return nil
		}
	}
	first := board.first.Load()
	switch {
	case first < 0:
		probe.Verify(fail("no hog took the progress snapshot"))
		return nil
	case board.snapshot[first] != budget:
		probe.Verify(fail(fmt.Sprintf("the first hog to finish (%d) had %d units in the snapshot, expected its whole budget of %d",
			first, board.snapshot[first], budget)))
		return nil
	}
	probe.Verify(verifyBystanders(pairs, hists))
	return nil
}
