package demo

import (
	"sync"
	"time"
)

// Clock is a compressed clock: simulated time runs Factor times faster
// than the wall clock, so that a rollout of many one-minute intervals
// finishes in seconds. It implements the daemon's runner.Clock.
//
// A limit keeps it from running ahead of the simulated data: on a loaded
// machine the feeder may fall behind, and a judgement due before the data
// exists would find none. Now never passes the limit, and timers wait for
// it.
type Clock struct {
	mu         sync.Mutex
	simOrigin  time.Time
	wallOrigin time.Time
	factor     float64
	limit      time.Time     // zero: no limit
	moved      chan struct{} // closed and replaced when the limit moves
}

// NewClock starts a compressed clock at simulated time origin.
func NewClock(origin time.Time, factor float64) *Clock {
	return &Clock{simOrigin: origin, wallOrigin: time.Now(), factor: factor, moved: make(chan struct{})}
}

// unlimited is the simulated time the wall clock says.
func (c *Clock) unlimited() time.Time {
	return c.simOrigin.Add(time.Duration(float64(time.Since(c.wallOrigin)) * c.factor))
}

// Now returns the simulated time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nowLocked()
}

func (c *Clock) nowLocked() time.Time {
	n := c.unlimited()
	if !c.limit.IsZero() && n.After(c.limit) {
		return c.limit
	}
	return n
}

// SetLimit lets the clock run up to t.
func (c *Clock) SetLimit(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.limit = t
	close(c.moved)
	c.moved = make(chan struct{})
}

// TimerAt fires when the simulated clock reaches t.
func (c *Clock) TimerAt(t time.Time) (<-chan time.Time, func() bool) {
	out := make(chan time.Time, 1)
	stop := make(chan struct{})
	go func() {
		for {
			c.mu.Lock()
			now, moved := c.nowLocked(), c.moved
			wait := time.Duration(float64(t.Sub(c.unlimited())) / c.factor)
			c.mu.Unlock()
			if !now.Before(t) {
				out <- now
				return
			}
			var tick <-chan time.Time
			if wait > 0 {
				tm := time.NewTimer(wait)
				defer tm.Stop()
				tick = tm.C
			}
			select {
			case <-tick:
			case <-moved:
			case <-stop:
				return
			}
		}
	}()
	var once sync.Once
	return out, func() bool {
		stopped := true
		once.Do(func() { close(stop) })
		return stopped
	}
}

// Wall converts a simulated duration to wall time.
func (c *Clock) Wall(d time.Duration) time.Duration { return time.Duration(float64(d) / c.factor) }
