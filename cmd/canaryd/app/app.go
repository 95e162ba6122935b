// Package app wires the canaryd daemon together: the bus (package
// rollout/bus: NATS, embedded or not, its stream, consumer and bucket),
// the record store (analysis/record), the runner that takes deploy events
// and runs the analyses (analysis/runner), the metrics source (metrics/…)
// and the HTTP API (cmd/canaryd/api). It holds no domain logic of its own.
//
// The daemon is built to be embedded: New validates the options and loads
// the config, Start connects and serves, Stop undoes Start in reverse
// order, Reload re-reads the config, and Addr reports the real listen
// address, so tests run whole daemons in one process. Nothing is
// package-level: logger, registerer and clock are injected.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/canaryd/canaryd/analysis/record"
	"github.com/canaryd/canaryd/analysis/runner"
	"github.com/canaryd/canaryd/cmd/canaryd/api"
	"github.com/canaryd/canaryd/configs"
	"github.com/canaryd/canaryd/configs/check"
	"github.com/canaryd/canaryd/metrics"
	"github.com/canaryd/canaryd/metrics/companion"
	"github.com/canaryd/canaryd/rollout/bus"
	"github.com/canaryd/canaryd/rollout/sli"
)

// Options configure an App.
type Options struct {
	// ConfigFile is the configuration file (required).
	ConfigFile string
	// ListenAddress is the HTTP address; "" serves no HTTP (Handler still
	// works), a port of 0 picks a free one (see Addr).
	ListenAddress string
	// WebConfigFile is an exporter-toolkit web config (TLS, basic auth).
	WebConfigFile string
	// StoragePath holds the embedded NATS server's JetStream data.
	StoragePath string
	// NATSURL overrides global.nats.url; with neither, an embedded server
	// runs.
	NATSURL string
	// NATSListenAddress is where the embedded server accepts clients; ""
	// accepts in-process connections only.
	NATSListenAddress string

	// Logger defaults to a logger that discards everything.
	Logger *slog.Logger
	// Registerer and Gatherer hold the daemon's metrics; both nil means a
	// new registry. /metrics serves Gatherer.
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
	// Clock defaults to runner.RealClock.
	Clock runner.Clock
	// Provider overrides the Prometheus source of global.prometheus.
	Provider metrics.Provider

	// InstanceID names this replica in leases; default random.
	InstanceID string
	// LeaseGrace is how long after a missed judgement another replica may
	// take an analysis over; default 1m. A judgement's queries get half
	// of it.
	LeaseGrace time.Duration
	// ScanInterval is how often orphaned analyses are looked for; default
	// 10s.
	ScanInterval time.Duration
}

func (o *Options) setDefaults() error {
	if o.ConfigFile == "" {
		return errors.New("a config file is required")
	}
	if (o.Registerer == nil) != (o.Gatherer == nil) {
		return errors.New("set both Registerer and Gatherer, or neither")
	}
	if o.Registerer == nil {
		r := prometheus.NewRegistry()
		o.Registerer, o.Gatherer = r, r
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = runner.RealClock{}
	}
	if o.StoragePath == "" {
		o.StoragePath = "data"
	}
	if o.InstanceID == "" {
		o.InstanceID = nuid.Next()
	}
	if o.LeaseGrace <= 0 {
		o.LeaseGrace = time.Minute
	}
	if o.ScanInterval <= 0 {
		o.ScanInterval = 10 * time.Second
	}
	return nil
}

// App is a canaryd daemon.
type App struct {
	opts    Options
	logger  *slog.Logger
	clock   runner.Clock
	metrics *appMetrics
	sli     *sli.Metrics

	cfgMu    sync.RWMutex
	cfg      *configs.Config
	provider metrics.Provider
	srcReg   *prometheus.Registry // the Prometheus source's own metrics

	reloadMu sync.Mutex

	// Set by Start.
	srv   *server.Server
	nc    *nats.Conn
	js    jetstream.JetStream
	store *record.Store
	pub   *bus.Publisher
	audit *bus.AuditLog
	// assets names the streams whose health /-/ready reports.
	assets []string
	ln     net.Listener
	ready  atomic.Bool
	fatal  chan error

	runner   *runner.Runner
	rmetrics *runner.Metrics
	api      *api.API

	cleanups []cleanup

	// hooks for tests.
	hooks hooks
}

