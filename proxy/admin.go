package proxy

import (
	"encoding/json"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ReadyStatus is the body of /readyz.
type ReadyStatus struct {
	Ready     bool                      `json:"ready"`
	Draining  bool                      `json:"draining"`
	Upstreams map[string]UpstreamStatus `json:"upstreams"`
}

// UpstreamStatus is the /readyz detail of one upstream. LastResult is "ok", "unknown" (no
// connection attempted yet) or the reason of the last failure; it does not affect readiness.
type UpstreamStatus struct {
	MaterialStatus
	LastResult string `json:"lastResult"`
}

// Status reports readiness: ready once serving, every upstream has valid TLS material, and
// not draining.
func (p *Proxy) Status() ReadyStatus {
	st := ReadyStatus{
		Ready:     p.serving.Load() && !p.draining.Load(),
		Draining:  p.draining.Load(),
		Upstreams: make(map[string]UpstreamStatus, len(p.upstreams)),
	}
	for _, u := range p.upstreams {
		ms := u.material.status()
		st.Ready = st.Ready && ms.Ready
		last := string(u.state())
		if last == "" {
			last = "ok"
		}
		st.Upstreams[u.name] = UpstreamStatus{MaterialStatus: ms, LastResult: last}
	}
	return st
}

func (p *Proxy) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		st := p.Status()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if !st.Ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(st)
	})
	mux.HandleFunc("GET "+StatePath, p.serveState)
	mux.Handle("GET /metrics", promhttp.HandlerFor(p.metrics.registry, promhttp.HandlerOpts{}))
	return mux
}
