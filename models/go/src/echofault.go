package main

// The server side of the echo fault tests, for the go model: the same
// CMBENCH_FAULT=io:<side>:<fault>[,...][@<cell filter>] that
// harness/sandbox/io_fault.cpp injects into the other models' servers
// through libc (preloaded by the runner). Go makes its system calls
// without libc, so the preloaded library never sees them; here the
// listener and its connections are wrapped instead — only when the
// variable asks for a server-side fault in echo/go, so an ordinary run
// uses net's own types and pays nothing. The load generator, cmbench's
// own, gets the preloaded library through the environment as usual.
//
// Faults: short-read, short-write, short-io (every Read/Write moves 1 to 7
// bytes), reset[#N] (the N-th Read resets its connection: the peer gets an
// RST, the server ECONNRESET), CALL=ERRNO[#N[+]] (the N-th call of accept,
// read or write fails with ERRNO; N+: and every later one); read-first is
// accepted and has no effect here (it happens under the netpoller).

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
)

type errnoFault struct {
	on       bool
	call     string
	err      syscall.Errno
	nth      uint64
	andLater bool
	count    atomic.Uint64
	logged   atomic.Bool
}

// fires says whether this call fails, and with which errno.
func (f *errnoFault) fires() syscall.Errno {
	if !f.on {
		return 0
	}
	n := f.count.Add(1)
	if n == f.nth || (f.andLater && n > f.nth) {
		if !f.logged.Swap(true) {
			logFault(fmt.Sprintf("%s=%s#%d", f.call, errnoName(f.err), f.nth))
		}
		return f.err
	}
	return 0
}

// logFault appends one line to CMBENCH_FAULT_LOG, as io_fault.cpp does, so
// a test can tell that a fault fired.
func logFault(what string) {
	path := os.Getenv("CMBENCH_FAULT_LOG")
	if path == "" {
		return
	}
	if f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err == nil {
		fmt.Fprintf(f, "server pid=%d %s\n", os.Getpid(), what)
		f.Close()
	}
}

func errnoName(e syscall.Errno) string {
	for name, v := range errnoByName {
		if v == e {
			return name
		}
	}
	return strconv.Itoa(int(e))
}

type ioFaults struct {
	shortRead, shortWrite   bool
	accept, read, write     errnoFault
	shortCount              atomic.Uint64
	loggedRead, loggedWrite atomic.Bool
}

// errnoByName maps "EMFILE" to syscall.EMFILE, for the errnos a test names.
var errnoByName = map[string]syscall.Errno{
	"EMFILE": syscall.EMFILE, "ENFILE": syscall.ENFILE, "ENOBUFS": syscall.ENOBUFS,
	"ENOMEM": syscall.ENOMEM, "ECONNRESET": syscall.ECONNRESET, "ECONNABORTED": syscall.ECONNABORTED,
	"EPIPE": syscall.EPIPE, "EIO": syscall.EIO, "EINTR": syscall.EINTR, "EAGAIN": syscall.EAGAIN,
	"ETIMEDOUT": syscall.ETIMEDOUT, "EPERM": syscall.EPERM, "EACCES": syscall.EACCES,
	"EADDRNOTAVAIL": syscall.EADDRNOTAVAIL, "ECONNREFUSED": syscall.ECONNREFUSED,
}

