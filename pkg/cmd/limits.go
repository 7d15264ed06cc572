package cmd

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/rest"
)

// Client-side limits on requests to the Kubernetes API server. The API
// server protects itself (API Priority and Fairness); a bulk client that
// paced itself at client-go's default of 5 requests per second would wait
// 0.2 s for every Secret after the tenth. The defaults never bind a bulk run
// of this tool (at most --concurrency requests are in flight anyway); the
// flags have Helm's names, in every face.
const (
	DefaultQPS   = 1000
	DefaultBurst = 2000
)

// clientLimits are --qps and --burst-limit.
type clientLimits struct {
	QPS   float32
	Burst int
}

// newClientLimits returns the defaults; in Helm's face, Helm's own
// settings (HELM_QPS, HELM_BURST_LIMIT, which Helm hands its plugins) when
// the user set a QPS for Helm.
func newClientLimits(face Face, getenv func(string) string) *clientLimits {
	l := &clientLimits{QPS: DefaultQPS, Burst: DefaultBurst}
	if face != FaceHelm {
		return l
	}
	if q, err := strconv.ParseFloat(getenv("HELM_QPS"), 32); err == nil && q > 0 {
		l.QPS = float32(q)
		if b, err := strconv.Atoi(getenv("HELM_BURST_LIMIT")); err == nil && b > 0 {
			l.Burst = b
		}
	}
	return l
}

func (l *clientLimits) addFlags(fs *pflag.FlagSet) {
	fs.Var(qpsValue{&l.QPS}, "qps", "Requests per second to the Kubernetes API server, client-side (negative: no client-side limit; 0 is refused; in Helm's face, HELM_QPS when set).")
	fs.Var(burstValue{&l.Burst}, "burst-limit", "Client-side burst of requests to the Kubernetes API server, at least 1 (in Helm's face, HELM_BURST_LIMIT with HELM_QPS).")
}

// qpsValue is --qps: a rate, or a negative number for none. 0, which
// client-go would take for its default of 5 per second, is refused.
type qpsValue struct{ p *float32 }

func (v qpsValue) String() string { return strconv.FormatFloat(float64(*v.p), 'g', -1, 32) }
func (v qpsValue) Type() string   { return "float32" }
func (v qpsValue) Set(s string) error {
	q, err := strconv.ParseFloat(s, 32)
	switch {
	case err != nil:
		return errors.New("must be a number")
	case q == 0:
		return errors.New("must be a positive number of requests per second, or negative for no client-side limit (0 would mean client-go's default of 5 per second)")
	}
	*v.p = float32(q)
	return nil
}

// burstValue is --burst-limit: at least 1.
type burstValue struct{ p *int }

func (v burstValue) String() string { return strconv.Itoa(*v.p) }
func (v burstValue) Type() string   { return "int" }
func (v burstValue) Set(s string) error {
	b, err := strconv.Atoi(s)
	switch {
	case err != nil:
		return errors.New("must be a whole number")
	case b < 1:
		return fmt.Errorf("must be at least 1, got %d", b)
	}
	*v.p = b
	return nil
}

// apply makes every client built from kube use the limits.
func (l *clientLimits) apply(kube *genericclioptions.ConfigFlags) {
	prev := kube.WrapConfigFn
	kube.WrapConfigFn = func(c *rest.Config) *rest.Config {
		if prev != nil {
			c = prev(c)
		}
		c.QPS, c.Burst = l.QPS, l.Burst
		return c
	}
}
