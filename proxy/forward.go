package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The fast path's exchange: forward one request on the gateway connection's goroutine to
// a pooled HTTP/1.1 upstream connection and relay the answer. It keeps the behaviour of
// the net/http path: Host rewrite, X-Forwarded-*, hop-by-hop headers, streaming bodies
// (flushed whenever the upstream has nothing more buffered, so event streams are not held
// back), trailers, the 502/504 JSON answers, reasons, metrics and the access log.

// serveRequest reads and forwards one request. keep: the connection may carry another;
// handedOff: it now belongs to net/http.
func (fc *frontConn) serveRequest() (keep, handedOff bool) {
	start := time.Now()
	if err := fc.req.read(fc.br); err != nil {
		if errors.Is(err, errMalformed) || errors.Is(err, errHeadTooLarge) {
			fc.handOff() // net/http answers it (400, 431) as before
			return false, true
		}
		return false, false // closed, or too slow
	}
	pool := fc.f.u.transports.Load().fast
	if !fc.fastPathFits() || pool.h2.Load() {
		fc.handOff()
		return false, true
	}
	_ = fc.c.SetReadDeadline(time.Time{}) // bodies may take their time, as with net/http
	x := exchange{fc: fc, u: fc.f.u, pool: pool, bodyLeft: max(fc.req.contentLength, 0)}
	if !x.run() {
		fc.handOff()
		return false, true
	}
	took := time.Since(start)
	x.u.observe(x.code, took) // before the answer's last bytes leave: counted when it is seen
	if fc.bw.Flush() != nil {
		x.keepClient = false
	}
	if x.u.accessLog {
		x.logAccess(took)
	}
	return x.keepClient, false
}

// maxFastBody: larger request bodies go through net/http, whose Transport reads the answer
// while it sends, so an upstream answering early (401, 413) is heard; a body this small is
// in the socket buffers before the upstream could answer.
const maxFastBody = 64 << 10

// fastPathFits: an HTTP/1.1 request in origin form with one Host, a body (if any) of known
// length up to maxFastBody, no protocol upgrade and no Expect.
func (fc *frontConn) fastPathFits() bool {
	r := &fc.req
	return bytes.Equal(r.first3, []byte("HTTP/1.1")) && validToken(r.first1) && validTarget(r.first2) &&
		r.nHost == 1 && !r.transferEnc && !r.upgrade && !r.expect && r.contentLength <= maxFastBody &&
		!bytes.Equal(r.first1, []byte("CONNECT"))
}

// exchange is one request on the fast path.
type exchange struct {
	fc         *frontConn
	u          *upstream
	pool       *h1Pool
	bodyLeft   int64 // request body bytes not yet read from the gateway
	code       int
	reason     Reason
	bytes      int64 // response body bytes relayed
	keepClient bool
}

// run forwards the request; false means it must be handed off (the upstream turned out to
// speak h2) before anything of it was sent.
func (x *exchange) run() bool {
	for attempt := 0; ; attempt++ {
		uc, reused, err := x.pool.get(x.u)
		if errors.Is(err, errUpstreamSpeaksH2) {
			return false
		}
		if err != nil {
			x.answerError(err.(*upstreamError))
			return true
		}
		if reused && !x.replayable() && !uc.alive() {
			uc.close()
			uc, err = x.pool.dial(x.u)
			if errors.Is(err, errUpstreamSpeaksH2) {
				return false
			}
			if err != nil {
				x.answerError(err.(*upstreamError))
				return true
			}
		}
		err, clientErr := x.send(uc)
		if clientErr {
			uc.close()
			x.code, x.keepClient = 400, false // the gateway's body broke off; nobody reads an answer
			return true
		}
		if err == nil {
			err = x.readHead(uc)
		}
		if err != nil {
			uc.close()
			if reused && attempt == 0 && x.replayable() && closedBeforeAnswer(err) {
				continue // a pooled connection the upstream had closed: once more on a new one
			}
			x.answerError(x.u.exchangeError(err, uc.uc.facts()))
			return true
		}
		x.u.recordSuccess()
		x.relay(uc)
		return true
	}
}

