// Command loadgen sends GET requests at a constant rate (open loop, like wrk2) and prints
// latency percentiles. Latency is measured from each request's scheduled time, so a
// stall shows up in the percentiles instead of slowing the sender down (no coordinated
// omission). Used by hack/bench-proxy.sh for the fixed-rate comparison.
//
//	loadgen --url http://127.0.0.1:18080/ --rate 1000 --duration 10s
//	loadgen --url https://127.0.0.1:18444/ --ca root.crt --server-name kong.example
package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"
)

func main() {
	url := flag.String("url", "", "target URL")
	rate := flag.Int("rate", 1000, "requests per second")
	duration := flag.Duration("duration", 10*time.Second, "measured duration")
	warmup := flag.Duration("warmup", 2*time.Second, "unmeasured run at the same rate before")
	caFile := flag.String("ca", "", "PEM CA bundle for https targets")
	serverName := flag.String("server-name", "", "TLS server name for https targets")
	label := flag.String("label", "", "name printed with the result")
	flag.Parse()
	if *url == "" || *rate <= 0 {
		flag.Usage()
		os.Exit(2)
	}
	client := &http.Client{Transport: transport(*caFile, *serverName), Timeout: 10 * time.Second}
	run(client, *url, *rate, *warmup)
	lat, errs := run(client, *url, *rate, *duration)
	report(*label, *rate, lat, errs)
}

// transport: HTTP/1.1 with keep-alive, verifying https targets against caFile.
func transport(caFile, serverName string) *http.Transport {
	t := &http.Transport{
		MaxIdleConnsPerHost: 512,
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{},
		TLSClientConfig:     &tls.Config{ServerName: serverName, MinVersion: tls.VersionTLS12},
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			log.Fatal(err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			log.Fatalf("%s: no certificates", caFile)
		}
		t.TLSClientConfig.RootCAs = pool
	}
	return t
}

// run sends rate requests per second for d and returns the latencies of the successful
// ones and the number of failures.
func run(client *http.Client, url string, rate int, d time.Duration) ([]time.Duration, int) {
	interval := time.Second / time.Duration(rate)
	n := int(d / interval)
	var mu sync.Mutex
	lat := make([]time.Duration, 0, n)
	errs := 0
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		if wait := time.Until(at); wait > 0 {
			time.Sleep(wait)
		}
		wg.Go(func() {
			ok := get(client, url)
			took := time.Since(at)
			mu.Lock()
			defer mu.Unlock()
			if ok {
				lat = append(lat, took)
			} else {
				errs++
			}
		})
	}
	wg.Wait()
	return lat, errs
}

func get(client *http.Client, url string) bool {
	resp, err := client.Get(url)
	if err != nil {
		return false
	}
	_, err = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return err == nil && resp.StatusCode == http.StatusOK
}

func report(label string, rate int, lat []time.Duration, errs int) {
	slices.Sort(lat)
	pct := func(p float64) string {
		if len(lat) == 0 {
			return "-"
		}
		i := min(int(p*float64(len(lat))), len(lat)-1)
		return fmt.Sprintf("%.3f", float64(lat[i].Microseconds())/1000)
	}
	fmt.Printf("label=%s rate=%d ok=%d errors=%d p50_ms=%s p90_ms=%s p99_ms=%s p999_ms=%s max_ms=%s\n",
		label, rate, len(lat), errs, pct(0.50), pct(0.90), pct(0.99), pct(0.999), pct(1))
}
