package app

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/canaryd/canaryd/configs"
	"github.com/canaryd/canaryd/metrics"
	"github.com/canaryd/canaryd/metrics/batch"
	promsource "github.com/canaryd/canaryd/metrics/prometheus"
)

// setProvider installs cfg with its metrics source: Options.Provider when
// set, else a Prometheus source built from global.prometheus. Each source
// registers its metrics in a registry of its own, which /metrics serves
// next to the daemon's, so that a reload can replace it.
func (a *App) setProvider(cfg *configs.Config) error {
	p, reg := a.opts.Provider, (*prometheus.Registry)(nil)
	if p == nil {
		reg = prometheus.NewRegistry()
		src, err := promsource.New(cfg.Global.Prometheus, a.logger.With("component", "prometheus"), reg)
		if err != nil {
			return fmt.Errorf("prometheus source: %w", err)
		}
		// Analyses of one template judge aligned windows (see create), so
		// their queries differ only in matcher values: one query answers
		// many of them.
		p = &closingProvider{
			Provider: batch.New(src, batch.Options{Logger: a.logger.With("component", "batch"), Registerer: reg}),
			close:    src.Close,
		}
	}
	a.cfgMu.Lock()
	old := a.provider
	a.cfg, a.provider, a.srcReg = cfg, p, reg
	a.cfgMu.Unlock()
	if c, ok := old.(interface{ Close() }); ok && old != p {
		c.Close() // idle connections only: fetches in flight still finish
	}
	return nil
}

// closingProvider is a provider with the Close of the source beneath it.
type closingProvider struct {
	metrics.Provider
	close func()
}

// Close releases the source's idle connections.
func (p *closingProvider) Close() { p.close() }

// sourceGatherer gathers the current Prometheus source's metrics.
func (a *App) sourceGatherer() prometheus.Gatherer {
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		a.cfgMu.RLock()
		reg := a.srcReg
		a.cfgMu.RUnlock()
		if reg == nil {
			return nil, nil
		}
		return reg.Gather()
	})
}
