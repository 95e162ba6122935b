package stats

import (
	"encoding/binary"
	"errors"
	"math"
)

// serialBinaryLen is the encoded size of a Serial: five integers and eight
// float64s, eight bytes each.
const serialBinaryLen = 13 * 8

// errSerialShort is returned when a binary Serial is truncated.
var errSerialShort = errors.New("stats: binary Serial too short")

// AppendBinary appends s in a fixed little-endian layout of 104 bytes
// (integers as int64, floats as their IEEE 754 bits, so that NaN and every
// value round-trip exactly) and returns the extended buffer. It
// implements encoding.BinaryAppender.
func (s *Serial) AppendBinary(b []byte) ([]byte, error) {
	for _, v := range [...]int{s.N, s.Blocks, s.WithinDF, s.BlockLen, s.LastN} {
		b = binary.LittleEndian.AppendUint64(b, uint64(int64(v)))
	}
	for _, f := range [...]float64{s.Sum, s.SumSq, s.SumLag, s.First, s.Last, s.WithinSS, s.WithinLag, s.LastMean} {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
	}
	return b, nil
}

// UnmarshalBinary decodes what AppendBinary wrote; data must hold exactly
// one Serial.
func (s *Serial) UnmarshalBinary(data []byte) error {
	if len(data) != serialBinaryLen {
		return errSerialShort
	}
	_, err := s.DecodeBinary(data)
	return err
}

// DecodeBinary decodes one Serial written by AppendBinary from the front
// of data and returns the bytes after it.
func (s *Serial) DecodeBinary(data []byte) ([]byte, error) {
	if len(data) < serialBinaryLen {
		return nil, errSerialShort
	}
	next := func() uint64 {
		v := binary.LittleEndian.Uint64(data)
		data = data[8:]
		return v
	}
	for _, p := range [...]*int{&s.N, &s.Blocks, &s.WithinDF, &s.BlockLen, &s.LastN} {
		*p = int(int64(next()))
	}
	for _, p := range [...]*float64{&s.Sum, &s.SumSq, &s.SumLag, &s.First, &s.Last, &s.WithinSS, &s.WithinLag, &s.LastMean} {
		*p = math.Float64frombits(next())
	}
	return data, nil
}
