package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/spf13/pflag"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/configs"
	"github.com/canaryd/canaryd/configs/check"
	"github.com/canaryd/canaryd/rollout/bus"
)

const checkConfigHelp = `usage: canaryctl check-config [flags] FILE...

Validate canaryd config files, as promtool check config does for Prometheus:
every problem of a file in one run, each as file:line: field: message (unknown
fields, values of the wrong kind, durations, ranges, query templates), and
every query rendered with sample values and parsed with Prometheus' PromQL
parser. Warnings name settings that load but are unlikely to do what was meant.

With --prometheus.url it also runs every query once, as the daemon would for
the given service and versions over the last interval, and for each query that
returns nothing says which selector matches no series and which label values
exist instead.

With --nats.url it also compares the NATS stream and key-value bucket on that
server (or cluster: URLs separated by commas) with the config, changing
nothing: what canaryd would create or change at start, and where an existing
asset differs in a way canaryd leaves alone (more replicas than
global.nats.replicas, settings canaryd does not own).

Exit status: 0 valid, 1 a problem (or, with --prometheus.url, a query that
failed or returned nothing), 2 a usage error.

Examples:
  canaryctl check-config configs/example.yml
  canaryctl check-config --prometheus.url http://localhost:9090 \
      --service checkout --namespace shop --baseline.version v1 --canary.version v2 \
      configs/example.yml

Flags:
`

