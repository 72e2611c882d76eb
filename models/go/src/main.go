// cmbench-go: the go model of cmbench. The C++ cell of a `go` cell execs this
// program in its own place (same pid, process group and result descriptor),
// so the harness's runner, watchdog, rusage and leak checks apply to it
// unchanged. It speaks the cell protocol:
//
//	cmbench-go cell --workload W --model go --param k=v ... --result-fd N [--cmbench PATH]
//
// runs one repetition of workload W with goroutines and channels, and writes
// to descriptor N the JSON object harness/sandbox/cell.cpp writes: outcome, message,
// errno, metrics, notes, vm_hwm_bytes. The C++ side passes every parameter
// already checked and with its default filled in, so this program only reads
// them. `--cmbench` names the cmbench binary, whose hidden `loadgen` command
// is echo's load generator.
//
//	cmbench-go histogram   (reads values, one per line, and prints the
//	                        percentiles: the cross-check of the histogram port)
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// A workload this program implements: its run function and the number of
// operations a run performs with given parameters (the spec's operations()).
type workload struct {
	run        func(Params, *Probe) error
	operations func(Params) uint64
}

// workloads is the program's registry. Each workload's file
// (workloads/<w>/go.go in cmbench's tree, beside the workload's other
// implementations; the build copies them next to this file) adds itself in
// an init function, so a new workload touches no file but its own.
var workloads = map[string]workload{}

func register(name string, w workload) {
	if _, taken := workloads[name]; taken {
		panic("cmbench-go: workload " + name + " registered twice")
	}
	workloads[name] = w
}

type cellArgs struct {
	workload, model string
	params          map[string]string
	resultFd        int
	cmbench         string
	passes          int
}

func parseCellArgs(args []string) (cellArgs, error) {
	c := cellArgs{params: map[string]string{}, resultFd: 1, passes: 1}
	for i := 0; i < len(args); i++ {
		flag := args[i]
		if i+1 >= len(args) {
			return c, fmt.Errorf("%s needs a value", flag)
		}
		value := args[i+1]
		i++
		switch flag {
		case "--workload":
			c.workload = value
		case "--model":
			c.model = value
		case "--param":
			eq := strings.IndexByte(value, '=')
			if eq <= 0 {
				return c, fmt.Errorf("--param '%s' is not key=value", value)
			}
			c.params[value[:eq]] = value[eq+1:]
		case "--result-fd":
			fd, err := strconv.Atoi(value)
			if err != nil || fd < 0 {
				return c, fmt.Errorf("--result-fd '%s' is not a descriptor", value)
			}
			c.resultFd = fd
		case "--cmbench":
			c.cmbench = value
		case "--passes":
			n, err := strconv.Atoi(value)
			if err != nil || n < 1 || n > 10000 {
				return c, fmt.Errorf("--passes '%s' is not accepted; accepted: 1 to 10000", value)
			}
			c.passes = n
		default:
			return c, fmt.Errorf("unknown flag '%s'; accepted: --workload, --model, --param, --result-fd, --passes, --cmbench", flag)
		}
	}
	if c.workload == "" || c.model == "" {
		return c, errors.New("--workload and --model are required")
	}
	return c, nil
}

// setGomaxprocs applies the model's gomaxprocs parameter: 0 means every core
// (runtime.NumCPU, which honours the CPU affinity mask).
func setGomaxprocs(p Params, probe *Probe) {
	n := 1
	if p.Has("gomaxprocs") {
		n = int(p.U("gomaxprocs"))
	}
	if n == 0 {
		n = runtime.NumCPU()
	}
	runtime.GOMAXPROCS(n)
	probe.Note("gomaxprocs", runtime.GOMAXPROCS(0))
	probe.Note("go_version", runtime.Version())
	gc := "GOGC=100 (the default)"
	if v := os.Getenv("GOGC"); v != "" {
		gc = "GOGC=" + v
	}
	probe.Note("gc", gc)
}

