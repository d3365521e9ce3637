package proxy

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

// TestForwardedHeaderKept: the RFC 7239 Forwarded header the gateway sets reaches the
// upstream unchanged, like X-Forwarded-Host and -Proto.
func TestForwardedHeaderKept(t *testing.T) {
	f := newFixture(t)
	seen := make(chan string, 1)
	up := startUpstream(t, serverTLS(f.chain.Leaf), http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		seen <- strings.Join(r.Header.Values("Forwarded"), ", ")
	}))
	p := startProxy(t, testConfig(up.Addr, f.files["root.crt"]))
	req, _ := http.NewRequest(http.MethodGet, p.url("echo", "/"), nil)
	req.Header.Set("Forwarded", `for=203.0.113.7;proto=https;host=api.example`)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if got := <-seen; got != `for=203.0.113.7;proto=https;host=api.example` {
		t.Fatalf("Forwarded at the upstream = %q", got)
	}
}

// TestAccessLog: off by default; when on, one structured line per request with the
// upstream, method, path without the query, status, reason of a failure and duration.
func TestAccessLog(t *testing.T) {
	f := newFixture(t)
	up := startUpstream(t, serverTLS(f.chain.Leaf), nil)
	off := startProxy(t, testConfig(up.Addr, f.files["root.crt"]))
	get(t, off.url("echo", "/quiet?token=x"))
	if strings.Contains(off.logs.String(), "/quiet") {
		t.Fatalf("request logged with the access log off:\n%s", off.logs)
	}

	cfg := testConfig(up.Addr, f.files["root.crt"])
	cfg.AccessLog = true
	cfg.Upstreams = append(cfg.Upstreams, contract.Upstream{Name: "down", Listen: "127.0.0.1:0", Address: closedPort(t),
		TLS: &contract.UpstreamTLS{CAFiles: []string{f.files["root.crt"]}}})
	p := startProxy(t, cfg)
	req, _ := http.NewRequest(http.MethodGet, p.url("echo", "/orders/7?token=secret"), nil)
	req.Header.Set("X-Request-Id", "req-1")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	get(t, p.url("down", "/x"))
	eventually(t, "two access log lines", func() bool { return p.logs.Count("msg=request ") == 2 })
	logs := p.logs.String()
	for _, want := range []string{
		`msg=request upstream=echo method=GET path=/orders/7 status=200 reason="" requestID=req-1 bytes=2 duration=`,
		`msg=request upstream=down method=GET path=/x status=502 reason=connect_failed`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("access log lacks %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "secret") {
		t.Errorf("the query string was logged:\n%s", logs)
	}
}
