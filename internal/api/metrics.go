package api

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var metricRequests = promauto.NewHistogramVec(prometheus.HistogramOpts{
	Name:    "petrel_api_request_seconds",
	Help:    "HTTP API requests by route (the pattern, or \"unmatched\") and status code, with their duration.",
	Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10, 60},
}, []string{"route", "status"})

func metricRequest(route string, status int, d time.Duration) {
	if status == 0 {
		status = 200
	}
	metricRequests.WithLabelValues(route, strconv.Itoa(status)).Observe(d.Seconds())
}
