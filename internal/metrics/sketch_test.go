package metrics

import (
	"fmt"
	"math"
	"testing"
)

func TestSketchExactThenApproximate(t *testing.T) {
	var a, b Sketch
	for i := range 300 {
		a.Add(fmt.Sprint("v", i))
		b.Add(fmt.Sprint("v", i+100)) // 200 shared
	}
	if a.Count() != 300 {
		t.Fatalf("exact count %d", a.Count())
	}
	a.Merge(&b)
	if a.Count() != 400 {
		t.Fatalf("merged exact count %d, want 400", a.Count())
	}
	var big Sketch
	for i := range 100_000 {
		big.Add(fmt.Sprint("visitor-", i))
	}
	// Merging the same visitors again changes nothing: distinct, not a sum.
	dup, _ := DecodeSketch(big.Encode())
	big.Merge(dup)
	if got := float64(big.Count()); math.Abs(got-100_000)/100_000 > 0.05 {
		t.Fatalf("HLL estimate %v for 100000 (more than 5%% off)", got)
	}
	round, err := DecodeSketch(a.Encode())
	if err != nil || round.Count() != 400 {
		t.Fatalf("round trip %v %v", round.Count(), err)
	}
}

func TestHistogramQuantile(t *testing.T) {
	var h Histogram
	for i := 1; i <= 100; i++ {
		h.Add(int64(i * 10)) // 10..1000
	}
	if p := *h.Quantile(0.95); p < 950 || p > 960 {
		t.Fatalf("p95 %d, want 950..960", p)
	}
	var o Histogram
	for range 900 {
		o.Add(5)
	}
	h.Merge(&o) // 1000 values, 900 of them 5 ms
	if p := *h.Quantile(0.95); p < 500 || p > 510 {
		t.Fatalf("merged p95 %d, want 500..510", p)
	}
	back, err := DecodeHistogram(h.Encode())
	if err != nil || back.Count() != 1000 || *back.Quantile(0.95) != *h.Quantile(0.95) {
		t.Fatal("histogram round trip")
	}
	var empty Histogram
	if empty.Quantile(0.95) != nil {
		t.Fatal("empty histogram has a p95")
	}
}
