package main

// A port of harness/cell/histogram.hpp, bucket for bucket: values below 2^7 are
// counted exactly, above that every power of two is split into 2^7 equal
// buckets, values above 2^44 share the top bucket while max stays exact. A
// quantile is the highest value of the bucket holding the ceil(q*count)-th
// smallest recording, never above max. The C++ harness and this program must
// report the same percentiles for the same recordings, which
// tests/unit/go_histogram_test.cpp checks through `cmbench-go histogram`.

import (
	"math"
	"math/bits"
)

const (
	histSubBits = 7
	histSub     = uint64(1) << histSubBits
	histMaxExp  = 44
	histBuckets = (histMaxExp - histSubBits + 2) * histSub
)

// Histogram is a fixed-size value: recording never allocates, and each
// recording goroutine owns its own, merged after the run.
type Histogram struct {
	counts [histBuckets]uint64
	count  uint64
	sum    uint64
	min    uint64
	max    uint64
}

func newHistogram() *Histogram {
	return &Histogram{min: math.MaxUint64}
}

func histIndexOf(value uint64) uint64 {
	if value < histSub {
		return value
	}
	exp := bits.Len64(value) - 1
	if exp > histMaxExp {
		return histBuckets - 1
	}
	mantissa := value >> (exp - histSubBits) // in [sub, 2*sub)
	return uint64(exp-histSubBits+1)*histSub + (mantissa - histSub)
}

func histLowestIn(index uint64) uint64 {
	if index < histSub {
		return index
	}
	exp := index/histSub - 1 + histSubBits
	mantissa := index%histSub + histSub
	return mantissa << (exp - histSubBits)
}

func histHighestIn(index uint64) uint64 {
	if index < histSub {
		return index
	}
	if index == histBuckets-1 {
		return math.MaxUint64
	}
	return histLowestIn(index+1) - 1
}

func (h *Histogram) Record(value uint64) {
	h.counts[histIndexOf(value)]++
	h.count++
	h.sum += value
	if value < h.min {
		h.min = value
	}
	if value > h.max {
		h.max = value
	}
}

func (h *Histogram) Merge(o *Histogram) {
	for i := range h.counts {
		h.counts[i] += o.counts[i]
	}
	h.count += o.count
	h.sum += o.sum
	if o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
}

func (h *Histogram) Count() uint64 { return h.count }
func (h *Histogram) Max() uint64   { return h.max }

func (h *Histogram) Min() uint64 {
	if h.count == 0 {
		return 0
	}
	return h.min
}

func (h *Histogram) Mean() float64 {
	if h.count == 0 {
		return 0
	}
	return float64(h.sum) / float64(h.count)
}

func (h *Histogram) Quantile(q float64) uint64 {
	if h.count == 0 {
		return 0
	}
	q = math.Max(0, math.Min(1, q))
	rank := uint64(math.Ceil(q * float64(h.count)))
	if rank < 1 {
		rank = 1
	}
	if rank > h.count {
		rank = h.count
	}
	var seen uint64
	for i := uint64(0); i < histBuckets; i++ {
		seen += h.counts[i]
		if seen >= rank {
			if hi := histHighestIn(i); hi < h.max {
				return hi
			}
			return h.max
		}
	}
	return h.max
}

// Summary is the latency_ns object of the cell's metrics, as Probe::metrics
// writes it.
func (h *Histogram) Summary() map[string]any {
	return map[string]any{
		"count": h.Count(), "min": h.Min(), "mean": h.Mean(),
		"p50": h.Quantile(0.5), "p90": h.Quantile(0.9), "p99": h.Quantile(0.99),
		"p999": h.Quantile(0.999), "max": h.Max(),
	}
}
