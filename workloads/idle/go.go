package main

// idle in Go: C connections held open on 127.0.0.1, each served by a
// goroutine as a Go programmer writes a server with the net package (an
// accept loop, a goroutine per connection reading into its own buffer and
// writing back until end of stream), under echo's load generator in its idle
// mode (workloads/idle/spec.hpp): it opens the connections, each answering
// one untimed first request, signals ready ('r' on the done pipe); the cell
// reads its memory and says go ('g' on the lifeline); the trickle follows,
// timed; then it closes every connection and reports ('d').
//
// An idle connection is a goroutine parked in the netpoller (its stack, 8
// KiB once the read path has grown it past the 2 KiB start, or whatever the
// runtime's adaptive start size is), its net.Conn and poll.FD, its buffer
// (idleReadBuffer bytes on the heap: the slice escapes through the
// interface), and its socket.
//
// The Go runtime itself raises RLIMIT_NOFILE's soft limit to the hard one
// (Go 1.19's os package); raiseFdLimitFor also raises the hard limit when C
// needs more and the process may, as the C++ cells do. An accept that fails
// for lack of resources (EMFILE) ends the cell as `limit` with the
// connections reached.

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// idle in cmbench-go's registry (main.go): its run function and its
// operation count, workloads/idle/spec.cpp's operations().
func init() {
	register("idle", workload{run: runIdle, operations: func(p Params) uint64 { return p.U("connections") * p.U("requests") }})
}

const (
	idleRequestBytes = 64  // idle::kRequestBytes
	idleReadBuffer   = 256 // idle::kReadBuffer
	idleSpare        = 256 // spare descriptors, as idle's raise_fd_limit
)

func nrOpen() uint64 {
	data, err := os.ReadFile("/proc/sys/fs/nr_open")
	if err != nil {
		return 1 << 20
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		return 1 << 20
	}
	return n
}

// raiseFdLimitFor is idle::raise_fd_limit.
func raiseFdLimitFor(connections uint64) (string, error) {
	need := connections + idleSpare
	limit := nrOpen()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return "", errorFrom("getrlimit(RLIMIT_NOFILE)", err)
	}
	before := lim
	hardNote := ""
	const infinity = ^uint64(0)
	if lim.Max != infinity && lim.Max < need {
		up := syscall.Rlimit{Cur: min64(need, limit), Max: min64(need, limit)}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &up); err == nil {
			lim = up
			hardNote = fmt.Sprintf("; hard limit raised from %d (privileged)", before.Max)
		} else {
			hardNote = fmt.Sprintf("; the hard limit is below the %d needed and could not be raised (%v)", need, err)
		}
	}
	hard := lim.Max
	if hard == infinity {
		hard = limit
	}
	if lim.Cur < hard {
		lim.Cur = hard
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return "", &SystemError{"setrlimit(RLIMIT_NOFILE): " + err.Error(), errnoOf(err)}
		}
	}
	if lim.Cur < need {
		return "", &LimitError{fmt.Sprintf("RLIMIT_NOFILE: %d descriptors (hard limit %d) cannot hold the %d that %d "+
			"connections need on each side, server and load generator%s; raise the hard limit (ulimit -Hn) or run "+
			"with CAP_SYS_RESOURCE", lim.Cur, before.Max, need, connections, hardNote), syscall.EMFILE}
	}
	reserveDescriptorTable(need)
	hardText := strconv.FormatUint(lim.Max, 10)
	if lim.Max == infinity {
		hardText = "unlimited"
	}
	return fmt.Sprintf("RLIMIT_NOFILE soft %d (was %d), hard %s%s", lim.Cur, before.Cur, hardText, hardNote), nil
}

func min64(a, b uint64) uint64 {
	if a < b {
		return a
	}
	return b
}

