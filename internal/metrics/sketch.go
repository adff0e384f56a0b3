// Package metrics defines the rollups and the summary: how a day's facts
// become rollup rows, and how rows of many days merge into a window. It
// holds no SQL.
package metrics

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math"
	"math/bits"
	"slices"
)

// Sketch counts distinct visitors so that days merge into windows: exact
// (a sorted set of 64-bit hashes) up to exactMax, then a HyperLogLog with
// 2^hllP registers, whose standard error is 1.04/sqrt(2048) ≈ 2.3%. Small
// registers keep a year's window (730 sketches with its comparison) quick
// to read and merge.
type Sketch struct {
	exact []uint64 // sorted, unique; nil once hll is in use
	hll   []uint8
}

const (
	exactMax = 512
	hllP     = 11
	hllM     = 1 << hllP
)

// hash64 is stable across processes and releases (sketches are stored).
func hash64(id string) uint64 {
	s := sha256.Sum256([]byte(id))
	return binary.BigEndian.Uint64(s[:8])
}

// Add counts one visitor id.
func (s *Sketch) Add(id string) { s.addHash(hash64(id)) }

func (s *Sketch) addHash(h uint64) {
	if s.hll != nil {
		idx := h >> (64 - hllP)
		rank := uint8(bits.LeadingZeros64(h<<hllP|1<<(hllP-1)) + 1)
		if rank > s.hll[idx] {
			s.hll[idx] = rank
		}
		return
	}
	i, found := slices.BinarySearch(s.exact, h)
	if found {
		return
	}
	s.exact = slices.Insert(s.exact, i, h)
	if len(s.exact) > exactMax {
		s.toHLL()
	}
}

func (s *Sketch) toHLL() {
	hs := s.exact
	s.exact, s.hll = nil, make([]uint8, hllM)
	for _, h := range hs {
		s.addHash(h)
	}
}

// Merge adds every visitor of o.
func (s *Sketch) Merge(o *Sketch) {
	if o.hll != nil {
		if s.hll == nil {
			s.toHLL()
		}
		for i, r := range o.hll {
			if r > s.hll[i] {
				s.hll[i] = r
			}
		}
		return
	}
	for _, h := range o.exact {
		s.addHash(h)
	}
}

// MergeEncoded merges a sketch straight from its encoding, without
// decoding it first: a year's window merges hundreds of them.
func (s *Sketch) MergeEncoded(b []byte) error {
	switch {
	case len(b) == 0:
	case b[0] == 'H' && len(b) == 1+hllM:
		if s.hll == nil {
			s.toHLL()
		}
		for i, r := range b[1:] {
			if r > s.hll[i] {
				s.hll[i] = r
			}
		}
	case b[0] == 'E' && (len(b)-1)%8 == 0:
		for i := 1; i < len(b); i += 8 {
			s.addHash(binary.BigEndian.Uint64(b[i:]))
		}
	default:
		return errors.New("metrics: not a sketch")
	}
	return nil
}

// Count estimates the number of distinct visitors (exact below exactMax).
func (s *Sketch) Count() int64 {
	if s.hll == nil {
		return int64(len(s.exact))
	}
	sum, zeros := 0.0, 0
	for _, r := range s.hll {
		sum += math.Ldexp(1, -int(r))
		if r == 0 {
			zeros++
		}
	}
	m := float64(hllM)
	e := 0.7213 / (1 + 1.079/m) * m * m / sum
	if e <= 2.5*m && zeros > 0 {
		e = m * math.Log(m/float64(zeros)) // linear counting for small sets
	}
	return int64(math.Round(e))
}

// Encode serialises the sketch: 'E' and 8-byte hashes, or 'H' and registers.
func (s *Sketch) Encode() []byte {
	if s.hll != nil {
		return append([]byte{'H'}, s.hll...)
	}
	b := make([]byte, 1+8*len(s.exact))
	b[0] = 'E'
	for i, h := range s.exact {
		binary.BigEndian.PutUint64(b[1+8*i:], h)
	}
	return b
}

// DecodeSketch reads what Encode wrote; empty input is an empty sketch.
func DecodeSketch(b []byte) (*Sketch, error) {
	s := &Sketch{}
	switch {
	case len(b) == 0:
	case b[0] == 'H' && len(b) == 1+hllM:
		s.hll = append([]uint8(nil), b[1:]...)
	case b[0] == 'E' && (len(b)-1)%8 == 0:
		for i := 1; i < len(b); i += 8 {
			s.exact = append(s.exact, binary.BigEndian.Uint64(b[i:]))
		}
	default:
		return nil, errors.New("metrics: not a sketch")
	}
	return s, nil
}
