package main

import (
	"math"
	"testing"
)

// The bucket layout of harness/cell/histogram.hpp: exact below 128, 128 buckets
// per power of two above, the top bucket open-ended.
func TestBucketLayout(t *testing.T) {
	for v := uint64(0); v < histSub; v++ {
		if histIndexOf(v) != v || histLowestIn(v) != v || histHighestIn(v) != v {
			t.Fatalf("value %d is not exact", v)
		}
	}
	for i := uint64(histSub); i < histBuckets-1; i++ {
		lo, hi := histLowestIn(i), histHighestIn(i)
		if histIndexOf(lo) != i || histIndexOf(hi) != i {
			t.Fatalf("bucket %d [%d, %d] does not hold its own bounds", i, lo, hi)
		}
		if histIndexOf(hi+1) != i+1 {
			t.Fatalf("bucket %d is not followed by bucket %d at %d", i, i+1, hi+1)
		}
		// Within 1/128 of the value: the histogram's promised precision.
		if float64(hi-lo+1) > float64(lo)/float64(histSub)+1 {
			t.Fatalf("bucket %d is %d wide at %d", i, hi-lo+1, lo)
		}
	}
	if histIndexOf(math.MaxUint64) != histBuckets-1 || histHighestIn(histBuckets-1) != math.MaxUint64 {
		t.Fatal("the top bucket does not end at the largest value")
	}
	if histIndexOf(1<<45) != histBuckets-1 {
		t.Fatal("2^45 is not in the top bucket")
	}
}

func TestQuantilesNeverAboveMax(t *testing.T) {
	h := newHistogram()
	for _, v := range []uint64{1000, 1001, 1002, 5000, 123456} {
		h.Record(v)
	}
	if h.Quantile(1) != 123456 || h.Max() != 123456 || h.Min() != 1000 {
		t.Fatalf("max %d, q(1) %d, min %d", h.Max(), h.Quantile(1), h.Min())
	}
	// The median is the 3rd smallest (1002): its bucket's highest value.
	if got, want := h.Quantile(0.5), histHighestIn(histIndexOf(1002)); got != want {
		t.Fatalf("p50 %d, want %d", got, want)
	}
	if h.Quantile(0) != histHighestIn(histIndexOf(1000)) {
		t.Fatalf("q(0) %d", h.Quantile(0))
	}
	if h.Mean() != float64(1000+1001+1002+5000+123456)/5 {
		t.Fatalf("mean %v", h.Mean())
	}
}

func TestEmptyAndMerge(t *testing.T) {
	a, b := newHistogram(), newHistogram()
	if a.Count() != 0 || a.Min() != 0 || a.Max() != 0 || a.Quantile(0.99) != 0 || a.Mean() != 0 {
		t.Fatal("an empty histogram is not all zero")
	}
	for v := uint64(1); v <= 100; v++ {
		a.Record(v)
		b.Record(v * 1000)
	}
	a.Merge(b)
	if a.Count() != 200 || a.Min() != 1 || a.Max() != 100000 {
		t.Fatalf("merged count %d min %d max %d", a.Count(), a.Min(), a.Max())
	}
	if got := a.Quantile(0.5); got != 100 {
		t.Fatalf("merged p50 %d, want 100", got)
	}
}
