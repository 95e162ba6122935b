package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/analysis/report"
)

type rollouts []report.Rollout

func (r rollouts) Rollouts(context.Context) ([]report.Rollout, error) { return r, nil }

// daemonPages serves the overview handler as canaryd does, behind basic
// auth (user canary, password s3cret).
func daemonPages(t *testing.T) *httptest.Server {
	t.Helper()
	now := time.Date(2026, 11, 23, 5, 0, 0, 0, time.UTC)
	rs := rollouts{
		{ID: "web-1", Service: "web", Namespace: "shop", Template: "latency", State: "rolled_back", Step: 1, Steps: 3,
			CreatedAt: now.Add(-time.Hour), Start: now.Add(-time.Hour), PublishedAt: now.Add(-50 * time.Minute),
			Latest: &report.LatestVerdict{Seq: 2, Verdict: "rollback", Final: true, Reason: "rollback: latency_p99", IssuedAt: now.Add(-50 * time.Minute)}},
		{ID: "web-2", Service: "web", Namespace: "shop", Template: "latency", State: "running", Step: 2, Steps: 3, Weight: 50,
			CreatedAt: now.Add(-10 * time.Minute), Start: now.Add(-10 * time.Minute)},
	}
	h := report.OverviewHandler(rs, 7*24*time.Hour, slog.New(slog.DiscardHandler), func() time.Time { return now })
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "canary" || p != "s3cret" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestReportOverview(t *testing.T) {
	srv := daemonPages(t)
	authed := strings.Replace(srv.URL, "http://", "http://canary:s3cret@", 1)
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"--overview"}, []string{`id="window-30d"`, "partial: rollouts are kept 7 days"}},
		{[]string{"--oncall", "--hours", "2"}, []string{"Rollbacks, last 2 hours", `data-id="web-2"`}},
	} {
		out := filepath.Join(t.TempDir(), "overview.html")
		code, stdout, stderr := runCLI(t, "", append([]string{"report", "--url", authed + "/", "--out", out}, c.args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", c.args, code, stderr)
		}
		if !strings.Contains(stdout, "page of 2 rollouts") {
			t.Errorf("%v: stdout %q", c.args, stdout)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		page := string(b)
		// Links lead to the daemon's reports, without the password.
		want := append(c.want, `href="`+srv.URL+`/analyses/web-1"`)
		for _, w := range want {
			if !strings.Contains(page, w) {
				t.Errorf("%v: page lacks %s", c.args, w)
			}
		}
		if strings.Contains(page, "s3cret") {
			t.Errorf("%v: the page shows the password", c.args)
		}
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--overview", "--oncall", "--url", srv.URL, "--out", "-"}, 2, "--overview and --oncall write different pages: give one"},
		{[]string{"--overview", "weekly", "--url", srv.URL, "--out", "-"}, 2, `unexpected argument "weekly"`},
		{[]string{"--overview", "--out", "-"}, 2, "--overview and --oncall need --url and --out"},
		{[]string{"--overview", "--url", "canaryd:9780", "--out", "-"}, 2, "is not an http or https URL"},
		{[]string{"--oncall", "--hours", "0", "--url", srv.URL, "--out", "-"}, 2, "--hours 0 is not from 1 to 168"},
		{[]string{"--overview", "--url", strings.Replace(srv.URL, "http://", "http://canary:wrong@", 1), "--out", "-"}, 1, "401 Unauthorized"},
	} {
		code, _, stderr := runCLI(t, "", append([]string{"report"}, c.args...)...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, stderr, c.code, c.want)
		}
		if strings.Contains(stderr, "wrong@") {
			t.Errorf("%v: the error shows the password: %s", c.args, stderr)
		}
	}
}
