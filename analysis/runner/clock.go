package runner

import "time"

// Clock is the daemon's source of time. Analyses are scheduled on absolute
// deadlines (judgement k of an analysis is due at start + k·interval), so a
// clock driven by a test needs no sleeps: advancing it past a deadline fires
// every timer waiting for that deadline, whenever the timer was set.
type Clock interface {
	Now() time.Time
	// TimerAt returns a channel that receives once the clock reaches t (at
	// once when t is not in the future) and a function that stops the
	// timer.
	TimerAt(t time.Time) (<-chan time.Time, func() bool)
}

// RealClock is the wall clock.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// TimerAt implements Clock with a time.Timer.
func (RealClock) TimerAt(t time.Time) (<-chan time.Time, func() bool) {
	tm := time.NewTimer(time.Until(t))
	return tm.C, tm.Stop
}
