package monitor_test

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/altcontext/marketing/internal/monitor"
)

func TestDeliverySeries(t *testing.T) {
	m := monitor.New(nil)
	m.Delivery("webhook", "pending", 20*time.Millisecond)
	m.Delivery("webhook", "delivered", 30*time.Millisecond)
	m.Delivery("email", "dead", time.Second)
	now := time.Now()
	m.Outbox(3, 1, now.Add(-90*time.Second), now)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`marketing_deliveries_total{channel="webhook",outcome="retry"} 1`,
		`marketing_deliveries_total{channel="webhook",outcome="delivered"} 1`,
		`marketing_deliveries_total{channel="email",outcome="dead"} 1`,
		`marketing_delivery_attempt_seconds_count{channel="webhook"} 2`,
		`marketing_outbox{measure="pending"} 3`,
		`marketing_outbox{measure="dead"} 1`,
		`marketing_outbox{measure="queue_age_seconds"} 90`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	var none *monitor.Metrics
	none.Delivery("webhook", "delivered", time.Second) // nil-safe
	none.Outbox(1, 1, now, now)
}
