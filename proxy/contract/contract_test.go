package contract

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestConfirmed(t *testing.T) {
	for _, tc := range []struct {
		result   Reason
		failures int
		want     bool
	}{
		{ResultOK, 0, false},
		{ResultUnknown, 0, false},
		{ReasonUnknownAuthority, 1, false}, // a blip until checked again
		{ReasonUnknownAuthority, ConfirmedFailures, true},
		{ReasonExpired, ConfirmedFailures + 3, true},
	} {
		if got := (UpstreamState{Result: tc.result, ConsecutiveFailures: tc.failures}).Confirmed(); got != tc.want {
			t.Errorf("%s after %d failures: confirmed %v, want %v", tc.result, tc.failures, got, tc.want)
		}
	}
}

// TestFetchState: the client reads a report from an admin listener, refuses one of another
// kind and a non-200 answer, and uses AdminPort when the address has no port.
func TestFetchState(t *testing.T) {
	var serve StateReport
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != StatePath {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(serve)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	serve = StateReport{APIVersion: APIVersion, Kind: StateKind, Revision: "r1",
		Upstreams: []UpstreamState{{Name: "api", Result: ResultOK}}}
	rep, err := FetchState(context.Background(), srv.Client(), host)
	if err != nil || rep.Revision != "r1" || len(rep.Upstreams) != 1 || rep.Upstreams[0].Result != ResultOK {
		t.Fatalf("FetchState = %+v, %v", rep, err)
	}
	serve.Kind = "Other"
	if _, err := FetchState(context.Background(), srv.Client(), host); err == nil || !strings.Contains(err.Error(), "Other") {
		t.Errorf("a report of another kind: %v", err)
	}
	serve.Kind, status = StateKind, http.StatusServiceUnavailable
	if _, err := FetchState(context.Background(), srv.Client(), host); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("a 503: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = FetchState(ctx, srv.Client(), "127.0.0.1")
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:9090") {
		t.Errorf("no port: %v, want the request to go to port %d", err, AdminPort)
	}
}

// TestOperatorImportsTheContractOnly: the operator's controllers depend on this package,
// never on the proxy engine.
func TestOperatorImportsTheContractOnly(t *testing.T) {
	const engine = "github.com/gatewaytenant/gatewaytenant-operator/proxy"
	cmd := exec.Command("go", "list", "-deps", "./controllers/...")
	cmd.Dir = filepath.Join("..", "..")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, engine+"/contract") {
		t.Fatalf("the controllers do not use the contract package: the check below proves nothing")
	}
	if slices.Contains(deps, engine) {
		t.Errorf("the controllers depend on the proxy engine %s", engine)
	}
}
