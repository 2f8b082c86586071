package imap

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	metricConnections = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "petrel_imap_connections",
		Help: "IMAP connections open now.",
	})
	metricCommands = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "petrel_imap_command_seconds",
		Help:    "IMAP commands by name and result (ok, no, bad, bye), with their duration.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
	}, []string{"command", "result"})
	metricRenderHits = promauto.NewCounter(prometheus.CounterOpts{
		Name: "petrel_imap_render_cache_hits_total",
		Help: "ENVELOPE/BODYSTRUCTURE lookups answered from the render cache.",
	})
	metricRenderMisses = promauto.NewCounter(prometheus.CounterOpts{
		Name: "petrel_imap_render_cache_misses_total",
		Help: "ENVELOPE/BODYSTRUCTURE lookups that decoded the stored metadata.",
	})
	metricRenderBytes = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "petrel_imap_render_cache_bytes",
		Help: "Memory held by the render cache (bounded at 64 MiB).",
	})
	metricIndexSearches = promauto.NewCounter(prometheus.CounterOpts{
		Name: "petrel_imap_index_searches_total",
		Help: "SEARCH, SORT and THREAD commands whose text keys the full-text index narrowed.",
	})
	metricPanics = promauto.NewCounter(prometheus.CounterOpts{
		Name: "petrel_imap_session_panics_total",
		Help: "IMAP sessions ended by an internal error (a bug: see the log).",
	})
	metricLogins = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "petrel_imap_logins_total",
		Help: "IMAP authentications by result (ok, failed, disabled, throttled: refused unchecked by the failed-login throttle).",
	}, []string{"result"})
)

// knownCommands bounds the label values: anything else counts as OTHER.
var commandLabels = sync.OnceValue(func() map[string]bool {
	m := map[string]bool{"BAD": true}
	for name := range commands {
		m[name] = true
	}
	return m
})

func metricCommand(name, result string, d time.Duration) {
	if !commandLabels()[name] {
		name = "OTHER"
	}
	metricCommands.WithLabelValues(name, result).Observe(d.Seconds())
}

func metricLogin(result string) { metricLogins.WithLabelValues(result).Inc() }
