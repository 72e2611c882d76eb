package main

// A port of harness/cell/probe.cpp: the timed region's wall time (CLOCK_MONOTONIC),
// CPU time and context switches (getrusage of this process and of its reaped
// children, deltas from start to stop), the latency histograms merged after
// the run, memory per unit (VmRSS and /proc/meminfo's kernel memory), the
// verdict and the notes. The JSON it produces has the same fields, units and
// rules as Probe::metrics, so the harness cannot tell the models apart.

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"syscall"
	_ "unsafe" // for go:linkname
)

// nanotime is the runtime's CLOCK_MONOTONIC read through the vDSO: the clock
// of the C++ harness's now_ns() (steady_clock), read once. time.Now() would
// read the wall clock as well, doubling the cost of every stamp.
//
//go:linkname nanotime runtime.nanotime
func nanotime() int64

type usage struct {
	self, children syscall.Rusage
}

func readUsage() usage {
	var u usage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &u.self)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &u.children)
	return u
}

func seconds(tv syscall.Timeval) float64 { return float64(tv.Sec) + float64(tv.Usec)/1e6 }

type kernelMemory struct{ kernelStack, pageTables, slab int64 }

type memoryReading struct {
	user   int64 // VmRSS
	kernel kernelMemory
}

// fieldKB reads "Name:   123 kB" from a /proc file; -1 when absent.
func fieldKB(path, name string) int64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return -1
	}
	prefix := []byte(name + ":")
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.HasPrefix(line, prefix) {
			continue
		}
		f := bytes.Fields(line[len(prefix):])
		if len(f) == 0 {
			return -1
		}
		v, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return -1
		}
		return v
	}
	return -1
}

func procStatusBytes(field string) int64 {
	kb := fieldKB("/proc/self/status", field)
	if kb < 0 {
		return -1
	}
	return kb * 1024
}

func readMemory() memoryReading {
	return memoryReading{
		user: procStatusBytes("VmRSS"),
		kernel: kernelMemory{
			kernelStack: fieldKB("/proc/meminfo", "KernelStack") * 1024,
			pageTables:  fieldKB("/proc/meminfo", "PageTables") * 1024,
			slab:        fieldKB("/proc/meminfo", "Slab") * 1024,
		},
	}
}

type Verdict struct {
	ok      bool
	message string
}

func pass() Verdict           { return Verdict{ok: true} }
func fail(msg string) Verdict { return Verdict{message: msg} }

type Probe struct {
	hists           []*Histogram
	startNs, stopNs int64
	startUsage      usage
	stopUsage       usage
	verified        bool
	verdict         Verdict
	operations      uint64
	notes           map[string]any
	excludedNs      int64
	excludedUser    float64
	excludedSys     float64
	excludedNvcsw   int64
	excludedNivcsw  int64
	memBase         memoryReading
	memParked       memoryReading
	memUnits        uint64
	memBaseRead     bool
	extra           map[string]float64 // the workload's own metrics (Metric)
	earlier         totals             // the passes before this one (--passes)
	passesDone      int
}

// totals are the figures a pass adds to its repetition's, as
// Probe::Totals in harness/cell/probe.hpp.
type totals struct {
	wallNs        int64
	user, sys     float64
	nvcsw, nivcsw int64
	operations    uint64
	latency       *Histogram
}

func (t *totals) add(o totals) {
	t.wallNs += o.wallNs
	t.user += o.user
	t.sys += o.sys
	t.nvcsw += o.nvcsw
	t.nivcsw += o.nivcsw
	t.operations += o.operations
	if t.latency == nil {
		t.latency = newHistogram()
	}
	if o.latency != nil {
		t.latency.Merge(o.latency)
	}
}

