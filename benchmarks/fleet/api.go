package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"
)

// apiKinds are the API requests the prober sends in turn while the fleet
// is judged: the reads a mesh, a CD tool or a person makes at fleet size.
var apiKinds = []string{"list_service", "list_page", "list_running_page", "get", "verdict"}

// apiProber sends API requests at a steady rate, one at a time, and keeps
// each one's latency by kind.
type apiProber struct {
	api      string
	analyses int
	mu       sync.Mutex
	lat      map[string][]time.Duration
	errors   int
	firstErr error
}

// run probes until ctx ends, rate requests per second.
func (p *apiProber) run(ctx context.Context, rate float64) {
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		kind := apiKinds[n%len(apiKinds)]
		i := rng.IntN(p.analyses)
		var path string
		switch kind {
		case "list_service":
			path = "/api/v1/analyses?namespace=fleet&service=" + serviceName(i)
		case "list_page":
			path = "/api/v1/analyses?limit=100"
		case "list_running_page":
			path = "/api/v1/analyses?state=running&namespace=fleet&limit=100"
		case "get":
			path = "/api/v1/analyses/" + analysisID(i)
		case "verdict":
			path = "/api/v1/analyses/" + analysisID(i) + "/verdict"
		}
		d, err := p.get(ctx, path)
		if ctx.Err() != nil {
			return
		}
		p.mu.Lock()
		if err != nil {
			p.errors++
			if p.firstErr == nil {
				p.firstErr = err
			}
		} else {
			p.lat[kind] = append(p.lat[kind], d)
		}
		p.mu.Unlock()
	}
}

// get times one request, its whole answer read and decoded.
func (p *apiProber) get(ctx context.Context, path string) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.api+path, nil)
	if err != nil {
		return 0, err
	}
	began := time.Now()
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	d := time.Since(began)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK || !json.Valid(b) {
		return 0, fmt.Errorf("GET %s: status %d", path, resp.StatusCode)
	}
	return d, nil
}

// apiResult is what the prober measured.
type apiResult struct {
	Requests int `json:"requests"`
	Errors   int `json:"errors"`
	// P99 is over every request; ByKind holds each kind's p50, p99, max.
	P99    float64                       `json:"p99_seconds"`
	ByKind map[string]map[string]float64 `json:"by_kind"`
}

func (p *apiProber) result() *apiResult {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := &apiResult{Errors: p.errors, ByKind: map[string]map[string]float64{}}
	var all []time.Duration
	q := func(v []time.Duration, f float64) float64 {
		return v[min(len(v)-1, int(f*float64(len(v))))].Seconds()
	}
	for kind, v := range p.lat {
		slices.Sort(v)
		all = append(all, v...)
		r.ByKind[kind] = map[string]float64{"p50": q(v, 0.5), "p99": q(v, 0.99), "max": v[len(v)-1].Seconds(), "n": float64(len(v))}
	}
	r.Requests = len(all)
	if len(all) > 0 {
		slices.Sort(all)
		r.P99 = q(all, 0.99)
	}
	return r
}
