package stats_test

import (
	"fmt"
	"time"

	"github.com/canaryd/canaryd/stats"
)

func ExampleMannWhitney() {
	baseline := []float64{1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30}
	canary := []float64{0.88, 0.65, 0.60, 2.05, 1.06, 1.29, 1.08, 3.14, 1.31}
	r, err := stats.MannWhitney(canary, baseline, stats.Options{Alternative: stats.Less})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%v U = %v, p = %.4f\n", r.Method, r.U, r.PValue)
	fmt.Printf("shift %.3f, 95%% interval (%v, %.3f]\n", r.Shift, r.Lower, r.Upper)
	fmt.Printf("A = %.3f\n", r.A())
	// Output:
	// exact U = 24, p = 0.0807
	// shift -0.560, 95% interval (-Inf, 0.100]
	// A = 0.296
}

func ExampleWorkspace_MannWhitney() {
	// One workspace per goroutine: after the first comparison of the
	// largest size, comparisons allocate nothing.
	var w stats.Workspace
	baseline := []float64{120, 131, 118, 125, 140, 122, 119, 133}
	for _, canary := range [][]float64{
		{121, 128, 117, 126, 139, 124, 118, 131},
		{160, 171, 158, 165, 180, 162, 159, 173},
	} {
		r, err := w.MannWhitney(canary, baseline, stats.Options{Confidence: 0.9})
		if err != nil {
			fmt.Println(err)
			return
		}
		med, _ := w.Median(baseline)
		rel, lo, hi := stats.RelativeShift(r, med)
		fmt.Printf("p = %.4f, shift %+.1f%% [%+.1f%%, %+.1f%%]\n", r.PValue, 100*rel, 100*lo, 100*hi)
	}
	// Output:
	// p = 0.8746, shift -0.8% [-5.7%, +4.9%]
	// p = 0.0002, shift +32.4% [+26.7%, +38.1%]
}

func ExampleEvaluateBurn() {
	// A 99.9% SLO checked every 10 s of a canary: the workbook's rules at
	// 1/60 scale (1m/5s, 6m/30s, 24m/2m, 72m/6m).
	rules := stats.ScaleWindows(stats.WorkbookWindows(), 1.0/60)
	ratios := make([]float64, 60) // ten minutes of error ratios, newest last
	for i := range ratios {
		ratios[i] = 0.0005
	}
	for i := 54; i < 60; i++ {
		ratios[i] = 0.03 // the last minute burns fast
	}
	dst := make([]stats.BurnResult, 0, len(rules))
	res, fired, err := stats.EvaluateBurn(dst, ratios, 10*time.Second, 0.999, rules)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range res {
		fmt.Printf("%v/%v > %v: long %.1f short %.1f fired %v\n", r.Window.Long, r.Window.Short, r.Window.Threshold, r.LongRate, r.ShortRate, r.Fired)
	}
	fmt.Println("fired:", fired)
	// Output:
	// 1m0s/5s > 14.4: long 30.0 short 30.0 fired true
	// 6m0s/30s > 6: long 5.4 short 30.0 fired false
	// 24m0s/2m0s > 3: long 3.4 short 15.2 fired true
	// 1h12m0s/6m0s > 1: long 3.4 short 5.4 fired true
	// fired: true
}
