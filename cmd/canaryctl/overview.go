package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/canaryd/canaryd/analysis/report"
)

// overviewTimeout bounds the request for a daemon's rollouts.
const overviewTimeout = 30 * time.Second

// overviewOptions are report's flags for the overview pages.
type overviewOptions struct {
	leads, oncall bool
	url           string
	hours         int
}

// overviewFlags adds the overview flags to report's flag set.
func overviewFlags(fs *pflag.FlagSet) *overviewOptions {
	o := &overviewOptions{}
	fs.BoolVar(&o.leads, "overview", false, "instead of a recording's report, write the leads' overview of a running canaryd (--url): success ratio, durations, time to detect and roll back per template and namespace over 1d/7d/30d")
	fs.BoolVar(&o.oncall, "oncall", false, "instead of a recording's report, write the on-call page of a running canaryd (--url): running rollouts, failing and holding first, and recent rollbacks")
	fs.StringVar(&o.url, "url", "", "with --overview or --oncall: the canaryd to read, e.g. http://canaryd:9780 (user:password@ in the URL for basic auth)")
	fs.IntVar(&o.hours, "hours", 6, "with --oncall: list the rollbacks of the last N hours (1 to 168)")
	return o
}

// wanted reports whether an overview page was asked for.
func (o *overviewOptions) wanted() bool { return o.leads || o.oncall }

// runOverview fetches a daemon's rollouts (GET /api/v1/rollouts) and
// writes the leads' or the on-call overview as one self-contained HTML
// file whose links lead to the daemon's analysis reports.
func runOverview(fs *pflag.FlagSet, o *overviewOptions, out string, stdout, stderr io.Writer) int {
	kind, render := "leads'", report.RenderOverview
	if o.oncall {
		kind, render = "on-call", report.RenderOnCall
	}
	switch {
	case o.leads && o.oncall:
		return flagError(fs, errors.New("--overview and --oncall write different pages: give one"), stderr)
	case fs.NArg() > 0:
		return flagError(fs, fmt.Errorf("unexpected argument %q", fs.Arg(0)), stderr)
	case o.url == "" || out == "":
		return flagError(fs, errors.New("--overview and --oncall need --url and --out"), stderr)
	case o.hours < 1 || o.hours > 168:
		return flagError(fs, fmt.Errorf("--hours %d is not from 1 to 168", o.hours), stderr)
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "canaryctl report: %v\n", err)
		return 1
	}
	base, err := url.Parse(strings.TrimSuffix(o.url, "/") + "/")
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return flagError(fs, fmt.Errorf("--url %q is not an http or https URL", o.url), stderr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), overviewTimeout)
	defer cancel()
	l, err := fetchRollouts(ctx, base)
	if err != nil {
		return fail(err)
	}
	// Links lead to the daemon's reports, without the credentials.
	link := *base
	link.User = nil
	ov := &report.Overview{Rollouts: l.Rollouts, Now: l.Now, Kept: time.Duration(l.KeptSeconds * float64(time.Second)),
		ReportBase: link.String(), Source: "canaryd at " + link.Host, RollbackHours: o.hours}
	var page bytes.Buffer
	if err := render(&page, ov); err != nil {
		return fail(err)
	}
	if out == "-" {
		if _, err := page.WriteTo(stdout); err != nil {
			return fail(err)
		}
		return 0
	}
	if err := writeFileAtomic(out, page.Bytes()); err != nil {
		return fail(err)
	}
	fmt.Fprintf(stdout, "wrote %s: the %s page of %d rollouts from %s\n", out, kind, len(l.Rollouts), link.Host)
	return 0
}

// fetchRollouts reads GET /api/v1/rollouts of the daemon at base.
func fetchRollouts(ctx context.Context, base *url.URL) (*report.RolloutList, error) {
	u := base.JoinPath("api/v1/rollouts")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	if pw, ok := base.User.Password(); ok {
		req.SetBasicAuth(base.User.Username(), pw)
	}
	where := u.Redacted()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL, with its password, is said once below
		}
		return nil, fmt.Errorf("GET %s: %w", where, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("GET %s: %s: %s", where, resp.Status, strings.TrimSpace(string(b)))
	}
	l, err := report.DecodeRolloutList(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", where, err)
	}
	return l, nil
}
