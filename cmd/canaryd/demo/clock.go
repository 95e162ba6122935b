package demo

import (
	"sync"
	"time"
)

// Clock is a compressed clock: simulated time runs Factor times faster
// than the wall clock, so that a rollout of many one-minute intervals
// finishes in seconds. It implements the daemon's app.Clock.
type Clock struct {
	mu         sync.Mutex
	simOrigin  time.Time
	wallOrigin time.Time
	factor     float64
}

// NewClock starts a compressed clock at simulated time origin.
func NewClock(origin time.Time, factor float64) *Clock {
	return &Clock{simOrigin: origin, wallOrigin: time.Now(), factor: factor}
}

// Now returns the simulated time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.simOrigin.Add(time.Duration(float64(time.Since(c.wallOrigin)) * c.factor))
}

// TimerAt fires when the simulated clock reaches t.
func (c *Clock) TimerAt(t time.Time) (<-chan time.Time, func() bool) {
	d := time.Duration(float64(t.Sub(c.Now())) / c.factor)
	tm := time.NewTimer(d)
	out := make(chan time.Time, 1)
	stop := make(chan struct{})
	go func() {
		select {
		case <-tm.C:
			out <- c.Now()
		case <-stop:
		}
	}()
	var once sync.Once
	return out, func() bool {
		stopped := tm.Stop()
		once.Do(func() { close(stop) })
		return stopped
	}
}

// Wall converts a simulated duration to wall time.
func (c *Clock) Wall(d time.Duration) time.Duration { return time.Duration(float64(d) / c.factor) }