// hooks let tests observe and interrupt the daemon at exact points (see
// runner.Hooks).
type hooks struct {
	judged, published func(ctx context.Context, owner, id string, seq int) bool
	// keepLeases makes Stop leave leases held, as a crash would.
	keepLeases bool
}

type cleanup struct {
	name string
	fn   func(context.Context) error
}

// New validates opts and loads the config; it starts nothing.
func New(opts Options) (*App, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	cfg, err := loadConfig(opts.ConfigFile)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	a := &App{
		opts:     opts,
		logger:   opts.Logger,
		clock:    opts.Clock,
		metrics:  newAppMetrics(opts.Registerer),
		rmetrics: runner.NewMetrics(opts.Registerer),
		sli:      sli.New(opts.Registerer, opts.Clock.Now),
		cfg:      cfg,
		fatal:    make(chan error, 1),
	}
	if err := a.setProvider(cfg); err != nil {
		return nil, err
	}
	a.api = api.New(api.Options{
		Store: func() *record.Store { return a.store }, Runner: func() *runner.Runner { return a.runner },
		Audit:  func() *bus.AuditLog { return a.audit },
		Config: a.config, Source: a.source, Companions: companion.Of, Ready: a.Ready, Assets: a.AssetHealth, Reload: a.Reload,
		Clock: a.clock, Logger: a.logger, InstanceID: opts.InstanceID,
		Gatherer: prometheus.Gatherers{opts.Gatherer, a.sourceGatherer()},
	})
	a.metrics.reloadSuccess.Set(1)
	a.metrics.reloadTime.Set(float64(a.clock.Now().Unix()))
	return a, nil
}

// config returns the current config.
func (a *App) config() *configs.Config {
	a.cfgMu.RLock()
	defer a.cfgMu.RUnlock()
	return a.cfg
}

// source returns the current metrics provider.
func (a *App) source() metrics.Provider {
	a.cfgMu.RLock()
	defer a.cfgMu.RUnlock()
	return a.provider
}

