package proxyrun

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

// Response is what came back through the proxy.
type Response struct {
	Status      int
	ContentType string
	Body        string
	// Failure is the decoded body of an answer the proxy gave itself (502, 504).
	Failure *contract.ErrorBody
}

// httpClient opens a new connection per request: proxies come and go between requests.
var httpClient = &http.Client{
	Timeout:   90 * time.Second,
	Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
}

// Get sends GET url, with an X-Request-Id when requestID is set, and reads the whole answer.
func Get(ctx context.Context, url, requestID string) (Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Response{}, err
	}
	if requestID != "" {
		req.Header.Set("X-Request-Id", requestID)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return Response{}, err
	}
	r := Response{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Body: string(body)}
	if resp.StatusCode >= 500 && strings.HasPrefix(r.ContentType, "application/json") {
		f := &contract.ErrorBody{}
		if err := json.Unmarshal(body, f); err != nil {
			return r, fmt.Errorf("the proxy's %d answer is not its JSON body: %w", resp.StatusCode, err)
		}
		r.Failure = f
	}
	return r, nil
}