// closedBeforeAnswer: the upstream closed the connection without a byte of an answer, as
// it does with an idle connection it no longer wants.
func closedBeforeAnswer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// replayable: the request can be sent again on another connection (no body, idempotent).
func (x *exchange) replayable() bool {
	if x.fc.req.contentLength > 0 {
		return false
	}
	switch string(x.fc.req.first1) { // no allocation: compared in place
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
		return true
	}
	return x.fc.req.get([]byte("Idempotency-Key")) != nil
}

// send writes the request head and body to the upstream. clientErr: reading the body from
// the gateway failed.
func (x *exchange) send(uc *h1Conn) (err error, clientErr bool) {
	r, w := &x.fc.req, uc.bw
	w.Write(r.first1)
	w.WriteByte(' ')
	w.Write(r.first2)
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(x.u.target.Host)
	w.WriteString("\r\n")
	var host []byte
	xfh, xfp := false, false
	var xff [][]byte
	for _, f := range r.fields {
		switch {
		case bytes.EqualFold(f.name, hHost):
			host = f.value
			continue
		case bytes.EqualFold(f.name, hXForwardedFor):
			xff = append(xff, f.value)
			continue
		case bytes.EqualFold(f.name, hTe):
			if bytes.EqualFold(f.value, []byte("trailers")) {
				w.WriteString("Te: trailers\r\n")
			}
			continue
		case r.hopByHop(f.name):
			continue
		case bytes.EqualFold(f.name, hXForwardedHost):
			xfh = true
		case bytes.EqualFold(f.name, hXForwardedProto):
			xfp = true
		}
		writeField(w, f.name, f.value)
	}
	w.WriteString("X-Forwarded-For: ")
	for _, v := range xff {
		w.Write(v)
		w.WriteString(", ")
	}
	w.WriteString(x.fc.clientIP)
	w.WriteString("\r\n")
	if !xfh {
		writeField(w, hXForwardedHost, host)
	}
	if !xfp {
		w.WriteString("X-Forwarded-Proto: http\r\n")
	}
	w.WriteString("\r\n")
	for x.bodyLeft > 0 {
		if w.Available() == 0 {
			if err := w.Flush(); err != nil {
				return err, false
			}
		}
		buf := w.AvailableBuffer()[:min(int64(w.Available()), x.bodyLeft)]
		n, rerr := x.fc.br.Read(buf)
		_, _ = w.Write(buf[:n])
		x.bodyLeft -= int64(n)
		if rerr != nil && x.bodyLeft > 0 {
			return rerr, true
		}
	}
	return w.Flush(), false
}

func writeField(w *bufio.Writer, name, value []byte) {
	w.Write(name)
	w.WriteString(": ")
	w.Write(value)
	w.WriteString("\r\n")
}

// readHead reads the response head within the response header timeout. Interim answers
// (1xx but 101) are relayed to the gateway as they come.
func (x *exchange) readHead(uc *h1Conn) error {
	_ = uc.tc.SetReadDeadline(time.Now().Add(x.u.timeouts.ResponseHeader))
	defer func() { _ = uc.tc.SetReadDeadline(time.Time{}) }()
	resp := &x.fc.resp
	for {
		if err := resp.read(uc.br); err != nil {
			return err
		}
		code, ok := statusCode(resp)
		if !ok || code == http.StatusSwitchingProtocols || (resp.transferEnc && !resp.chunked) {
			return errMalformed // net/http's Transport refuses these answers too
		}
		x.code = code
		if code >= 200 {
			return nil
		}
		x.writeHead(nil, false) // 1xx: no body, the real answer follows
		if err := x.fc.bw.Flush(); err != nil {
			return err
		}
	}
}

