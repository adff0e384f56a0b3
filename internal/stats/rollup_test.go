package stats

import (
	"fmt"
	"testing"
)

// TestKeepTop: past RollupTopValues a day keeps the values with the most
// visitors and one (other) row, and the rows still add up to the day.
func TestKeepTop(t *testing.T) {
	m := map[dayValue]*tally{}
	var pageviews int64
	for i := range 5 {
		tl := &tally{days: 1}
		for v := range i + 1 { // value /i has i+1 visitors, each with 2 page views
			tl.c.Visitors++
			tl.c.Pageviews += 2
			tl.vis.Add(fmt.Sprintf("visitor-%d", v))
		}
		pageviews += tl.c.Pageviews
		m[dayValue{day: 7, value: fmt.Sprintf("/%d", i)}] = tl
	}
	keepTop(m, 2)
	if len(m) != 3 || m[dayValue{7, "/4"}] == nil || m[dayValue{7, "/3"}] == nil {
		t.Fatalf("kept %v", m)
	}
	other := m[dayValue{7, RollupOther}]
	// /0, /1, /2: 2+4+6 page views; visitors 0..2 overlap: 3 distinct.
	if other == nil || other.c.Pageviews != 12 || other.c.Visitors != 3 {
		t.Fatalf("other %+v", other)
	}
	var sum int64
	for _, tl := range m {
		sum += tl.c.Pageviews
	}
	if sum != pageviews {
		t.Fatalf("rows add up to %d page views, the day had %d", sum, pageviews)
	}
	keepTop(m, 5) // within the limit: unchanged
	if len(m) != 3 {
		t.Fatalf("a day within the limit changed: %v", m)
	}
}
