package main

import (
	"errors"
	"fmt"
	"strconv"
	"syscall"
)

// Params are one cell's values, every one already checked by the C++ side
// (make_params) against the workload's and the model's definitions.
type Params struct {
	values  map[string]string
	cmbench string // the cmbench binary (echo's load generator)
}

func (p Params) Has(name string) bool { _, ok := p.values[name]; return ok }

// U returns an integer parameter. A missing or malformed one is a bug of the
// caller (the C++ side always passes all of them): it panics, and the cell
// is `failed` with this message.
func (p Params) U(name string) uint64 {
	s, ok := p.values[name]
	if !ok {
		panic(fmt.Sprintf("parameter '%s' was not given (cmbench passes every parameter)", name))
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		panic(fmt.Sprintf("parameter '%s': '%s' is not an unsigned integer", name, s))
	}
	return v
}

func (p Params) S(name string) string {
	s, ok := p.values[name]
	if !ok {
		panic(fmt.Sprintf("parameter '%s' was not given (cmbench passes every parameter)", name))
	}
	return s
}

// LimitError and SystemError are harness/cell/errors.hpp's: a resource ran out
// (outcome limit), or a system call failed otherwise (outcome failed).
type LimitError struct {
	msg   string
	errno syscall.Errno
}

func (e *LimitError) Error() string { return e.msg }

type SystemError struct {
	msg   string
	errno syscall.Errno
}

func (e *SystemError) Error() string { return e.msg }

func isLimitErrno(err syscall.Errno) bool {
	switch err {
	case syscall.EAGAIN, syscall.ENOMEM, syscall.EMFILE, syscall.ENFILE, syscall.ENOSPC, syscall.ENOBUFS:
		return true
	}
	return false
}

// errnoOf finds the errno inside a Go error (*os.SyscallError, *net.OpError
// wrap it); 0 when there is none.
func errnoOf(err error) syscall.Errno {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return 0
}

// errorFrom is throw_errno: "call: strerror", a LimitError for the errnos
// that mean a resource ran out, else a SystemError.
func errorFrom(call string, err error) error {
	e := errnoOf(err)
	msg := call + ": " + err.Error()
	if e != 0 {
		msg = call + ": " + e.Error()
	}
	if isLimitErrno(e) {
		return &LimitError{msg, e}
	}
	return &SystemError{msg, e}
}