func runIdle(p Params, probe *Probe) error {
	connections := p.U("connections")
	trickle := p.U("requests")
	fdNote, err := raiseFdLimitFor(connections)
	if err != nil {
		return err
	}
	probe.Note("fd_limit", fdNote)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return errorFrom("listen(127.0.0.1:0)", err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	open := &openConns{conns: map[net.Conn]struct{}{}}
	var units sync.WaitGroup
	var accepted atomic.Uint64
	acceptErr := make(chan error, 1)
	serveErr := make(chan error, 1)
	probe.Note("io", "a goroutine per connection; net.Conn Read/Write park the goroutine on EAGAIN in the "+
		"runtime's netpoller (epoll, edge-triggered)")
	probe.Note("read_buffer", fmt.Sprintf("%d bytes, make([]byte) per connection (on the heap)", idleReadBuffer))
	probe.Note("listen_backlog", "net.Listen: the kernel's somaxconn (Go does not take a backlog)")

	probe.MemoryBaseline()
	probe.Start()
	gen, err := launchLoadgen(p.cmbench, []string{
		fmt.Sprintf("port=%d", port),
		fmt.Sprintf("connections=%d", connections),
		fmt.Sprintf("requests=%d", connections*(1+trickle)),
		fmt.Sprintf("size=%d", idleRequestBytes),
		"loop=idle",
		fmt.Sprintf("rate=%d", p.U("rate")),
		fmt.Sprintf("deadline_s=%d", echoDeadlineS),
		fmt.Sprintf("trickle=%d", trickle),
	})
	if err != nil {
		return err
	}
	defer gen.close()
	units.Add(1)
	go acceptAndServe(ln, open, &units, &accepted, idleReadBuffer, acceptErr, serveErr)
	// The generator's signals: 'r' (ready), then 'd' (done) or end of file.
	ready := make(chan struct{})
	done := make(chan struct{})
	go func() {
		var b [1]byte
		for {
			n, _ := gen.done.Read(b[:])
			if n == 1 && b[0] == 'r' {
				close(ready)
				continue
			}
			close(done)
			return
		}
	}()

	stopWith := func(err error) error {
		ln.Close()
		open.closeAll()
		units.Wait()
		probe.Note("reached", accepted.Load())
		e := errorFrom("accept", err)
		msg := fmt.Sprintf("%s after %d of %d connections", e.Error(), accepted.Load(), connections)
		var le *LimitError
		if errors.As(e, &le) {
			return &LimitError{msg, le.errno}
		}
		return &SystemError{msg, errnoOf(err)}
	}
	// A connection that failed otherwise than by its client leaving ends the
	// run with its error, as in echo.
	stopServing := func(err error) error {
		ln.Close()
		open.closeAll()
		units.Wait()
		return err
	}
	select {
	case err := <-acceptErr:
		return stopWith(err)
	case err := <-serveErr:
		return stopServing(err)
	case <-ready:
		probe.MemoryParked(connections)
		if _, err := gen.lifeline.Write([]byte{'g'}); err != nil {
			return errorFrom("write (load generator go)", err)
		}
	case <-done:
	}
	select {
	case err := <-acceptErr:
		return stopWith(err)
	case err := <-serveErr:
		return stopServing(err)
	case <-done:
		// A connection's own failure first: the generator's error would be
		// its echo.
		select {
		case err := <-serveErr:
			return stopServing(err)
		default:
		}
	}
	verdict, ferr := gen.finishIdle(connections, trickle, probe)
	ln.Close()
	open.closeAll()
	units.Wait()
	probe.Stop()
	if ferr != nil {
		return ferr
	}
	probe.Note("connections_accepted", accepted.Load())
	if verdict.ok && accepted.Load() != connections {
		verdict = fail(fmt.Sprintf("the server accepted %d connections, expected %d", accepted.Load(), connections))
	}
	probe.Verify(verdict)
	return nil
}

// finishIdle is LoadGen::finish in the idle mode: the trickle's histogram,
// the operations (trickle requests answered), the notes, the verdict.
func (g *loadgen) finishIdle(connections, trickle uint64, probe *Probe) (Verdict, error) {
	rep := decodeReport(g.mem)
	if rep.magic != loadgenMagic {
		return Verdict{}, &SystemError{fmt.Sprintf("the load generator (pid %d, %s loadgen) ended without a report", g.proc.Pid, g.exe), 0}
	}
	if rep.err != 0 && rep.generatorLimit != 0 {
		return Verdict{}, &LimitError{"load generator: " + rep.errorText, syscall.Errno(rep.err)}
	}
	probe.LatencyHistograms(1)[0] = rep.hist
	if rep.completed > connections {
		probe.SetOperations(rep.completed - connections)
	}
	probe.Note("load_generator", "cmbench loadgen: a separate process (the Go cell's child in its own session), one thread, "+
		"epoll; idle: connections opened at most 512 at a time, each answering one untimed first request; after the "+
		"cell's go, the trickle: requests due at a fixed total rate (open loop), latency from the due time")
	if rep.endNs > rep.firstSendNs && rep.firstSendNs > 0 {
		probe.Note("load_generator_window_s", float64(rep.endNs-rep.firstSendNs)/1e9)
	}
	probe.Note("load_generator_cpu_s", rep.cpuS)
	noteLoadgenCPUs(probe)
	want := connections * (1 + trickle)
	if rep.errorText != "" {
		return fail(fmt.Sprintf("load generator: %s (%d of %d requests answered)", rep.errorText, rep.completed, want)), nil
	}
	if rep.completed != want {
		return fail(fmt.Sprintf("load generator: %d of %d requests answered", rep.completed, want)), nil
	}
	return pass(), nil
}