// thisPass is the current pass's figures.
func (p *Probe) thisPass() totals {
	cpu := func(f func(*syscall.Rusage) syscall.Timeval) float64 {
		return seconds(f(&p.stopUsage.self)) - seconds(f(&p.startUsage.self)) +
			seconds(f(&p.stopUsage.children)) - seconds(f(&p.startUsage.children))
	}
	delta := func(f func(*syscall.Rusage) int64) int64 {
		return f(&p.stopUsage.self) - f(&p.startUsage.self) +
			f(&p.stopUsage.children) - f(&p.startUsage.children)
	}
	return totals{
		wallNs:     p.stopNs - p.startNs - p.excludedNs,
		user:       cpu(func(r *syscall.Rusage) syscall.Timeval { return r.Utime }) - p.excludedUser,
		sys:        cpu(func(r *syscall.Rusage) syscall.Timeval { return r.Stime }) - p.excludedSys,
		nvcsw:      delta(func(r *syscall.Rusage) int64 { return r.Nvcsw }) - p.excludedNvcsw,
		nivcsw:     delta(func(r *syscall.Rusage) int64 { return r.Nivcsw }) - p.excludedNivcsw,
		operations: p.operations,
		latency:    p.Merged(),
	}
}

// NextPass adds this pass to the repetition and readies the probe for the
// next run of the workload; memory is read in the first pass only
// (Probe::next_pass says why).
func (p *Probe) NextPass() {
	p.earlier.add(p.thisPass())
	p.passesDone++
	p.startNs, p.stopNs = 0, 0
	p.startUsage, p.stopUsage = usage{}, usage{}
	p.excludedNs, p.excludedUser, p.excludedSys, p.excludedNvcsw, p.excludedNivcsw = 0, 0, 0, 0, 0
	p.verified, p.verdict = false, Verdict{}
	p.operations = 0
	p.hists = nil
}

func newProbe() *Probe { return &Probe{notes: map[string]any{}, extra: map[string]float64{}} }

// LatencyHistograms makes `units` empty histograms, one per recording
// goroutine, before the timed region (they are touched here, so the page
// faults of first use do not land inside it).
func (p *Probe) LatencyHistograms(units int) []*Histogram {
	p.hists = make([]*Histogram, units)
	for i := range p.hists {
		p.hists[i] = newHistogram()
	}
	return p.hists
}

func (p *Probe) Start() {
	p.startUsage = readUsage()
	p.startNs = nanotime()
}

func (p *Probe) Stop() {
	p.stopNs = nanotime()
	p.stopUsage = readUsage()
}

func (p *Probe) Started() bool { return p.startNs != 0 }
func (p *Probe) Stopped() bool { return p.stopNs != 0 }

func (p *Probe) Verify(v Verdict) {
	p.verified = true
	p.verdict = v
}

func (p *Probe) Note(key string, value any) { p.notes[key] = value }

func (p *Probe) SetOperations(ops uint64) { p.operations = ops }

// harnessMetrics are the names Metrics() (and the C++ runner) write
// themselves; Probe::metric refuses them, and so does Metric.
var harnessMetrics = map[string]bool{
	"wall_s": true, "operations": true, "ops_per_s": true, "ns_per_op": true, "cpu_user_s": true,
	"cpu_sys_s": true, "ctx_voluntary": true, "ctx_involuntary": true, "cpu_ns_per_op": true,
	"ctx_per_op": true, "memory_units": true, "memory_baseline_bytes": true,
	"memory_parked_bytes": true, "memory_per_unit_bytes": true, "memory_per_unit_method": true,
	"kernel_per_unit_bytes": true, "latency_ns": true, "memory_peak_bytes": true, "ref_loop_ns": true,
	"ref_cross_cpu_ns": true,
}

// Metric is Probe::metric: a metric of the workload's own, written into the
// metrics object under name beside the harness's. A name the harness writes
// itself is a bug of the caller: it panics (the cell is `failed`).
func (p *Probe) Metric(name string, value float64) {
	if name == "" || harnessMetrics[name] {
		panic("Probe.Metric: '" + name + "' is empty or a metric the harness writes itself")
	}
	p.extra[name] = value
}

// untimed runs read and leaves the time and CPU it took out of the timed
// region, as Probe::untimed does.
func (p *Probe) untimed(read func()) {
	timing := p.startNs != 0 && p.stopNs == 0
	var before usage
	var t0 int64
	if timing {
		before = readUsage()
		t0 = nanotime()
	}
	read()
	if timing {
		p.excludedNs += nanotime() - t0
		after := readUsage()
		p.excludedUser += seconds(after.self.Utime) - seconds(before.self.Utime)
		p.excludedSys += seconds(after.self.Stime) - seconds(before.self.Stime)
		p.excludedNvcsw += after.self.Nvcsw - before.self.Nvcsw
		p.excludedNivcsw += after.self.Nivcsw - before.self.Nivcsw
	}
}

