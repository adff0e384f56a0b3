package dashboard

import (
	"testing"

	"github.com/altcontext/marketing/internal/stats"
)

// TestOtherRowIsNoFilter: the rollups' (other) row is labelled and offers
// no filter link (a filter on it would match nothing).
func TestOtherRowIsNoFilter(t *testing.T) {
	def, _ := panelByID("pages")
	r := &stats.Result{Results: []stats.Row{
		{Dimensions: []string{"/pricing"}, Metrics: []any{5, 5}},
		{Dimensions: []string{stats.RollupOther}, Metrics: []any{3, 3}},
	}}
	var p Panel
	fillPanel(&p, def, r, ParseState(nil), "/sites/s")
	if p.Rows[0].FilterHref == "" || p.Rows[1].FilterHref != "" || p.Rows[1].Label != "Other values (rolled up)" {
		t.Fatalf("rows %+v", p.Rows)
	}
}
