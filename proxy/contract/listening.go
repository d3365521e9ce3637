package contract

import (
	"encoding/json"
	"strings"
)

// Each listener logs one line when it starts, with its bound address (port 0 in the
// configuration picks a free port):
//
//	level=INFO msg=listening listener=<upstream name|admin> address=<host:port>
//
// This is the one way for a process that runs the proxy binary (tests, the local demo) to
// learn its addresses; in process, use (*Proxy).ListenAddr and AdminAddr.
const (
	LogListening   = "listening" // the message of the line
	LogKeyListener = "listener"  // the listener: an upstream's name, or AdminListener
	LogKeyAddress  = "address"   // its bound host:port
	AdminListener  = "admin"
)

// Listening is what one startup line reports.
type Listening struct {
	Listener string `json:"listener"`
	Address  string `json:"address"`
}

// ParseListening reads a startup line in slog's text or JSON format; ok is false for any
// other line.
func ParseListening(line string) (l Listening, ok bool) {
	line = strings.TrimSpace(line)
	if strings.HasPrefix(line, "{") {
		var j struct {
			Msg string `json:"msg"`
			Listening
		}
		if json.Unmarshal([]byte(line), &j) != nil || j.Msg != LogListening || j.Listener == "" || j.Address == "" {
			return Listening{}, false
		}
		return j.Listening, true
	}
	fields := map[string]string{}
	for f := range strings.FieldsSeq(line) {
		if k, v, found := strings.Cut(f, "="); found {
			fields[k] = v
		}
	}
	l = Listening{Listener: fields[LogKeyListener], Address: fields[LogKeyAddress]}
	if fields["msg"] != LogListening || l.Listener == "" || l.Address == "" {
		return Listening{}, false
	}
	return l, true
}
