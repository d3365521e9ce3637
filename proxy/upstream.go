package proxy

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Connection pool and buffer sizes. Go's default of 2 idle connections per host makes a
// busy proxy open and close upstream connections all the time (5-7x slower).
const (
	maxIdleConnsPerHost = 256
	sessionCacheSize    = 256
	copyBufferSize      = 32 << 10
)

// upstream forwards one listener's requests to one TLS upstream.
type upstream struct {
	name     string
	target   *url.URL
	material *material
	tls      *tls.Config // template of the client config; never used directly
	timeouts Timeouts
	dialer   *net.Dialer
	log      *slog.Logger
	metrics  *metrics
	codes    *codeCounters
	failures map[Reason]prometheus.Counter
	duration prometheus.Observer // of handshakes
	proxy    *httputil.ReverseProxy

	requestDuration prometheus.Observer
	accessLog       bool
	access          *slog.Logger

	// transports is replaced whenever the TLS material changes, so that no request is sent
	// over a connection verified against (or authenticated with) material that is gone.
	transports atomic.Pointer[transportPair]

	healthy   atomic.Bool // last outcome was a success: the fast path of recordSuccess
	stateMu   sync.Mutex
	lastState Reason // "" healthy, stateUnknown before the first outcome

	track *tracker // what the state report says about this upstream; see state.go
}

const stateUnknown Reason = "unknown"

// transportPair: main negotiates h2 or HTTP/1.1 by ALPN; h1 offers only HTTP/1.1, for
// protocol upgrades (websocket), which HTTP/2 cannot carry.
type transportPair struct {
	main, h1 *http.Transport
	fast     *h1Pool // the fast path's HTTP/1.1 connections (frontend.go)
}

func newUpstream(u *Upstream, mat *material, clock func() time.Time, t Timeouts, log *slog.Logger, m *metrics) *upstream {
	minVersion, _ := tlsVersion(u.TLS.MinVersion) // validated
	ups := &upstream{
		name:     u.Name,
		target:   &url.URL{Scheme: "https", Host: u.Address},
		material: mat,
		timeouts: t,
		dialer:   &net.Dialer{Timeout: t.Dial, KeepAlive: 30 * time.Second},
		log:      log.With("upstream", u.Name, "address", u.Address),
		metrics:  m,
		codes:    &codeCounters{upstream: u.Name, vec: m.requests},
		failures: map[Reason]prometheus.Counter{},
		duration: m.handshakeDuration.WithLabelValues(u.Name),

		requestDuration: m.requestDuration.WithLabelValues(u.Name),
		access:          log,
		lastState:       stateUnknown,
		track:           newTracker(u, clock),
	}
	for _, r := range HandshakeFailureReasons {
		ups.failures[r] = m.handshakeFailures.WithLabelValues(u.Name, string(r))
	}
	v := newVerifier(&mat.roots, u.TLS, clock)
	ups.tls = &tls.Config{
		// crypto/tls's own verification is off only because verifyConnection does all of
		// it, against a CA pool that can change at run time. It fails closed.
		InsecureSkipVerify: true, //nolint:gosec // verified in VerifyConnection
		VerifyConnection:   v.verifyConnection,
		ServerName:         u.TLS.ServerName,
		MinVersion:         minVersion,
	}
	ups.tls.GetClientCertificate = ups.getClientCertificate
	ups.proxy = &httputil.ReverseProxy{
		Rewrite:      ups.rewrite,
		Transport:    ups,
		BufferPool:   copyBuffers,
		ErrorHandler: ups.errorHandler,
		ErrorLog:     plainLog(log),
	}
	ups.transports.Store(ups.newTransports())
	return ups
}

