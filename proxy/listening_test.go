package proxy

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// ParseListening reads back exactly what the proxy logs through log/slog's text handler,
// quoting included, and nothing else.
func TestParseListening(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	log.Info(LogListening, "listener", AdminListener, "address", "127.0.0.1:9090")
	log.Info(LogListening, "listener", "my-api", "address", "[::1]:8000")
	log.Info("reloaded", "listener", "my-api", "note", `a "b" = c`)
	log.Info(LogListening, "listener", "odd name", "address", "127.0.0.1:1")

	var got []string
	for line := range strings.SplitSeq(strings.TrimSpace(buf.String()), "\n") {
		if l, a, ok := ParseListening(line); ok {
			got = append(got, l+"="+a)
		}
	}
	want := []string{"admin=127.0.0.1:9090", "my-api=[::1]:8000", "odd name=127.0.0.1:1"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("ParseListening found %q, want %q in:\n%s", got, want, buf.String())
	}
}
