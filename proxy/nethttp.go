package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/http/httputil"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

// The net/http engine: httputil.ReverseProxy over an http.Transport, for the requests the
// fast path hands off (protocol upgrades, Expect, chunked or large bodies, HTTP/1.0). The
// http.Server that runs it answers one request per connection (keep-alives off): the fast
// path checked that request's head and framing, and nothing after it on the connection.

// connTrace learns which upstream connection a request went over.
type connTrace struct{ conn atomic.Pointer[upstreamConn] }

func (t *connTrace) gotConn(info httptrace.GotConnInfo) {
	if tc, ok := info.Conn.(*tls.Conn); ok {
		if uc, ok := tc.NetConn().(*upstreamConn); ok {
			t.conn.Store(uc)
		}
	}
}

// RoundTrip sends the request over a connection of the current material.
func (u *upstream) RoundTrip(req *http.Request) (*http.Response, error) {
	ct := &connTrace{}
	traced := req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{GotConn: ct.gotConn}))
	resp, err := u.transports.Load().main.RoundTrip(traced)
	if err != nil {
		return nil, u.exchangeFailed(req, err, ct.conn.Load())
	}
	u.recordSuccess()
	return resp, nil
}

// exchangeFailed classifies an error of a round trip that is not a failed connection
// attempt (those are classified in dialTLS): the gateway's body failing is the gateway's
// fault, the rest the upstream's.
func (u *upstream) exchangeFailed(r *http.Request, err error, conn *upstreamConn) error {
	if pe, ok := errors.AsType[*proxyError](err); ok {
		return pe
	}
	if bw, ok := r.Context().Value(bodyWatchKey{}).(*bodyWatch); ok {
		if berr := bw.failed(); berr != nil {
			return requestBodyError(r, berr)
		}
	}
	if r.Context().Err() != nil { // the caller went away; nobody reads the answer
		return &proxyError{reason: contract.ReasonUpstreamError, status: http.StatusBadGateway, err: err}
	}
	return u.exchangeError(err, conn.facts())
}

// bodyWatch remembers how reading the gateway's request body failed. It is found through
// the request's context: ReverseProxy wraps the body it hands the Transport.
type bodyWatch struct {
	io.ReadCloser
	err atomic.Pointer[error] // written by the Transport's goroutine
}

type bodyWatchKey struct{}

func (b *bodyWatch) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		b.err.CompareAndSwap(nil, &err)
	}
	return n, err
}

func (b *bodyWatch) failed() error {
	if e := b.err.Load(); e != nil {
		return *e
	}
	return nil
}

// requestBodyError: a chunked body net/http could not decode is malformed; any other
// failure is a body that ended early (the gateway went away, or stopped sending).
func requestBodyError(r *http.Request, err error) *proxyError {
	var ne net.Error
	if len(r.TransferEncoding) > 0 && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.As(err, &ne) {
		return clientError(contract.ReasonMalformedChunkedBody, err)
	}
	return clientError(contract.ReasonIncompleteRequestBody, err)
}

// rewrite applies the engine policy's Host and X-Forwarded-* rules (policy.go).
// ReverseProxy removes the gateway's X-Forwarded-* fields from pr.Out before calling it.
func (u *upstream) rewrite(pr *httputil.ProxyRequest) {
	pr.SetURL(u.target)
	pr.Out.Trailer = pr.In.Trailer // filled when the body has been read, before the Transport sends it
	clientIP, _, err := net.SplitHostPort(pr.In.RemoteAddr)
	if err != nil {
		clientIP = pr.In.RemoteAddr
	}
	var gateway [][]byte
	for _, v := range pr.In.Header["X-Forwarded-For"] {
		gateway = append(gateway, []byte(v))
	}
	pr.Out.Header.Set("X-Forwarded-For", string(appendForwardedFor(nil, gateway, clientIP)))
	for _, f := range [...][2]string{{"X-Forwarded-Host", pr.In.Host}, {"X-Forwarded-Proto", forwardedProto}} {
		if v := pr.In.Header.Values(f[0]); len(v) > 0 {
			pr.Out.Header[f[0]] = v
		} else {
			pr.Out.Header.Set(f[0], f[1])
		}
	}
}

// errorHandler answers a request the proxy could not forward, as the engine policy says.
func (u *upstream) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	pe, ok := errors.AsType[*proxyError](err)
	if !ok { // not from RoundTrip: classify it the same way
		pe = u.exchangeFailed(r, err, nil).(*proxyError)
	}
	if sw, ok := w.(*statusWriter); ok {
		sw.reason = pe.reason
	}
	for _, f := range errorHeaders {
		w.Header().Set(f[0], f[1])
	}
	w.WriteHeader(pe.status)
	_, _ = w.Write(u.errorAnswer(pe, requestID(r.Header.Get)))
}

// ServeHTTP proxies one request and applies the engine policy's accounting.
func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if r.Body != nil && r.Body != http.NoBody {
		bw := &bodyWatch{ReadCloser: r.Body}
		r = r.WithContext(context.WithValue(r.Context(), bodyWatchKey{}, bw))
		r.Body = bw
	}
	sw := statusWriters.Get().(*statusWriter)
	sw.ResponseWriter, sw.code, sw.bytes, sw.reason = w, 0, 0, ""
	u.proxy.ServeHTTP(sw, r)
	code := sw.code
	if code == 0 {
		code = http.StatusOK
	}
	u.finish(r.Method, r.URL.Path, code, sw.reason, r.Header.Get("X-Request-Id"), sw.bytes, time.Since(start))
	sw.ResponseWriter = nil
	statusWriters.Put(sw)
}

var statusWriters = sync.Pool{New: func() any { return new(statusWriter) }}

// statusWriter remembers the final status code. Unwrap lets http.ResponseController (which
// ReverseProxy uses to flush) reach the server's writer.
type statusWriter struct {
	http.ResponseWriter
	code   int
	bytes  int64           // body bytes written
	reason contract.Reason // of the proxy's own error answer
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack is a protocol switch (101); ReverseProxy writes that response itself.
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.code == 0 {
		w.code = http.StatusSwitchingProtocols
	}
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// bufferPool is httputil.BufferPool over sync.Pool.
type bufferPool struct{ pool sync.Pool }

var copyBuffers = &bufferPool{pool: sync.Pool{New: func() any {
	b := make([]byte, copyBufferSize)
	return &b
}}}

func (p *bufferPool) Get() []byte { return *(p.pool.Get().(*[]byte)) }

func (p *bufferPool) Put(b []byte) {
	if cap(b) == copyBufferSize {
		b = b[:copyBufferSize]
		p.pool.Put(&b)
	}
}
