package record

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"
)

// GateKeyPrefix prefixes the keys that count, by analysis id, the traffic
// increases a CD tool's gate confirmed (Flagger's confirm-traffic-increase
// webhook). The value is the count in decimal.
const GateKeyPrefix = "gate."

// maxGateRetries bounds the compare-and-swap retries of ConfirmIncrease.
const maxGateRetries = 16

// ConfirmIncrease confirms one more traffic increase of analysis id when
// fewer than allowed were confirmed, and returns the count confirmed (this
// one included) and whether it confirmed this one. The count is changed
// only with compare-and-swap, so that replicas asked at once never confirm
// one step twice.
func (s *Store) ConfirmIncrease(ctx context.Context, id string, allowed int) (int, bool, error) {
	key := GateKeyPrefix + id
	for range maxGateRetries {
		n, rev := 0, uint64(0)
		e, err := s.kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return 0, false, fmt.Errorf("get traffic increases of %s: %w", id, err)
		default:
			if n, err = strconv.Atoi(string(e.Value())); err != nil {
				return 0, false, fmt.Errorf("decode traffic increases of %s: %w", id, err)
			}
			rev = e.Revision()
		}
		if n >= allowed {
			return n, false, nil
		}
		val := []byte(strconv.Itoa(n + 1))
		if rev == 0 {
			_, err = s.kv.Create(ctx, key, val)
		} else {
			_, err = s.kv.Update(ctx, key, val, rev)
		}
		switch {
		case err == nil:
			return n + 1, true, nil
		case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch):
			continue // another replica confirmed one: read again
		default:
			return 0, false, fmt.Errorf("confirm a traffic increase of %s: %w", id, err)
		}
	}
	return 0, false, fmt.Errorf("confirm a traffic increase of %s: %d conflicting writes in a row", id, maxGateRetries)
}
