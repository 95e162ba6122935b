package spec

import (
	"fmt"
	"time"

	"github.com/prometheus/common/model"

	"github.com/canaryd/canaryd/stats"
)

// What an error-budget gate does while the budget is spent or burning fast.
const (
	// BudgetHold keeps the canary's weight and holds (the default); the
	// lifetime still bounds the wait.
	BudgetHold = "hold"
	// BudgetRollback rolls the canary back.
	BudgetRollback = "rollback"
)

// SLO defaults.
const (
	DefaultSLOWindow      = model.Duration(30 * 24 * time.Hour)
	DefaultSLOOnExhausted = BudgetHold
)

// SLO is the service's service level objective, which gates every
// promotion of its rollouts on its error budget (package rollout): before
// the rollout raises the canary's weight or promotes it, the daemon
// measures, for the whole service (not canary against baseline), the
// error ratio over Window and over every window of the burn-rate rules,
// at the end of the judged interval; while the budget is spent or a rule
// fires, the rollout holds (or rolls back, OnExhausted).
//
// The error ratio is ErrorRatio, or 1 − Good/Total; each is a query
// template with {{.Window}}, the window measured as a PromQL duration
// (30d, 1h, 5m), besides the fields of every query.
type SLO struct {
	// Objective is the SLO target, e.g. 0.999. Default 0.999 (the
	// burn-rate test's).
	Objective float64 `yaml:"objective,omitempty"`
	// Window is the SLO period the budget is counted over. Default 30d.
	Window model.Duration `yaml:"window,omitempty"`
	// ErrorRatio is the error ratio's query; or give Good and Total.
	ErrorRatio string `yaml:"error_ratio,omitempty"`
	Good       string `yaml:"good,omitempty"`
	Total      string `yaml:"total,omitempty"`
	// BurnWindows are the fast-burn rules, as for the burn-rate test;
	// default the SRE Workbook's paging rules (14.4 over 1h/5m, 6 over
	// 6h/30m), unscaled: the budget is the service's own, over its SLO
	// period.
	BurnWindows []BurnWindow `yaml:"burn_windows,omitempty"`
	// OnExhausted is what a spent or fast-burning budget does at a
	// promotion: hold (default) or rollback.
	OnExhausted string `yaml:"on_exhausted,omitempty"`

	tmpl *QueryTemplate
}

// SLOMetric is the name the SLO's queries go by in errors, recordings and
// replay: "slo"; each window measured is its own metric, SLOMetricOf.
const SLOMetric = "slo"

// SLOMetricOf names the SLO's query over window w in recordings
// (slo_30d, slo_1h).
func SLOMetricOf(w model.Duration) string { return SLOMetric + "_" + w.String() }

// ErrorRatioTemplate returns the parsed error ratio query (ErrorRatio, or
// 1 − Good/Total); nil before Load.
func (s *SLO) ErrorRatioTemplate() *QueryTemplate { return s.tmpl }

// errorRatioText is the error ratio's query text.
func (s *SLO) errorRatioText() string {
	if s.ErrorRatio != "" {
		return s.ErrorRatio
	}
	return "1 - ((" + s.Good + ") / (" + s.Total + "))"
}

// Windows returns every window the gate measures, each once: Window
// first, then the rules' long and short windows in order.
func (s *SLO) Windows() []model.Duration {
	ws := []model.Duration{s.Window}
	add := func(w model.Duration) {
		for _, x := range ws {
			if x == w {
				return
			}
		}
		ws = append(ws, w)
	}
	for _, r := range s.BurnWindows {
		add(r.Long)
		add(r.Short)
	}
	return ws
}

// defaultSLOBurnWindows are the SRE Workbook's paging rules (the fast
// burn), unscaled.
func defaultSLOBurnWindows() []BurnWindow {
	var out []BurnWindow
	for _, w := range stats.WorkbookWindows()[:2] {
		out = append(out, BurnWindow{Long: model.Duration(w.Long), Short: model.Duration(w.Short), Threshold: w.Threshold})
	}
	return out
}

func (s *SLO) setDefaults() {
	if s.Objective == 0 {
		s.Objective = DefaultSLOObjective
	}
	if s.Window == 0 {
		s.Window = DefaultSLOWindow
	}
	if len(s.BurnWindows) == 0 {
		s.BurnWindows = defaultSLOBurnWindows()
	}
	if s.OnExhausted == "" {
		s.OnExhausted = DefaultSLOOnExhausted
	}
}

func (s *SLO) validate(path string, add func(path, format string, args ...any)) {
	validateBurn(path, "burn_windows", s.Objective, s.BurnWindows, add)
	if s.Window <= 0 {
		add(path+".window", "must be positive, got %s", s.Window)
	}
	for i, w := range s.BurnWindows {
		if w.Long > s.Window {
			add(fmt.Sprintf("%s.burn_windows[%d].long", path, i), "%s is longer than the SLO window (%s)", w.Long, s.Window)
		}
	}
	switch s.OnExhausted {
	case BudgetHold, BudgetRollback:
	default:
		add(path+".on_exhausted", "must be hold or rollback, got %q", s.OnExhausted)
	}
	switch {
	case s.ErrorRatio != "" && (s.Good != "" || s.Total != ""):
		add(path+".error_ratio", "give error_ratio or good and total, not both")
		return
	case s.ErrorRatio == "" && s.Good == "" && s.Total == "":
		add(path, "an SLO needs error_ratio, or good and total")
		return
	case s.ErrorRatio == "" && s.Good == "":
		add(path+".good", "total needs good")
		return
	case s.ErrorRatio == "" && s.Total == "":
		add(path+".total", "good needs total")
		return
	}
	field := path + ".error_ratio"
	if s.ErrorRatio == "" {
		field = path + ".good"
	}
	t, err := ParseQueryTemplate(SLOMetric, s.errorRatioText())
	if err != nil {
		add(field, "%v", err)
		return
	}
	if !t.uses("Window") {
		add(field, "the SLO's queries need {{.Window}}, the window measured (e.g. rate(...[{{.Window}}]))")
	}
	if t.uses("Role") || t.uses("Version") {
		add(field, "the SLO is the whole service's: its queries cannot use {{.Role}} or {{.Version}}")
	}
	s.tmpl = t
}

// validateBurn checks an objective and multi-window burn-rate rules (a
// burn-rate metric's or an SLO's), under path.
func validateBurn(path, windowsKey string, objective float64, ws []BurnWindow, add func(path, format string, args ...any)) {
	if !(objective > 0 && objective < 1) {
		add(path+".objective", "must be in (0, 1), got %v", objective)
	}
	for i, w := range ws {
		wp := fmt.Sprintf("%s.%s[%d]", path, windowsKey, i)
		if w.Long <= 0 || w.Short <= 0 || w.Short > w.Long {
			add(wp, "needs 0 < short <= long, got long %s, short %s", w.Long, w.Short)
		}
		if !(w.Threshold > 0) {
			add(wp+".threshold", "must be positive, got %v", w.Threshold)
		}
	}
}
