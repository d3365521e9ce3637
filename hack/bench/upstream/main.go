// Command upstream is the HTTPS upstream of hack/bench-proxy.sh: a root -> intermediate -> leaf chain
// (leaf kong.example, served as leaf + intermediate) on two loopback listeners, one
// offering only HTTP/1.1 and one offering h2 too. It writes root.crt (the CA to trust),
// chain.crt and leaf.key into --dir, then prints "ready".
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/pki"
)

func main() {
	dir := flag.String("dir", ".", "directory for root.crt, chain.crt and leaf.key")
	h1 := flag.String("listen-h1", "127.0.0.1:18444", "listener offering HTTP/1.1 only")
	h2 := flag.String("listen-h2", "127.0.0.1:18443", "listener offering h2 and HTTP/1.1")
	size := flag.Int("body", 64, "response body size in bytes")
	flag.Parse()

	chain, err := pki.NewChain()
	if err != nil {
		log.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"root.crt":  chain.Root.CertPEM(),
		"chain.crt": chain.Leaf.ChainPEM(),
		"leaf.key":  chain.Leaf.KeyPEM(),
	} {
		if err := os.WriteFile(filepath.Join(*dir, name), data, 0o600); err != nil {
			log.Fatal(err)
		}
	}
	body := []byte(strings.Repeat("x", max(*size-1, 0)) + "\n")
	handler := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(body)
	})
	cert := chain.Leaf.TLSCertificate()
	errc := make(chan error, 2)
	for _, l := range []struct {
		addr   string
		protos []string
	}{{*h1, []string{"http/1.1"}}, {*h2, []string{"h2", "http/1.1"}}} {
		ln, err := net.Listen("tcp", l.addr)
		if err != nil {
			log.Fatal(err)
		}
		srv := &http.Server{
			Handler:   handler,
			TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: l.protos},
			ErrorLog:  slog.NewLogLogger(slog.DiscardHandler, slog.LevelError),
		}
		if len(l.protos) == 1 {
			srv.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){} // no h2
		}
		go func() { errc <- srv.ServeTLS(ln, "", "") }()
	}
	fmt.Println("ready")
	log.Fatal(<-errc)
}
