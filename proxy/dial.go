package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
	"github.com/gatewaytenant/gatewaytenant-operator/proxy/internal/sock"
)

// Dialing an upstream: TCP connect, TLS handshake and verification, for every connection
// of both engines and of the active check, each failure classified and counted once.

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
	uc := &upstreamConn{Conn: sock.Wrap(raw)}
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
func handshakeReason(err error, certRequested bool) contract.Reason {
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

func (u *upstream) failed(ctx context.Context, reason contract.Reason, err error) error {
	// An attempt abandoned because its request went away says nothing about the upstream.
	if !errors.Is(err, context.Canceled) && !errors.Is(ctx.Err(), context.Canceled) {
		u.recordFailure(reason, err)
	}
	return &proxyError{reason: reason, status: http.StatusBadGateway, err: err}
}
