package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/pki"
	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
	"github.com/gatewaytenant/gatewaytenant-operator/test/proxy/testutil"
)

var eventually = testutil.Eventually

func must[T any](t testing.TB) func(T, error) T { return testutil.Must[T](t) }

func newChain(t testing.TB, leafOpts ...pki.Option) *pki.Chain {
	return must[*pki.Chain](t)(pki.NewChain(leafOpts...))
}

func writeFile(t testing.TB, dir, name string, data []byte) string {
	return must[string](t)(pki.WriteFile(dir, name, data))
}

// upstreamServer is a TLS (or plain) HTTP server on loopback that counts what reaches it:
// handler invocations and decrypted application bytes read from accepted connections.
type upstreamServer struct {
	Addr     string
	hits     atomic.Int64
	appBytes atomic.Int64
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

type countingListener struct {
	net.Listener
	cfg *tls.Config
	n   *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if l.cfg != nil {
		c = tls.Server(c, l.cfg)
	}
	return countingConn{Conn: c, n: l.n}, nil
}

// startUpstream serves h (nil: answer "ok") with cfg, or plain HTTP when cfg is nil. It
// speaks HTTP/1.1 only; see startH2Upstream.
func startUpstream(t testing.TB, cfg *tls.Config, h http.Handler) *upstreamServer {
	t.Helper()
	if h == nil {
		h = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	}
	ln := must[net.Listener](t)(net.Listen("tcp", "127.0.0.1:0"))
	s := &upstreamServer{Addr: ln.Addr().String()}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.hits.Add(1)
			h.ServeHTTP(w, r)
		}),
		ErrorLog: slog.NewLogLogger(slog.DiscardHandler, slog.LevelError),
	}
	go func() { _ = srv.Serve(countingListener{Listener: ln, cfg: cfg, n: &s.appBytes}) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

// startH2Upstream is an httptest TLS server offering h2 and http/1.1 (r.TLS is set).
var startH2Upstream = testutil.TLSServer

func serverTLS(c *pki.Cert) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{c.TLSCertificate()}, MinVersion: tls.VersionTLS12}
}

// testConfig is one upstream to addr, trusting caFile and expecting kong.example, with
// ephemeral ports and no drain delay.
func testConfig(addr, caFile string) *contract.Config {
	return &contract.Config{
		APIVersion: contract.APIVersion,
		Kind:       contract.Kind,
		Admin:      contract.Admin{Address: "127.0.0.1:0"},
		Shutdown:   contract.Shutdown{DrainDelay: &contract.Duration{Duration: 0}, DrainTimeout: &contract.Duration{Duration: 10 * time.Second}},
		Upstreams: []contract.Upstream{{
			Name:    "echo",
			Listen:  "127.0.0.1:0",
			Address: addr,
			TLS:     &contract.UpstreamTLS{CAFiles: []string{caFile}, ServerName: "kong.example"},
		}},
	}
}

// running is a Proxy being served by a test.
type running struct {
	*Proxy
	logs *testutil.SyncBuffer
}

// startProxy serves cfg until the end of the test.
func startProxy(t testing.TB, cfg *contract.Config, opts ...Option) *running {
	t.Helper()
	logs := &testutil.SyncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p := must[*Proxy](t)(New(cfg, append([]Option{WithLogger(log)}, opts...)...))
	errc := make(chan error, 1)
	go func() { errc <- p.Serve(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
		<-errc
		if t.Failed() {
			t.Logf("proxy log:\n%s", logs.String())
		}
	})
	eventually(t, "proxy serving", p.serving.Load)
	return &running{Proxy: p, logs: logs}
}

func (r *running) url(upstream, path string) string {
	return "http://" + r.ListenAddr(upstream).String() + path
}

func (r *running) adminURL(path string) string {
	return "http://" + r.AdminAddr().String() + path
}

// client talks to the proxy's plain listeners; no keep-alive reuse surprises across tests.
var client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: time.Minute}

func get(t testing.TB, url string) (int, []byte) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", url, err)
	}
	return resp.StatusCode, body
}

func decodeErrorBody(t testing.TB, body []byte) contract.ErrorBody {
	t.Helper()
	var eb contract.ErrorBody
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&eb); err != nil {
		t.Fatalf("502 body is not the documented JSON: %v: %s", err, body)
	}
	return eb
}

func metricValue(t testing.TB, c interface{ Write(*dto.Metric) error }) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	t.Fatal("not a counter or gauge")
	return 0
}

func (r *running) reloads(t testing.TB, upstream, kind, result string) float64 {
	return metricValue(t, r.metrics.reloads.WithLabelValues(upstream, kind, result))
}

func (r *running) failures(t testing.TB, upstream string, reason contract.Reason) float64 {
	return metricValue(t, r.metrics.handshakeFailures.WithLabelValues(upstream, string(reason)))
}

func (r *running) requests(t testing.TB, upstream string, code string) float64 {
	return metricValue(t, r.metrics.requests.WithLabelValues(upstream, code))
}

func readAll(t testing.TB, resp *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
