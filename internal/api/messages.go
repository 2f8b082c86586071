package api

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/petrelmail/petrel/internal/delivery"
	"github.com/petrelmail/petrel/internal/fts"
	"github.com/petrelmail/petrel/internal/message"
	"github.com/petrelmail/petrel/internal/store"
)

// Paging of message lists.
const (
	defaultPage = 100
	maxPage     = 1000
)

// messageJSON renders a message record with what its stored metadata
// says (no body is read).
func messageJSON(folder string, m *store.MessageMeta) Message {
	kw := m.Keywords
	if kw == nil {
		kw = []string{}
	}
	out := Message{Folder: folder, UID: m.UID, ModSeq: m.ModSeq, Size: m.Size, Flags: flagList(m.Flags),
		Keywords: append([]string(nil), kw...), Received: m.InternalDate, From: []Address{}}
	meta, err := message.UnmarshalAlias(m.Meta)
	if err != nil || meta == nil {
		return out
	}
	env := &meta.Envelope
	out.Subject = fts.DecodeHeader(env.Subject)
	out.From = addressesJSON(env.From)
	out.To = addressesJSON(env.To)
	out.Cc = addressesJSON(env.Cc)
	out.MessageID = string(env.MessageID)
	out.InReplyTo = string(env.InReplyTo)
	out.Preview = meta.Preview
	if t, err := mail.ParseDate(string(env.Date)); err == nil {
		t = t.UTC()
		out.Date = &t
	}
	return out
}

func addressesJSON(list []message.Address) []Address {
	out := []Address{}
	for _, a := range list {
		if a.Host == nil {
			continue // group marker
		}
		addr := string(a.Mailbox)
		if len(a.Host) > 0 {
			addr += "@" + string(a.Host)
		}
		out = append(out, Address{Name: fts.DecodeHeader(a.Name), Address: addr})
	}
	return out
}

// queryInt reads an integer query parameter within [lo, hi].
func queryInt(rq *request, name string, def, lo, hi int64) (int64, error) {
	s := rq.r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, badRequest("%s=%q: a number from %d to %d", name, s, lo, hi)
	}
	return n, nil
}

// onlyParams refuses query parameters other than names.
func onlyParams(rq *request, names ...string) error {
	for k := range rq.r.URL.Query() {
		found := false
		for _, n := range names {
			found = found || k == n
		}
		if !found {
			return badRequest("unknown query parameter %q", k)
		}
	}
	return nil
}

// listMessages: GET .../folders/{folder}/messages?after=UID&limit=N, by
// UID.
func (a *API) listMessages(rq *request) error {
	_, mb, f, err := a.folder(rq, readMail)
	if err != nil {
		return err
	}
	if err := onlyParams(rq, "after", "limit"); err != nil {
		return err
	}
	after, err := queryInt(rq, "after", 0, 0, math.MaxUint32-1)
	if err != nil {
		return err
	}
	limit, err := queryInt(rq, "limit", defaultPage, 1, maxPage)
	if err != nil {
		return err
	}
	out := MessageList{Messages: []Message{}}
	for m, err := range mb.Fetch(rq.r.Context(), f.ID, uint32(after)+1, math.MaxUint32, store.FetchMeta) {
		if err != nil {
			return err
		}
		if int64(len(out.Messages)) == limit {
			out.Next = out.Messages[len(out.Messages)-1].UID
			break
		}
		out.Messages = append(out.Messages, messageJSON(f.Name, m))
	}
	return rq.json(http.StatusOK, out)
}

// oneMessage finds message {uid} of folder {folder}.
func (a *API) oneMessage(rq *request, need access, cols store.FetchCols) (*store.Mailbox, store.Folder, Message, store.Message, error) {
	_, mb, f, err := a.folder(rq, need)
	if err != nil {
		return nil, f, Message{}, store.Message{}, err
	}
	uid, err := strconv.ParseUint(rq.r.PathValue("uid"), 10, 32)
	if err != nil || uid == 0 {
		return nil, f, Message{}, store.Message{}, badRequest("UID %q is not a number from 1 to 4294967295", rq.r.PathValue("uid"))
	}
	for m, err := range mb.Fetch(rq.r.Context(), f.ID, uint32(uid), uint32(uid), cols) {
		if err != nil {
			return nil, f, Message{}, store.Message{}, err
		}
		return mb, f, messageJSON(f.Name, m), m.Message, nil
	}
	return nil, f, Message{}, store.Message{}, errorf(http.StatusNotFound, CodeNotFound, "message %d of folder %q: not found", uid, f.Name)
}

