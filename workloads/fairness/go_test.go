package main

import "testing"

// The Go port of the fairness spec's pieces must agree with the C++ ones
// (tests/unit/new_workloads_test.cpp checks those against the same values).
func TestLcgJumpMatchesTheLoop(t *testing.T) {
	for _, steps := range []uint64{0, 1, 2, 3, 4095, 4096, 3*4096 + 7} {
		x := uint64(12345)
		for i := uint64(0); i < steps; i++ {
			x = x*lcgMul + lcgInc
		}
		if got := lcgJump(12345, steps); got != x {
			t.Errorf("lcgJump(12345, %d) = %#x, the loop gives %#x", steps, got, x)
		}
	}
	if hogUnit(1) != lcgJump(1, hogUnitSteps) {
		t.Error("hogUnit is not hogUnitSteps LCG steps")
	}
}

func TestJainIndex(t *testing.T) {
	cases := []struct {
		x    []uint64
		want float64
	}{
		{[]uint64{5, 5, 5, 5}, 1},
		{[]uint64{8, 0, 0, 0}, 0.25},
		{[]uint64{1, 3}, 0.8},
		{nil, 1},
		{[]uint64{0, 0}, 1},
	}
	for _, c := range cases {
		if got := jainIndex(c.x); got < c.want-1e-12 || got > c.want+1e-12 {
			t.Errorf("jainIndex(%v) = %v, want %v", c.x, got, c.want)
		}
	}
}

func TestBoardSnapshotIsTakenByTheFirstFinisher(t *testing.T) {
	b := newHogBoard(3)
	b.work(0, 2)
	b.work(1, 1)
	b.finish(0)
	b.work(1, 1)
	b.work(2, 2)
	b.finish(1)
	b.finish(2)
	if b.first.Load() != 0 || !b.allFinished() {
		t.Fatalf("first %d, finished %d", b.first.Load(), b.finished.Load())
	}
	if want := []uint64{2, 1, 0}; b.snapshot[0] != want[0] || b.snapshot[1] != want[1] || b.snapshot[2] != want[2] {
		t.Fatalf("snapshot %v, want %v", b.snapshot, want)
	}
}
