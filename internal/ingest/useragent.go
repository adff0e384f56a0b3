package ingest

import (
	"strings"
	"sync"

	"github.com/medama-io/go-useragent"
	"github.com/medama-io/go-useragent/agents"
)

// Agent is what the service keeps of a user agent: never the string itself.
type Agent struct {
	Bot     bool
	Device  string // desktop, mobile, tablet, unknown (bot when Bot)
	Browser string
	OS      string
}

// botWords catch automation the parser's list does not name.
var botWords = []string{"bot", "crawl", "spider", "slurp", "headless", "phantomjs", "puppeteer", "playwright", "selenium", "lighthouse", "python-requests", "scrapy", "httpclient"}

// Agents parses user agents through medama-io/go-useragent and caches the
// answers: the same few strings arrive thousands of times. The cache is
// bounded; when full it starts over.
type Agents struct {
	parser *useragent.Parser
	mu     sync.RWMutex
	cache  map[string]Agent
	max    int
}

// NewAgents builds a parser with a cache of at most max entries.
func NewAgents(max int) *Agents {
	return &Agents{parser: useragent.NewParser(), cache: make(map[string]Agent, max), max: max}
}

// Parse classifies ua.
func (a *Agents) Parse(ua string) Agent {
	a.mu.RLock()
	r, ok := a.cache[ua]
	a.mu.RUnlock()
	if ok {
		return r
	}
	r = a.parse(ua)
	a.mu.Lock()
	if len(a.cache) >= a.max {
		clear(a.cache)
	}
	a.cache[ua] = r
	a.mu.Unlock()
	return r
}

func (a *Agents) parse(ua string) Agent {
	if strings.TrimSpace(ua) == "" {
		return Agent{Device: "unknown"}
	}
	p := a.parser.Parse(ua)
	r := Agent{Browser: string(p.Browser()), OS: string(p.OS())}
	lower := strings.ToLower(ua)
	r.Bot = p.IsBot()
	for _, w := range botWords {
		if strings.Contains(lower, w) {
			r.Bot = true
		}
	}
	switch {
	case r.Bot:
		r.Device = "bot"
	case p.Device() == agents.DeviceTablet:
		r.Device = "tablet"
	case p.Device() == agents.DeviceMobile:
		r.Device = "mobile"
	case p.Device() == agents.DeviceDesktop:
		r.Device = "desktop"
	default:
		r.Device = "unknown"
	}
	return r
}