func statusCode(h *head) (int, bool) {
	if !bytes.Equal(h.first1, []byte("HTTP/1.1")) && !bytes.Equal(h.first1, []byte("HTTP/1.0")) ||
		len(h.first2) != 3 {
		return 0, false
	}
	code := 0
	for _, c := range h.first2 {
		if c < '0' || c > '9' {
			return 0, false
		}
		code = code*10 + int(c-'0')
	}
	return code, code >= 100
}

// Body framings of a response.
const (
	bodyNone = iota
	bodyLength
	bodyChunked
	bodyUntilClose
)

// relay writes the answer's head and streams its body to the gateway.
func (x *exchange) relay(uc *h1Conn) {
	resp := &x.fc.resp
	framing := bodyUntilClose
	switch {
	case bytes.Equal(x.fc.req.first1, []byte("HEAD")) || x.code == 204 || x.code == 304:
		framing = bodyNone
	case resp.transferEnc && resp.chunked:
		framing = bodyChunked
	case resp.transferEnc:
	case resp.nLength > 0:
		framing = bodyLength
	}
	reusable := !resp.connClose && bytes.Equal(resp.first1, []byte("HTTP/1.1")) && framing != bodyUntilClose
	x.keepClient = !x.fc.req.connClose && !x.fc.f.closing.Load() && x.bodyLeft == 0
	x.writeHead(&framing, !x.keepClient)
	var err error
	switch framing {
	case bodyLength:
		err = x.copyN(uc.br, resp.contentLength)
	case bodyChunked:
		err = x.copyChunked(uc.br)
	case bodyUntilClose:
		err = x.copyUntilClose(uc.br)
	}
	if err != nil { // broken off midway: nothing left to say, to either side
		x.keepClient = false
		reusable = false
		x.u.log.Debug("response broken off", "error", describe(err))
	}
	if reusable {
		x.pool.put(uc)
	} else {
		uc.close()
	}
}

// writeHead writes the status line and fields of the upstream's answer, without hop-by-hop
// fields, with the framing the gateway gets. framing nil: an interim (1xx) answer.
func (x *exchange) writeHead(framing *int, closeConn bool) {
	resp, w := &x.fc.resp, x.fc.bw
	w.WriteString("HTTP/1.1 ")
	w.Write(resp.first2)
	w.WriteByte(' ')
	w.Write(resp.first3)
	w.WriteString("\r\n")
	date := false
	for _, f := range resp.fields {
		switch {
		case bytes.EqualFold(f.name, []byte("Trailer")):
			if framing == nil || *framing != bodyChunked {
				continue
			}
		case bytes.EqualFold(f.name, hContentLength):
			if framing == nil || *framing == bodyChunked || *framing == bodyUntilClose {
				continue
			}
		case resp.hopByHop(f.name):
			continue
		case bytes.EqualFold(f.name, hDate):
			date = true
		}
		writeField(w, f.name, f.value)
	}
	if framing == nil {
		w.WriteString("\r\n")
		return
	}
	if !date {
		w.WriteString("Date: ")
		w.Write(httpDate())
		w.WriteString("\r\n")
	}
	if *framing == bodyChunked || *framing == bodyUntilClose {
		w.WriteString("Transfer-Encoding: chunked\r\n")
	}
	if closeConn {
		w.WriteString("Connection: close\r\n")
	}
	w.WriteString("\r\n")
}

// flushIfDry flushes to the gateway when the upstream has nothing more buffered: the next
// read may block, and what arrived so far must not wait for it.
func (x *exchange) flushIfDry(src *bufio.Reader) error {
	if src.Buffered() == 0 {
		return x.fc.bw.Flush()
	}
	return nil
}

func (x *exchange) copyN(src *bufio.Reader, n int64) error {
	w := x.fc.bw
	for n > 0 {
		if w.Available() == 0 {
			if err := w.Flush(); err != nil {
				return err
			}
		}
		buf := w.AvailableBuffer()[:min(int64(w.Available()), n)]
		m, err := src.Read(buf)
		_, _ = w.Write(buf[:m])
		n -= int64(m)
		x.bytes += int64(m)
		if err != nil && n > 0 {
			return err
		}
		if n == 0 {
			break // the last bytes leave with the final flush, after the answer is counted
		}
		if err := x.flushIfDry(src); err != nil {
			return err
		}
	}
	return nil
}

