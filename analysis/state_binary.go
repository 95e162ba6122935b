package analysis

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/canaryd/canaryd/stats"
)

// stateBinaryVersion is the first byte of a binary State. Version 1 lacked
// the canary and baseline serials (MetricState.C and B), version 2 the
// trailing CanaryStale, version 3 the tail test's serials (MetricState.Tail
// and TailLow), version 4 the first interval's sums (MetricState.FirstN,
// FirstLog, FirstSumC, FirstSumB); all are still read, with those empty.
const stateBinaryVersion = 5

// maxBinaryCount bounds the counts a binary State may declare, so that a
// corrupt one cannot make UnmarshalBinary allocate without limit.
const maxBinaryCount = 1 << 20

var errStateBinary = errors.New("analysis: malformed binary state")

// AppendBinary appends st in a compact binary layout and returns the
// extended buffer (encoding.BinaryAppender). Every float round-trips
// exactly, as in JSON, in about a third of JSON's bytes and a small
// fraction of its time; the daemon persists states this way after every
// judgement.
//
// Layout: a version byte, then uvarints for Looks and the number of
// metrics, then per metric: the name (uvarint length, bytes), a flags
// byte (bit 0: LogBroken, bit 1: Signed), the Log, Up and Down serials
// (stats.Serial.AppendBinary), SumC and SumB as IEEE 754 bits, the
// canary and baseline block means (uvarint count, then the bits of each),
// the C and B serials, the Tail and TailLow serials, and FirstN as a
// uvarint with FirstLog, FirstSumC and FirstSumB as IEEE 754 bits; after
// the metrics, CanaryStale as a uvarint.
func (st *State) AppendBinary(b []byte) ([]byte, error) {
	return st.appendBinary(b, stateBinaryVersion), nil
}

// appendBinary appends st in the layout of the given version (tests write
// the older ones through it), leaving out what that version lacks.
func (st *State) appendBinary(b []byte, version byte) []byte {
	b = append(b, version)
	b = binary.AppendUvarint(b, uint64(st.Looks))
	b = binary.AppendUvarint(b, uint64(len(st.Metrics)))
	for i := range st.Metrics {
		m := &st.Metrics[i]
		b = binary.AppendUvarint(b, uint64(len(m.Name)))
		b = append(b, m.Name...)
		var flags byte
		if m.LogBroken {
			flags |= 1
		}
		if m.Signed {
			flags |= 2
		}
		b = append(b, flags)
		b, _ = m.Log.AppendBinary(b)
		b, _ = m.Up.AppendBinary(b)
		b, _ = m.Down.AppendBinary(b)
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(m.SumC))
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(m.SumB))
		b = appendFloats(b, m.BlocksC)
		b = appendFloats(b, m.BlocksB)
		if version >= 2 {
			b, _ = m.C.AppendBinary(b)
			b, _ = m.B.AppendBinary(b)
		}
		if version >= 4 {
			b, _ = m.Tail.AppendBinary(b)
			b, _ = m.TailLow.AppendBinary(b)
		}
		if version >= 5 {
			b = binary.AppendUvarint(b, uint64(m.FirstN))
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(m.FirstLog))
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(m.FirstSumC))
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(m.FirstSumB))
		}
	}
	if version >= 3 {
		b = binary.AppendUvarint(b, uint64(st.CanaryStale))
	}
	return b
}

func appendFloats(b []byte, x []float64) []byte {
	b = binary.AppendUvarint(b, uint64(len(x)))
	for _, v := range x {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	return b
}

// UnmarshalBinary decodes what AppendBinary wrote into st, replacing its
// contents; a truncated, corrupt or unknown-version input is an error
// and leaves st unusable.
func (st *State) UnmarshalBinary(data []byte) error {
	d := stateDecoder{b: data}
	version := d.byte()
	if version < 1 || version > stateBinaryVersion {
		if d.err != nil {
			return d.err
		}
		return fmt.Errorf("%w: version %d", errStateBinary, version)
	}
	st.Looks = d.count()
	n := d.count()
	if d.err != nil {
		return d.err
	}
	// The metrics' slices are reused, so that decoding into the same
	// State judgement after judgement allocates little.
	st.Metrics = slices.Grow(st.Metrics[:0], n)[:n]
	for i := range st.Metrics {
		m := &st.Metrics[i]
		name := d.bytes(d.count())
		blocksC, blocksB := m.BlocksC[:0], m.BlocksB[:0]
		if m.Name != string(name) {
			*m = MetricState{Name: string(name)}
			blocksC, blocksB = nil, nil
		}
		flags := d.byte()
		m.LogBroken, m.Signed = flags&1 != 0, flags&2 != 0
		d.serial(&m.Log)
		d.serial(&m.Up)
		d.serial(&m.Down)
		m.SumC = d.float()
		m.SumB = d.float()
		m.BlocksC = d.floats(blocksC)
		m.BlocksB = d.floats(blocksB)
		if version >= 2 {
			d.serial(&m.C)
			d.serial(&m.B)
		} else {
			m.C, m.B = stats.Serial{}, stats.Serial{}
		}
		if version >= 4 {
			d.serial(&m.Tail)
			d.serial(&m.TailLow)
		} else {
			m.Tail, m.TailLow = stats.Serial{}, stats.Serial{}
		}
		m.FirstN, m.FirstLog, m.FirstSumC, m.FirstSumB = 0, 0, 0, 0
		if version >= 5 {
			m.FirstN = d.count()
			m.FirstLog, m.FirstSumC, m.FirstSumB = d.float(), d.float(), d.float()
		}
		if d.err != nil {
			return d.err
		}
	}
	st.CanaryStale = 0
	if version >= 3 {
		st.CanaryStale = d.count()
	}
	if d.err == nil && len(d.b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", errStateBinary, len(d.b))
	}
	return d.err
}

// stateDecoder reads a binary State; the first error sticks and every
// later read returns zero values.
type stateDecoder struct {
	b   []byte
	err error
}

func (d *stateDecoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated %s", errStateBinary, what)
	}
	d.b = nil
}

func (d *stateDecoder) byte() byte {
	if len(d.b) < 1 {
		d.fail("byte")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *stateDecoder) count() int {
	v, n := binary.Uvarint(d.b)
	if n <= 0 || v > maxBinaryCount {
		d.fail("count")
		return 0
	}
	d.b = d.b[n:]
	return int(v)
}

func (d *stateDecoder) bytes(n int) []byte {
	if len(d.b) < n {
		d.fail("bytes")
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *stateDecoder) float() float64 {
	if len(d.b) < 8 {
		d.fail("float")
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(d.b))
	d.b = d.b[8:]
	return v
}

// floats decodes a list of floats into dst's array when it is large
// enough.
func (d *stateDecoder) floats(dst []float64) []float64 {
	n := d.count()
	if n == 0 || len(d.b) < 8*n {
		if n > 0 {
			d.fail("floats")
		}
		return nil
	}
	x := slices.Grow(dst[:0], n)[:n]
	for i := range x {
		x[i] = d.float()
	}
	return x
}

func (d *stateDecoder) serial(s interface{ DecodeBinary([]byte) ([]byte, error) }) {
	if d.err != nil {
		return
	}
	rest, err := s.DecodeBinary(d.b)
	if err != nil {
		d.fail("serial")
		return
	}
	d.b = rest
}
