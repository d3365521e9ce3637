package proxy

import (
	"context"
	"crypto/tls"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
	"github.com/prometheus/client_golang/prometheus"
)

// The active check: per upstream, a TLS handshake with exactly the configuration of real
// traffic (same verifier, CA pool, server name, minimum version, client certificate), and
// no request: nothing reaches the upstream's application. It runs at start, after every
// reload of the upstream's material, and periodically while no real traffic has
// handshaken with the upstream, so that a wrong CA or name is known before the gateway
// sends anything. Outcomes go to the same state as real traffic's (upstream.transition).

// The pacing of checks after a failure: the first failure after a success is checked
// again after at most confirmDelay (so that a reader can tell a blip from a failure, the
// contract's confirmation rule), then the delay doubles from the interval up to 4 times it.
const (
	confirmDelay = 5 * time.Second
	maxBackoff   = 2 // doublings
	// mtlsConfirmWait bounds the wait for the upstream's verdict on the client certificate
	// after a TLS 1.3 handshake (see confirmClientCertificate).
	mtlsConfirmWait = 3 * time.Second
)

// runChecks checks every upstream until ctx ends.
func (p *Proxy) runChecks(ctx context.Context) {
	checks := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: metricPrefix + "upstream_checks_total",
		Help: "Active checks of upstreams (a TLS handshake, no request), by result: ok or the failure reason.",
	}, []string{"upstream", "result"})
	p.metrics.registry.MustRegister(checks)
	interval := p.cfg.Verification.IntervalOrDefault()
	var wg sync.WaitGroup
	for _, u := range p.upstreams {
		checks.WithLabelValues(u.name, string(contract.ResultOK))
		wg.Go(func() { u.checkLoop(ctx, interval, checks) })
	}
	wg.Wait()
}

// checkLoop checks at once, then when asked (material reloaded) and when the next check is
// due. A due check is skipped while real traffic keeps handshaking: its handshakes are
// verified the same way and update the same state.
func (u *upstream) checkLoop(ctx context.Context, interval time.Duration, checks *prometheus.CounterVec) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	failures := 0
	last := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-u.track.checkNow:
		case <-timer.C:
			if !last.IsZero() && !u.track.failing() && u.track.trafficSince(last) {
				last = time.Now()
				timer.Reset(jitter(interval))
				continue
			}
		}
		reason, err := u.check(ctx)
		if ctx.Err() != nil {
			return
		}
		u.transition(reason, err)
		checks.WithLabelValues(u.name, checkResult(reason)).Inc()
		last = time.Now()
		if reason == "" {
			failures = 0
		} else {
			failures++
		}
		timer.Reset(nextCheck(interval, failures))
	}
}

// nextCheck is the delay before the next check after failures consecutive failed ones.
func nextCheck(interval time.Duration, failures int) time.Duration {
	switch {
	case failures == 0:
		return jitter(interval)
	case failures == 1:
		return jitter(min(confirmDelay, interval))
	}
	return jitter(interval << min(failures-2, maxBackoff))
}

// jitter spreads d by ±10%, so that many proxies started together do not check in step.
func jitter(d time.Duration) time.Duration {
	return d - d/10 + rand.N(d/5+1)
}

func checkResult(r contract.Reason) string {
	if r == "" {
		return string(contract.ResultOK)
	}
	return string(r)
}

// check connects and handshakes like real traffic, sends nothing and closes. It returns ""
// on success, otherwise the reason and error.
func (u *upstream) check(ctx context.Context) (contract.Reason, error) {
	raw, err := u.dialer.DialContext(ctx, "tcp", u.target.Host)
	if err != nil {
		return classifyFailure(err, stageConnect, connFacts{}), err
	}
	defer func() { _ = raw.Close() }()
	cfg := u.tls.Clone()
	cfg.NextProtos = []string{"http/1.1"} // as traffic offers
	tickets := &ticketSignal{conn: raw}
	cfg.ClientSessionCache = tickets // never resumes: each check is a full handshake
	conn := tls.Client(raw, cfg)
	certRequested := new(atomic.Bool)
	hctx, cancel := context.WithTimeout(context.WithValue(ctx, certRequestedKey{}, certRequested), u.timeouts.TLSHandshake)
	defer cancel()
	err = conn.HandshakeContext(hctx)
	u.track.handshake(conn, false)
	if err != nil {
		return handshakeReason(err, certRequested.Load()), err
	}
	defer func() { _ = conn.Close() }() // close_notify: no application data is sent
	if certRequested.Load() && conn.ConnectionState().Version == tls.VersionTLS13 {
		return confirmClientCertificate(conn, tickets, min(mtlsConfirmWait, u.timeouts.TLSHandshake))
	}
	return "", nil
}

// confirmClientCertificate waits for the upstream's verdict on our client certificate.
// With TLS 1.3 the client's handshake is complete before the server has checked the
// certificate; the server then answers with an alert (refused) or carries on. A session
// ticket (which servers send only once the client is authenticated) or any data means
// accepted; so does silence until the wait is over. A close without an alert on a
// connection where nothing was sent is taken for a refusal, as for traffic.
func confirmClientCertificate(conn *tls.Conn, tickets *ticketSignal, wait time.Duration) (contract.Reason, error) {
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	var b [1]byte
	n, err := conn.Read(b[:])
	switch {
	case n > 0 || tickets.seen.Load() || isTimeout(err):
		return "", nil
	}
	// A close, reset or alert before anything was sent: classified as for traffic.
	return classifyFailure(err, stageVerdict, connFacts{certRequested: true, tls13: true}), err
}

// ticketSignal is a tls.ClientSessionCache that stores nothing: it notes that a session
// ticket arrived and ends the pending read, so that the check does not wait for nothing.
type ticketSignal struct {
	conn net.Conn
	seen atomic.Bool
}

func (s *ticketSignal) Get(string) (*tls.ClientSessionState, bool) { return nil, false }

func (s *ticketSignal) Put(_ string, cs *tls.ClientSessionState) {
	if cs != nil && s.seen.CompareAndSwap(false, true) {
		_ = s.conn.SetReadDeadline(time.Now())
	}
}
