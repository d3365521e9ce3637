package proxyrun

import (
	"fmt"
	"net"

	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

// Localise adapts a proxy configuration rendered for a pod to run on this machine, in place:
// every file the pod reads from a volume moves to where hostPath (kubelet.Pod.HostPath) says
// it is mounted here, the listeners and the admin address move to free ports of 127.0.0.1,
// every upstream address becomes upstreamAddr, and the drain delay becomes zero (no Service
// endpoints to leave). What the proxy verifies (serverName, subjectAltNames, CA bundles,
// depth, minimum version) stays as rendered. It returns one line per change.
func Localise(cfg *contract.Config, hostPath func(inPod string) (string, bool), upstreamAddr string) []string {
	var changes []string
	set := func(field string, p *string, v string) {
		if *p != v {
			changes = append(changes, fmt.Sprintf("%s: %s -> %s", field, *p, v))
			*p = v
		}
	}
	movePath := func(field string, p *string) {
		if local, ok := hostPath(*p); ok {
			set(field, p, local)
		}
	}
	set("admin.address", &cfg.Admin.Address, "127.0.0.1:0")
	if d := cfg.Shutdown.DrainDelay; d == nil || d.Duration != 0 {
		was := "unset"
		if d != nil {
			was = d.String()
		}
		changes = append(changes, fmt.Sprintf("shutdown.drainDelay: %s -> 0s (no Service endpoints to leave)", was))
		cfg.Shutdown.DrainDelay = &contract.Duration{}
	}
	for i := range cfg.Upstreams {
		u := &cfg.Upstreams[i]
		p := fmt.Sprintf("upstreams[%d]", i)
		set(p+".listen", &u.Listen, "127.0.0.1:0")
		if u.TLS != nil && u.TLS.ServerName == "" {
			// Keep verifying the rendered host, not the loopback address.
			if host, _, err := net.SplitHostPort(u.Address); err == nil {
				u.TLS.ServerName = host
			}
		}
		set(p+".address", &u.Address, upstreamAddr)
		if u.TLS == nil {
			continue
		}
		for j := range u.TLS.CAFiles {
			movePath(fmt.Sprintf("%s.tls.caFiles[%d]", p, j), &u.TLS.CAFiles[j])
		}
		if cc := u.TLS.ClientCertificate; cc != nil {
			movePath(p+".tls.clientCertificate.certFile", &cc.CertFile)
			movePath(p+".tls.clientCertificate.keyFile", &cc.KeyFile)
			movePath(p+".tls.clientCertificate.credentialBundleFile", &cc.CredentialBundleFile)
		}
	}
	return changes
}