// copyChunked passes a chunked body through as it is (extensions and trailers included),
// flushing chunk by chunk when the upstream pauses.
func (x *exchange) copyChunked(src *bufio.Reader) error {
	w := x.fc.bw
	for {
		line, err := src.ReadSlice('\n')
		if err != nil {
			return err
		}
		size, ok := chunkSize(line)
		if !ok {
			return errMalformed
		}
		w.Write(line)
		if size == 0 {
			return x.copyTrailer(src)
		}
		if err := x.copyN(src, size); err != nil {
			return err
		}
		crlf, err := src.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(bytes.TrimRight(crlf, "\r\n")) != 0 {
			return errMalformed
		}
		w.Write(crlf)
		if err := x.flushIfDry(src); err != nil {
			return err
		}
	}
}

func (x *exchange) copyTrailer(src *bufio.Reader) error {
	for n := 0; n < maxFields+1; n++ {
		line, err := src.ReadSlice('\n')
		if err != nil {
			return err
		}
		x.fc.bw.Write(line)
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			return nil
		}
	}
	return errMalformed
}

// chunkSize parses a chunk-size line ("1a;ext=x\r\n").
func chunkSize(line []byte) (int64, bool) {
	line = bytes.TrimRight(line, "\r\n")
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	line = bytes.TrimRight(line, " \t")
	if len(line) == 0 || len(line) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range line {
		switch {
		case c >= '0' && c <= '9':
			n = n<<4 | int64(c-'0')
		case c >= 'a' && c <= 'f':
			n = n<<4 | int64(c-'a'+10)
		case c >= 'A' && c <= 'F':
			n = n<<4 | int64(c-'A'+10)
		default:
			return 0, false
		}
	}
	return n, true
}

