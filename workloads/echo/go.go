package main

// echo in Go: a TCP echo server as a Go programmer writes it, with the net
// package: net.Listen on 127.0.0.1, an accept loop, and a goroutine per
// connection that Reads into its buffer and Writes back what it read until
// end of stream. The calls look blocking; underneath, the runtime's
// netpoller (epoll, edge-triggered) parks the goroutine on EAGAIN and the
// scheduler runs another. Go sets TCP_NODELAY on every TCP connection by
// default. The read buffer is echo::kReadBuffer (16 KiB) per connection,
// allocated when it is accepted, as the spec asks of every model; io.Copy
// is not used because it would read 32 KiB at a time or splice(2) between
// the sockets, which no other model does.
//
// The load generator is cmbench's own (`cmbench loadgen`), started the way
// workloads/echo/loadgen.cpp's LoadGen starts it: descriptor 3 a memfd
// holding the LoadGenShared report, 4 the write end of the "done" pipe, 5
// the read end of the "lifeline" pipe, in a session of its own. Go cannot
// fork without exec, so the generator is this process's child rather than a
// grandchild; it is reaped only after the timed region, so its CPU time
// never enters the RUSAGE_CHILDREN delta, and it is outside the cell's
// process group all the same. The report is read from the mapping at the
// offsets of loadgen.cpp's structs (checked: a magic word, and the sizes
// below, which tests/unit/go_histogram_test.cpp does not cover).
//
// Shutdown: a goroutine reads the done pipe (through the netpoller); main
// then collects the report, closes the listener (the accept loop ends) and
// every connection still open (normally none: the generator closes each
// after its last response), and waits on a sync.WaitGroup of the
// connection goroutines before the timed region ends. An accept that fails
// for lack of resources (EMFILE with C connections that do not fit) stops
// the server: everything is closed, the generator is killed, and the cell is
// a `limit` with the errno.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

const (
	echoReadBuffer    = 16 * 1024 // echo::kReadBuffer
	echoDeadlineS     = 600       // echo::kDeadlineSeconds
	loadgenMagic      = 0x316f686365626d63
	loadgenResultOff  = 16 // LoadGenShared: pid, fork_errno, exec_errno, then Result
	loadgenErrorLen   = 512
	loadgenHistOff    = 600 // offsetof(Result, hist)
	loadgenHistBytes  = int(histBuckets+4) * 8
	loadgenSharedSize = loadgenResultOff + loadgenHistOff + loadgenHistBytes // 40584
)

// loadgenReport is loadgen.cpp's Result, decoded from the mapping.
type loadgenReport struct {
	magic, connections, sent, completed uint64
	err                                 int32
	generatorLimit                      int32
	errorText                           string
	firstSendNs, endNs                  int64
	cpuS                                float64
	hist                                *Histogram
}

func decodeReport(mem []byte) loadgenReport {
	r := mem[loadgenResultOff:]
	le := binary.LittleEndian
	rep := loadgenReport{
		magic:          le.Uint64(r[0:]),
		connections:    le.Uint64(r[8:]),
		sent:           le.Uint64(r[16:]),
		completed:      le.Uint64(r[24:]),
		err:            int32(le.Uint32(r[32:])),
		generatorLimit: int32(le.Uint32(r[36:])),
		firstSendNs:    int64(le.Uint64(r[576:])),
		endNs:          int64(le.Uint64(r[584:])),
		cpuS:           *(*float64)(unsafe.Pointer(&r[592])),
		hist:           newHistogram(),
	}
	text := r[40 : 40+loadgenErrorLen]
	if i := strings.IndexByte(string(text), 0); i >= 0 {
		text = text[:i]
	}
	rep.errorText = string(text)
	h := r[loadgenHistOff:]
	for i := range rep.hist.counts {
		rep.hist.counts[i] = le.Uint64(h[i*8:])
	}
	tail := h[histBuckets*8:]
	rep.hist.count = le.Uint64(tail[0:])
	rep.hist.sum = le.Uint64(tail[8:])
	rep.hist.min = le.Uint64(tail[16:])
	rep.hist.max = le.Uint64(tail[24:])
	return rep
}