// serverIOFaults reads CMBENCH_FAULT for cell `cell` ("echo/go"): nil when
// it asks for no server-side io fault there.
func serverIOFaults(cell string) (*ioFaults, error) {
	spec := os.Getenv("CMBENCH_FAULT")
	if !strings.HasPrefix(spec, "io:") {
		return nil, nil
	}
	body := spec[3:]
	if at := strings.IndexByte(body, '@'); at >= 0 {
		if !strings.Contains(cell, body[at+1:]) {
			return nil, nil
		}
		body = body[:at]
	}
	side, list, ok := strings.Cut(body, ":")
	if !ok {
		return nil, fmt.Errorf("CMBENCH_FAULT='%s': expected io:<side>:<fault>", spec)
	}
	if side != "server" && side != "both" {
		return nil, nil
	}
	f := &ioFaults{}
	for _, item := range strings.Split(list, ",") {
		switch item {
		case "short-read":
			f.shortRead = true
			continue
		case "short-write":
			f.shortWrite = true
			continue
		case "short-io":
			f.shortRead, f.shortWrite = true, true
			continue
		case "read-first":
			// A read that loses the race with its data happens inside Go's
			// netpoller, below net.Conn: nothing a wrapper can inject.
			continue
		}
		call, nth, andLater := item, uint64(1), false
		if hash := strings.IndexByte(item, '#'); hash >= 0 {
			call = item[:hash]
			n := item[hash+1:]
			if strings.HasSuffix(n, "+") {
				andLater, n = true, strings.TrimSuffix(n, "+")
			}
			v, err := strconv.ParseUint(n, 10, 64)
			if err != nil || v == 0 {
				return nil, fmt.Errorf("CMBENCH_FAULT='%s': #N is a number from 1", spec)
			}
			nth = v
		}
		name := ""
		if call == "reset" {
			call, name = "read", "ECONNRESET"
		} else if c, e, ok := strings.Cut(call, "="); ok {
			call, name = c, e
		} else {
			return nil, fmt.Errorf("CMBENCH_FAULT='%s': unknown io fault '%s'", spec, item)
		}
		errno, known := errnoByName[name]
		if !known {
			return nil, fmt.Errorf("CMBENCH_FAULT='%s': unknown errno name '%s'", spec, name)
		}
		var fault *errnoFault
		switch call {
		case "accept":
			fault = &f.accept
		case "read":
			fault = &f.read
		case "write":
			fault = &f.write
		case "connect", "socket":
			// The load generator's calls: a server makes none.
		default:
			return nil, fmt.Errorf("CMBENCH_FAULT='%s': CALL is accept, connect, socket, read or write", spec)
		}
		if fault != nil {
			fault.on, fault.call, fault.err, fault.nth, fault.andLater = true, call, errno, nth, andLater
		}
	}
	return f, nil
}

// shortLen is how much a short read or write moves: 1 to 7 bytes.
func (f *ioFaults) shortLen(n int) int {
	k := int(1 + f.shortCount.Add(1)%7)
	if n < k {
		return n
	}
	return k
}

type faultListener struct {
	net.Listener
	f *ioFaults
}

func (l faultListener) Accept() (net.Conn, error) {
	for {
		e := l.f.accept.fires()
		if e == 0 {
			break
		}
		if e != syscall.ECONNABORTED {
			return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: os.NewSyscallError("accept", e)}
		}
		// A connection that died in the queue, as io_fault.cpp makes one:
		// it leaves the queue reset. Go's internal/poll retries the
		// ECONNABORTED itself, and so does the wrapper, which sits above it.
		if c, err := l.Listener.Accept(); err == nil {
			_ = c.(*net.TCPConn).SetLinger(0)
			_ = c.Close()
		}
	}
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &faultConn{TCPConn: c.(*net.TCPConn), f: l.f}, nil
}

type faultConn struct {
	*net.TCPConn
	f *ioFaults
}

func (c *faultConn) Read(b []byte) (int, error) {
	// EINTR never reaches a Go program: internal/poll retries it, and so
	// does the wrapper, which sits above it.
	if e := c.f.read.fires(); e != 0 && e != syscall.EINTR {
		if e == syscall.ECONNRESET {
			// A real reset: with a zero linger time, close sends an RST.
			_ = c.TCPConn.SetLinger(0)
			_ = c.TCPConn.Close()
		}
		return 0, &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", e)}
	}
	if c.f.shortRead && len(b) > 1 {
		b = b[:c.f.shortLen(len(b))]
		if !c.f.loggedRead.Swap(true) {
			logFault("short-read")
		}
	}
	return c.TCPConn.Read(b)
}

// Write keeps net.Conn's contract (all of b, or an error), as
// (*net.TCPConn).Write does, but moves it in short pieces.
func (c *faultConn) Write(b []byte) (int, error) {
	if e := c.f.write.fires(); e != 0 && e != syscall.EINTR {
		return 0, &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", e)}
	}
	if !c.f.shortWrite {
		return c.TCPConn.Write(b)
	}
	if !c.f.loggedWrite.Swap(true) {
		logFault("short-write")
	}
	done := 0
	for done < len(b) {
		n, err := c.TCPConn.Write(b[done : done+c.f.shortLen(len(b)-done)])
		done += n
		if err != nil {
			return done, err
		}
	}
	return done, nil
}