// Start connects to (or embeds) NATS, sets up the stream, consumer and
// bucket, resumes orphaned analyses, consumes deploy events and serves
// HTTP. On error, what was started is stopped.
func (a *App) Start(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			_ = a.Stop(context.WithoutCancel(ctx))
		}
	}()
	cfg := a.config()
	url := a.opts.NATSURL
	if url == "" {
		url = cfg.Global.NATS.URL
	}
	natsOpts, err := bus.ConnOptions(&cfg.Global.NATS)
	if err != nil {
		return err
	}
	if url == "" {
		if r := cfg.Global.NATS.ReplicasOrDefault(); r > 1 {
			return fmt.Errorf("global.nats.replicas is %d, but the embedded NATS server is a single server: set global.nats.url (or --nats.url) to a cluster's URLs", r)
		}
		s, err := bus.StartEmbedded(a.opts.StoragePath, a.opts.NATSListenAddress)
		if err != nil {
			return err
		}
		a.srv = s
		a.onStop("embedded nats", func(context.Context) error {
			s.Shutdown()
			s.WaitForShutdown()
			return nil
		})
		natsOpts = append(natsOpts, nats.InProcessServer(s))
		a.logger.Info("embedded NATS server started", "storage", a.opts.StoragePath, "client_url", a.natsClientURL())
	}
	natsOpts = append(natsOpts,
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				a.logger.Warn("NATS disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) { a.logger.Info("NATS reconnected") }),
	)
	nc, err := nats.Connect(url, natsOpts...)
	if err != nil {
		return fmt.Errorf("connect to nats: %w", err)
	}
	a.nc = nc
	a.onStop("nats connection", func(context.Context) error {
		nc.Close()
		return nil
	})
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	a.js = js
	dedupe := bus.DedupeWindow(cfg, a.opts.LeaseGrace, a.opts.ScanInterval)
	assets, err := bus.Setup(ctx, js, &cfg.Global.NATS, dedupe)
	if err != nil {
		return err
	}
	if err := assets.SetupAudit(ctx, js, &cfg.Global.Audit, &cfg.Global.NATS, dedupe); err != nil {
		return err
	}
	a.audit = bus.NewAuditLog(js, assets.Audit)
	for _, c := range assets.Changes {
		a.logger.Info("NATS asset updated", "change", c)
	}
	for _, w := range assets.Warnings {
		a.logger.Warn("NATS asset differs from the config", "warning", w)
	}
	a.assets = assets.Names()
	a.store = record.NewStore(assets.KV, assets.KVStream, func(id string, err error) {
		a.rmetrics.Unreadable.Inc()
		a.logger.Error("analysis record unreadable; skipped (listed with its error, not judged)", "analysis_id", id, "err", err)
	})
	stopIndex, err := a.store.WatchIndex(ctx)
	if err != nil {
		return err
	}
	a.onStop("index watch", func(context.Context) error {
		stopIndex()
		return nil
	})
	stream, cons := assets.Stream, assets.Consumer
	a.pub = bus.NewPublisher(js, stream)

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.runner = runner.New(runCtx, runner.Options{
		InstanceID: a.opts.InstanceID, LeaseGrace: a.opts.LeaseGrace, ScanInterval: a.opts.ScanInterval,
		Logger: a.logger, Clock: a.clock, Metrics: a.rmetrics, SLI: a.sli, Store: a.store, Publisher: a.pub, Audit: a.audit,
		Config: a.config, Source: a.source, Companions: companion.Of,
		Hooks: runner.Hooks{Judged: a.hooks.judged, Published: a.hooks.published},
	})
	a.onStop("analyses", func(ctx context.Context) error {
		ids := a.runner.StopRunners(cancel)
		if a.hooks.keepLeases {
			return nil
		}
		return a.runner.ReleaseLeases(ctx, ids)
	})

	var bg sync.WaitGroup
	scanCtx, stopScan := context.WithCancel(runCtx)
	bg.Go(func() { a.runner.ScanLoop(scanCtx) })
	a.onStop("orphan scan", func(context.Context) error {
		stopScan()
		bg.Wait()
		return nil
	})

	stopConsume, err := a.runner.Consume(cons)
	if err != nil {
		return err
	}
	a.onStop("deploy consumer", stopConsume)
	stopApprovals, err := a.runner.ServeApprovals(nc)
	if err != nil {
		return err
	}
	a.onStop("approvals", stopApprovals)

	if a.opts.ListenAddress != "" {
		if err := a.serveHTTP(); err != nil {
			return err
		}
	}
	a.ready.Store(true)
	a.logger.Info("canaryd started", "instance", a.opts.InstanceID, "addr", a.Addr())
	return nil
}

func (a *App) serveHTTP() error {
	if a.opts.WebConfigFile != "" {
		if err := web.Validate(a.opts.WebConfigFile); err != nil {
			return fmt.Errorf("web config %s: %w", a.opts.WebConfigFile, err)
		}
	}
	ln, err := net.Listen("tcp", a.opts.ListenAddress)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", a.opts.ListenAddress, err)
	}
	a.ln = ln
	hs := &http.Server{
		Handler:           a.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(a.logger.Handler(), slog.LevelError),
	}
	webConfig := a.opts.WebConfigFile
	flags := &web.FlagConfig{WebListenAddresses: &[]string{ln.Addr().String()}, WebSystemdSocket: new(bool), WebConfigFile: &webConfig}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := web.Serve(ln, hs, flags, a.logger); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.logger.Error("HTTP server failed", "err", err)
			select {
			case a.fatal <- fmt.Errorf("http server: %w", err):
			default:
			}
		}
	}()
	a.onStop("http server", func(ctx context.Context) error {
		err := hs.Shutdown(ctx)
		<-done
		return err
	})
	return nil
}