// loadgen is the running generator: its process, its report mapping and the
// cell's ends of the done and lifeline pipes.
type loadgen struct {
	proc     *os.Process
	mem      []byte
	done     *os.File
	lifeline *os.File
	exe      string
}

func pipe() (r, w int, err error) {
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC); err != nil {
		return -1, -1, err
	}
	return fds[0], fds[1], nil
}

func startLoadgen(p Params, port int) (*loadgen, error) {
	return launchLoadgen(p.cmbench, []string{
		fmt.Sprintf("port=%d", port),
		fmt.Sprintf("connections=%d", p.U("connections")),
		fmt.Sprintf("requests=%d", p.U("requests")),
		fmt.Sprintf("size=%d", p.U("size")),
		fmt.Sprintf("loop=%s", p.S("loop")),
		fmt.Sprintf("rate=%d", p.U("rate")),
		fmt.Sprintf("deadline_s=%d", echoDeadlineS),
	})
}

// launchLoadgen starts `cmbench loadgen` with the key=value arguments given
// (echo's, or the idle workload's).
func launchLoadgen(cmbench string, kv []string) (*loadgen, error) {
	if cmbench == "" {
		return nil, &SystemError{"the load generator needs the cmbench binary (--cmbench)", 0}
	}
	name := []byte("cmbench-loadgen-report\x00")
	fd, _, e := syscall.Syscall(sysMemfdCreate, uintptr(unsafe.Pointer(&name[0])), 1 /* MFD_CLOEXEC */, 0)
	if e != 0 {
		return nil, errorFrom("memfd_create (load generator report)", e)
	}
	report := os.NewFile(fd, "loadgen-report")
	defer report.Close()
	if err := syscall.Ftruncate(int(fd), int64(loadgenSharedSize)); err != nil {
		return nil, errorFrom("ftruncate (load generator report)", err)
	}
	mem, err := syscall.Mmap(int(fd), 0, loadgenSharedSize, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return nil, errorFrom("mmap (load generator report)", err)
	}
	g := &loadgen{mem: mem, exe: cmbench}
	doneR, doneW, err := pipe()
	if err != nil {
		g.close()
		return nil, errorFrom("pipe2 (load generator done)", err)
	}
	lifeR, lifeW, err := pipe()
	if err != nil {
		syscall.Close(doneR)
		syscall.Close(doneW)
		g.close()
		return nil, errorFrom("pipe2 (load generator lifeline)", err)
	}
	// The done pipe goes through the netpoller: a goroutine waiting on it
	// parks instead of holding a thread in read(2).
	_ = syscall.SetNonblock(doneR, true)
	g.done = os.NewFile(uintptr(doneR), "loadgen-done")
	g.lifeline = os.NewFile(uintptr(lifeW), "loadgen-lifeline")
	doneWF := os.NewFile(uintptr(doneW), "loadgen-done-w")
	lifeRF := os.NewFile(uintptr(lifeR), "loadgen-lifeline-r")
	defer doneWF.Close()
	defer lifeRF.Close()
	args := append([]string{cmbench, "loadgen"}, kv...)
	proc, err := os.StartProcess(cmbench, args, &os.ProcAttr{
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr, report, doneWF, lifeRF},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	if err != nil {
		g.close()
		return nil, errorFrom("execv "+cmbench+" loadgen (the echo load generator)", err)
	}
	g.proc = proc
	return g, nil
}

// close kills the generator if it is still running, reaps it and releases
// the descriptors and the mapping.
func (g *loadgen) close() {
	if g.proc != nil {
		_ = g.proc.Kill() // harmless once it has exited: it is not reaped yet
		_, _ = g.proc.Wait()
		g.proc = nil
	}
	if g.done != nil {
		g.done.Close()
	}
	if g.lifeline != nil {
		g.lifeline.Close()
	}
	if g.mem != nil {
		_ = syscall.Munmap(g.mem)
		g.mem = nil
	}
}

// noteLoadgenCPUs notes where the generator ran when the cell is pinned: the CPUs
// the cell left, which `cmbench loadgen` moved itself to
// (CMBENCH_LOADGEN_CPUS, harness/cell/cpus.hpp; set by apply_pin in harness/sandbox/pin.cpp).
func noteLoadgenCPUs(probe *Probe) {
	if cpus := os.Getenv("CMBENCH_LOADGEN_CPUS"); cpus != "" {
		probe.Note("load_generator_cpus", cpus)
	}
}

// finish is LoadGen::finish: the generator's histogram, the operations (the
// requests answered), the notes, and the verdict.
func (g *loadgen) finish(p Params, probe *Probe) (Verdict, error) {
	rep := decodeReport(g.mem)
	if rep.magic != loadgenMagic {
		return Verdict{}, &SystemError{fmt.Sprintf("the echo load generator (pid %d, %s loadgen) ended without a report: "+
			"it was killed, or that executable lacks the hidden loadgen command", g.proc.Pid, g.exe), 0}
	}
	if rep.err != 0 && rep.generatorLimit != 0 {
		return Verdict{}, &LimitError{"load generator: " + rep.errorText, syscall.Errno(rep.err)}
	}
	probe.LatencyHistograms(1)[0] = rep.hist
	probe.SetOperations(rep.completed)
	loop := "closed loop: each connection sends its next request when the response is complete, latency from the send"
	if p.S("loop") == "open" {
		loop = "open loop: requests due at a fixed total rate, at most one outstanding per connection, latency from the due time"
	}
	probe.Note("load_generator", "cmbench loadgen: a separate process (the Go cell's child in its own session, "+
		"reaped after the timed region), one thread, epoll; "+loop)
	if rep.endNs > rep.firstSendNs && rep.firstSendNs > 0 {
		probe.Note("load_generator_window_s", float64(rep.endNs-rep.firstSendNs)/1e9)
	}
	probe.Note("load_generator_cpu_s", rep.cpuS)
	noteLoadgenCPUs(probe)
	requests := p.U("requests")
	if rep.err != 0 {
		// A system call of the generator failed (a reset, a refused
		// connection): the run failed with that errno, as LoadGen::finish says.
		return Verdict{}, &SystemError{fmt.Sprintf("load generator: %s (%d of %d requests answered)", rep.errorText, rep.completed, requests), syscall.Errno(rep.err)}
	}
	if rep.errorText != "" {
		return fail(fmt.Sprintf("load generator: %s (%d of %d requests answered)", rep.errorText, rep.completed, requests)), nil
	}
	if rep.completed != requests {
		return fail(fmt.Sprintf("load generator: %d of %d requests answered", rep.completed, requests)), nil
	}
	return pass(), nil
}

// raiseFdLimit is echo::raise_fd_limit: RLIMIT_NOFILE to its hard limit,
// and a descriptor table that holds the connections.
func raiseFdLimit(connections uint64) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, errorFrom("getrlimit(RLIMIT_NOFILE)", err)
	}
	if lim.Cur != lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return 0, &SystemError{"setrlimit(RLIMIT_NOFILE): " + err.Error(), errnoOf(err)}
		}
	}
	reserveDescriptorTable(connections + 64)
	return lim.Cur, nil
}

