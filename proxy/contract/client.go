package contract

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
)

// maxReport bounds the state report a client reads (64 upstreams fit in a fraction of it).
const maxReport = 4 << 20

// FetchState reads the state report of the proxy whose admin listener is at host (an
// address without port: AdminPort is used) or host:port. It refuses a report of another
// apiVersion or kind.
func FetchState(ctx context.Context, client *http.Client, host string) (*StateReport, error) {
	if _, _, err := net.SplitHostPort(host); err != nil {
		host = net.JoinHostPort(host, strconv.Itoa(AdminPort))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+StatePath, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the admin port answered HTTP %d to %s", resp.StatusCode, StatePath)
	}
	rep := &StateReport{}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxReport)).Decode(rep); err != nil {
		return nil, fmt.Errorf("the state report does not decode: %w", err)
	}
	if rep.APIVersion != APIVersion || rep.Kind != StateKind {
		return nil, fmt.Errorf("the state report is %s %s, not %s %s", rep.APIVersion, rep.Kind, APIVersion, StateKind)
	}
	return rep, nil
}
