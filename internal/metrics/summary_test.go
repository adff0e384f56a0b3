package metrics

import (
	"testing"

	"github.com/altcontext/marketing"
)

// TestSummarizeDaysWithoutSketches: days past the raw window keep counts
// only; their unique visitors add up day by day, beside the distinct
// visitors of the days that keep sketches.
func TestSummarizeDaysWithoutSketches(t *testing.T) {
	var a, b Sketch
	a.Add("v1")
	a.Add("v2")
	b.Add("v2")
	b.Add("v3")
	rows := []marketing.DayRollup{
		{Day: "2026-01-01", UniqueVisitors: 4, ReturningVisitors: 1}, // sketches gone
		{Day: "2026-01-02", UniqueVisitors: 3, ReturningVisitors: 2}, // sketches gone
		{Day: "2026-03-01", UniqueVisitors: 2, ReturningVisitors: 2, VisitorSketch: a.Encode(), ReturningSketch: a.Encode()},
		{Day: "2026-03-02", UniqueVisitors: 2, ReturningVisitors: 1, VisitorSketch: b.Encode(), ReturningSketch: (&Sketch{}).Encode()},
	}
	s, err := Summarize(Window{From: "2026-01-01", To: "2026-03-02"}, rows, nil, nil, Freshness{})
	if err != nil {
		t.Fatal(err)
	}
	// 4 + 3 added up, then v1, v2, v3 distinct; returning 1 + 2 added up,
	// then v1, v2.
	if got := s.Metrics.UniqueVisitors.Value; got != 10 {
		t.Errorf("unique visitors %v, want 10", got)
	}
	if got := s.Metrics.ReturningVisitorsPct.Value; got != 0.5 {
		t.Errorf("returning share %v, want 5/10", got)
	}
	if len(s.Warnings) != 1 {
		t.Errorf("warnings %q, want the one that says days were added up", s.Warnings)
	}
	// Compared with a window that keeps its sketches, no change is claimed
	// for visitors; other figures keep theirs. Both alike: no warning.
	w := Window{From: "2026-03-01", To: "2026-03-02"}
	s, err = Summarize(Window{From: "2026-01-01", To: "2026-01-02"}, rows[:2], &w, rows[2:], Freshness{})
	if err != nil || s.Metrics.UniqueVisitors.Delta != nil || s.Metrics.ReturningVisitorsPct.Delta != nil || len(s.Warnings) != 1 {
		t.Errorf("unlike windows: %+v %v", s.Metrics, err)
	}
	if s, _ = Summarize(w, rows[2:], &w, rows[2:], Freshness{}); len(s.Warnings) != 0 || s.Metrics.UniqueVisitors.Delta == nil {
		t.Errorf("windows with sketches: warnings %q, delta %v", s.Warnings, s.Metrics.UniqueVisitors.Delta)
	}
}
