package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/analysis/report"
	"github.com/canaryd/canaryd/metrics"
)

// runReport replays a recording and writes its report as one
// self-contained HTML file: canaryctl report --config FILE --template NAME
// --recording FILE --out report.html.
func runReport(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("report", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "", "config file (required)")
	tmplName := fs.String("template", "", "template name (required)")
	recording := fs.String("recording", "", "recording file (canaryd's recording format or the minimal scenario form; required; - for standard input)")
	out := fs.String("out", "", "HTML file to write (required; - for standard output)")
	ov := overviewFlags(fs)
	service := fs.String("service", "", "the service the recording is of, when its metadata does not say (shown, and the queries rendered for it)")
	namespace := fs.String("namespace", "", "its namespace, when the recording's metadata does not say")
	baselineVersion := fs.String("baseline.version", "", "the baseline's version, when the recording's metadata does not say")
	canaryVersion := fs.String("canary.version", "", "the canary's version, when the recording's metadata does not say")
	withHelp(fs, "report", stderr)
	if err := fs.Parse(args); err != nil {
		return flagError(fs, err, stderr)
	}
	if ov.wanted() {
		return runOverview(fs, ov, *out, stdout, stderr)
	}
	var missing []string
	for _, fv := range [][2]string{{"config", *config}, {"template", *tmplName}, {"recording", *recording}, {"out", *out}} {
		if fv[1] == "" {
			missing = append(missing, "--"+fv[0])
		}
	}
	if len(missing) > 0 {
		return flagError(fs, fmt.Errorf("missing %s", strings.Join(missing, ", ")), stderr)
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "canaryctl report: %v\n", err)
		return 1
	}
	t, err := loadTemplate(*config, *tmplName)
	if err != nil {
		return fail(err)
	}
	b, err := readInput(*recording, stdin)
	if err != nil {
		return fail(err)
	}
	rec, err := metrics.ReadRecording(bytes.NewReader(b))
	if err != nil {
		return fail(fmt.Errorf("%s: %w", *recording, err))
	}
	for key, v := range map[string]string{"service": *service, "namespace": *namespace, "baseline_version": *baselineVersion, "canary_version": *canaryVersion} {
		if v != "" {
			if rec.Meta == nil {
				rec.Meta = map[string]string{}
			}
			rec.Meta[key] = v
		}
	}
	res, err := analysis.Replay(context.Background(), t, rec)
	if err != nil {
		return fail(err)
	}
	source := filepath.Base(*recording)
	if *recording == "-" {
		source = "standard input"
	}
	d := report.FromReplay(report.Replay{Template: t, Recording: rec, Result: res, Source: source, Generated: time.Now()})
	var page bytes.Buffer
	if err := report.Render(&page, d); err != nil {
		return fail(err)
	}
	if *out == "-" {
		if _, err := page.WriteTo(stdout); err != nil {
			return fail(err)
		}
		return 0
	}
	if err := writeFileAtomic(*out, page.Bytes()); err != nil {
		return fail(err)
	}
	fmt.Fprintf(stdout, "wrote %s: %s, final verdict %s\n", *out, res.Final.Summary, res.Final.Verdict)
	return 0
}

// writeFileAtomic writes b to a temporary file next to path and renames it
// over path, so that a failed write never leaves half a report behind.
func writeFileAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write report %s: %w", path, err)
	}
	return nil
}
