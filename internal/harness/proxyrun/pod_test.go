package proxyrun

import "testing"

func TestConfigArg(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // "" for an error
	}{
		{[]string{"--config=/etc/gatewaytenant/config/proxy.yaml"}, "/etc/gatewaytenant/config/proxy.yaml"},
		{[]string{"--log-level", "debug", "--config", "/etc/p.yaml"}, "/etc/p.yaml"},
		{[]string{"--config"}, ""},
		{[]string{"--check"}, ""},
		{nil, ""},
	} {
		got, err := configArg(tc.args)
		if got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("configArg(%q) = %q, %v; want %q", tc.args, got, err, tc.want)
		}
	}
}