// getMessage: GET .../messages/{uid}.
func (a *API) getMessage(rq *request) error {
	_, _, m, _, err := a.oneMessage(rq, readMail, store.FetchMeta)
	if err != nil {
		return err
	}
	return rq.json(http.StatusOK, m)
}

// rawMessage: GET .../messages/{uid}/raw, the message as stored
// (message/rfc822, an .eml file).
func (a *API) rawMessage(rq *request) error {
	_, _, m, rec, err := a.oneMessage(rq, readMail, store.FetchHash)
	if err != nil {
		return err
	}
	f, err := a.st.Blobs().Open(rec.Body)
	if err != nil {
		return err
	}
	defer f.Close()
	h := rq.w.Header()
	h.Set("Content-Type", "message/rfc822")
	h.Set("Content-Length", strconv.FormatInt(rec.Size, 10))
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": fmt.Sprintf("%d.eml", m.UID)}))
	h.Set("X-Content-Type-Options", "nosniff")
	rq.w.WriteHeader(http.StatusOK)
	io.CopyN(rq.w, f, rec.Size)
	return nil
}

// validKeyword checks a keyword: an IMAP atom (RFC 9051 section 9,
// flag-keyword), which also keeps it free of the spaces the store
// separates keywords with.
func validKeyword(k string) bool {
	if k == "" || len(k) > 100 || k[0] == '\\' {
		return false
	}
	for _, r := range k {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune(`(){%*"\]`, r) {
			return false
		}
	}
	return true
}

// patchMessage: PATCH .../messages/{uid}: set or clear flags and
// keywords, atomically (the change applies to the state it was computed
// from, or is computed again).
func (a *API) patchMessage(rq *request) error {
	mb, f, _, rec, err := a.oneMessage(rq, writeMail, 0)
	if err != nil {
		return err
	}
	var in MessagePatch
	if err := rq.decode(&in); err != nil {
		return err
	}
	var set, clear store.Flags
	for name, on := range in.Flags {
		bit, ok := flagNames[name]
		if !ok {
			return badRequest("flag %q (seen, answered, flagged, deleted or draft; other names are keywords)", name)
		}
		if on {
			set |= bit
		} else {
			clear |= bit
		}
	}
	for k := range in.Keywords {
		if !validKeyword(k) {
			return badRequest("keyword %q: 1 to 100 printable ASCII characters, none of ( ) { %% * \" \\ ] or space", k)
		}
	}
	ctx := rq.r.Context()
	for range 5 {
		kw := map[string]bool{}
		for _, k := range rec.Keywords {
			kw[k] = true
		}
		for k, on := range in.Keywords {
			kw[k] = on
		}
		var keywords []string
		for k, on := range kw {
			if on {
				keywords = append(keywords, k)
			}
		}
		flags := rec.Flags&^clear | set
		_, modified, _, err := mb.SetFlagsIf(ctx, f.ID, []uint32{rec.UID}, store.FlagsReplace, flags, keywords, rec.ModSeq)
		if err != nil {
			return err
		}
		_, _, m, now, err := a.oneMessage(rq, writeMail, store.FetchMeta)
		if err != nil {
			return err
		}
		if len(modified) == 0 {
			return rq.json(http.StatusOK, m)
		}
		rec = now // changed meanwhile: again, from its new state
	}
	return &Error{Status: http.StatusConflict, Code: CodeConflict, Message: "the message keeps changing; try again", RetryAfter: 1}
}

