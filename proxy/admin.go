package proxy

import (
	"encoding/json"
	"net/http"

	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Status reports readiness: ready once serving, not draining, and some upstream has loaded its
// TLS material. An upstream whose material does not load fails closed on its own (its files
// are a tenant's Secret that may be missing or wrong); taking the pod out of its Service would
// take every other upstream of the pod down with it.
func (p *Proxy) Status() contract.ReadyStatus {
	st := contract.ReadyStatus{
		Draining:  p.draining.Load(),
		Upstreams: make(map[string]contract.UpstreamStatus, len(p.upstreams)),
	}
	loaded := false
	for _, u := range p.upstreams {
		ms := u.material.status()
		loaded = loaded || ms.Ready
		last := string(u.state())
		if last == "" {
			last = "ok"
		}
		st.Upstreams[u.name] = contract.UpstreamStatus{MaterialStatus: ms, LastResult: last}
	}
	st.Ready = p.serving.Load() && !st.Draining && loaded
	return st
}

func (p *Proxy) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+contract.HealthzPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET "+contract.ReadyzPath, func(w http.ResponseWriter, _ *http.Request) {
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
	mux.HandleFunc("GET "+contract.StatePath, p.serveState)
	mux.Handle("GET "+contract.MetricsPath, promhttp.HandlerFor(p.metrics.registry, promhttp.HandlerOpts{}))
	return mux
}
