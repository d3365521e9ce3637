package proxy

import (
	"strconv"
	"strings"
)

// The log line the proxy writes once per listener when it starts serving, with the bound
// address (the one to use with port 0): msg=listening listener=<name> address=<host:port>.
// ParseListening reads it back; it is the one way for a program that runs the proxy binary
// (the test harness, the demo) to learn where it listens.
const (
	// LogListening is the message of that line.
	LogListening = "listening"
	// AdminListener is the listener name of the admin port; the others are upstream names.
	AdminListener = "admin"
)

// ParseListening reads a line of the proxy's text log (cmd/proxy writes log/slog's text
// format) and returns the listener and address when the line is LogListening's.
func ParseListening(line string) (listener, address string, ok bool) {
	fields := textFields(line)
	if fields["msg"] != LogListening || fields["listener"] == "" || fields["address"] == "" {
		return "", "", false
	}
	return fields["listener"], fields["address"], true
}

// textFields splits a log/slog text line into its key=value fields; values may be quoted.
func textFields(line string) map[string]string {
	out := map[string]string{}
	for rest := strings.TrimSpace(line); rest != ""; rest = strings.TrimSpace(rest) {
		key, after, ok := strings.Cut(rest, "=")
		if !ok || strings.Contains(key, " ") {
			return out
		}
		var val string
		if strings.HasPrefix(after, `"`) {
			q, err := strconv.QuotedPrefix(after)
			if err != nil {
				return out
			}
			val, _ = strconv.Unquote(q)
			rest = after[len(q):]
		} else {
			val, rest, _ = strings.Cut(after, " ")
		}
		out[key] = val
	}
	return out
}
