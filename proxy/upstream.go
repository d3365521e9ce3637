package proxy

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
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
	duration prometheus.Observer
	proxy    *httputil.ReverseProxy

	// transports is replaced whenever the TLS material changes, so that no request is sent
	// over a connection verified against (or authenticated with) material that is gone.
	transports atomic.Pointer[transportPair]

	healthy atomic.Bool // last outcome was a success: the fast path of recordSuccess
	// mtlsUnconfirmed: a TLS 1.3 connection presented a client certificate (or none, on
	// request) and no response has come back since; see classifyExchange.
	mtlsUnconfirmed atomic.Bool
	stateMu         sync.Mutex
	lastState       Reason // "" healthy, stateUnknown before the first outcome

	track *tracker // what the state report says about this upstream; see state.go
}

const stateUnknown Reason = "unknown"

// transportPair: main negotiates h2 or HTTP/1.1 by ALPN; h1 offers only HTTP/1.1, for
// protocol upgrades (websocket), which HTTP/2 cannot carry.
type transportPair struct {
	main, h1 *http.Transport
}

func newUpstream(u *Upstream, mat *material, clock func() time.Time, t Timeouts, log *slog.Logger, m *metrics) *upstream {
	minVersion, _ := tlsVersion(u.TLS.MinVersion) // validated
	ups := &upstream{
		name:      u.Name,
		target:    &url.URL{Scheme: "https", Host: u.Address},
		material:  mat,
		timeouts:  t,
		dialer:    &net.Dialer{Timeout: t.Dial, KeepAlive: 30 * time.Second},
		log:       log.With("upstream", u.Name, "address", u.Address),
		metrics:   m,
		codes:     &codeCounters{upstream: u.Name, vec: m.requests},
		failures:  map[Reason]prometheus.Counter{},
		duration:  m.handshakeDuration.WithLabelValues(u.Name),
		lastState: stateUnknown,
		track:     newTracker(u, clock),
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
		ErrorLog:     slog.NewLogLogger(log.Handler(), slog.LevelDebug),
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
	return &transportPair{main: build("h2", "http/1.1"), h1: build("http/1.1")}
}

// retireConnections makes new requests use new connections after a material change and
// closes the idle connections of the old ones; requests in flight on them finish.
func (u *upstream) retireConnections() {
	old := u.transports.Swap(u.newTransports())
	old.main.CloseIdleConnections()
	old.h1.CloseIdleConnections()
	u.track.requestCheck() // verify the new material before traffic does
}

func (u *upstream) closeIdleConnections() {
	tp := u.transports.Load()
	tp.main.CloseIdleConnections()
	tp.h1.CloseIdleConnections()
}

// upstreamError is a failed connection attempt, classified where it happened.
type upstreamError struct {
	reason Reason
	err    error
}

func (e *upstreamError) Error() string { return string(e.reason) + ": " + e.err.Error() }
func (e *upstreamError) Unwrap() error { return e.err }

// dialTLS connects and completes the handshake, so that failures are classified and
// counted here, once per connection attempt, before any request byte is written.
func (u *upstream) dialTLS(ctx context.Context, network, addr string, cfg *tls.Config) (net.Conn, error) {
	raw, err := u.dialer.DialContext(ctx, network, addr)
	if err != nil {
		reason := ReasonConnectFailed
		if isTimeout(err) {
			reason = ReasonTimeout
		}
		return nil, u.failed(ctx, reason, err)
	}
	conn := tls.Client(raw, cfg)
	certRequested := new(atomic.Bool)
	hctx, cancel := context.WithTimeout(context.WithValue(ctx, certRequestedKey{}, certRequested), u.timeouts.TLSHandshake)
	defer cancel()
	start := time.Now()
	err = conn.HandshakeContext(hctx)
	u.track.handshake(conn, true)
	if err != nil {
		_ = raw.Close()
		return nil, u.failed(ctx, handshakeReason(err, certRequested.Load()), err)
	}
	u.duration.Observe(time.Since(start).Seconds())
	if certRequested.Load() && conn.ConnectionState().Version == tls.VersionTLS13 {
		u.mtlsUnconfirmed.Store(true) // the upstream's verdict on our certificate is pending
	}
	return conn, nil
}

// handshakeReason classifies a failed handshake (of traffic or of the active check).
func handshakeReason(err error, certRequested bool) Reason {
	reason := classify(err)
	switch {
	case reason == "" || reason == ReasonConnectFailed:
		reason = ReasonHandshakeFailed
	case reason == ReasonHandshakeFailed && certRequested:
		// TLS 1.2 servers answer a missing or unacceptable client certificate with a
		// generic handshake_failure alert (RFC 5246 7.4.6).
		reason = ReasonClientCertificateRejected
	}
	return reason
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
	return &upstreamError{reason: reason, err: err}
}

// RoundTrip picks the transport of the current material; upgrades go over HTTP/1.1.
func (u *upstream) RoundTrip(req *http.Request) (*http.Response, error) {
	tp := u.transports.Load()
	t := tp.main
	if req.Header.Get("Upgrade") != "" {
		t = tp.h1
	}
	resp, err := t.RoundTrip(req)
	if err == nil {
		if u.mtlsUnconfirmed.Load() {
			u.mtlsUnconfirmed.Store(false)
		}
		u.recordSuccess()
	}
	return resp, err
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
		u.log.Warn("upstream connection failed", "reason", reason, "error", err)
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
// kept, since they describe the original request; otherwise they describe this hop.
func (u *upstream) rewrite(pr *httputil.ProxyRequest) {
	pr.SetURL(u.target)
	if prior := pr.In.Header["X-Forwarded-For"]; len(prior) > 0 {
		pr.Out.Header["X-Forwarded-For"] = prior // SetXForwarded appends the gateway's address
	}
	pr.SetXForwarded()
	for _, h := range []string{"X-Forwarded-Host", "X-Forwarded-Proto"} {
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
	code := http.StatusBadGateway
	var reason Reason
	if ue, ok := errors.AsType[*upstreamError](err); ok {
		reason = ue.reason // counted and logged where it happened
	} else {
		reason, code = u.classifyExchange(r, err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(errorBody{
		Message:   reason.Message(),
		Reason:    reason,
		Upstream:  u.name,
		RequestID: requestID(r),
	})
}

// classifyExchange classifies an error after a successful handshake of ours. With TLS 1.3
// the upstream checks our client certificate only after our side of the handshake is
// complete, so a refusal arrives as an alert on the first read, or, when the connection
// is torn down first, as a reset or EOF: on a client-authenticated TLS 1.3 connection that
// never produced a response, that is taken for a refusal.
func (u *upstream) classifyExchange(r *http.Request, err error) (Reason, int) {
	reason := classify(err)
	if (reason == "" || reason == ReasonConnectFailed) && u.mtlsUnconfirmed.Load() {
		reason = ReasonClientCertificateRejected
	}
	switch {
	case r.Context().Err() != nil:
		return ReasonUpstreamError, http.StatusBadGateway // the caller went away; nobody reads this
	case reason == ReasonTimeout:
		u.log.Debug("upstream response timed out", "error", err)
		return reason, http.StatusGatewayTimeout // response headers too late
	case reason == "" || reason == ReasonConnectFailed:
		u.log.Debug("upstream exchange failed", "error", err)
		return ReasonUpstreamError, http.StatusBadGateway
	}
	u.recordFailure(reason, err) // a TLS alert: a handshake failure after all
	return reason, http.StatusBadGateway
}

// requestID reuses the caller's request ID (Kong sends X-Kong-Request-Id) or makes one.
func requestID(r *http.Request) string {
	for _, h := range []string{"X-Request-Id", "X-Kong-Request-Id"} {
		if v := r.Header.Get(h); v != "" && len(v) <= 128 {
			return v
		}
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ServeHTTP proxies one request and counts its status code.
func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := statusWriters.Get().(*statusWriter)
	sw.ResponseWriter, sw.code = w, 0
	u.proxy.ServeHTTP(sw, r)
	code := sw.code
	if code == 0 {
		code = http.StatusOK
	}
	sw.ResponseWriter = nil
	statusWriters.Put(sw)
	u.codes.inc(code)
}

var statusWriters = sync.Pool{New: func() any { return new(statusWriter) }}

// statusWriter remembers the final status code. Unwrap lets http.ResponseController (which
// ReverseProxy uses to flush) reach the server's writer.
type statusWriter struct {
	http.ResponseWriter
	code int
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
	return w.ResponseWriter.Write(b)
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
