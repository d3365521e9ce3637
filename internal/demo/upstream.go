package demo

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net/http"
	"sync/atomic"
	"time"
)

// tlsUpstream is the tenant's TLS upstream, played by a real Go TLS server on loopback. It
// answers every request with what it saw of the connection, and counts the requests that
// reached it, so that a failed handshake can be shown to have sent nothing.
type tlsUpstream struct {
	name     string
	addr     string
	srv      *http.Server
	requests atomic.Int64
	cert     atomic.Pointer[tls.Certificate] // what it presents, swapped by serve
	clients  atomic.Pointer[x509.CertPool]   // when set, the client certificates it requires
	client   atomic.Value                    // string: the subject of the last client certificate
}

// requireClients makes the upstream require a client certificate issued by a CA of pool from
// its next handshake on.
func (u *tlsUpstream) requireClients(pool *x509.CertPool) {
	u.clients.Store(pool)
	u.srv.SetKeepAlivesEnabled(false)
	u.srv.SetKeepAlivesEnabled(true)
}

// lastClient is the subject of the last client certificate a request came with.
func (u *tlsUpstream) lastClient() string {
	s, _ := u.client.Load().(string)
	return s
}

// present makes the upstream present cert from its next handshake on, and closes the
// connections it keeps idle, as a restarted server would.
func (u *tlsUpstream) present(cert tls.Certificate) {
	u.cert.Store(&cert)
	u.srv.SetKeepAlivesEnabled(false)
	u.srv.SetKeepAlivesEnabled(true)
}

// startTLSUpstream serves cert (with its intermediates) on a free port of 127.0.0.1.
func startTLSUpstream(name string, cert tls.Certificate) (*tlsUpstream, error) {
	u := &tlsUpstream{name: name}
	u.cert.Store(&cert)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			cfg := &tls.Config{Certificates: []tls.Certificate{*u.cert.Load()}, MinVersion: tls.VersionTLS12}
			if pool := u.clients.Load(); pool != nil {
				cfg.ClientAuth, cfg.ClientCAs = tls.RequireAndVerifyClientCert, pool
			}
			return cfg, nil
		},
		MinVersion: tls.VersionTLS12,
	})
	if err != nil {
		return nil, fmt.Errorf("starting the TLS upstream: %w", err)
	}
	u.addr = ln.Addr().String()
	u.srv = &http.Server{
		Handler:           http.HandlerFunc(u.serve),
		ReadHeaderTimeout: 10 * time.Second,
		// Refused handshakes are the point of the story; the proxy reports them.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	go func() { _ = u.srv.Serve(ln) }()
	return u, nil
}

func (u *tlsUpstream) serve(w http.ResponseWriter, r *http.Request) {
	n := u.requests.Add(1)
	if len(r.TLS.PeerCertificates) > 0 {
		u.client.Store(r.TLS.PeerCertificates[0].Subject.String())
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "hello from %s (request %d): %s %s over %s, SNI %q, X-Request-Id %q\n",
		u.name, n, r.Method, r.URL.Path, tls.VersionName(r.TLS.Version), r.TLS.ServerName, r.Header.Get("X-Request-Id"))
}

func (u *tlsUpstream) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return u.srv.Shutdown(ctx)
}
