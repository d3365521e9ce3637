//go:build bench

package main

import (
	"context"
	"net"
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
