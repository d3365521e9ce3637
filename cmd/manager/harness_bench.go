//go:build bench

package main

import (
	"context"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"

	"github.com/gatewaytenant/gatewaytenant-operator/internal/manager"
)

// benchProxyReports names the address that serves every proxy replica's state report in
// hack/bench-operator's TLS runs, where 20,000 real proxies do not fit on one machine.
const benchProxyReports = "GATEWAYTENANT_BENCH_PROXY_REPORTS"

// benchHarness, in a manager built with -tags bench (make bench-operator), sends the
// proxy state poller's connections to $GATEWAYTENANT_BENCH_PROXY_REPORTS; the request still
// names the replica's address (its Host). Without the variable it is nil.
func benchHarness() *manager.Harness {
	addr := os.Getenv(benchProxyReports)
	if addr == "" {
		return nil
	}
	var d net.Dialer
	return &manager.Harness{DialProxy: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}}
}

// A manager built with -tags bench serves net/http/pprof on $GATEWAYTENANT_BENCH_PPROF, for
// heap profiles of benchmark runs.
func init() {
	if addr := os.Getenv("GATEWAYTENANT_BENCH_PPROF"); addr != "" {
		go func() { _ = http.ListenAndServe(addr, nil) }()
	}
}