// Handler returns the daemon's HTTP API, the report pages (/analyses),
// /metrics and the health endpoints.
func (a *App) Handler() http.Handler { return a.api.Handler() }

// Addr returns the HTTP listen address, with the real port after listening
// on port 0; "" when not serving HTTP.
func (a *App) Addr() string {
	if a.ln == nil {
		return ""
	}
	return a.ln.Addr().String()
}

// natsClientURL returns the embedded server's client URL, "" when not
// embedding or listening.
func (a *App) natsClientURL() string {
	if a.srv == nil || a.opts.NATSListenAddress == "" {
		return ""
	}
	return a.srv.ClientURL()
}

// Fatal receives an error when a part of the daemon fails for good (the
// HTTP server); the caller should then Stop.
func (a *App) Fatal() <-chan error { return a.fatal }

// AssetHealth reports the health of the stream and the bucket's stream
// in the cluster; nil before Start.
func (a *App) AssetHealth(ctx context.Context) []bus.Health {
	if !a.ready.Load() || a.js == nil {
		return nil
	}
	return bus.StreamHealth(ctx, a.js, a.assets...)
}

// Ready reports whether the daemon is serving: started and connected.
func (a *App) Ready() bool {
	return a.ready.Load() && a.nc != nil && a.nc.IsConnected()
}

func (a *App) onStop(name string, fn func(context.Context) error) {
	a.cleanups = append(a.cleanups, cleanup{name: name, fn: fn})
}

// Stop undoes Start in reverse order under ctx: it stops serving and
// consuming, stops the analyses this instance runs and releases their
// leases (their state is persisted after every judgement), and closes
// NATS. It returns every cleanup's error, joined. Stop is idempotent.
func (a *App) Stop(ctx context.Context) error {
	a.ready.Store(false)
	var errs []error
	for i := len(a.cleanups) - 1; i >= 0; i-- {
		c := a.cleanups[i]
		if err := c.fn(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", c.name, err))
		}
	}
	a.cleanups = nil
	return errors.Join(errs...)
}

// Reload re-reads the config file. On error the running config stays and
// canaryd_config_last_reload_successful is 0. Running analyses keep their
// windows and plan; they judge with the reloaded template from their next
// judgement on. global.prometheus takes effect at once; global.nats needs
// a restart.
func (a *App) Reload() error {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	cfg, err := loadConfig(a.opts.ConfigFile)
	if err == nil {
		err = a.setProvider(cfg)
	}
	if err != nil {
		a.metrics.reloadSuccess.Set(0)
		a.logger.Error("config reload failed; keeping the running config", "file", a.opts.ConfigFile, "err", err)
		return fmt.Errorf("reload config: %w", err)
	}
	a.metrics.reloadSuccess.Set(1)
	a.metrics.reloadTime.Set(float64(a.clock.Now().Unix()))
	a.logger.Info("config reloaded", "file", a.opts.ConfigFile, "templates", len(cfg.Templates))
	return nil
}

// loadConfig loads the config file as canaryctl check-config does: the
// schema and its validation, then every query rendered with sample values
// and parsed as PromQL, so that neither a start nor a reload accepts a
// template whose queries Prometheus would refuse at every judgement.
func loadConfig(file string) (*configs.Config, error) {
	cfg, err := configs.LoadFile(file)
	if err != nil {
		return nil, err
	}
	if ps := check.Queries(cfg); len(ps) > 0 {
		return nil, ps
	}
	return cfg, nil
}
