package metrics

import (
	"encoding/binary"
	"errors"
	"math"
)

// Histogram counts TTFB measurements in fixed buckets, so days merge into
// windows and percentiles are real percentiles (not means of daily ones):
// 10 ms wide below 1 s, 100 ms below 10 s, 1 s up to the 120 s cap. A
// percentile is reported as its bucket's upper bound: at most one bucket
// width above the true value.
type Histogram struct {
	counts [buckets]int64
	n      int64
}

const buckets = 301

func bucket(ms int64) int {
	switch {
	case ms < 0:
		return 0
	case ms < 1000:
		return int(ms / 10)
	case ms < 10_000:
		return 100 + int((ms-1000)/100)
	case ms < 120_000:
		return 190 + int((ms-10_000)/1000)
	}
	return 300
}

func upper(b int) int64 {
	switch {
	case b < 100:
		return int64(b+1) * 10
	case b < 190:
		return 1000 + int64(b-99)*100
	}
	return 10_000 + int64(b-189)*1000
}

// Add counts one measurement.
func (h *Histogram) Add(ms int64) {
	h.counts[bucket(ms)]++
	h.n++
}

// Merge adds o's counts.
func (h *Histogram) Merge(o *Histogram) {
	for b, c := range o.counts {
		h.counts[b] += c
	}
	h.n += o.n
}

// Count is the number of measurements.
func (h *Histogram) Count() int64 { return h.n }

// Quantile returns the q-quantile (0 < q ≤ 1), or nil without data.
func (h *Histogram) Quantile(q float64) *int64 {
	if h.n == 0 {
		return nil
	}
	rank := int64(math.Ceil(q * float64(h.n)))
	var seen int64
	for b := 0; b <= 300; b++ {
		seen += h.counts[b]
		if seen >= rank {
			v := upper(b)
			return &v
		}
	}
	return nil
}

// Encode writes (bucket, count) pairs as uvarints.
func (h *Histogram) Encode() []byte {
	var out []byte
	for b := 0; b <= 300; b++ {
		if c := h.counts[b]; c > 0 {
			out = binary.AppendUvarint(out, uint64(b))
			out = binary.AppendUvarint(out, uint64(c))
		}
	}
	return out
}

// DecodeHistogram reads what Encode wrote.
func DecodeHistogram(b []byte) (*Histogram, error) {
	h := &Histogram{}
	return h, h.MergeEncoded(b)
}

// MergeEncoded adds the counts of an encoded histogram.
func (h *Histogram) MergeEncoded(b []byte) error {
	for len(b) > 0 {
		bk, n := binary.Uvarint(b)
		if n <= 0 || bk >= buckets {
			return errors.New("metrics: not a histogram")
		}
		b = b[n:]
		c, n := binary.Uvarint(b)
		if n <= 0 {
			return errors.New("metrics: not a histogram")
		}
		b = b[n:]
		h.counts[bk] += int64(c)
		h.n += int64(c)
	}
	return nil
}
