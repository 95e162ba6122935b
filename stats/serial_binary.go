package stats

import (
	"encoding/binary"
	"errors"
	"math"
)

// errSerialBinary is returned for a truncated or malformed binary Serial.
var errSerialBinary = errors.New("stats: malformed binary Serial")

// AppendBinary appends s in a compact layout (encoding.BinaryAppender):
// the five counts as zig-zag varints, then the eight sums as the
// little-endian bits of their float64, so that every value, NaN
// included, round-trips exactly. It returns the extended buffer.
func (s *Serial) AppendBinary(b []byte) ([]byte, error) {
	for _, v := range [...]int{s.N, s.Blocks, s.WithinDF, s.BlockLen, s.LastN} {
		b = binary.AppendVarint(b, int64(v))
	}
	for _, f := range [...]float64{s.Sum, s.SumSq, s.SumLag, s.First, s.Last, s.WithinSS, s.WithinLag, s.LastMean} {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
	}
	return b, nil
}

// UnmarshalBinary decodes what AppendBinary wrote; data must hold exactly
// one Serial.
func (s *Serial) UnmarshalBinary(data []byte) error {
	rest, err := s.DecodeBinary(data)
	if err == nil && len(rest) != 0 {
		err = errSerialBinary
	}
	return err
}

// DecodeBinary decodes one Serial written by AppendBinary from the front
// of data and returns the bytes after it.
func (s *Serial) DecodeBinary(data []byte) ([]byte, error) {
	for _, p := range [...]*int{&s.N, &s.Blocks, &s.WithinDF, &s.BlockLen, &s.LastN} {
		v, n := binary.Varint(data)
		if n <= 0 {
			return nil, errSerialBinary
		}
		*p = int(v)
		data = data[n:]
	}
	if len(data) < 8*8 {
		return nil, errSerialBinary
	}
	for _, p := range [...]*float64{&s.Sum, &s.SumSq, &s.SumLag, &s.First, &s.Last, &s.WithinSS, &s.WithinLag, &s.LastMean} {
		*p = math.Float64frombits(binary.LittleEndian.Uint64(data))
		data = data[8:]
	}
	return data, nil
}
