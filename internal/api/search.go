package api

import (
	"bytes"
	"io"
	"math"
	"net/http"
	"unicode/utf8"

	"github.com/petrelmail/petrel/internal/blob"
	"github.com/petrelmail/petrel/internal/fts"
	"github.com/petrelmail/petrel/internal/message"
	"github.com/petrelmail/petrel/internal/replication"
	"github.com/petrelmail/petrel/internal/store"
)

// maxQuery bounds the search text, in bytes.
const maxQuery = 1000

// hit is a message that may match, waiting to be checked.
type hit struct {
	msg     Message
	bodyID  int64
	hash    blob.Hash
	meta    []byte // a copy, for extraction; nil when the index checks it
	indexed bool   // its body's text is in the index
}

// search: GET /users/{address}/search?q=TEXT[&folder=NAME][&limit=N]:
// the messages whose header or text contains q, case-insensitively, as
// IMAP SEARCH TEXT matches (the same fts.Doc definition). The full-text
// index narrows the messages to check when it can; messages the index may
// not hold yet are checked directly, so a result never misses a message
// that is in the store.
func (a *API) search(rq *request) error {
	u, mb, err := a.mailbox(rq, readMail)
	if err != nil {
		return err
	}
	if err := onlyParams(rq, "q", "folder", "limit"); err != nil {
		return err
	}
	q := rq.r.URL.Query()
	text := q.Get("q")
	if text == "" || len(text) > maxQuery || !utf8.ValidString(text) {
		return badRequest("q: the text to look for, 1 to %d bytes of UTF-8", maxQuery)
	}
	limit, err := queryInt(rq, "limit", defaultPage, 1, maxPage)
	if err != nil {
		return err
	}
	ctx := rq.r.Context()
	var folders []store.Folder
	if name := q.Get("folder"); name != "" {
		f, err := mb.Folder(ctx, name)
		if err != nil {
			return err
		}
		folders = []store.Folder{f}
	} else if folders, err = mb.Folders(ctx); err != nil {
		return err
	}
	needle := fts.Fold(text)

	out := SearchResult{Messages: []Message{}}
	var cand *replication.Candidates
	if a.repl != nil {
		c, ok, err := a.repl.Candidates(ctx, u.Shard, fts.Cond{Op: fts.Term, Col: fts.ColAny, Needle: needle})
		switch {
		case err != nil:
			a.log.Warn("search index", "err", err)
		case ok:
			cand, out.Indexed = &c, true
		}
	}

	var hits []hit
	for _, f := range folders {
		for m, err := range mb.Fetch(ctx, f.ID, 1, math.MaxUint32, store.FetchMeta) {
			if err != nil {
				return err
			}
			if cand != nil && !cand.Maybe(m.BodyID, m.ModSeq) {
				continue
			}
			h := hit{msg: messageJSON(f.Name, m), bodyID: m.BodyID, hash: m.Body,
				indexed: cand != nil && m.ModSeq < cand.Watermark}
			if !h.indexed {
				h.meta = bytes.Clone(m.Meta)
			}
			hits = append(hits, h)
		}
	}

	// Check the candidates: those the index holds against their stored
	// text, the others against their message.
	matched := map[int64]bool{}
	want := map[int64][32]byte{}
	for _, h := range hits {
		if h.indexed {
			want[h.bodyID] = h.hash
		}
	}
	checked := map[int64]bool{}
	if len(want) > 0 {
		err := a.repl.Docs(ctx, u.Shard, want, func(id int64, d fts.Doc) bool {
			checked[id] = true
			matched[id] = d.MatchText(needle)
			return true
		})
		if err != nil {
			return err
		}
	}
	for _, h := range hits {
		if checked[h.bodyID] {
			continue
		}
		ok, err := a.matchMessage(h, needle)
		if err != nil {
			return err
		}
		checked[h.bodyID], matched[h.bodyID] = true, ok
	}
	for _, h := range hits {
		if !matched[h.bodyID] {
			continue
		}
		if int64(len(out.Messages)) == limit {
			out.Truncated = true
			break
		}
		out.Messages = append(out.Messages, h.msg)
	}
	return rq.json(http.StatusOK, out)
}

// matchMessage checks a message's text against the needle by reading it.
func (a *API) matchMessage(h hit, needle string) (bool, error) {
	f, err := a.st.Blobs().Open(h.hash)
	if err != nil {
		return false, err
	}
	defer f.Close()
	raw, err := io.ReadAll(f)
	if err != nil {
		return false, err
	}
	var meta *message.Meta
	if h.meta != nil {
		meta, _ = message.Unmarshal(h.meta)
	}
	doc := fts.Extract(raw, meta)
	return doc.MatchText(needle), nil
}
