package proxy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

// docs/proxy.md is checked against the code: the example parses, and every metric and
// reason is described.

func readDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", "proxy.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func containsLine(doc, s string) bool {
	for line := range strings.SplitSeq(doc, "\n") {
		if strings.Contains(line, s) {
			return true
		}
	}
	return false
}

func TestDocExampleParses(t *testing.T) {
	doc := readDoc(t)
	_, rest, ok := strings.Cut(doc, "```yaml\n")
	if !ok {
		t.Fatal("docs/proxy.md has no yaml example")
	}
	example, _, _ := strings.Cut(rest, "```")
	if _, err := contract.ParseConfig([]byte(example)); err != nil {
		t.Fatalf("the example of docs/proxy.md does not parse: %v", err)
	}
}

func TestMetricsDocumented(t *testing.T) {
	doc := readDoc(t)
	for _, name := range []string{"requests_total", "upstream_handshake_failures_total",
		"upstream_handshake_duration_seconds", "certificate_not_after_timestamp_seconds", "reloads_total",
		"request_duration_seconds", "client_errors_total"} {
		if !containsLine(doc, metricPrefix+name) {
			t.Errorf("metric %s%s is not documented", metricPrefix, name)
		}
	}
}