// openConns are the connections being served, so that shutdown can close
// the ones still open.
type openConns struct {
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func (o *openConns) add(c net.Conn) {
	o.mu.Lock()
	o.conns[c] = struct{}{}
	o.mu.Unlock()
}

func (o *openConns) remove(c net.Conn) {
	o.mu.Lock()
	delete(o.conns, c)
	o.mu.Unlock()
}

func (o *openConns) closeAll() {
	o.mu.Lock()
	for c := range o.conns {
		c.Close()
	}
	o.mu.Unlock()
}

// clientGone says whether a connection's error is its end — end of stream,
// the client gone (reset, broken pipe), or closed at shutdown — rather than
// a failure of the server (the C++ models' client_gone()).
func clientGone(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		return true
	}
	e := errnoOf(err)
	return e == syscall.ECONNRESET || e == syscall.EPIPE
}

// serveEcho echoes, reading up to bufSize bytes at a time, until the
// connection ends; any other error is the server's failure, sent (the first
// one) to `failed` as the error the cell ends with. idle serves its
// connections with it too (workloads/idle/go.go).
func serveEcho(conn net.Conn, bufSize int, failed chan<- error) {
	buf := make([]byte, bufSize)
	report := func(call string, err error) {
		if !clientGone(err) {
			select {
			case failed <- errorFrom(call, err):
			default:
			}
		}
	}
	for {
		n, err := conn.Read(buf)
		if n > 0 {
			if _, werr := conn.Write(buf[:n]); werr != nil {
				report("write (connection)", werr)
				return
			}
		}
		if err != nil {
			report("read (connection)", err)
			return
		}
	}
}

