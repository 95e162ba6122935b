package runner

import (
	"log/slog"
	"strings"
	"time"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/configs/spec"
)

// noDataWarnEvery is the least time between two warnings that one metric
// of one analysis gets no series: the first judgement without data warns
// at once, later ones at most this often, with how many judgements went
// without data since.
const noDataWarnEvery = 10 * time.Minute

// noDataWatch is one analysis' memory of its metrics that get no series, so
// that a query matching nothing (a label the pods do not carry) is seen in
// the log and in canaryd_metric_no_data_total instead of only as holds.
type noDataWatch struct {
	warned map[string]time.Time // metric -> last warning
	missed map[string]int       // metric -> judgements without data since
}

// observe counts and, rate-limited, logs every metric of in whose query
// returned no series for a role; a failed query is counted elsewhere.
func (w *noDataWatch) observe(m *Metrics, log *slog.Logger, tmpl *spec.Template, in []analysis.Input, now time.Time) {
	for i := range in {
		if in[i].Err != nil || i >= len(tmpl.Metrics) {
			continue
		}
		var roles []string
		query := in[i].Canary.Query
		if len(in[i].Baseline.Values) == 0 {
			roles = append(roles, "baseline")
			query = in[i].Baseline.Query
		}
		if len(in[i].Canary.Values) == 0 {
			roles = append(roles, "canary")
			query = in[i].Canary.Query
		}
		if len(roles) == 0 {
			continue
		}
		name := tmpl.Metrics[i].Name
		m.NoData.WithLabelValues(tmpl.Name, name).Inc()
		if w.warned == nil {
			w.warned, w.missed = map[string]time.Time{}, map[string]int{}
		}
		w.missed[name]++
		if last, ok := w.warned[name]; ok && now.Sub(last) < noDataWarnEvery {
			continue
		}
		log.Warn("metric query matched no series; the metric cannot pass and holds the analysis",
			"template", tmpl.Name, "metric", name, "roles", strings.Join(roles, " and "), "query", query,
			"judgements_without_data", w.missed[name])
		w.warned[name], w.missed[name] = now, 0
	}
}
