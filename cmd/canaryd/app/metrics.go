package app

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// appMetrics are the daemon's own metrics beyond the runner's: the
// config reloads.
type appMetrics struct {
	reloadSuccess prometheus.Gauge
	reloadTime    prometheus.Gauge
}

func newAppMetrics(reg prometheus.Registerer) *appMetrics {
	f := promauto.With(reg)
	return &appMetrics{
		reloadSuccess: f.NewGauge(prometheus.GaugeOpts{
			Name: "canaryd_config_last_reload_successful",
			Help: "Whether the last configuration reload succeeded.",
		}),
		reloadTime: f.NewGauge(prometheus.GaugeOpts{
			Name: "canaryd_config_last_reload_success_timestamp_seconds",
			Help: "Timestamp of the last successful configuration reload.",
		}),
	}
}
