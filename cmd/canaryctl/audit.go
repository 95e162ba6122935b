package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/common/model"
	"github.com/spf13/pflag"

	"github.com/canaryd/canaryd/configs"
	"github.com/canaryd/canaryd/rollout/bus"
	"github.com/canaryd/canaryd/rollout/message"
)

// runAudit runs canaryctl audit: export is its one subcommand.
func runAudit(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "export" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprint(stderr, helps["audit"])
			return 0
		}
		fmt.Fprint(stderr, helps["audit"])
		return 2
	}
	return runAuditExport(args[1:], stdin, stdout, stderr)
}

// runAuditExport writes the audit records stored in a time range as JSON
// lines, read from the audit stream over NATS.
func runAuditExport(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("audit export", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	withHelp(fs, "audit", stderr)
	nf := addNATSFlags(fs)
	stream := fs.String("stream", configs.DefaultAuditStream, "the audit stream (global.audit.stream)")
	since := fs.String("since", "", "first record's time: a duration ago (24h, 7d) or an RFC 3339 time; required")
	until := fs.String("until", "", "last record's time, like --since (default: the last stored)")
	service := fs.String("service", "", "only this service's records")
	namespace := fs.String("namespace", "", "only this namespace's records")
	analysis := fs.String("analysis", "", "only this analysis' records")
	out := fs.StringP("output", "o", "-", "file to write (- for stdout)")
	timeout := fs.Duration("timeout", 5*time.Minute, "bound on the whole export")
	if err := fs.Parse(args); err != nil {
		return flagError(fs, err, stderr)
	}
	now := time.Now()
	from, err := parseSince(*since, now)
	if *since == "" {
		err = errors.New("--since is required")
	}
	if err != nil {
		return flagError(fs, err, stderr)
	}
	var to time.Time
	if *until != "" {
		if to, err = parseSince(*until, now); err != nil {
			return flagError(fs, fmt.Errorf("--until: %w", err), stderr)
		}
		if to.Before(from) {
			return flagError(fs, fmt.Errorf("--until %s is before --since %s", to.Format(time.RFC3339), from.Format(time.RFC3339)), stderr)
		}
	}
	for _, f := range []struct {
		name, v string
		ok      func(string) bool
	}{{"service", *service, message.ValidName}, {"namespace", *namespace, message.ValidName}, {"analysis", *analysis, message.ValidID}} {
		if f.v != "" && !f.ok(f.v) {
			return flagError(fs, fmt.Errorf("--%s %q is not a valid name", f.name, f.v), stderr)
		}
	}
	fs.SetOutput(stderr)

	nc, err := nf.connect("canaryctl audit export")
	if err != nil {
		fmt.Fprintf(stderr, "canaryctl audit export: connect to %s: %v\n", *nf.url, err)
		return 1
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		fmt.Fprintf(stderr, "canaryctl audit export: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	log, err := bus.OpenAuditLog(ctx, js, *stream)
	if err != nil {
		fmt.Fprintf(stderr, "canaryctl audit export: %v\n", err)
		return 1
	}

	w := stdout
	var f *os.File
	if *out != "-" {
		if f, err = os.Create(*out); err != nil {
			fmt.Fprintf(stderr, "canaryctl audit export: %v\n", err)
			return 1
		}
		defer f.Close()
		w = f
	}
	bw := bufio.NewWriter(w)
	filter := message.AuditSubject(orWildcard(*namespace), orWildcard(*service), orWildcard(*analysis))
	n, later, bad := 0, 0, 0
	err = log.Export(ctx, filter, from, to, func(e bus.AuditEntry) error {
		switch {
		case errors.Is(e.Err, message.ErrAuditVersion):
			later++ // exported as stored: a later canaryctl reads it
		case e.Err != nil:
			bad++
			fmt.Fprintf(stderr, "canaryctl audit export: record %d skipped: %v\n", e.StreamSeq, e.Err)
			return nil
		}
		n++
		bw.Write(e.Raw) // as stored: one line of JSON
		return bw.WriteByte('\n')
	})
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	if f != nil {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "canaryctl audit export: %v\n", err)
		return 1
	}
	fmt.Fprintf(stderr, "canaryctl audit export: %d record(s) from %s", n, from.UTC().Format(time.RFC3339))
	if !to.IsZero() {
		fmt.Fprintf(stderr, " to %s", to.UTC().Format(time.RFC3339))
	}
	fmt.Fprintln(stderr)
	if later > 0 {
		fmt.Fprintf(stderr, "canaryctl audit export: %d of them written by a later canaryd (version above %d): exported as stored\n", later, message.AuditVersion)
	}
	if bad > 0 {
		fmt.Fprintf(stderr, "canaryctl audit export: %d record(s) unreadable and skipped\n", bad)
		return 1
	}
	return 0
}

// parseSince reads a time: a duration before now (90m, 24h, 7d) or an
// RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := model.ParseDuration(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither a duration (24h, 7d) nor an RFC 3339 time (2026-01-02T15:04:05Z)", s)
	}
	return now.Add(-time.Duration(d)), nil
}