func (u *upstream) newTransports() *transportPair {
	cache := tls.NewLRUClientSessionCache(sessionCacheSize)
	build := func(protos ...string) *http.Transport {
		cfg := u.tls.Clone()
		cfg.NextProtos = protos
		cfg.ClientSessionCache = cache
		return &http.Transport{
			DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return u.dialTLS(ctx, network, addr, cfg)
			},
			ForceAttemptHTTP2:     len(protos) > 1,
			MaxIdleConnsPerHost:   maxIdleConnsPerHost,
			IdleConnTimeout:       u.timeouts.IdleConn,
			ResponseHeaderTimeout: u.timeouts.ResponseHeader,
			ExpectContinueTimeout: time.Second,
			DisableCompression:    true, // pass Accept-Encoding through untouched
			HTTP2:                 &http.HTTP2Config{SendPingTimeout: 30 * time.Second, PingTimeout: 15 * time.Second},
		}
	}
	fastCfg := u.tls.Clone()
	fastCfg.NextProtos = []string{"h2", "http/1.1"} // h2 negotiated: net/http serves the upstream
	fastCfg.ClientSessionCache = cache
	return &transportPair{main: build("h2", "http/1.1"), h1: build("http/1.1"),
		fast: &h1Pool{cfg: fastCfg, idleFor: u.timeouts.IdleConn}}
}

// retireConnections makes new requests use new connections after a material change and
// closes the idle connections of the old ones; requests in flight on them finish.
func (u *upstream) retireConnections() {
	old := u.transports.Swap(u.newTransports())
	old.main.CloseIdleConnections()
	old.h1.CloseIdleConnections()
	old.fast.retire()
	u.track.requestCheck() // verify the new material before traffic does
}

func (u *upstream) closeIdleConnections() {
	tp := u.transports.Load()
	tp.main.CloseIdleConnections()
	tp.h1.CloseIdleConnections()
	tp.fast.closeIdle()
}

// upstreamError is a classified upstream failure: a connection attempt, or an exchange
// on a verified connection.
type upstreamError struct {
	reason Reason
	status int // of the answer: 502, or 504 for response headers too late
	err    error
}

func (e *upstreamError) Error() string { return string(e.reason) + ": " + describe(e.err) }
func (e *upstreamError) Unwrap() error { return e.err }

// upstreamConn is the TCP connection under an upstream TLS connection. It counts what it
// reads, so that an exchange failure can tell whether the upstream said anything after the
// handshake: with TLS 1.3 the upstream judges our client certificate only after our side
// of the handshake, and its session ticket (or answer) is the first sign that it accepted.
type upstreamConn struct {
	net.Conn
	read          atomic.Int64
	handshakeRead int64 // bytes read by the end of the handshake; set before first use
	certRequested bool
	tls13         bool
	pending       []byte // read by awaitFirstWord, not yet by the TLS layer
}

