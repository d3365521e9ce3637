package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatewaytenant/gatewaytenant-operator/proxy/internal/h1"
	"github.com/gatewaytenant/gatewaytenant-operator/proxy/internal/sock"
)

// frontend serves one upstream's listener. Every request head is read and its framing
// decided here, by the strict rules of h1.RequestFraming; a request refused by them is
// answered (400, 431, 501) and its connection closed. A plain HTTP/1.1 exchange is then
// forwarded on the connection's own goroutine, reading and writing both connections itself
// (forward.go): no goroutine hand-offs, no request cloning, pooled buffers, one write per
// direction where head and body fit. Anything else (a protocol upgrade, Expect:
// 100-continue, a chunked or large body, HTTP/1.0, a target not in origin form) hands the
// connection, with what was read of it, to a net/http server running
// httputil.ReverseProxy, which answers that one request and closes the connection.
type frontend struct {
	u           *upstream
	http        *http.Server // handed-off connections
	handoff     *chanListener
	readHeader  time.Duration
	idleTimeout time.Duration

	mu       sync.Mutex
	conns    map[*frontConn]struct{}
	closing  atomic.Bool
	handoffs atomic.Int64 // connections given to net/http (tests check which engine ran)
	// netHTTPOnly hands every request that passed the framing rules to net/http: the
	// differential fuzzer compares the two engines with it.
	netHTTPOnly bool
}

// Connection states of the fast path.
const (
	connIdle int32 = iota
	connActive
	connClosed
)

func newFrontend(u *upstream, hs *http.Server, readHeader, idle time.Duration) *frontend {
	hs.SetKeepAlivesEnabled(false) // one request per handed-off connection; see nethttp.go
	return &frontend{u: u, http: hs, readHeader: readHeader, idleTimeout: idle, conns: map[*frontConn]struct{}{}}
}

// Serve accepts on ln until it is closed.
func (f *frontend) Serve(ln net.Listener) error {
	f.handoff = &chanListener{addr: ln.Addr(), ch: make(chan net.Conn), done: make(chan struct{})}
	go func() { _ = f.http.Serve(f.handoff) }()
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if f.closing.Load() || errors.Is(err, net.ErrClosed) {
				return http.ErrServerClosed
			}
			if te, ok := err.(interface{ Temporary() bool }); ok && te.Temporary() { // EMFILE and the like: back off, as net/http does
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		fc := &frontConn{f: f, c: sock.Wrap(c), clientIP: clientIP(c)}
		if !f.track(fc) {
			_ = c.Close()
			continue
		}
		go fc.serve()
	}
}

func (f *frontend) track(fc *frontConn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closing.Load() {
		return false
	}
	f.conns[fc] = struct{}{}
	return true
}

func (f *frontend) untrack(fc *frontConn) {
	f.mu.Lock()
	delete(f.conns, fc)
	f.mu.Unlock()
}

// Shutdown closes idle connections, lets active ones finish their request (their answer
// says Connection: close), and returns when none is left or ctx is done. The handed-off
// connections are shut down by their http.Server the same way.
func (f *frontend) Shutdown(ctx context.Context) error {
	f.closing.Store(true)
	errc := make(chan error, 1)
	go func() { errc <- f.http.Shutdown(ctx) }()
	wait := time.Millisecond
	for f.closeIdle() > 0 {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			f.closeAll()
			return errors.Join(ctx.Err(), <-errc)
		case <-t.C:
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
	return <-errc
}

// Close closes every connection now.
func (f *frontend) Close() error {
	f.closing.Store(true)
	f.closeAll()
	return f.http.Close()
}

// closeIdle closes the idle fast connections and returns how many connections are left.
func (f *frontend) closeIdle() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	for fc := range f.conns {
		if fc.state.CompareAndSwap(connIdle, connClosed) {
			_ = fc.c.Close()
		}
	}
	return len(f.conns)
}

func (f *frontend) closeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for fc := range f.conns {
		fc.state.Store(connClosed)
		_ = fc.c.Close()
	}
}