// deleteMessage: DELETE .../messages/{uid}: expunge it.
func (a *API) deleteMessage(rq *request) error {
	mb, f, m, _, err := a.oneMessage(rq, writeMail, 0)
	if err != nil {
		return err
	}
	gone, err := mb.Expunge(rq.r.Context(), f.ID, []uint32{m.UID}, false)
	if err != nil {
		return err
	}
	if len(gone) == 0 {
		return errorf(http.StatusNotFound, CodeNotFound, "message %d of folder %q: not found", m.UID, f.Name)
	}
	return rq.noContent()
}

// moveMessage: POST .../messages/{uid}/move to another folder of the same
// mailbox (RFC 6851 semantics: a new UID there).
func (a *API) moveMessage(rq *request) error {
	mb, f, m, _, err := a.oneMessage(rq, writeMail, 0)
	if err != nil {
		return err
	}
	var in Move
	if err := rq.decode(&in); err != nil {
		return err
	}
	ctx := rq.r.Context()
	to, err := mb.Folder(ctx, in.Folder)
	if err != nil {
		return err
	}
	if to.ID == f.ID {
		return badRequest("the message is in %q already", f.Name)
	}
	moved, err := mb.Move(ctx, f.ID, to.ID, []uint32{m.UID})
	if err != nil {
		return err
	}
	if len(moved) == 0 {
		return errorf(http.StatusNotFound, CodeNotFound, "message %d of folder %q: not found", m.UID, f.Name)
	}
	return rq.json(http.StatusOK, Imported{Folder: to.Name, UID: moved[0].To, UIDValidity: to.UIDValidity})
}

// importMessage: POST .../folders/{folder}/messages with a message/rfc822
// body: the message is saved into the folder by delivery.Batch, the path
// of IMAP APPEND, with the same size limit, disk reserve and quota, and
// its body stored once with every other copy. The account, its mailbox
// and the folder are checked before a byte of the body is read: a
// request for anything that does not exist writes nothing anywhere.
// Query: flags (comma-separated: seen, answered, flagged, deleted,
// draft), keywords (comma-separated), received (RFC 3339 internal date).
func (a *API) importMessage(rq *request) error {
	u, _, f, err := a.folder(rq, writeMail)
	if err != nil {
		return err
	}
	if !u.Enabled {
		return delivery.ErrDisabled
	}
	ct := rq.r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "message/rfc822" {
		return errorf(http.StatusUnsupportedMediaType, CodeMediaType, "the body must be message/rfc822 (an .eml file), not %q", ct)
	}
	if err := onlyParams(rq, "flags", "keywords", "received"); err != nil {
		return err
	}
	q := rq.r.URL.Query()
	var flags store.Flags
	var keywords []string
	for _, name := range splitList(q.Get("flags")) {
		bit, ok := flagNames[name]
		if !ok {
			return badRequest("flag %q (seen, answered, flagged, deleted or draft)", name)
		}
		flags |= bit
	}
	for _, k := range splitList(q.Get("keywords")) {
		if !validKeyword(k) {
			return badRequest("keyword %q: 1 to 100 printable ASCII characters, none of ( ) { %% * \" \\ ] or space", k)
		}
		keywords = append(keywords, k)
	}
	var received time.Time
	if s := q.Get("received"); s != "" {
		if received, err = time.Parse(time.RFC3339, s); err != nil {
			return badRequest("received %q is not an RFC 3339 time", s)
		}
	}
	limit := a.pipeline.Config().MaxMessageSize
	if rq.r.ContentLength > limit {
		return errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "message too large: over %d bytes", limit)
	}
	body := bufio.NewReader(rq.r.Body)
	if _, err := body.Peek(1); errors.Is(err, io.EOF) {
		return badRequest("empty message")
	}
	b := a.pipeline.NewBatch(u)
	defer b.Close()
	if err := b.Add(body, f.Name, flags, keywords, received); err != nil {
		return err
	}
	res, err := b.Commit(rq.r.Context())
	if err != nil {
		return err
	}
	return rq.json(http.StatusCreated, Imported{Folder: f.Name, UID: res[0].UID, UIDValidity: res[0].UIDValidity, Size: b.Size()})
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
