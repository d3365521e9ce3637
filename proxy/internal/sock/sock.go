//go:build linux

// Package sock does the reads and writes of the proxy's TCP connections (from the gateway and
// to the upstreams, in both engines) as raw system calls on their non-blocking sockets,
// waiting for readiness through the runtime's network poller exactly as package net does.
//
// Why: a read or write on a net.Conn enters the runtime's blocking-system-call state. While
// a goroutine is in it, the runtime's monitor thread may hand its P to another thread, and
// on a busy machine it does so thousands of times a second: a loopback write runs the
// receiver's TCP work inline and is often descheduled midway. The monitor's 20 µs wake-ups,
// the hand-offs and the thread wake-ups they cause cost the proxy about a tenth of its CPU
// per request in hack/bench-proxy.sh (docs/benchmarks.md). A read or write on a
// non-blocking socket never blocks, so it needs none of that bookkeeping.
//
// Conn behaves as the *net.TCPConn it wraps: the same bytes, the same errors (net.OpError
// with Op "read" or "write", os.SyscallError inside, io.EOF, deadlines, net.ErrClosed), as
// sock_test.go checks against the standard library side by side.
package sock

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// maxRW bounds one read or write, as package net does.
const maxRW = 1 << 30

// Conn is a TCP connection whose Read and Write are raw system calls.
type Conn struct {
	*net.TCPConn
	rc syscall.RawConn
}

// Wrap returns c with raw reads and writes when it is a TCP connection, else c unchanged.
func Wrap(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	return &Conn{TCPConn: tc, rc: rc}
}

// Read reads what the socket has, waiting for it in the network poller when it has nothing.
func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if len(p) > maxRW {
		p = p[:maxRW]
	}
	var n int
	var errno syscall.Errno
	err := c.rc.Read(func(fd uintptr) bool {
		for {
			r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
			switch e {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false // nothing yet: wait for readiness
			}
			n, errno = int(r), e
			return true
		}
	})
	switch {
	case err != nil:
		return 0, c.rename(err, "read")
	case errno != 0:
		return 0, c.opError("read", errno)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// Write writes all of p, waiting in the network poller whenever the socket's buffer is full.
func (c *Conn) Write(p []byte) (int, error) {
	var n int
	var errno syscall.Errno
	err := c.rc.Write(func(fd uintptr) bool {
		for n < len(p) {
			chunk := min(len(p)-n, maxRW)
			r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&p[n])), uintptr(chunk))
			switch e {
			case 0:
				n += int(r)
			case syscall.EINTR:
			case syscall.EAGAIN:
				return false // the buffer is full: wait until it drains
			default:
				errno = e
				return true
			}
		}
		return true
	})
	switch {
	case err != nil:
		return n, c.rename(err, "write")
	case errno != 0:
		return n, c.opError("write", errno)
	}
	return n, nil
}

func (c *Conn) opError(op string, errno syscall.Errno) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError(op, errno)}
}

// rename gives the raw connection's errors (a deadline, a closed connection) the operation
// package net names them with.
func (c *Conn) rename(err error, op string) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		renamed := *oe
		renamed.Op = op
		return &renamed
	}
	return err
}
