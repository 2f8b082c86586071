package delivery

import (
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	recipientsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "petrel_delivery_recipients_total",
		Help: "Recipients of delivered messages, by SMTP reply code (250 for delivered).",
	}, []string{"code"})
	deliverySeconds = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "petrel_delivery_seconds",
		Help:    "Time from the start of a message's data to its durable storage for every recipient.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
	})
)

func metricDelivered(statuses []error, d time.Duration) {
	for _, s := range statuses {
		code := "250"
		var e *Error
		if errors.As(s, &e) {
			code = strconv.Itoa(e.Code)
		} else if s != nil {
			code = "error"
		}
		recipientsTotal.WithLabelValues(code).Inc()
	}
	deliverySeconds.Observe(d.Seconds())
}
