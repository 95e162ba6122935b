package embedded

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/textparse"
	"github.com/prometheus/prometheus/storage"
)

// textContentType is the classic text exposition format, the one
// client_golang serves unless asked for another.
const textContentType = "text/plain; version=0.0.4; charset=utf-8"

// scrapeAccept is the Accept header of Scrape: the text format first, then
// OpenMetrics. Protobuf is not asked for: its native histograms would be
// read as classic ones anyway.
const scrapeAccept = "text/plain;version=0.0.4;q=0.9,application/openmetrics-text;version=1.0.0;q=0.5,*/*;q=0.1"

// Ingest stores one scrape of a target taken at ts: r holds the exposition
// format named by contentType (the classic text format, OpenMetrics, or
// delimited protobuf; "" means text). Every series gets the target labels
// as with Prometheus's honor_labels: false: a scraped label with the same
// name as a target label is kept as exported_<name>. Samples with an
// explicit timestamp keep it; the others are stored at ts.
//
// Series the target's previous scrape had and this one lacks get a stale
// marker at ts, so that queries stop seeing them at once rather than after
// the lookback delta. A scrape that does not parse, or holds a series with
// invalid labels, stores nothing except those stale markers (as Prometheus
// treats a failed scrape) and returns the error. Samples refused one by one
// (older than the series' newest, a second value at one time, or over an
// hour older than the newest sample held) are left out; the rest is stored
// and the error reports how many were refused.
//
// Target label names must be valid and must not start with "__"; empty
// values mean the label is absent. Scrapes of one target are serialised;
// different targets are ingested in parallel.
func (s *Source) Ingest(ts time.Time, target map[string]string, r io.Reader, contentType string) error {
	tl, err := targetLabels(target)
	if err != nil {
		return err
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return s.failScrape(tl, ts, false, fmt.Errorf("ingest %s: read: %w", tl, err))
	}
	return s.ingest(tl, ts, b, contentType, false)
}

// IngestGatherer stores what g gathers as one scrape at ts with the target
// labels target, exactly as Ingest stores the text format a client_golang
// /metrics handler would serve for g. A gathering error fails the scrape, as
// that handler's default answer to one (HTTP 500) would.
func (s *Source) IngestGatherer(ts time.Time, target map[string]string, g prometheus.Gatherer) error {
	tl, err := targetLabels(target)
	if err != nil {
		return err
	}
	mfs, err := g.Gather()
	if err != nil {
		return s.failScrape(tl, ts, false, fmt.Errorf("ingest %s: gather: %w", tl, err))
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.FmtText)
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return s.failScrape(tl, ts, false, fmt.Errorf("ingest %s: encode %s: %w", tl, mf.GetName(), err))
		}
	}
	return s.ingest(tl, ts, buf.Bytes(), string(expfmt.FmtText), false)
}

// Scrape fetches url (a /metrics endpoint) with a GET and ingests the answer
// at ts as Ingest does. Like Prometheus it also stores the series
// up{<target labels>}: 1 when the scrape was stored, 0 when it failed, in
// which case the target's series also go stale at ts. Context cancellation
// fails the scrape the same way.
func (s *Source) Scrape(ctx context.Context, url string, ts time.Time, target map[string]string) error {
	tl, err := targetLabels(target)
	if err != nil {
		return err
	}
	body, contentType, err := s.fetch(ctx, url)
	if err != nil {
		return s.failScrape(tl, ts, true, fmt.Errorf("scrape %s: %w", url, err))
	}
	if err := s.ingest(tl, ts, body, contentType, true); err != nil {
		return fmt.Errorf("scrape %s: %w", url, err)
	}
	return nil
}

func (s *Source) fetch(ctx context.Context, url string) (body []byte, contentType string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Accept", scrapeAccept)
	resp, err := s.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body) // lets the connection be reused
		return nil, "", fmt.Errorf("server returned HTTP status %s", resp.Status)
	}
	body, err = io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", fmt.Errorf("read body: %w", err)
	}
	return body, resp.Header.Get("Content-Type"), nil
}