func (c *upstreamConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

// awaitFirstWord: with TLS 1.3 the upstream judges our client certificate after our side
// of the handshake has finished, so its verdict comes after the point where a client would
// send the request. Before the first request, wait up to bound for the upstream's first
// bytes (a session ticket or an HTTP/2 preface when it accepted us, an alert when it
// refused) and keep them for the TLS layer: an alert read here cannot be lost in a reset
// later, and a close here means a refusal before anything of the request was sent. An
// upstream that sends nothing first (no session tickets, HTTP/1.1) costs bound once per
// new connection.
func (c *upstreamConn) awaitFirstWord(tc *tls.Conn, bound time.Duration) error {
	_ = c.Conn.SetReadDeadline(time.Now().Add(bound))
	defer func() { _ = c.Conn.SetReadDeadline(time.Time{}) }()
	buf := make([]byte, 2048)
	n, err := c.Conn.Read(buf)
	c.read.Add(int64(n))
	c.pending = buf[:n]
	switch {
	case isAlertRecord(c.pending):
		// Let the TLS layer decrypt it: a 2-byte record is no session ticket, no HTTP/2
		// preface, and an HTTP/1.1 server does not speak first.
		_ = tc.SetReadDeadline(time.Now().Add(bound))
		var one [1]byte
		if _, err := tc.Read(one[:]); err != nil && !isTimeout(err) {
			return err
		}
		return errors.New("the upstream sent data before any request")
	case n > 0 || err == nil || isTimeout(err):
		return nil
	case errors.Is(err, io.EOF):
		return errors.New("the upstream closed the connection right after the handshake")
	}
	return err
}

// alive checks without blocking that the upstream has not closed an idle connection. What
// arrives meanwhile (a close_notify alert) is kept for the TLS layer, and means it is not.
func (c *upstreamConn) alive() bool {
	if len(c.pending) > 0 {
		return false
	}
	_ = c.Conn.SetReadDeadline(time.Now())
	var one [1]byte
	n, err := c.Conn.Read(one[:])
	_ = c.Conn.SetReadDeadline(time.Time{})
	if n > 0 {
		c.read.Add(1)
		c.pending = append(c.pending[:0], one[0])
		return false
	}
	return isTimeout(err)
}

func (c *upstreamConn) facts() connFacts {
	if c == nil {
		return connFacts{}
	}
	return connFacts{certRequested: c.certRequested, tls13: c.tls13, heardBack: c.read.Load() > c.handshakeRead}
}

// dialTLS connects and completes the handshake, so that failures are classified and
// counted here, once per connection attempt, before any request byte is written.
func (u *upstream) dialTLS(ctx context.Context, network, addr string, cfg *tls.Config) (net.Conn, error) {
	raw, err := u.dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, u.failed(ctx, classifyFailure(err, stageConnect, connFacts{}), err)
	}
	uc := &upstreamConn{Conn: raw}
	conn := tls.Client(uc, cfg)
	certRequested := new(atomic.Bool)
	hctx, cancel := context.WithTimeout(context.WithValue(ctx, certRequestedKey{}, certRequested), u.timeouts.TLSHandshake)
	defer cancel()
	start := time.Now()
	err = conn.HandshakeContext(hctx)
	u.track.handshake(conn, true)
	if err != nil {
		_ = raw.Close()
		return nil, u.failed(ctx, classifyFailure(err, stageHandshake, connFacts{certRequested: certRequested.Load()}), err)
	}
	took := time.Since(start)
	uc.certRequested = certRequested.Load()
	uc.tls13 = conn.ConnectionState().Version == tls.VersionTLS13
	uc.handshakeRead = uc.read.Load()
	if uc.certRequested && uc.tls13 {
		if err := uc.awaitFirstWord(conn, verdictWait(took)); err != nil {
			_ = raw.Close()
			return nil, u.failed(ctx, classifyFailure(err, stageVerdict, connFacts{certRequested: true, tls13: true}), err)
		}
	}
	u.duration.Observe(took.Seconds())
	return conn, nil
}

// isAlertRecord: b is exactly one TLS 1.3 record whose content is 2 bytes, the size of an
// encrypted alert (2 bytes, the inner content type, and the 16-byte AEAD tag).
func isAlertRecord(b []byte) bool {
	const alertRecordLen = 2 + 1 + 16
	return len(b) == 5+alertRecordLen && b[0] == 23 && b[1] == 3 && b[2] == 3 &&
		int(b[3])<<8|int(b[4]) == alertRecordLen
}

// verdictWait bounds how long a new TLS 1.3 connection waits for the upstream's first
// word after a handshake in which it asked for a client certificate: a few handshake
// times, at least 20ms, at most a second.
func verdictWait(handshake time.Duration) time.Duration {
	return min(max(4*handshake, 20*time.Millisecond), time.Second)
}

// handshakeReason classifies a failed handshake (of traffic or of the active check); see
// classifyFailure, the one classification of upstream failures.
func handshakeReason(err error, certRequested bool) Reason {
	return classifyFailure(err, stageHandshake, connFacts{certRequested: certRequested})
}

// certRequestedKey marks, in the handshake context, that the upstream asked for a client
// certificate.
type certRequestedKey struct{}