// frontConn is one connection from the gateway on the fast path. Its buffers go back to
// pools while it is idle, so that an idle keep-alive connection costs little more than its
// goroutine.
type frontConn struct {
	f        *frontend
	c        net.Conn
	clientIP string
	state    atomic.Int32
	br       *bufio.Reader
	bw       *bufio.Writer
	first    [512]byte // what ended the idle wait: most requests whole, in one read
	firstLen int
	firstOff int
	req      h1.Head
	resp     h1.Head
}

// Read is the bufio.Reader's source: what was read while idle, then the connection.
func (fc *frontConn) Read(p []byte) (int, error) {
	if fc.firstOff < fc.firstLen {
		n := copy(p, fc.first[fc.firstOff:fc.firstLen])
		fc.firstOff += n
		return n, nil
	}
	return fc.c.Read(p)
}

var (
	readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4<<10) }}
	writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4<<10) }}
)

func (fc *frontConn) serve() {
	handedOff := false
	defer func() {
		fc.f.untrack(fc)
		if !handedOff {
			_ = fc.c.Close()
			fc.release()
		}
	}()
	for {
		if fc.br == nil || (fc.br.Buffered() == 0 && fc.firstOff >= fc.firstLen) { // nothing pipelined: wait idle
			fc.release()
			if !fc.awaitRequest() {
				return
			}
		} else if !fc.state.CompareAndSwap(connIdle, connActive) {
			return
		} else {
			_ = fc.c.SetReadDeadline(time.Now().Add(fc.f.readHeader)) // a pipelined request's head
		}
		var keep bool
		keep, handedOff = fc.serveRequest()
		if handedOff || !keep || !fc.state.CompareAndSwap(connActive, connIdle) || fc.f.closing.Load() {
			return
		}
	}
}

// awaitRequest waits for the next request without holding pooled buffers; the read that
// ends the wait usually brings the whole request head.
func (fc *frontConn) awaitRequest() bool {
	_ = fc.c.SetReadDeadline(time.Now().Add(fc.f.idleTimeout))
	n, err := fc.c.Read(fc.first[:])
	if n == 0 || err != nil || !fc.state.CompareAndSwap(connIdle, connActive) {
		return false
	}
	fc.firstLen, fc.firstOff = n, 0
	if !wholeHead(fc.first[:n]) { // else no more reads for the head: spare the deadline's cost
		_ = fc.c.SetReadDeadline(time.Now().Add(fc.f.readHeader))
	}
	fc.br = readers.Get().(*bufio.Reader)
	fc.br.Reset(fc)
	fc.bw = writers.Get().(*bufio.Writer)
	fc.bw.Reset(fc.c)
	return true
}

// wholeHead: b holds a whole request head (it reaches the empty line).
func wholeHead(b []byte) bool {
	return bytes.Contains(b, []byte("\r\n\r\n")) || bytes.Contains(b, []byte("\n\n"))
}

// received is how many bytes of the connection were read and not consumed yet.
func (fc *frontConn) received() int {
	return fc.br.Buffered() + fc.firstLen - fc.firstOff
}

func (fc *frontConn) release() {
	if fc.br != nil {
		fc.br.Reset(nil)
		readers.Put(fc.br)
		fc.br = nil
	}
	if fc.bw != nil {
		fc.bw.Reset(nil)
		writers.Put(fc.bw)
		fc.bw = nil
	}
}

// handOff gives the connection, with the request head already read, to net/http.
func (fc *frontConn) handOff() {
	fc.f.handoffs.Add(1)
	fc.f.untrack(fc)
	_ = fc.c.SetReadDeadline(time.Time{})
	hc := &handedConn{Conn: fc.c, r: io.MultiReader(bytes.NewReader(fc.req.Raw), fc.br)}
	select {
	case fc.f.handoff.ch <- hc:
	case <-fc.f.handoff.done:
		_ = fc.c.Close()
	}
}

// handedConn replays what the fast path read before handing the connection off.
type handedConn struct {
	net.Conn
	r io.Reader
}

func (c *handedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// chanListener feeds handed-off connections to an http.Server.
type chanListener struct {
	addr net.Addr
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }

func clientIP(c net.Conn) string {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return c.RemoteAddr().String()
	}
	return host
}
