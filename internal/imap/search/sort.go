package search

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/petrelmail/petrel/internal/fts"
	"github.com/petrelmail/petrel/internal/imap/wire"
	"github.com/petrelmail/petrel/internal/message"
)

// sortKey is the value of one sort criterion for one message.
type sortKey struct {
	t   time.Time
	n   int64
	str string
}

type sortItem struct {
	m    *Message
	keys []sortKey
}

// Sort returns msgs ordered by the SORT criteria of RFC 5256 section 3
// and RFC 5957 section 3, most significant first; msgs is not modified.
// Messages equal under all criteria are ordered by sequence number, which
// REVERSE does not affect. Each key is computed once per message:
//
//   - ARRIVAL: the internal date and time.
//   - DATE: the sent date (RFC 5256 section 2.2), the Date header or else
//     the internal date, compared in UTC.
//   - FROM, TO, CC: the addr-mailbox of the first address of the field,
//     case-folded; "" when there is none.
//   - SUBJECT: the base subject (RFC 5256 section 2.1), case-folded.
//   - SIZE: the size in octets.
//   - DISPLAYFROM, DISPLAYTO: the decoded display name of the first
//     address, or its "mailbox@host" when it has none, case-folded.
//
// Strings compare octet by octet after case folding (see the package
// documentation). Only Loader.Meta is called, and only when a criterion
// other than ARRIVAL and SIZE is present.
func Sort(msgs []*Message, criteria []wire.SortCriterion, l Loader) ([]*Message, error) {
	for _, c := range criteria {
		switch c.Key {
		case "ARRIVAL", "DATE", "FROM", "TO", "CC", "SUBJECT", "SIZE", "DISPLAYFROM", "DISPLAYTO":
		default:
			return nil, fmt.Errorf("unknown sort key %s", c.Key)
		}
	}
	needMeta := SortNeeds(criteria) >= NeedMeta
	items := make([]sortItem, len(msgs))
	keys := make([]sortKey, len(msgs)*len(criteria))
	for i, m := range msgs {
		var meta *message.Meta
		if needMeta {
			var err error
			if meta, err = l.Meta(m); err != nil {
				return nil, err
			}
			if meta == nil {
				meta = &message.Meta{}
			}
		}
		it := sortItem{m: m, keys: keys[i*len(criteria) : (i+1)*len(criteria)]}
		for j, c := range criteria {
			it.keys[j] = sortKeyOf(m, meta, c.Key)
		}
		items[i] = it
	}
	slices.SortStableFunc(items, func(a, b sortItem) int {
		for j, c := range criteria {
			x, y := &a.keys[j], &b.keys[j]
			r := x.t.Compare(y.t)
			if r == 0 {
				r = cmp.Compare(x.n, y.n)
			}
			if r == 0 {
				r = strings.Compare(x.str, y.str)
			}
			if r != 0 {
				if c.Reverse {
					return -r
				}
				return r
			}
		}
		return cmp.Compare(a.m.Seq, b.m.Seq)
	})
	out := make([]*Message, len(items))
	for i := range items {
		out[i] = items[i].m
	}
	return out, nil
}

func sortKeyOf(m *Message, meta *message.Meta, key string) sortKey {
	switch key {
	case "ARRIVAL":
		return sortKey{t: m.InternalDate}
	case "SIZE":
		return sortKey{n: m.Size}
	case "DATE":
		return sortKey{t: sentDate(m, meta.Envelope.Date).UTC()}
	case "SUBJECT":
		base, _ := baseSubject(fts.DecodeHeader(meta.Envelope.Subject))
		return sortKey{str: fts.Fold(base)}
	case "FROM":
		return sortKey{str: firstMailbox(meta.Envelope.From)}
	case "TO":
		return sortKey{str: firstMailbox(meta.Envelope.To)}
	case "CC":
		return sortKey{str: firstMailbox(meta.Envelope.Cc)}
	case "DISPLAYFROM":
		return sortKey{str: displayName(meta.Envelope.From)}
	case "DISPLAYTO":
		return sortKey{str: displayName(meta.Envelope.To)}
	}
	return sortKey{}
}

// firstAddress returns the first mailbox of a list, skipping group
// markers; nil if there is none.
func firstAddress(list []message.Address) *message.Address {
	for i := range list {
		if list[i].Host != nil {
			return &list[i]
		}
	}
	return nil
}

// firstMailbox is the key of FROM, TO and CC (RFC 5256 section 3): the
// addr-mailbox (local part) of the first address, case-folded.
func firstMailbox(list []message.Address) string {
	a := firstAddress(list)
	if a == nil {
		return ""
	}
	return fts.Fold(fts.DecodeHeader(a.Mailbox))
}

// displayName is the key of DISPLAYFROM and DISPLAYTO (RFC 5957 section
// 3): the decoded display name of the first address, or, when it is
// missing or empty, its addr-spec; case-folded.
func displayName(list []message.Address) string {
	a := firstAddress(list)
	if a == nil {
		return ""
	}
	if name := strings.TrimSpace(fts.DecodeHeader(a.Name)); name != "" {
		return fts.Fold(name)
	}
	spec := fts.DecodeHeader(a.Mailbox)
	if len(a.Host) > 0 {
		spec += "@" + fts.DecodeHeader(a.Host)
	}
	return fts.Fold(spec)
}