// getClientCertificate is tls.Config.GetClientCertificate: the current client certificate,
// or none (the upstream then refuses us if it requires one).
func (u *upstream) getClientCertificate(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
	if f, ok := cri.Context().Value(certRequestedKey{}).(*atomic.Bool); ok {
		f.Store(true)
	}
	if c := u.material.clientCert.Load(); c != nil {
		return c, nil
	}
	return &tls.Certificate{}, nil
}

func (u *upstream) failed(ctx context.Context, reason Reason, err error) error {
	// An attempt abandoned because its request went away says nothing about the upstream.
	if !errors.Is(err, context.Canceled) && !errors.Is(ctx.Err(), context.Canceled) {
		u.recordFailure(reason, err)
	}
	return &upstreamError{reason: reason, status: http.StatusBadGateway, err: err}
}

// connTrace learns which upstream connection a request went over.
type connTrace struct{ conn atomic.Pointer[upstreamConn] }

func (t *connTrace) gotConn(info httptrace.GotConnInfo) {
	if tc, ok := info.Conn.(*tls.Conn); ok {
		if uc, ok := tc.NetConn().(*upstreamConn); ok {
			t.conn.Store(uc)
		}
	}
}

// RoundTrip picks the transport of the current material; upgrades go over HTTP/1.1.
func (u *upstream) RoundTrip(req *http.Request) (*http.Response, error) {
	tp := u.transports.Load()
	t := tp.main
	if req.Header.Get("Upgrade") != "" {
		t = tp.h1
	}
	ct := &connTrace{}
	traced := req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{GotConn: ct.gotConn}))
	resp, err := t.RoundTrip(traced)
	if err != nil {
		return nil, u.exchangeFailed(req, err, ct.conn.Load())
	}
	u.recordSuccess()
	return resp, nil
}

// exchangeFailed classifies an error of a round trip that is not a failed connection
// attempt (those are classified in dialTLS).
func (u *upstream) exchangeFailed(r *http.Request, err error, conn *upstreamConn) error {
	if ue, ok := errors.AsType[*upstreamError](err); ok {
		return ue
	}
	if r.Context().Err() != nil { // the caller went away; nobody reads the answer
		return &upstreamError{reason: ReasonUpstreamError, status: http.StatusBadGateway, err: err}
	}
	return u.exchangeError(err, conn.facts())
}

// exchangeError classifies, counts and logs an exchange failure on a verified connection.
func (u *upstream) exchangeError(err error, facts connFacts) *upstreamError {
	reason := classifyFailure(err, stageExchange, facts)
	status := http.StatusBadGateway
	switch reason {
	case ReasonTimeout:
		status = http.StatusGatewayTimeout // response headers too late
		u.log.Debug("upstream response timed out", "error", describe(err))
	case ReasonUpstreamError, ReasonClosedUnconfirmed:
		u.log.Debug("upstream exchange failed", "reason", reason, "error", describe(err))
	default:
		u.recordFailure(reason, err) // a TLS alert: a handshake failure after all
	}
	return &upstreamError{reason: reason, status: status, err: err}
}

func (u *upstream) recordFailure(reason Reason, err error) {
	if c, ok := u.failures[reason]; ok {
		c.Inc()
	}
	u.transition(reason, err)
}

func (u *upstream) recordSuccess() {
	if !u.healthy.Load() {
		u.transition("", nil)
	}
}

// transition logs a change of the upstream's state: each distinct failure once, not once
// per request, and the recovery.
func (u *upstream) transition(reason Reason, err error) {
	u.stateMu.Lock()
	defer u.stateMu.Unlock()
	u.track.record(reason, err)
	if u.lastState == reason {
		return
	}
	prev := u.lastState
	u.lastState = reason
	u.healthy.Store(reason == "")
	switch {
	case reason != "":
		u.log.Warn("upstream connection failed", "reason", reason, "error", describe(err))
	case prev == stateUnknown:
		u.log.Info("upstream connection verified")
	default:
		u.log.Info("upstream connection recovered", "previousReason", prev)
	}
}

