package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gatewaytenant/gatewaytenant-operator/controllers/gatewaytenant"
)

// envCase is one run of parse: the command line, the environment, and what comes out.
type envCase struct {
	desc    string
	args    []string
	env     map[string]string
	check   func(t *testing.T, c *config)
	wantErr string // a substring of the error; empty: no error
}

// The manager's flags and their environment variables, through the real flag set: the
// environment fills what the command line leaves out, the command line wins, bad values are
// refused naming the variable, and the deprecated PROXY_IMAGE still works below its successor.
func TestParseEnvironment(t *testing.T) {
	cases := []envCase{
		{desc: "defaults", check: func(t *testing.T, c *config) {
			want(t, c.manager.Proxy.Replicas, 2)
			want(t, c.manager.Proxy.Image, defaultProxyImage)
			want(t, c.manager.MetricsAddr, ":8443")
			want(t, c.manager.CertificateExpiryWarning, 720*time.Hour)
			want(t, c.manager.DetectDataPlanePreset, true)
			want(t, len(c.warnings), 0)
		}},
		{desc: "environment sets what the command line does not",
			env: map[string]string{
				"GATEWAYTENANT_PROXY_REPLICAS":             "3",
				"GATEWAYTENANT_DATA_PLANE_PRESET":          "gold",
				"GATEWAYTENANT_CERTIFICATE_EXPIRY_WARNING": "48h",
				"GATEWAYTENANT_DETECT_DATA_PLANE_PRESET":   "false",
				"GATEWAYTENANT_LEADER_ELECT":               "true",
				"GATEWAYTENANT_PRESET_DOMAINS":             "apps.example=silver",
			},
			check: func(t *testing.T, c *config) {
				want(t, c.manager.Proxy.Replicas, 3)
				want(t, c.manager.DataPlanePreset, "gold")
				want(t, c.manager.CertificateExpiryWarning, 48*time.Hour)
				want(t, c.manager.DetectDataPlanePreset, false)
				want(t, c.manager.LeaderElection, true)
				want(t, c.manager.PresetDomains.String(), "apps.example=silver")
			}},
		{desc: "the command line wins over the environment",
			args: []string{"--proxy-replicas=4", "--data-plane-preset=silver"},
			env:  map[string]string{"GATEWAYTENANT_PROXY_REPLICAS": "3", "GATEWAYTENANT_DATA_PLANE_PRESET": "gold"},
			check: func(t *testing.T, c *config) {
				want(t, c.manager.Proxy.Replicas, 4)
				want(t, c.manager.DataPlanePreset, "silver")
			}},
		{desc: "log level of controller-runtime's zap flags",
			env: map[string]string{"GATEWAYTENANT_ZAP_LOG_LEVEL": "debug"},
			check: func(t *testing.T, c *config) {
				if c.zap.Level == nil || !c.zap.Level.Enabled(zapcore.DebugLevel) {
					t.Errorf("zap level %v does not enable debug", c.zap.Level)
				}
			}},
		{desc: "deprecated PROXY_IMAGE still sets the proxy image, with a warning",
			env: map[string]string{"PROXY_IMAGE": "registry.example/op:v1"},
			check: func(t *testing.T, c *config) {
				want(t, c.manager.Proxy.Image, "registry.example/op:v1")
				if len(c.warnings) != 1 || !strings.Contains(c.warnings[0], "GATEWAYTENANT_PROXY_IMAGE") {
					t.Errorf("warnings %q: want one naming GATEWAYTENANT_PROXY_IMAGE", c.warnings)
				}
			}},
		{desc: "GATEWAYTENANT_PROXY_IMAGE wins over PROXY_IMAGE",
			env: map[string]string{"PROXY_IMAGE": "registry.example/op:v1", "GATEWAYTENANT_PROXY_IMAGE": "registry.example/op:v2"},
			check: func(t *testing.T, c *config) {
				want(t, c.manager.Proxy.Image, "registry.example/op:v2")
				want(t, len(c.warnings), 0)
			}},
		{desc: "--proxy-image wins over both",
			args: []string{"--proxy-image=registry.example/op:v3"},
			env:  map[string]string{"PROXY_IMAGE": "registry.example/op:v1", "GATEWAYTENANT_PROXY_IMAGE": "registry.example/op:v2"},
			check: func(t *testing.T, c *config) {
				want(t, c.manager.Proxy.Image, "registry.example/op:v3")
			}},
		{desc: "a bad value is refused naming the variable",
			env:     map[string]string{"GATEWAYTENANT_PROXY_REPLICAS": "two"},
			wantErr: "$GATEWAYTENANT_PROXY_REPLICAS (--proxy-replicas)"},
		{desc: "a bad duration is refused naming the variable",
			env:     map[string]string{"GATEWAYTENANT_CERTIFICATE_EXPIRY_WARNING": "30d"},
			wantErr: "$GATEWAYTENANT_CERTIFICATE_EXPIRY_WARNING"},
		{desc: "out of bounds from the environment names the variable",
			env:     map[string]string{"GATEWAYTENANT_PROXY_REPLICAS": "0"},
			wantErr: "--proxy-replicas ($GATEWAYTENANT_PROXY_REPLICAS): must be between 1 and 100, got 0"},
		{desc: "monitoring namespaces: OpenShift's by default, another selector, or none",
			check: func(t *testing.T, c *config) {
				want(t, metav1.FormatLabelSelector(c.manager.Proxy.Monitoring.NamespaceSelector), "network.openshift.io/policy-group=monitoring")
				want(t, c.manager.Proxy.Monitoring.PodMonitors, true)
			}},
		{desc: "monitoring namespaces from the environment",
			env: map[string]string{"GATEWAYTENANT_MONITORING_NAMESPACE_SELECTOR": "kubernetes.io/metadata.name in (monitoring)"},
			check: func(t *testing.T, c *config) {
				want(t, metav1.FormatLabelSelector(c.manager.Proxy.Monitoring.NamespaceSelector), "kubernetes.io/metadata.name in (monitoring)")
			}},
		{desc: "no monitoring namespaces", args: []string{"--monitoring-namespace-selector="},
			check: func(t *testing.T, c *config) {
				if c.manager.Proxy.Monitoring.NamespaceSelector != nil {
					t.Errorf("selector %v, want none", c.manager.Proxy.Monitoring.NamespaceSelector)
				}
			}},
		{desc: "a bad monitoring selector names the variable",
			env:     map[string]string{"GATEWAYTENANT_MONITORING_NAMESPACE_SELECTOR": "a in b"},
			wantErr: "$GATEWAYTENANT_MONITORING_NAMESPACE_SELECTOR"},
		{desc: "rollout bound from the environment",
			env: map[string]string{"GATEWAYTENANT_PROXY_ROLLOUTS_PER_MINUTE": "2.5", "GATEWAYTENANT_PROXY_ROLLOUT_BURST": "1"},
			check: func(t *testing.T, c *config) {
				want(t, c.manager.ProxyRolloutsPerMinute, 2.5)
				want(t, c.manager.ProxyRolloutBurst, 1)
			}},
		{desc: "a negative rollout bound is refused",
			args:    []string{"--proxy-rollouts-per-minute=-1"},
			wantErr: "--proxy-rollouts-per-minute must be 0 or more"},
		{desc: "proxy sizing defaults and bounds",
			check: func(t *testing.T, c *config) {
				p := c.manager.Proxy
				want(t, p.MaxReplicas, 10)
				want(t, p.Resources.Requests.Memory().String(), "64Mi")
				want(t, p.Resources.Limits.Cpu().String(), "1")
				want(t, p.MaxResources.Memory().String(), "1Gi")
				if !equality.Semantic.DeepEqual(p.Resources, gatewaytenant.DefaultProxyResources()) {
					t.Errorf("--proxy-resources default %v differs from the proxy's defaults %v", p.Resources, gatewaytenant.DefaultProxyResources())
				}
			}},
		{desc: "proxy sizing from the environment",
			env: map[string]string{"GATEWAYTENANT_PROXY_RESOURCES": "requests.cpu=10m,limits.memory=128Mi", "GATEWAYTENANT_PROXY_MAX_RESOURCES": "memory=512Mi"},
			check: func(t *testing.T, c *config) {
				p := c.manager.Proxy
				want(t, p.Resources.Requests.Cpu().String(), "10m")
				want(t, p.Resources.Limits.Memory().String(), "128Mi")
				want(t, len(p.MaxResources), 1)
			}},
		{desc: "a proxy resource other than cpu and memory is refused",
			env:     map[string]string{"GATEWAYTENANT_PROXY_RESOURCES": "requests.gpu=1"},
			wantErr: `--proxy-resources ($GATEWAYTENANT_PROXY_RESOURCES): "requests.gpu"`},
		{desc: "a bad quantity is refused",
			args:    []string{"--proxy-max-resources=memory=lots"},
			wantErr: "--proxy-max-resources ($GATEWAYTENANT_PROXY_MAX_RESOURCES): memory"},
		{desc: "a maximum below the default is refused",
			args:    []string{"--proxy-replicas=3", "--proxy-max-replicas=2"},
			wantErr: "must be between --proxy-replicas (3) and 100, got 2"},
		{desc: "workers and API client limits from the environment",
			env: map[string]string{"GATEWAYTENANT_WORKERS": "4", "GATEWAYTENANT_KUBE_API_QPS": "50", "GATEWAYTENANT_KUBE_API_BURST": "100"},
			check: func(t *testing.T, c *config) {
				want(t, c.manager.Workers, 4)
				want(t, c.manager.ClientQPS, float32(50))
				want(t, c.manager.ClientBurst, 100)
			}},
		{desc: "too many workers names the variable",
			env:     map[string]string{"GATEWAYTENANT_WORKERS": "65"},
			wantErr: "--workers ($GATEWAYTENANT_WORKERS): must be between 1 and 64, got 65"},
		{desc: "positional arguments are refused",
			args:    []string{"run"},
			wantErr: "unexpected arguments"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			lookup := func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
			c, err := parse(tc.args, lookup, nil, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

// Every flag, controller-runtime's global --kubeconfig included, is looked up in the
// environment under the one naming rule, and the documentation lists each variable.
func TestEveryFlagHasADocumentedVariable(t *testing.T) {
	global := flag.NewFlagSet("global", flag.ContinueOnError)
	kubeconfig := global.String("kubeconfig", "", "Paths to a kubeconfig.")
	var looked []string
	lookup := func(k string) (string, bool) {
		looked = append(looked, k)
		if k == "GATEWAYTENANT_KUBECONFIG" {
			return "/tmp/kubeconfig", true
		}
		return "", false
	}
	c := &config{}
	fs, _ := newFlagSet(c)
	if _, err := parse(nil, lookup, global, io.Discard); err != nil {
		t.Fatal(err)
	}
	if *kubeconfig != "/tmp/kubeconfig" {
		t.Errorf("--kubeconfig from the environment: got %q", *kubeconfig)
	}
	docs, err := os.ReadFile(filepath.Join("..", "..", "docs", "install.md"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	names = append(names, "kubeconfig")
	for _, name := range names {
		env := EnvName(name)
		if !slices.Contains(looked, env) {
			t.Errorf("--%s: $%s is never looked up", name, env)
		}
		row := "| `--" + name + "` | `" + env + "` |"
		if !strings.Contains(string(docs), row) {
			t.Errorf("docs/install.md has no row %q in its table of flags", row)
		}
	}
}

func want[T comparable](t *testing.T, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("got %v, want %v", got, want)
	}
}

// The manager's logs carry time stamps in the encoding docs/install.md gives as the default
// of --zap-time-encoding.
func TestDocumentedTimeEncodingIsWhatTheLogsShow(t *testing.T) {
	c, err := parse(nil, func(string) (string, bool) { return "", false }, nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	newLogger(c, &out).Info("hello")
	var line map[string]any
	if err := json.Unmarshal(out.Bytes(), &line); err != nil {
		t.Fatalf("log line %q: %v", out.String(), err)
	}
	docs, err := os.ReadFile(filepath.Join("..", "..", "docs", "install.md"))
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("\\| `--zap-time-encoding` \\| `GATEWAYTENANT_ZAP_TIME_ENCODING` \\| `([a-z0-9]+)` \\|").FindSubmatch(docs)
	if row == nil {
		t.Fatal("docs/install.md has no row for --zap-time-encoding with a default")
	}
	ts := line["ts"]
	switch documented := string(row[1]); documented {
	case "epoch":
		if _, ok := ts.(float64); !ok {
			t.Errorf("docs say %s, the log's ts is %v", documented, ts)
		}
	case "rfc3339":
		s, _ := ts.(string)
		if _, err := time.Parse(time.RFC3339, s); err != nil {
			t.Errorf("docs say %s, the log's ts is %v", documented, ts)
		}
	default:
		t.Errorf("docs say %s: teach this test that encoding", documented)
	}
}

// Defaults above the platform's maximums would give a tenant that asks for nothing more than
// one that asks is allowed: the manager refuses to start, naming both flags.
func TestDefaultsWithinMaximums(t *testing.T) {
	for _, tc := range []struct {
		desc    string
		args    []string
		wantErr string
	}{
		{"the default cpu limit above a lower maximum", []string{"--proxy-max-resources=cpu=500m"},
			"--proxy-resources ($GATEWAYTENANT_PROXY_RESOURCES) and --proxy-max-resources ($GATEWAYTENANT_PROXY_MAX_RESOURCES): " +
				"the default limits.cpu 1 is above the maximum cpu=500m; lower the default or raise the maximum"},
		{"a memory request above its maximum", []string{"--proxy-resources=requests.memory=2Gi", "--proxy-max-resources=memory=1Gi"},
			"the default requests.memory 2Gi is above the maximum memory=1Gi"},
		{"a request above its limit", []string{"--proxy-resources=requests.cpu=2,limits.cpu=1"},
			"the default cpu request 2 is above its limit 1"},
		{"within the maximums", []string{"--proxy-resources=requests.cpu=50m,limits.cpu=500m", "--proxy-max-resources=cpu=500m"}, ""},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := parse(tc.args, func(string) (string, bool) { return "", false }, nil, io.Discard)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatal(err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// The rollout bound with the default burst: however many proxies wait for a new image, no
// minute sees more image changes than --proxy-rollouts-per-minute promises.
func TestDefaultRolloutBurstKeepsThePerMinutePromise(t *testing.T) {
	for _, args := range [][]string{nil, {"--proxy-rollouts-per-minute=2"}, {"--proxy-rollouts-per-minute=0.5"}} {
		c, err := parse(args, func(string) (string, bool) { return "", false }, nil, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		perMinute := c.manager.ProxyRolloutsPerMinute
		rollout := gatewaytenant.NewRollout(perMinute, c.manager.ProxyRolloutBurst)
		// 100 proxies wait from the start; each asks again when told to, as the reconciler's
		// RequeueAfter has it. Record when each changes image.
		start := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
		retry := make([]time.Time, 100)
		for i := range retry {
			retry[i] = start
		}
		var changes []time.Time
		for now := start; now.Before(start.Add(10 * time.Minute)); now = now.Add(100 * time.Millisecond) {
			for i, at := range retry {
				if at.IsZero() || now.Before(at) {
					continue
				}
				ok, wait := rollout.Allow(now)
				if ok {
					changes = append(changes, now)
					retry[i] = time.Time{}
				} else {
					retry[i] = now.Add(wait)
				}
			}
		}
		for i, at := range changes {
			n := 0
			for _, other := range changes[i:] {
				if other.Before(at.Add(time.Minute)) {
					n++
				}
			}
			if float64(n) > max(perMinute, 1) {
				t.Fatalf("%v: %d image changes in the minute from %s, with --proxy-rollouts-per-minute=%g and the default burst %d",
					args, n, at.Sub(start), perMinute, c.manager.ProxyRolloutBurst)
			}
		}
		if want := int(perMinute * 10); len(changes) < want-1 {
			t.Errorf("%v: %d changes in 10 minutes, want about %d", args, len(changes), want)
		}
	}
}
