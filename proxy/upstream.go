package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
	"github.com/gatewaytenant/gatewaytenant-operator/proxy/internal/h1"
	"github.com/prometheus/client_golang/prometheus"
)

// An upstream: one listener's TLS upstream, its material, its connection pools and the two
// engines that forward to it (forward.go, nethttp.go). Dialing and verification are in
// dial.go, the upstream's health (what traffic says about it) in health.go.

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
	failures map[contract.Reason]prometheus.Counter
	// clientErrors count the requests refused for the gateway's fault, by reason.
	clientErrors map[contract.Reason]prometheus.Counter
	duration     prometheus.Observer // of handshakes
	proxy        *httputil.ReverseProxy

	requestDuration prometheus.Observer
	accessLog       bool
	access          *slog.Logger

	// transports is replaced whenever the TLS material changes, so that no request is sent
	// over a connection verified against (or authenticated with) material that is gone.
	transports atomic.Pointer[transportPair]

	healthy   atomic.Bool // last outcome was a success: the fast path of recordSuccess
	stateMu   sync.Mutex
	lastState contract.Reason // "" healthy, stateUnknown before the first outcome

	track *tracker // what the state report says about this upstream; see state.go
}

// transportPair holds the connections made with one generation of the TLS material: those
// of the net/http engine and those of the fast path. Both offer only http/1.1 by ALPN
// (docs/proxy.md, "Upstream protocol").
type transportPair struct {
	main *http.Transport
	fast *h1.Pool
}

// maxDials bounds the dials in flight to one upstream, per engine: a burst of new gateway
// connections queues for the connections the first requests open (h1.Pool; for net/http,
// a semaphore in its dial function) instead of opening one upstream connection each.
const maxDials = 8

func newUpstream(u *contract.Upstream, mat *material, clock func() time.Time, t Timeouts, log *slog.Logger, m *metrics) *upstream {
	minVersion, _ := contract.TLSVersion(u.TLS.MinVersion) // validated
	ups := &upstream{
		name:     u.Name,
		target:   &url.URL{Scheme: "https", Host: u.Address},
		material: mat,
		timeouts: t,
		dialer:   &net.Dialer{Timeout: t.Dial, KeepAlive: 30 * time.Second},
		log:      log.With("upstream", u.Name, "address", u.Address),
		metrics:  m,
		codes:    &codeCounters{upstream: u.Name, vec: m.requests},
		failures: map[contract.Reason]prometheus.Counter{},

		clientErrors: map[contract.Reason]prometheus.Counter{},
		duration:     m.handshakeDuration.WithLabelValues(u.Name),

		requestDuration: m.requestDuration.WithLabelValues(u.Name),
		access:          log,
		lastState:       stateUnknown,
		track:           newTracker(u, clock),
	}
	for _, r := range contract.HandshakeFailureReasons {
		ups.failures[r] = m.handshakeFailures.WithLabelValues(u.Name, string(r))
	}
	for _, r := range contract.ClientErrorReasons {
		ups.clientErrors[r] = m.clientErrors.WithLabelValues(u.Name, string(r))
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
	cfg := u.tls.Clone()
	cfg.NextProtos = []string{"http/1.1"}
	cfg.ClientSessionCache = tls.NewLRUClientSessionCache(sessionCacheSize)
	dials := make(chan struct{}, maxDials)
	main := &http.Transport{
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			select { // while it waits, a connection coming back to the pool serves the request
			case dials <- struct{}{}:
				defer func() { <-dials }()
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			return u.dialTLS(ctx, network, addr, cfg)
		},
		MaxIdleConnsPerHost:   maxIdleConnsPerHost,
		IdleConnTimeout:       u.timeouts.IdleConn,
		ResponseHeaderTimeout: u.timeouts.ResponseHeader,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true, // pass Accept-Encoding through untouched
	}
	fast := &h1.Pool{
		Dial:     func() (net.Conn, error) { return u.dialTLS(context.Background(), "tcp", u.target.Host, cfg) },
		MaxIdle:  maxIdleConnsPerHost,
		IdleFor:  u.timeouts.IdleConn,
		MaxDials: maxDials,
		Wait:     u.timeouts.Dial + u.timeouts.TLSHandshake,
	}
	return &transportPair{main: main, fast: fast}
}

// poolConn takes a connection of the fast path's pool: an idle one (reused) or a new one.
func (u *upstream) poolConn(p *h1.Pool) (*h1.Conn, bool, error) {
	c, reused, err := p.Get()
	return c, reused, poolError(err)
}

// poolDial opens a new connection for the fast path, whatever the pool holds.
func (u *upstream) poolDial(p *h1.Pool) (*h1.Conn, error) {
	c, err := p.New()
	return c, poolError(err)
}

func poolError(err error) error {
	if errors.Is(err, h1.ErrWaitTimeout) { // the dials ahead took too long: not a verdict
		return &proxyError{reason: contract.ReasonTimeout, status: http.StatusBadGateway, err: err}
	}
	return err // nil, or a *proxyError of dialTLS
}

// upstreamConnOf is the TCP connection under a pooled TLS connection.
func upstreamConnOf(c *h1.Conn) *upstreamConn {
	uc, _ := c.Conn.(*tls.Conn).NetConn().(*upstreamConn)
	return uc
}

// retireConnections makes new requests use new connections after a material change and
// closes the idle connections of the old ones; requests in flight on them finish.
func (u *upstream) retireConnections() {
	old := u.transports.Swap(u.newTransports())
	old.main.CloseIdleConnections()
	old.fast.Retire()
	u.track.requestCheck() // verify the new material before traffic does
}

func (u *upstream) closeIdleConnections() {
	tp := u.transports.Load()
	tp.main.CloseIdleConnections()
	tp.fast.CloseIdle()
}
