package replication

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// The seed's monitoring, as Prometheus series: messages replicated per
// hour is rate(petrel_replication_messages_total[1h]) * 3600, and
// sum(petrel_replication_active) equals the number of shards when every
// shard is replicated.
var (
	metricMessages = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "petrel_replication_messages_total",
		Help: "Messages replicated into the search index (append entries applied), per shard.",
	}, []string{"shard"})
	metricChanges = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "petrel_replication_changes_total",
		Help: "Change log entries applied, per shard and consumer.",
	}, []string{"shard", "consumer"})
	metricActive = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "petrel_replication_active",
		Help: "1 while this process runs the shard's replicator (it holds the shard's lease), else 0.",
	}, []string{"shard"})
	metricLag = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "petrel_replication_lag_seconds",
		Help: "Age of the oldest change log entry the search index has not applied (0 when caught up).",
	}, []string{"shard"})
	metricBacklog = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "petrel_replication_backlog",
		Help: "Change log entries the search index has not applied yet.",
	}, []string{"shard"})
	metricErrors = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "petrel_replication_apply_errors_total",
		Help: "Failed attempts to apply a batch (or read a cursor), per shard and consumer; the batch is retried.",
	}, []string{"shard", "consumer"})
	metricBatchSeconds = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "petrel_replication_batch_seconds",
		Help:    "Time to apply one batch, per consumer.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 15),
	}, []string{"consumer"})
)
