package main

import "testing"

func TestMetricIsWrittenBesideTheHarnessMetrics(t *testing.T) {
	p := newProbe()
	p.Start()
	p.SetOperations(10)
	p.Stop()
	p.Metric("jain_index", 0.5)
	p.Metric("jain_index", 0.75) // a later value replaces the earlier one
	m := p.Metrics()
	if m["jain_index"] != 0.75 {
		t.Fatalf("jain_index = %v", m["jain_index"])
	}
	if m["operations"] != uint64(10) {
		t.Fatalf("operations = %v", m["operations"])
	}
}

func TestMetricRefusesAHarnessName(t *testing.T) {
	for _, name := range []string{"ns_per_op", "latency_ns", ""} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Metric(%q) was accepted", name)
				}
			}()
			newProbe().Metric(name, 1)
		}()
	}
}