// MemoryBaseline before any unit exists; MemoryParked(n) while all n are
// alive and parked. Both read VmRSS and the machine's kernel memory.
func (p *Probe) MemoryBaseline() {
	if p.passesDone > 0 {
		return
	}
	p.untimed(func() { p.memBase = readMemory() })
	p.memBaseRead = true
}

func (p *Probe) MemoryParked(units uint64) {
	if p.passesDone > 0 {
		return
	}
	p.untimed(func() { p.memParked = readMemory() })
	p.memUnits = units
}

// ExcludeChildUsage leaves a helper process's CPU time and context switches
// out of the timed region's (echo's load generator).
func (p *Probe) ExcludeChildUsage(u *syscall.Rusage) {
	p.excludedUser += seconds(u.Utime)
	p.excludedSys += seconds(u.Stime)
	p.excludedNvcsw += u.Nvcsw
	p.excludedNivcsw += u.Nivcsw
}

func (p *Probe) Merged() *Histogram {
	all := newHistogram()
	for _, h := range p.hists {
		all.Merge(h)
	}
	return all
}

func (p *Probe) Metrics() map[string]any {
	t := totals{}
	t.add(p.earlier)
	t.add(p.thisPass())
	m := map[string]any{}
	wall := float64(t.wallNs) / 1e9
	m["wall_s"] = wall
	m["operations"] = t.operations
	m["passes"] = p.passesDone + 1
	opsPerS, nsPerOp := 0.0, 0.0
	if wall > 0 {
		opsPerS = float64(t.operations) / wall
	}
	if t.operations > 0 {
		nsPerOp = float64(t.wallNs) / float64(t.operations)
	}
	m["ops_per_s"] = opsPerS
	m["ns_per_op"] = nsPerOp
	user, sys, nvcsw, nivcsw := t.user, t.sys, t.nvcsw, t.nivcsw
	m["cpu_user_s"] = user
	m["cpu_sys_s"] = sys
	m["ctx_voluntary"] = nvcsw
	m["ctx_involuntary"] = nivcsw
	ops := 1.0
	if t.operations > 0 {
		ops = float64(t.operations)
	}
	m["cpu_ns_per_op"] = (user + sys) * 1e9 / ops
	m["ctx_per_op"] = float64(nvcsw+nivcsw) / ops
	if p.memUnits > 0 && p.memBaseRead && p.memBase.user >= 0 && p.memParked.user >= 0 {
		n := float64(p.memUnits)
		m["memory_units"] = p.memUnits
		m["memory_baseline_bytes"] = p.memBase.user
		m["memory_parked_bytes"] = p.memParked.user
		m["memory_per_unit_bytes"] = float64(p.memParked.user-p.memBase.user) / n
		m["memory_per_unit_method"] = "VmRSS of the cell process"
		m["kernel_per_unit_bytes"] = map[string]any{
			"kernel_stack": float64(p.memParked.kernel.kernelStack-p.memBase.kernel.kernelStack) / n,
			"page_tables":  float64(p.memParked.kernel.pageTables-p.memBase.kernel.pageTables) / n,
			"slab":         float64(p.memParked.kernel.slab-p.memBase.kernel.slab) / n,
		}
	}
	for name, v := range p.extra {
		m[name] = v
	}
	if lat := t.latency; lat.Count() > 0 {
		m["latency_ns"] = lat.Summary()
	}
	return m
}

// reserveDescriptorTable is harness/cell/fd.hpp's reserve_descriptor_table:
// it grows the process's descriptor table, now, to hold count descriptors, so
// that opening them in the timed region does not grow it. Go's runtime has
// several threads from the start, so each doubling of the table waits for an
// RCU grace period in the kernel (8 to 32 ms on the development VM); a server
// sizes its table before its timed region, as every C++ model's does. A best
// effort: above RLIMIT_NOFILE nothing is grown.
func reserveDescriptorTable(count uint64) {
	if count == 0 || count > 1<<31-1 {
		return
	}
	any, err := syscall.Open("/dev/null", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	high, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(any), syscall.F_DUPFD_CLOEXEC, uintptr(count-1))
	if errno == 0 {
		syscall.Close(int(high))
	}
	syscall.Close(any)
}
