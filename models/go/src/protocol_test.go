package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
)

func TestParseCellArgs(t *testing.T) {
	c, err := parseCellArgs([]string{"--workload", "prodcons", "--model", "go", "--param", "capacity=0",
		"--param", "mode=a=b", "--result-fd", "3", "--cmbench", "/x/cmbench"})
	if err != nil {
		t.Fatal(err)
	}
	if c.workload != "prodcons" || c.model != "go" || c.resultFd != 3 || c.cmbench != "/x/cmbench" ||
		c.params["capacity"] != "0" || c.params["mode"] != "a=b" {
		t.Fatalf("parsed %+v", c)
	}
	for _, bad := range [][]string{
		{"--workload", "w"},
		{"--workload", "w", "--model", "go", "--param", "novalue"},
		{"--workload", "w", "--model", "go", "--result-fd", "x"},
		{"--workload", "w", "--model", "go", "--bogus", "1"},
		{"--workload", "w", "--model"},
	} {
		if _, err := parseCellArgs(bad); err == nil {
			t.Errorf("%v was accepted", bad)
		}
	}
}

func TestUnknownWorkloadFails(t *testing.T) {
	out := runCell(cellArgs{workload: "nope", model: "go", params: map[string]string{}})
	if out["outcome"] != "failed" {
		t.Fatalf("outcome %v", out["outcome"])
	}
}

func TestMissingParameterIsFailedNotACrash(t *testing.T) {
	out := runCell(cellArgs{workload: "pingpong", model: "go", params: map[string]string{}})
	if out["outcome"] != "failed" || out["message"] == nil {
		t.Fatalf("out %v", out)
	}
}

func TestErrnoClassification(t *testing.T) {
	var le *LimitError
	var se *SystemError
	if err := errorFrom("accept", &net.OpError{Op: "accept", Err: os.NewSyscallError("accept4", syscall.EMFILE)}); !errors.As(err, &le) || le.errno != syscall.EMFILE {
		t.Fatalf("EMFILE inside a net.OpError: %v", err)
	}
	if err := errorFrom("open", syscall.ENOENT); !errors.As(err, &se) || se.errno != syscall.ENOENT {
		t.Fatalf("ENOENT: %v", err)
	}
}

// Every workload at a tiny size, in this process: each verifies and reports
// the metrics the harness reads.
func TestWorkloadsVerify(t *testing.T) {
	cells := []map[string]string{
		{"workload": "counter", "units": "3", "increments": "100", "mode": "lock"},
		{"workload": "counter", "units": "3", "increments": "100", "mode": "atomic"},
		{"workload": "counter", "units": "3", "increments": "100", "mode": "message"},
		{"workload": "pingpong", "rounds": "100"},
		{"workload": "spawn", "units": "50"},
		{"workload": "skynet", "leaves": "100"},
		{"workload": "ring", "units": "7", "hops": "100"},
		{"workload": "sleepers", "units": "5", "sleeps": "2", "sleep_ms": "1"},
	}
	for _, capacity := range []string{"0", "1", "7"} {
		for _, payload := range []string{"0", "64", "1024"} {
			cells = append(cells, map[string]string{"workload": "prodcons", "producers": "3", "consumers": "2",
				"capacity": capacity, "messages": "200", "payload": payload})
		}
	}
	for _, gomaxprocs := range []string{"1", "2"} {
		for _, cell := range cells {
			params := map[string]string{"gomaxprocs": gomaxprocs}
			for k, v := range cell {
				if k != "workload" {
					params[k] = v
				}
			}
			name := fmt.Sprintf("%s/%v", cell["workload"], params)
			out := runCell(cellArgs{workload: cell["workload"], model: "go", params: params})
			if out["outcome"] != "ok" {
				t.Errorf("%s: %v %v", name, out["outcome"], out["message"])
				continue
			}
			m := out["metrics"].(map[string]any)
			if m["operations"].(uint64) == 0 || m["wall_s"].(float64) <= 0 {
				t.Errorf("%s: metrics %v", name, m)
			}
			// The speed loop around the repetition (speed.go), as the C++ cells write it.
			if loop, ok := m["ref_loop_ns"].(float64); !ok || loop <= 0 {
				t.Errorf("%s: ref_loop_ns %v", name, m["ref_loop_ns"])
			}
		}
	}
}
