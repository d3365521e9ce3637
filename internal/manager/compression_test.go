package manager_test

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/gatewaytenant/gatewaytenant-operator/internal/manager"
)

// acceptEncodings is a TLS reverse proxy in front of the API server that records the
// Accept-Encoding of every request. The client (the manager) trusts the
// proxy; the proxy authenticates to the API server with the test's credentials.
type acceptEncodings struct {
	mu   sync.Mutex
	seen map[string]int // Accept-Encoding -> requests
	cfg  *rest.Config   // the manager's way to the API server, through the proxy
}

func newAcceptEncodings(t *testing.T, api *rest.Config) *acceptEncodings {
	t.Helper()
	host := api.Host
	if !strings.Contains(host, "://") {
		host = "https://" + host
	}
	target, err := url.Parse(host)
	if err != nil {
		t.Fatal(err)
	}
	transport, err := rest.TransportFor(api)
	if err != nil {
		t.Fatal(err)
	}
	a := &acceptEncodings{seen: map[string]int{}}
	proxy := &httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(target) },
		Transport:     transport,
		FlushInterval: -1, // watches stream
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.seen[r.Header.Get("Accept-Encoding")]++
		a.mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	a.cfg = &rest.Config{Host: srv.URL, TLSClientConfig: rest.TLSClientConfig{
		CAData: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}),
	}}
	return a
}

func (a *acceptEncodings) take() map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := a.seen
	a.seen = map[string]int{}
	return out
}

// The manager asks the API server for uncompressed responses unless told otherwise: beside
// its API server, gzip costs both sides more CPU than it saves (docs/benchmarks.md).
func TestManagerAsksForUncompressedResponses(t *testing.T) {
	d := startDayTwo(t)
	api := newAcceptEncodings(t, d.env.Config)
	for _, tc := range []struct {
		compression bool
		want        string
	}{{false, ""}, {true, "gzip"}} {
		ctx, cancel := context.WithCancel(context.Background())
		mgr, err := manager.New(ctx, api.cfg, manager.Options{
			MetricsAddr: "0", ProbeAddr: "0", DataPlanePreset: "silver",
			Harness: &manager.Harness{SecondManager: true}, APICompression: tc.compression,
		})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- mgr.Start(ctx) }()
		// Once the caches have synced, every informer has listed or watched its kind.
		synced := mgr.GetCache().WaitForCacheSync(ctx)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if !synced {
			t.Fatal("the manager's caches did not sync")
		}
		seen := api.take()
		if len(seen) != 1 || seen[tc.want] == 0 {
			t.Errorf("APICompression %v: requests by Accept-Encoding %v, want all %q", tc.compression, seen, tc.want)
		}
	}
}
