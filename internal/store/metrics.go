package store

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	commitBatch = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "petrel_store_commit_batch_operations",
		Help:    "Operations grouped into one shard transaction (group commit).",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
	}, []string{"shard"})
	commitSeconds = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "petrel_store_commit_seconds",
		Help:    "Time to run and durably commit one shard transaction.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
	}, []string{"shard"})
	blobsCollected = promauto.NewCounter(prometheus.CounterOpts{
		Name: "petrel_blob_collected_total",
		Help: "Bodies removed from the blob store because no shard references them.",
	})
)

func metricCommit(shard, ops int, d time.Duration) {
	s := strconv.Itoa(shard)
	commitBatch.WithLabelValues(s).Observe(float64(ops))
	commitSeconds.WithLabelValues(s).Observe(d.Seconds())
}
