package prometheus_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/canaryd/canaryd/metrics/prometheus"
)

func TestFetchMatrix(t *testing.T) {
	tests := []struct {
		name, body string
		wantSeries int
		wantErr    error
	}{
		{name: "series unmerged, with their labels", wantSeries: 2,
			body: `{"status":"success","warnings":["w"],"data":{"resultType":"matrix","result":[` +
				`{"metric":{"service":"a"},"values":[[1704067200,"1"]]},{"metric":{"service":"b"},"values":[[1704067200,"2"]]}]}}`},
		{name: "a vector is a bad response", wantErr: prometheus.ErrBadResponse,
			body: `{"status":"success","data":{"resultType":"vector","result":[]}}`},
		{name: "a bad query", wantErr: prometheus.ErrBadQuery,
			body: `{"status":"error","errorType":"bad_data","error":"parse error"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status := 200
			if tt.wantErr == prometheus.ErrBadQuery {
				status = 400
			}
			srv := httptest.NewServer(respond(status, tt.body))
			defer srv.Close()
			src, _ := sourceWithRegistry(t, srv.URL, nil)
			m, warnings, err := src.FetchMatrix(context.Background(), faultQuery)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("FetchMatrix error %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || len(m) != tt.wantSeries || len(warnings) != 1 || m[1].Metric["service"] != "b" || m[1].Values[0].Value != 2 {
				t.Errorf("FetchMatrix = %v, %q, %v", m, warnings, err)
			}
		})
	}
	src, _ := sourceWithRegistry(t, "http://127.0.0.1:1", nil)
	q := faultQuery
	q.Step = 0
	if _, _, err := src.FetchMatrix(context.Background(), q); err == nil {
		t.Error("FetchMatrix with a zero step: no error")
	}
	q = faultQuery
	q.End = q.Start.Add(-time.Second)
	if _, _, err := src.FetchMatrix(context.Background(), q); err == nil {
		t.Error("FetchMatrix with end before start: no error")
	}
}
