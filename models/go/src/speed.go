package main

// speedLoopSteps and speedLoopNs are harness/cell/speed.hpp's speed loop:
// the CPU's own speed around a repetition, timed in the cell process just
// before and just after the workload, outside its timed region. The same
// linear congruential step, each depending on the last (a multiply and an
// add), so its time is the core's clock alone; the C++ cells and this
// program report it as ref_loop_ns, the mean of the two timings, which
// perf-check and the run's steadiness note read beside a cell's CV.
const speedLoopSteps = 1_000_000

// speedSink keeps the loop's result alive, so that the compiler cannot drop
// the loop (Go folds no recurrence into a closed form, but could delete an
// unused one).
var speedSink uint64

func speedLoopNs() float64 {
	x := uint64(1)
	t0 := nanotime()
	for i := 0; i < speedLoopSteps; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	t1 := nanotime()
	speedSink = x
	return float64(t1 - t0)
}