// runCheckConfig validates config files: exit 0 when every file is valid,
// 1 with every problem (file:line: field: message) otherwise.
func runCheckConfig(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("check-config", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	promURL := fs.String("prometheus.url", "", "run every query once against this Prometheus (base URL, e.g. http://localhost:9090)")
	service := fs.String("service", "", "with --prometheus.url: the service the queries are rendered for ({{.Service}})")
	namespace := fs.String("namespace", "", "with --prometheus.url: its namespace ({{.Namespace}})")
	baseline := fs.String("baseline.version", "", "with --prometheus.url: the baseline's version ({{.Version}} of the baseline)")
	canary := fs.String("canary.version", "", "with --prometheus.url: the canary's version ({{.Version}} of the canary)")
	vars := fs.StringArray("var", nil, "with --prometheus.url: a deploy event variable NAME=VALUE ({{.Vars.NAME}}); repeatable")
	template := fs.String("template", "", "with --prometheus.url: check only this template's queries")
	at := fs.String("time", "", "with --prometheus.url: the end of the queried interval, RFC 3339 or Unix seconds (default now)")
	timeout := fs.Duration("timeout", 30*time.Second, "with --prometheus.url or --nats.url: bound on all the queries together")
	natsURL := fs.String("nats.url", "", "compare the stream and bucket on this NATS server or cluster (URLs separated by commas) with the config")
	fs.Usage = func() {
		fmt.Fprint(stderr, checkConfigHelp)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return usageError(err)
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	var live *liveCheck
	if *promURL != "" {
		end, err := parseTime(*at)
		if err != nil {
			fmt.Fprintf(stderr, "canaryctl check-config: --time: %v\n", err)
			return 2
		}
		target := analysis.Target{
			Service: *service, Namespace: *namespace,
			Baseline: analysis.Version{Version: *baseline}, Canary: analysis.Version{Version: *canary},
			Vars: map[string]string{},
		}
		for _, kv := range *vars {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				fmt.Fprintf(stderr, "canaryctl check-config: --var %q: want NAME=VALUE\n", kv)
				return 2
			}
			target.Vars[k] = v
		}
		client, err := api.NewClient(api.Config{Address: *promURL})
		if err != nil {
			fmt.Fprintf(stderr, "canaryctl check-config: --prometheus.url: %v\n", err)
			return 2
		}
		live = &liveCheck{api: v1.NewAPI(client), url: *promURL, target: target, end: end, timeout: *timeout}
		if *template != "" {
			live.templates = []string{*template}
		}
	} else if *at != "" || *service != "" || len(*vars) > 0 || *template != "" {
		fmt.Fprintln(stderr, "canaryctl check-config: --service, --namespace, --var, --template and --time need --prometheus.url")
		return 2
	}
	code := 0
	for _, f := range fs.Args() {
		c := checkFile(f, live, stdout)
		if c == 0 && *natsURL != "" {
			c = checkNATS(f, *natsURL, *timeout, stdout)
		}
		code = max(code, c)
	}
	return code
}

// checkNATS compares the assets on the NATS server at url with config
// file f's (already found valid): exit code 1 when the server cannot be
// asked, 0 otherwise (differences are warnings).
func checkNATS(f, url string, timeout time.Duration, stdout io.Writer) int {
	cfg, err := configs.LoadFile(f)
	if err != nil {
		fmt.Fprintf(stdout, "%s: FAILED: %v\n", f, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	fmt.Fprintf(stdout, "%s: NATS assets on %s (%d replica(s) configured):\n", f, url, cfg.Global.NATS.ReplicasOrDefault())
	opts, err := bus.ConnOptions(&cfg.Global.NATS)
	if err == nil {
		var nc *nats.Conn
		if nc, err = nats.Connect(url, opts...); err == nil {
			defer nc.Close()
			var js jetstream.JetStream
			if js, err = jetstream.New(nc); err == nil {
				var changes, warnings []string
				changes, warnings, err = bus.Check(ctx, js, &cfg.Global.NATS)
				if err == nil {
					var ac, aw []string
					ac, aw, err = bus.CheckAudit(ctx, js, &cfg.Global.Audit, &cfg.Global.NATS)
					changes, warnings = append(changes, ac...), append(warnings, aw...)
				}
				if err == nil {
					for _, c := range changes {
						fmt.Fprintf(stdout, "  at start: %s\n", c)
					}
					for _, w := range warnings {
						fmt.Fprintf(stdout, "  warning: %s\n", w)
					}
					if len(changes)+len(warnings) == 0 {
						fmt.Fprintln(stdout, "  as configured")
					}
					return 0
				}
			}
		}
	}
	fmt.Fprintf(stdout, "  ERROR: %v\n", err)
	return 1
}

// liveCheck is what --prometheus.url asks for.
type liveCheck struct {
	api       check.Prometheus
	url       string
	target    analysis.Target
	end       time.Time
	timeout   time.Duration
	templates []string
}

// checkFile checks one file and prints what it found; it returns the exit
// code for that file.
func checkFile(f string, live *liveCheck, stdout io.Writer) int {
	cfg, err := configs.LoadFile(f)
	var ps configs.Problems
	if err == nil {
		ps = check.Queries(cfg)
	} else if !errors.As(err, &ps) {
		fmt.Fprintf(stdout, "%s: FAILED: %v\n", f, err)
		return 1
	}
	if len(ps) > 0 {
		fmt.Fprintf(stdout, "%s: FAILED: %d problem(s)\n", f, len(ps))
		for _, p := range ps {
			fmt.Fprintf(stdout, "  %s\n", p.Error())
		}
		return 1
	}
	metricsN := 0
	for _, t := range cfg.Templates {
		metricsN += len(t.Metrics)
	}
	fmt.Fprintf(stdout, "%s: SUCCESS: %d template(s), %d metric(s)\n", f, len(cfg.Templates), metricsN)
	for _, w := range check.Warnings(cfg) {
		fmt.Fprintf(stdout, "  warning: %s\n", w.Error())
	}
	if live == nil {
		return 0
	}
	return live.run(cfg, stdout)
}

func (l *liveCheck) run(cfg *configs.Config, stdout io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	fmt.Fprintf(stdout, "%s: queries against %s for service %q in namespace %q (baseline %q, canary %q), interval ending %s:\n",
		cfg.File, l.url, l.target.Service, l.target.Namespace, l.target.Baseline.Version, l.target.Canary.Version, l.end.UTC().Format(time.RFC3339))
	results := check.Live(ctx, l.api, cfg, l.target, l.end, l.templates...)
	if len(results) == 0 {
		fmt.Fprintf(stdout, "  no template named %q\n", strings.Join(l.templates, ", "))
		return 1
	}
	code := 0
	for _, r := range results {
		name := r.Template + " " + r.Metric
		if r.Role != "" {
			name += " " + string(r.Role)
		}
		switch {
		case r.Err != nil:
			code = 1
			fmt.Fprintf(stdout, "  %s: ERROR: %v\n", name, r.Err)
			if r.Query != "" {
				fmt.Fprintf(stdout, "    query: %s\n", r.Query)
			}
		case r.Series == 0:
			code = 1
			fmt.Fprintf(stdout, "  %s: NO SERIES: the query matched nothing\n    query: %s\n", name, r.Query)
			for _, w := range r.Why {
				fmt.Fprintf(stdout, "    %s\n", w)
			}
		default:
			fmt.Fprintf(stdout, "  %s: %d series\n", name, r.Series)
		}
	}
	return code
}

// parseTime reads RFC 3339 or Unix seconds; "" is now.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Now(), nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Unix(0, int64(f*1e9)), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither RFC 3339 nor Unix seconds", s)
	}
	return t, nil
}

// usageError maps a flag parsing error to an exit code: 0 for --help.
func usageError(err error) int {
	if errors.Is(err, pflag.ErrHelp) {
		return 0
	}
	return 2
}
