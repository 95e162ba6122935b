package app

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// appMetrics are the daemon's own metrics, one set per App.
type appMetrics struct {
	active            prometheus.Gauge
	verdicts          *prometheus.CounterVec
	judgementDuration prometheus.Histogram
	fetchDuration     prometheus.Histogram
	verdictDelay      prometheus.Histogram
	queryErrors       prometheus.Counter
	noData            *prometheus.CounterVec
	natsErrors        prometheus.Counter
	events            *prometheus.CounterVec
	reloadSuccess     prometheus.Gauge
	reloadTime        prometheus.Gauge
}

func newAppMetrics(reg prometheus.Registerer) *appMetrics {
	f := promauto.With(reg)
	m := &appMetrics{
		active: f.NewGauge(prometheus.GaugeOpts{
			Name: "canaryd_analyses_active",
			Help: "Analyses this instance is running.",
		}),
		verdicts: f.NewCounterVec(prometheus.CounterOpts{
			Name: "canaryd_verdicts_total",
			Help: "Verdicts issued by this instance, by verdict.",
		}, []string{"verdict"}),
		judgementDuration: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "canaryd_judgement_duration_seconds",
			Help:    "Time to fetch, judge and persist one judgement.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}),
		fetchDuration: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "canaryd_fetch_duration_seconds",
			Help:    "Time to fetch every metric of one judgement.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}),
		verdictDelay: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "canaryd_verdict_delay_seconds",
			Help:    "Time from the end of a judged interval to its verdict's publication; growing when the daemon falls behind.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 14),
		}),
		queryErrors: f.NewCounter(prometheus.CounterOpts{
			Name: "canaryd_query_errors_total",
			Help: "Metric queries that failed.",
		}),
		noData: f.NewCounterVec(prometheus.CounterOpts{
			Name: "canaryd_metric_no_data_total",
			Help: "Judgements in which a metric's query returned no series for the baseline, the canary or both (the metric holds), by template and metric.",
		}, []string{"template", "metric"}),
		natsErrors: f.NewCounter(prometheus.CounterOpts{
			Name: "canaryd_nats_errors_total",
			Help: "Failed NATS operations (publish, key-value, consumer).",
		}),
		events: f.NewCounterVec(prometheus.CounterOpts{
			Name: "canaryd_deploy_events_total",
			Help: "Deploy events received, by result (started, duplicate, rejected).",
		}, []string{"result"}),
		reloadSuccess: f.NewGauge(prometheus.GaugeOpts{
			Name: "canaryd_config_last_reload_successful",
			Help: "Whether the last configuration reload succeeded.",
		}),
		reloadTime: f.NewGauge(prometheus.GaugeOpts{
			Name: "canaryd_config_last_reload_success_timestamp_seconds",
			Help: "Timestamp of the last successful configuration reload.",
		}),
	}
	for _, v := range []string{"promote", "hold", "rollback"} {
		m.verdicts.WithLabelValues(v)
	}
	for _, r := range []string{"started", "duplicate", "rejected"} {
		m.events.WithLabelValues(r)
	}
	return m
}