// ingest stores one scrape's body; withUp adds the up series.
func (s *Source) ingest(tl labels.Labels, ts time.Time, body []byte, contentType string, withUp bool) error {
	s.life.RLock()
	defer s.life.RUnlock()
	if s.closed {
		return ErrClosed
	}
	if ts.IsZero() {
		return fmt.Errorf("ingest %s: zero time", tl)
	}
	tgt := s.target(tl)
	tgt.mu.Lock()
	defer tgt.mu.Unlock()

	t := ts.UnixMilli()
	app := s.head.AppenderV2(context.Background())
	cur := make(map[uint64]labels.Labels, len(tgt.last))
	var rej rejections
	n, err := appendExposition(app, tl, body, contentType, t, cur, &rej)
	if err != nil {
		err = fmt.Errorf("ingest %s at %s: %w", tl, formatMillis(t), err)
		if rerr := app.Rollback(); rerr != nil {
			return errors.Join(err, fmt.Errorf("rollback: %w", rerr))
		}
		return errors.Join(err, s.markFailed(tgt, tl, t, withUp))
	}

	for h, lset := range tgt.last {
		if _, ok := cur[h]; !ok && appendStale(app, lset, t) {
			n++
		}
	}
	if withUp {
		if _, err := app.Append(0, upSeries(tl), 0, t, 1, nil, nil, storage.AOptions{}); err == nil {
			n++
		}
	}
	if err := app.Commit(); err != nil {
		return fmt.Errorf("ingest %s at %s: commit: %w", tl, formatMillis(t), err)
	}
	tgt.last = cur
	tgt.up = tgt.up || withUp
	s.m.appended.Add(float64(n))
	rej.count(s.m.rejected)
	s.enforceRetention()
	if err := rej.err(); err != nil {
		return fmt.Errorf("ingest %s at %s: %w", tl, formatMillis(t), err)
	}
	return nil
}

// appendExposition parses body and appends its samples to app, at t unless
// a sample has its own timestamp. It records in cur the series without one,
// and in rej the samples the head refused. It returns the number appended;
// a parse error or invalid series fails the whole scrape.
func appendExposition(app storage.AppenderV2, tl labels.Labels, body []byte, contentType string, t int64,
	cur map[uint64]labels.Labels, rej *rejections,
) (int, error) {
	if strings.TrimSpace(contentType) == "" {
		contentType = textContentType
	}
	p, err := textparse.New(body, contentType, nil, textparse.ParserOptions{IgnoreNativeHistograms: true})
	if p == nil {
		return 0, fmt.Errorf("content type %q: %w", contentType, err)
	}
	var (
		n       int
		scraped labels.Labels
		lb      = labels.NewBuilder(labels.EmptyLabels())
	)
	for {
		entry, err := p.Next()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("parse: %w", err)
		}
		switch entry {
		case textparse.EntrySeries:
		case textparse.EntryHistogram:
			return n, errors.New("parse: native histogram in input; only classic histograms are supported")
		default: // type, help, unit, comment
			continue
		}
		_, explicit, v := p.Series()
		p.Labels(&scraped)
		lset := withTargetLabels(lb, scraped, tl)
		if err := validSeries(lset); err != nil {
			return n, err
		}
		at := t
		if explicit != nil {
			at = *explicit
		}
		if _, err := app.Append(0, lset, 0, at, v, nil, nil, storage.AOptions{}); err != nil {
			if !rej.add(lset, at, err) {
				return n, fmt.Errorf("append %s: %w", lset, err)
			}
			continue
		}
		n++
		if explicit == nil {
			cur[lset.Hash()] = lset
		}
	}
}

// rejections counts the samples of one scrape the head refused.
type rejections struct {
	byReason map[string]int
	total    int
	first    error
}

// add records err if it is a refusal of one sample and reports whether it was.
func (r *rejections) add(lset labels.Labels, t int64, err error) bool {
	reason := rejectReason(err)
	if reason == "" {
		return false
	}
	if r.byReason == nil {
		r.byReason = make(map[string]int)
	}
	r.byReason[reason]++
	r.total++
	if r.first == nil {
		r.first = fmt.Errorf("series %s at %s: %w", lset, formatMillis(t), err)
	}
	return true
}

func (r *rejections) count(c *prometheus.CounterVec) {
	for reason, n := range r.byReason {
		c.WithLabelValues(reason).Add(float64(n))
	}
}

// err summarises the refusals, wrapping the first one; nil if none.
func (r *rejections) err() error {
	if r.total == 0 {
		return nil
	}
	reasons := make([]string, 0, len(r.byReason))
	for reason, n := range r.byReason {
		reasons = append(reasons, fmt.Sprintf("%d %s", n, reason))
	}
	sort.Strings(reasons)
	return fmt.Errorf("%d samples refused (%s), the rest stored; first: %w", r.total, strings.Join(reasons, ", "), r.first)
}
