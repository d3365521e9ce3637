package proxy

// ErrorBody is the JSON body of the proxy's own answers (502, 504) when the upstream cannot
// be reached (docs/proxy.md), for programs that read them: the test harness and the demo.
type ErrorBody = errorBody