func (u *upstream) state() Reason {
	u.stateMu.Lock()
	defer u.stateMu.Unlock()
	return u.lastState
}

// rewrite sends the request to the upstream with Host set to the upstream's host:port and
// X-Forwarded-For extended. X-Forwarded-Host and -Proto set by the gateway in front are
// kept, since they describe the original request; otherwise they describe this hop. The
// gateway's RFC 7239 Forwarded header passes unchanged (the proxy does not add itself).
func (u *upstream) rewrite(pr *httputil.ProxyRequest) {
	pr.SetURL(u.target)
	if prior := pr.In.Header["X-Forwarded-For"]; len(prior) > 0 {
		pr.Out.Header["X-Forwarded-For"] = prior // SetXForwarded appends the gateway's address
	}
	pr.SetXForwarded()
	for _, h := range []string{"X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded"} {
		if v := pr.In.Header.Values(h); len(v) > 0 {
			pr.Out.Header[h] = v
		}
	}
}

// errorBody is the JSON answer when the upstream cannot be reached.
type errorBody struct {
	Message   string `json:"message"`
	Reason    Reason `json:"reason"`
	Upstream  string `json:"upstream"`
	RequestID string `json:"request_id"`
}

func (u *upstream) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	ue, ok := errors.AsType[*upstreamError](err)
	if !ok { // not from RoundTrip: classify it the same way
		ue = u.exchangeFailed(r, err, nil).(*upstreamError)
	}
	if sw, ok := w.(*statusWriter); ok {
		sw.reason = ue.reason
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(ue.status)
	_ = json.NewEncoder(w).Encode(errorBody{
		Message:   ue.reason.Message(),
		Reason:    ue.reason,
		Upstream:  u.name,
		RequestID: requestID(r),
	})
}

// requestID reuses the caller's request ID (Kong sends X-Kong-Request-Id) or makes one.
func requestID(r *http.Request) string {
	for _, h := range []string{"X-Request-Id", "X-Kong-Request-Id"} {
		if v := r.Header.Get(h); v != "" && len(v) <= 128 {
			return v
		}
	}
	return newRequestID()
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ServeHTTP proxies one request and counts its status code and duration.
func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := statusWriters.Get().(*statusWriter)
	sw.ResponseWriter, sw.code, sw.bytes, sw.reason = w, 0, 0, ""
	u.proxy.ServeHTTP(sw, r)
	code := sw.code
	if code == 0 {
		code = http.StatusOK
	}
	took := time.Since(start)
	u.observe(code, took)
	if u.accessLog {
		u.logAccess(r.Method, r.URL.Path, code, sw.reason, r.Header, sw.bytes, took)
	}
	sw.ResponseWriter = nil
	statusWriters.Put(sw)
}

// observe counts an answered request.
func (u *upstream) observe(code int, took time.Duration) {
	u.codes.inc(code)
	u.requestDuration.Observe(took.Seconds())
}

// logAccess writes the access log line of a request (accessLog: true): no query string,
// no header but the request ID.
func (u *upstream) logAccess(method, path string, code int, reason Reason, h http.Header, bytes int64, took time.Duration) {
	u.access.LogAttrs(context.Background(), slog.LevelInfo, "request",
		slog.String("upstream", u.name), slog.String("method", method), slog.String("path", path),
		slog.Int("status", code), slog.String("reason", string(reason)),
		slog.String("requestID", h.Get("X-Request-Id")), slog.Int64("bytes", bytes), slog.Duration("duration", took))
}

var statusWriters = sync.Pool{New: func() any { return new(statusWriter) }}

// statusWriter remembers the final status code. Unwrap lets http.ResponseController (which
// ReverseProxy uses to flush) reach the server's writer.
type statusWriter struct {
	http.ResponseWriter
	code   int
	bytes  int64  // body bytes written
	reason Reason // of the proxy's own error answer
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
