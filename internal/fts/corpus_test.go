package fts

import (
	"sort"
	"testing"

	"github.com/petrelmail/petrel/internal/corpus"
)

// loadCorpus returns the messages of the SpamAssassin public corpus
// (internal/corpus: CRLF line ends, no mbox "From " line) sorted by name;
// it skips b when the corpus is not cached (`go run ./bench --smoke`
// fetches it once).
func loadCorpus(b testing.TB) [][]byte {
	b.Helper()
	tgz := corpus.DefaultCacheDir() + "/" + corpus.Tarball
	msgs, _, err := corpus.Load(tgz)
	if err != nil {
		b.Skipf("corpus not cached (run `go run ./bench --smoke` once): %v", err)
	}
	sort.Slice(msgs, func(i, j int) bool { return msgs[i].Name < msgs[j].Name })
	out := make([][]byte, len(msgs))
	for i, m := range msgs {
		out[i] = m.Data
	}
	return out
}
