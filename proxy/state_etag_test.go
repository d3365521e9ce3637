package proxy

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/kubelet"
	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

// conditionalGet reads the state report with If-None-Match: etag ("" for none).
func conditionalGet(t *testing.T, url, etag string) (code int, newETag string, body []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err = io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("ETag"), body
}

// TestStateConditionalRead: a settled report is answered 304 without a body however many
// checks ran since (their times are not part of the ETag), and a changed result is answered
// with the new report and a new ETag.
func TestStateConditionalRead(t *testing.T) {
	f := newFixture(t)
	up := startUpstream(t, serverTLS(f.chain.Leaf), nil)
	dir := must[*kubelet.Volume](t)(kubelet.WriteVolume(filepath.Join(t.TempDir(), "ca"), map[string][]byte{
		"ca.crt": f.chain.Root.CertPEM(),
	}))
	cfg := testConfig(up.Addr, dir.Path("ca.crt"))
	cfg.Verification.Interval = &contract.Duration{Duration: 100 * time.Millisecond}
	p := startProxy(t, cfg, WithReloadInterval(50*time.Millisecond))
	first := p.waitState(t, "echo", func(s contract.UpstreamState) bool { return s.Result == contract.ResultOK })
	url := p.adminURL(contract.StatePath)

	code, etag, body := conditionalGet(t, url, "")
	if code != http.StatusOK || etag == "" || len(body) == 0 {
		t.Fatalf("GET without If-None-Match = %d, ETag %q, %d bytes; want 200 with an ETag and the report", code, etag, len(body))
	}
	// Another check runs: the report's times move, its ETag does not.
	p.waitState(t, "echo", func(s contract.UpstreamState) bool { return s.CheckedAt.After(first.CheckedAt) })
	code, again, body := conditionalGet(t, url, etag)
	if code != http.StatusNotModified || len(body) != 0 || again != etag {
		t.Fatalf("GET of a settled report with its ETag = %d, ETag %q, %d bytes; want 304, %q, no body", code, again, len(body), etag)
	}

	// The CA changes to one that does not issue the upstream's certificate.
	if err := dir.Update(map[string][]byte{"ca.crt": f.other.CertPEM()}); err != nil {
		t.Fatal(err)
	}
	// The material the proxy loaded is part of the report: the reload alone changes it, before
	// the next check finds the failure. Each change is a new report with a new ETag.
	var rep contract.StateReport
	eventually(t, "a new report for the failure", func() bool {
		code, again, body = conditionalGet(t, url, etag)
		if code != http.StatusOK || json.Unmarshal(body, &rep) != nil || len(rep.Upstreams) != 1 {
			return false
		}
		if again == etag {
			t.Fatalf("changed report with the old ETag %q", etag)
		}
		return rep.Upstreams[0].Result == contract.ReasonUnknownAuthority
	})
}
