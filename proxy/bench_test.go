package proxy

import (
	"io"
	"net/http"
	"testing"
)

// BenchmarkProxy measures a small GET through the proxy to a local TLS upstream, per
// upstream protocol. Compare with BenchmarkDirect (the same client straight to the
// upstream over TLS) in the same run; see also hack/bench-proxy.sh.
func BenchmarkProxy(b *testing.B) {
	for _, h2 := range []bool{false, true} {
		name := "upstream=http1.1"
		if h2 {
			name = "upstream=h2"
		}
		b.Run(name, func(b *testing.B) {
			addr, caFile := benchUpstream(b, h2)
			cfg := testConfig(addr, caFile)
			p := startProxy(b, cfg, WithFileWatch(false), WithReloadInterval(0))
			runParallelGets(b, &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}, p.url("echo", "/bench"))
		})
	}
}

// BenchmarkDirect is the floor: the client talks TLS to the upstream itself.
func BenchmarkDirect(b *testing.B) {
	chain := newChain(b)
	srv := startH2Upstream(b, serverTLS(chain.Leaf), benchHandler)
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.RootCAs = chain.Root.Pool()
	tr.TLSClientConfig.ServerName = "kong.example"
	tr.MaxIdleConnsPerHost = 256
	tr.ForceAttemptHTTP2 = false
	tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
	runParallelGets(b, &http.Client{Transport: tr}, srv.URL+"/bench")
}

var benchBody = []byte("Welcome, you are connected through HTTPS.\n")

var benchHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write(benchBody)
})

func benchUpstream(b *testing.B, h2 bool) (addr, caFile string) {
	chain := newChain(b)
	caFile = writeFile(b, b.TempDir(), "ca.crt", chain.Root.CertPEM())
	if h2 {
		return startH2Upstream(b, serverTLS(chain.Leaf), benchHandler).Listener.Addr().String(), caFile
	}
	return startUpstream(b, serverTLS(chain.Leaf), benchHandler).Addr, caFile
}

func runParallelGets(b *testing.B, c *http.Client, url string) {
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := c.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}
