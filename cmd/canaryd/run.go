package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/promslog"
	"github.com/spf13/pflag"

	"github.com/canaryd/canaryd/cmd/canaryd/app"
)

// stopTimeout bounds a graceful stop.
const stopTimeout = 30 * time.Second

// flagValue is what promslog's level and format implement.
type flagValue interface {
	Set(string) error
	String() string
}

// pflagValue adapts promslog's level and format to pflag.
type pflagValue struct {
	flagValue
	typ string
}

func (v pflagValue) Type() string { return v.typ }

// daemonUsage heads canaryd --help; the flags follow it.
const daemonUsage = `usage: canaryd [flags]
       canaryd demo [--speed 30] [--web.listen-address 127.0.0.1:0] [--hold]

canaryd compares a canary's metrics with its baseline's, interval after
interval, and publishes promote, hold or rollback verdicts (see the README).

Commands:
  (none)   run the daemon with the config in --config.file
  demo     canaryd's whole job on embedded defaults (NATS, a Prometheus-compatible
           source, simulated services): a healthy canary promoted step by step and
           a regressed one rolled back; 'canaryd demo --help' for its flags

Examples:
  canaryd --config.file canaryd.yml --storage.path data/
  canaryd demo

Flags:
`

// daemonFlags defines the daemon's flags into opts and logCfg.
func daemonFlags(opts *app.Options, logCfg *promslog.Config) *pflag.FlagSet {
	fs := pflag.NewFlagSet("canaryd", pflag.ContinueOnError)
	fs.StringVar(&opts.ConfigFile, "config.file", "canaryd.yml", "Configuration file.")
	fs.StringVar(&opts.ListenAddress, "web.listen-address", ":9780", "Address for the HTTP API and /metrics.")
	fs.StringVar(&opts.WebConfigFile, "web.config.file", "", "exporter-toolkit web config file enabling TLS or basic auth.")
	fs.StringVar(&opts.StoragePath, "storage.path", "data/", "Directory of the embedded NATS server's JetStream data.")
	fs.StringVar(&opts.NATSURL, "nats.url", "", "NATS server URL; overrides global.nats.url. With neither, canaryd embeds a NATS server.")
	fs.StringVar(&opts.NATSListenAddress, "nats.listen-address", "127.0.0.1:4222", "Where the embedded NATS server accepts clients; empty for in-process only.")
	fs.DurationVar(&opts.LeaseGrace, "analysis.lease-grace", time.Minute, "How long after a missed judgement another replica may take an analysis over; a judgement's queries get half of it.")
	fs.DurationVar(&opts.ScanInterval, "analysis.scan-interval", 10*time.Second, "How often to look for analyses whose owner stopped or died.")
	fs.Var(pflagValue{logCfg.Level, "level"}, "log.level", "Log level: debug, info, warn, error.")
	fs.Var(pflagValue{logCfg.Format, "format"}, "log.format", "Log format: logfmt, json.")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), daemonUsage)
		fs.PrintDefaults()
	}
	return fs
}

func run(args []string) int {
	if len(args) > 0 && args[0] == "demo" {
		return runDemo(args[1:])
	}
	var opts app.Options
	logCfg := &promslog.Config{Level: promslog.NewLevel(), Format: promslog.NewFormat()}
	fs := daemonFlags(&opts, logCfg)
	fs.SetOutput(os.Stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	logger := promslog.New(logCfg)

	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		versioncollector.NewCollector("canaryd"),
	)
	opts.Logger, opts.Registerer, opts.Gatherer = logger, reg, reg

	a, err := app.New(opts)
	if err != nil {
		logger.Error("cannot start", "err", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	err = a.Start(ctx)
	cancel()
	if err != nil {
		logger.Error("cannot start", "err", err)
		return 1
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	code := 0
loop:
	for {
		select {
		case s := <-sig:
			if s == syscall.SIGHUP {
				_ = a.Reload() // logged; the old config stays on error
				continue
			}
			logger.Info("stopping", "signal", s.String())
			break loop
		case err := <-a.Fatal():
			logger.Error("stopping after a failure", "err", err)
			code = 1
			break loop
		}
	}
	ctx, cancel = context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	if err := a.Stop(ctx); err != nil {
		logger.Error("stop", "err", err)
		code = 1
	}
	return code
}
