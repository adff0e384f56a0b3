package httpapi_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkEventsHTTP drives POST /v1/events over real HTTP into a real
// PostgreSQL, 64 requests at a time, for profiling the whole path.
func BenchmarkEventsHTTP(b *testing.B) {
	t := &testing.T{}
	e := newEnv(t, "postgres", "RATE_LIMIT_EVENTS_PER_MINUTE=0")
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}}
	var n atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			body := fmt.Sprintf(`{"eventId":"%08x-0000-4000-8000-%012x","anonId":"visitor-%05d","eventType":"page_view","path":"/page-%d","timestamp":"%s","referrer":"https://www.google.com/"}`,
				i, rand.Int64N(1<<40), rand.IntN(10000), rand.IntN(50), time.Now().Add(-time.Duration(rand.IntN(3600))*time.Second).UTC().Format(time.RFC3339))
			req, _ := http.NewRequest("POST", e.URL+"/v1/events", strings.NewReader(body))
			req.Header.Set("Content-Type", "text/plain")
			req.Header.Set("User-Agent", browserUA)
			res, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			res.Body.Close()
			if res.StatusCode != 202 {
				b.Errorf("status %d", res.StatusCode)
				return
			}
		}
	})
}
