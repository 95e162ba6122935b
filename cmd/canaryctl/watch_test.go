package main

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

func TestWatch(t *testing.T) {
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(s.Shutdown)
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats not ready")
	}

	errR, errW := io.Pipe()
	var out bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"watch", "--nats.url", s.ClientURL(), "--service", "web", "--limit", "2"}, nil, &out, errW)
		errW.Close()
	}()
	// Wait until watch has subscribed: it says so on stderr.
	lines := bufio.NewScanner(errR)
	if !lines.Scan() || !strings.HasPrefix(lines.Text(), "watching canary.verdict.*.web") {
		t.Fatalf("watch did not start: %q", lines.Text())
	}
	go io.Copy(io.Discard, errR)

	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	pub := func(subject, body string) {
		if err := nc.Publish(subject, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	pub("canary.verdict.prod.other", `{"service":"other","verdict":"rollback"}`)
	pub("canary.verdict.prod.web", `{"analysis_id":"a1","service":"web","namespace":"prod","seq":1,"step":1,"weight":5,"next_weight":25,"verdict":"promote","score":100,"reason":"promote: every metric within its allowed change","issued_at":"2026-11-23T10:00:00Z"}`)
	pub("canary.verdict.prod.web", `{"analysis_id":"a1","service":"web","namespace":"prod","seq":2,"step":2,"weight":25,"next_weight":0,"verdict":"rollback","final":true,"outcome":"rolled_back","score":0,"reason":"rollback: latency_p99 +40%","classifications":{"high":["latency_p99"],"inconclusive":["cpu","memory"],"pass":["errors"]},"issued_at":"2026-11-23T10:01:00Z"}`)
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not exit after --limit verdicts")
	}
	got := out.String()
	for _, want := range []string{
		"10:00:00 prod/web a1 #1 step 1: PROMOTE, weight 5% -> 25%, score 100",
		"10:01:00 prod/web a1 #2 step 2: ROLLBACK (final: rolled_back), weight 25% -> 0%",
		"rollback: latency_p99 +40%\n    high: latency_p99; inconclusive: cpu, memory\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "other") {
		t.Errorf("--service web printed another service's verdict:\n%s", got)
	}
}
