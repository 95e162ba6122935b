package runner

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics are the runner's metrics, one set per daemon, registered with
// the registerer given to NewMetrics.
type Metrics struct {
	Active            prometheus.Gauge
	Verdicts          *prometheus.CounterVec
	JudgementDuration prometheus.Histogram
	FetchDuration     prometheus.Histogram
	VerdictDelay      prometheus.Histogram
	QueryErrors       prometheus.Counter
	// DataWait observes how long past its due time a judgement of a
	// template with max_lag waited for its window's last scrapes; DataLate
	// counts the windows judged without them once max_lag ran out.
	DataWait   prometheus.Histogram
	DataLate   prometheus.Counter
	NoData     *prometheus.CounterVec
	NatsErrors prometheus.Counter
	// AuditErrors counts audit records that could not be appended.
	AuditErrors prometheus.Counter
	// Unreadable counts the records this instance cannot read, once each.
	Unreadable prometheus.Counter
	Events     *prometheus.CounterVec
}

// NewMetrics registers the runner's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	m := &Metrics{
		Active: f.NewGauge(prometheus.GaugeOpts{
			Name: "canaryd_analyses_active",
			Help: "Analyses this instance is running.",
		}),
		Verdicts: f.NewCounterVec(prometheus.CounterOpts{
			Name: "canaryd_verdicts_total",
			Help: "Verdicts issued by this instance, by verdict.",
		}, []string{"verdict"}),
		JudgementDuration: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "canaryd_judgement_duration_seconds",
			Help:    "Time to fetch, judge and persist one judgement.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}),
		FetchDuration: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "canaryd_fetch_duration_seconds",
			Help:    "Time to fetch every metric of one judgement.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}),
		VerdictDelay: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "canaryd_verdict_delay_seconds",
			Help:    "Time from the end of a judged interval to its verdict's publication; growing when the daemon falls behind.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 14),
		}),
		DataWait: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "canaryd_judgement_data_wait_seconds",
			Help:    "Time a judgement of a template with max_lag waited past its due time for its window's last scrapes to arrive: the telemetry lag measured.",
			Buckets: []float64{0, 1, 2, 5, 10, 15, 30, 60, 120, 300},
		}),
		DataLate: f.NewCounter(prometheus.CounterOpts{
			Name: "canaryd_judgement_data_late_total",
			Help: "Windows judged without their last scrapes because they had not arrived within the template's max_lag.",
		}),
		QueryErrors: f.NewCounter(prometheus.CounterOpts{
			Name: "canaryd_query_errors_total",
			Help: "Metric queries that failed.",
		}),
		NoData: f.NewCounterVec(prometheus.CounterOpts{
			Name: "canaryd_metric_no_data_total",
			Help: "Judgements in which a metric's query returned no series for the baseline, the canary or both (the metric holds), by template and metric.",
		}, []string{"template", "metric"}),
		NatsErrors: f.NewCounter(prometheus.CounterOpts{
			Name: "canaryd_nats_errors_total",
			Help: "Failed NATS operations (publish, key-value, consumer).",
		}),
		AuditErrors: f.NewCounter(prometheus.CounterOpts{
			Name: "canaryd_audit_publish_errors_total",
			Help: "Audit records that could not be appended to the audit stream; a verdict's is appended again, before the verdict, at the next try.",
		}),
		Unreadable: f.NewCounter(prometheus.CounterOpts{
			Name: "canaryd_records_unreadable_total",
			Help: "Analysis records this instance cannot read (written by a later canaryd, or corrupt), each counted once: they are skipped, the rest are served and judged.",
		}),
		Events: f.NewCounterVec(prometheus.CounterOpts{
			Name: "canaryd_deploy_events_total",
			Help: "Deploy events received, by result (started, duplicate, rejected).",
		}, []string{"result"}),
	}
	for _, v := range []string{"promote", "hold", "rollback"} {
		m.Verdicts.WithLabelValues(v)
	}
	for _, r := range []string{"started", "duplicate", "rejected"} {
		m.Events.WithLabelValues(r)
	}
	return m
}