// runCell runs one repetition and returns the cell's JSON object.
func runCell(c cellArgs) map[string]any {
	out := map[string]any{}
	w, found := workloads[c.workload]
	if !found || c.model != "go" {
		out["outcome"] = "failed"
		out["message"] = fmt.Sprintf("no implementation of %s in model %s", c.workload, c.model)
		return out
	}
	params := Params{values: c.params, cmbench: c.cmbench}
	probe := newProbe()
	outcome := "ok"
	speedBefore := 0.0
	func() {
		defer func() {
			if r := recover(); r != nil {
				outcome = "failed"
				out["message"] = fmt.Sprint(r)
			}
		}()
		setGomaxprocs(params, probe)
		speedBefore = speedLoopNs() // the CPU's speed around the repetition (speed.go)
		// --passes: the whole workload again in this process, each pass
		// verified, as harness/sandbox/cell.cpp runs them.
		var err error
		passes := c.passes
		if passes < 1 {
			passes = 1 // a cellArgs made without parseCellArgs
		}
		for pass := 0; pass < passes && err == nil && outcome == "ok"; pass++ {
			if pass > 0 {
				probe.NextPass()
			}
			err = w.run(params, probe)
			if err == nil {
				outcome = classify(probe, out)
				if probe.operations == 0 {
					probe.SetOperations(w.operations(params))
				}
				if outcome != "ok" && passes > 1 {
					out["message"] = fmt.Sprintf("pass %d of %d: %v", pass+1, passes, out["message"])
				}
			}
		}
		var le *LimitError
		var se *SystemError
		switch {
		case err == nil:
		case errors.As(err, &le):
			outcome = "limit"
			out["message"] = le.msg
			out["errno"] = int(le.errno)
		case errors.As(err, &se):
			outcome = "failed"
			out["message"] = se.msg
			out["errno"] = int(se.errno)
		default:
			outcome = "failed"
			out["message"] = err.Error()
		}
	}()
	out["outcome"] = outcome
	if probe.Stopped() {
		metrics := probe.Metrics()
		if outcome == "ok" && speedBefore > 0 {
			metrics["ref_loop_ns"] = (speedBefore + speedLoopNs()) / 2
		}
		out["metrics"] = metrics
	}
	out["notes"] = probe.notes
	// The cell's own peak resident memory, read from /proc as the C++ cell
	// reads it (ru_maxrss would carry the exec'ing C++ process's peak).
	out["vm_hwm_bytes"] = procStatusBytes("VmHWM")
	return out
}

// classify is harness/sandbox/cell.cpp's classify().
func classify(p *Probe, out map[string]any) string {
	switch {
	case !p.Started() || !p.Stopped():
		out["message"] = "the implementation did not mark its timed region (start/stop)"
		return "failed"
	case !p.verified:
		out["message"] = "the implementation did not verify its result"
		return "failed"
	case !p.verdict.ok:
		out["message"] = p.verdict.message
		return "invalid"
	}
	return "ok"
}

func writeResult(fd int, out map[string]any) {
	data, err := json.Marshal(out)
	if err != nil {
		data = []byte(fmt.Sprintf(`{"outcome":"failed","message":%q}`, "encoding the result: "+err.Error()))
	}
	for len(data) > 0 {
		n, err := syscall.Write(fd, data)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || n <= 0 {
			return // the parent is gone; nothing useful to do
		}
		data = data[n:]
	}
}

// histogramMain reads one value per line from standard input and prints the
// histogram's summary as JSON: the other half of the C++ cross-check.
func histogramMain() int {
	h := newHistogram()
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		v, err := strconv.ParseUint(line, 10, 64)
		if err != nil {
			fmt.Fprintf(os.Stderr, "cmbench-go histogram: '%s' is not an unsigned integer\n", line)
			return 2
		}
		h.Record(v)
	}
	data, _ := json.Marshal(h.Summary())
	fmt.Println(string(data))
	return 0
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "histogram" {
		os.Exit(histogramMain())
	}
	if len(os.Args) < 2 || os.Args[1] != "cell" {
		fmt.Fprintln(os.Stderr, "usage: cmbench-go cell --workload W --model go --param k=v ... --result-fd N [--cmbench PATH]\n"+
			"       cmbench-go histogram < values\n(an internal program: cmbench runs it for the go model)")
		os.Exit(2)
	}
	c, err := parseCellArgs(os.Args[2:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "cmbench-go cell: %v\n", err)
		os.Exit(2)
	}
	// The result descriptor is inherited without close-on-exec; no process
	// this program starts (echo's load generator) may hold it.
	syscall.CloseOnExec(c.resultFd)
	writeResult(c.resultFd, runCell(c))
}