// copyUntilClose relays a body delimited by the upstream closing the connection, chunked.
func (x *exchange) copyUntilClose(src *bufio.Reader) error {
	w := x.fc.bw
	buf := copyBuffers.Get()
	defer copyBuffers.Put(buf)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			w.WriteString(strconv.FormatInt(int64(n), 16))
			w.WriteString("\r\n")
			w.Write(buf[:n])
			w.WriteString("\r\n")
			x.bytes += int64(n)
			if ferr := x.flushIfDry(src); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			w.WriteString("0\r\n\r\n")
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// answerError answers the gateway with the JSON body of a failure.
func (x *exchange) answerError(ue *upstreamError) {
	x.code, x.reason = ue.status, ue.reason
	x.keepClient = !x.fc.req.connClose && !x.fc.f.closing.Load() && x.bodyLeft == 0
	body, _ := json.Marshal(errorBody{Message: ue.reason.Message(), Reason: ue.reason, Upstream: x.u.name,
		RequestID: x.requestID()})
	body = append(body, '\n')
	w := x.fc.bw
	w.WriteString("HTTP/1.1 ")
	w.WriteString(strconv.Itoa(ue.status))
	w.WriteByte(' ')
	w.WriteString(http.StatusText(ue.status))
	w.WriteString("\r\nContent-Type: application/json\r\nCache-Control: no-store\r\nDate: ")
	w.Write(httpDate())
	w.WriteString("\r\nContent-Length: ")
	w.WriteString(strconv.Itoa(len(body)))
	if !x.keepClient {
		w.WriteString("\r\nConnection: close")
	}
	w.WriteString("\r\n\r\n")
	w.Write(body)
}

// requestID is the gateway's request ID (X-Request-Id, X-Kong-Request-Id) or a new one.
func (x *exchange) requestID() string {
	for _, name := range [][]byte{hXRequestID, hXKongRequestID} {
		if v := x.fc.req.get(name); len(v) > 0 && len(v) <= 128 {
			return string(v)
		}
	}
	return newRequestID()
}

func (x *exchange) logAccess(took time.Duration) {
	path := x.fc.req.first2
	if i := bytes.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	h := http.Header{}
	if v := x.fc.req.get(hXRequestID); v != nil {
		h.Set("X-Request-Id", string(v))
	}
	x.u.logAccess(string(x.fc.req.first1), string(path), x.code, x.reason, h, x.bytes, took)
}

// dates caches the Date field value for the current second.
var dates atomic.Pointer[dateValue]

type dateValue struct {
	unix int64
	b    []byte
}

func httpDate() []byte {
	now := time.Now()
	if d := dates.Load(); d != nil && d.unix == now.Unix() {
		return d.b
	}
	d := &dateValue{unix: now.Unix(), b: now.UTC().AppendFormat(nil, http.TimeFormat)}
	dates.Store(d)
	return d.b
}

var errUpstreamSpeaksH2 = errors.New("the upstream speaks HTTP/2")

// h1Pool holds idle HTTP/1.1 connections to one upstream, made with one generation of the
// TLS material (retired with it). h2 turns true when the upstream negotiates h2: its
// requests then go through net/http.
type h1Pool struct {
	cfg     *tls.Config
	idleFor time.Duration
	h2      atomic.Bool

	mu      sync.Mutex
	idle    []*h1Conn
	retired bool
}

// h1Conn is one upstream connection of the fast path.
type h1Conn struct {
	tc        *tls.Conn
	uc        *upstreamConn
	br        *bufio.Reader
	bw        *bufio.Writer
	idleSince time.Time
}

func (p *h1Pool) get(u *upstream) (*h1Conn, bool, error) {
	for {
		c, fresh := p.pop()
		if c == nil {
			break
		}
		if fresh {
			return c, true, nil
		}
		c.close() // idle too long; closed outside the lock
	}
	c, err := p.dial(u)
	return c, false, err
}

// pop takes the most recently used idle connection; fresh: idle for less than idleFor.
func (p *h1Pool) pop() (c *h1Conn, fresh bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.idle)
	if n == 0 {
		return nil, false
	}
	c = p.idle[n-1]
	p.idle[n-1] = nil
	p.idle = p.idle[:n-1]
	return c, time.Since(c.idleSince) < p.idleFor
}

func (p *h1Pool) dial(u *upstream) (*h1Conn, error) {
	conn, err := u.dialTLS(context.Background(), "tcp", u.target.Host, p.cfg)
	if err != nil {
		return nil, err
	}
	tc := conn.(*tls.Conn)
	if tc.ConnectionState().NegotiatedProtocol == "h2" {
		p.h2.Store(true)
		_ = tc.Close()
		return nil, errUpstreamSpeaksH2
	}
	uc, _ := tc.NetConn().(*upstreamConn)
	return &h1Conn{tc: tc, uc: uc, br: bufio.NewReaderSize(tc, 4<<10), bw: bufio.NewWriterSize(tc, 4<<10)}, nil
}

func (p *h1Pool) put(c *h1Conn) {
	c.idleSince = time.Now()
	p.mu.Lock()
	if p.retired || len(p.idle) >= maxIdleConnsPerHost || c.br.Buffered() > 0 {
		p.mu.Unlock()
		c.close()
		return
	}
	p.idle = append(p.idle, c)
	p.mu.Unlock()
}

// retire closes the idle connections; those in use are closed when they come back.
func (p *h1Pool) retire() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.retired = nil, true
	p.mu.Unlock()
	for _, c := range idle {
		c.close()
	}
}

// closeIdle closes the idle connections and keeps the pool in use.
func (p *h1Pool) closeIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, c := range idle {
		c.close()
	}
}

func (c *h1Conn) close() { _ = c.tc.Close() }

// alive checks, without blocking, that the upstream has not closed a pooled connection,
// before a request that could not be sent again uses it.
func (c *h1Conn) alive() bool {
	return c.uc.alive()
}
