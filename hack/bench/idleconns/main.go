// Command idleconns opens N keep-alive connections to an HTTP/1.1 address, sends one GET
// on each (up to --parallel at a time, so that the proxy behind also pools upstream
// connections), keeps them all open and idle, prints "idle N", and waits until its
// standard input closes. Used by hack/bench-proxy-memory.sh to measure the RSS of idle
// connections.
//
//	idleconns --addr 127.0.0.1:18080 --conns 1000
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sync"
)

func main() {
	addr := flag.String("addr", "", "host:port of the HTTP/1.1 listener")
	n := flag.Int("conns", 1000, "connections to open and keep idle")
	parallel := flag.Int("parallel", 256, "requests in flight at once while opening")
	flag.Parse()
	if *addr == "" || *n <= 0 {
		flag.Usage()
		os.Exit(2)
	}
	conns := make([]net.Conn, *n)
	sem := make(chan struct{}, *parallel)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed error
	for i := range conns {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, err := open(*addr)
			if err != nil {
				mu.Lock()
				failed = err
				mu.Unlock()
				return
			}
			conns[i] = c
		})
	}
	wg.Wait()
	if failed != nil {
		log.Fatal(failed)
	}
	fmt.Printf("idle %d\n", len(conns))
	_, _ = io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		_ = c.Close()
	}
}

// open connects, exchanges one request and leaves the connection open.
func open(addr string) (net.Conn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: bench\r\n\r\n"); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	return c, nil
}
