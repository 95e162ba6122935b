// Package reporttest drives headless Chromium for the tests that look at
// canaryd's reports in a real browser.
package reporttest

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Browser starts headless Chromium for the test and returns a context
// driving one tab. Without the binary the test fails under CI=true and is
// skipped otherwise.
func Browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium not found (install the Debian package chromium, see scripts/test-deps.sh): %v", err)
		}
		t.Skipf("chromium not found (install the Debian package chromium to run this test): %v", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox, // the tests may run as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.Flag("disable-crash-reporter", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(func() {
		// Close the browser and wait for its process before the
		// profile directory is removed.
		if err := chromedp.Cancel(bctx); err != nil {
			t.Logf("close chromium: %v", err)
		}
		cancelBrowser()
		cancelAlloc()
		cancel()
	})
	if err := chromedp.Run(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return bctx
}

// ArtifactDir is where a test leaves files for people to look at:
// $CANARYD_TEST_ARTIFACTS when set, the test's temporary directory
// otherwise.
func ArtifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("CANARYD_TEST_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestBrowserReport opens the index and, through its link, the report of
// a rolled-back analysis in Chromium, and checks what a person sees: the
// timeline with the verdict of every judgement, one panel per metric with
// the deciding (failed) metric first, three charts per panel, and the
// embedded style applied under the pages' content security policy. It
// saves a screenshot of the whole report.