// acceptAndServe is the accept loop (started with units.Add(1) done): a
// goroutine per connection, serving it with serveEcho until it ends, each
// one counted in `accepted`, added to `open` and to `units`. An accept error
// other than the listener's closing goes to acceptErr. idle runs it too.
func acceptAndServe(ln net.Listener, open *openConns, units *sync.WaitGroup, accepted *atomic.Uint64,
	bufSize int, acceptErr, serveErr chan<- error) {
	defer units.Done()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				acceptErr <- err
			}
			return
		}
		accepted.Add(1)
		open.add(conn)
		units.Add(1)
		go func() {
			defer units.Done()
			defer open.remove(conn)
			defer conn.Close()
			serveEcho(conn, bufSize, serveErr)
		}()
	}
}

// echo in cmbench-go's registry (main.go): its run function and its
// operation count, workloads/echo/spec.cpp's operations().
func init() {
	register("echo", workload{run: runEcho, operations: func(p Params) uint64 { return p.U("requests") }})
}

func runEcho(p Params, probe *Probe) error {
	if _, err := raiseFdLimit(p.U("connections")); err != nil {
		return err
	}
	faults, err := serverIOFaults("echo/go")
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return errorFrom("listen(127.0.0.1:0)", err)
	}
	if faults != nil {
		ln = faultListener{ln, faults} // the fault tests only (echofault.go)
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
	probe.Note("tcp_nodelay", true)
	probe.Note("read_buffer", echoReadBuffer)
	probe.Note("listen_backlog", "net.Listen: the kernel's somaxconn (Go does not take a backlog)")

	probe.Start()
	gen, err := startLoadgen(p, port)
	if err != nil {
		return err
	}
	defer gen.close()
	units.Add(1)
	go acceptAndServe(ln, open, &units, &accepted, echoReadBuffer, acceptErr, serveErr)
	done := make(chan struct{})
	go func() { // the generator's "done" byte, or end of file if it died
		var b [1]byte
		_, _ = gen.done.Read(b[:])
		close(done)
	}()

	select {
	case err := <-acceptErr:
		// The server cannot hold the connections: stop serving, end every
		// unit, and leave without waiting for the generator (killed by
		// gen.close).
		ln.Close()
		open.closeAll()
		units.Wait()
		return errorFrom("accept", err)
	case err := <-serveErr:
		// A connection failed otherwise than by its client leaving: the same.
		ln.Close()
		open.closeAll()
		units.Wait()
		return err
	case <-done:
		// A connection's own failure first: the generator's error (a reset
		// connection) would be its echo. It was reported before the
		// connection was closed, so before the generator saw anything.
		select {
		case err := <-serveErr:
			ln.Close()
			open.closeAll()
			units.Wait()
			return err
		default:
		}
	}
	verdict, ferr := gen.finish(p, probe)
	ln.Close()
	open.closeAll()
	units.Wait()
	probe.Stop()
	if ferr != nil {
		return ferr
	}
	probe.Note("connections_accepted", accepted.Load())
	probe.Verify(verdict)
	return nil
}
