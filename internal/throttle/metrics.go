package throttle

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	metricFailures = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "petrel_auth_failures_total",
		Help: "Failed authentications (wrong password or API key), by protocol (imap, api).",
	}, []string{"protocol"})
	metricThrottled = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "petrel_auth_throttled_total",
		Help: "Authentications refused unchecked because their source address or account had failed too often, by protocol and scope (address, account).",
	}, []string{"protocol", "scope"})
	metricLockouts = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "petrel_auth_lockouts_total",
		Help: "Times a source address or an account went over its failure limit, by scope (address, account).",
	}, []string{"scope"})
)
