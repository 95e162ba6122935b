package check_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/canaryd/canaryd/configs"
	"github.com/canaryd/canaryd/configs/check"
)

// TestQueriesAndWarnings holds the exact text check-config shows for the
// files in testdata: PromQL errors of queries rendered with sample values,
// and warnings for settings that load but cannot work as meant.
func TestQueriesAndWarnings(t *testing.T) {
	for _, c := range []struct {
		file           string
		errs, warnings []string
	}{
		{"invalid-promql.yml", []string{
			`testdata/invalid-promql.yml:5: templates[0].metrics[0].query: invalid PromQL: 1:33: parse error: unexpected character in duration expression: '{' (rendered for the baseline with sample values: histogram_quantile(0.99, rate(x[{service="service"}[1m])))`,
			`testdata/invalid-promql.yml:9: templates[0].metrics[2].query: invalid PromQL: 1:64: parse error: unclosed left parenthesis (rendered for the baseline with sample values: sum(rate(errors{cluster="value"}[1m])) / sum(rate(requests[1m]))`,
			`testdata/invalid-promql.yml:11: templates[0].metrics[3].query: the query gives a matrix; a judgement needs an instant vector or a scalar per step (rendered for the baseline with sample values: http_requests_total{service="service",version="v1"}[5m])`,
		}, nil},
		{"warnings.yml", nil, []string{
			`testdata/warnings.yml:2: templates[0].min_samples: 20 (the default) is more than the 10 points one interval of 10s holds at the query step 1s: the latest interval never has enough, and early judgements can only hold`,
			`testdata/warnings.yml:7: templates[0].metrics[0].allowed_change: 0 tolerates no change at all: noise alone will hold or roll back a healthy canary; give the change you accept (e.g. 0.05 for 5%)`,
			`testdata/warnings.yml:18: templates[1].metrics[0].min_samples: 12 is more than the 6 points one interval of 1m holds at the query step 10s: the latest interval never has enough, and early judgements can only hold`,
		}},
		{"../../example.yml", nil, nil},
	} {
		t.Run(c.file, func(t *testing.T) {
			cfg, err := configs.LoadFile(filepath.Join("testdata", c.file))
			if err != nil {
				t.Fatal(err)
			}
			same(t, "problems", check.Queries(cfg), c.errs)
			same(t, "warnings", check.Warnings(cfg), c.warnings)
		})
	}
}

func same(t *testing.T, what string, ps configs.Problems, want []string) {
	t.Helper()
	var got []string
	for _, p := range ps {
		got = append(got, p.Error())
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n%s\nwant:\n%s", what, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
