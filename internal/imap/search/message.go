package search

import (
	"time"

	"github.com/petrelmail/petrel/internal/fts"
	"github.com/petrelmail/petrel/internal/imap/wire"
	"github.com/petrelmail/petrel/internal/message"
	"github.com/petrelmail/petrel/internal/store"
)

// Message is the view of one message that search keys, SORT and THREAD
// are evaluated on. The server fills it from the message record; the
// parsed metadata and the raw message are loaded lazily, through a Loader,
// only by the keys that need them.
type Message struct {
	// Seq is the message sequence number (RFC 9051 section 2.3.1.2).
	Seq uint32
	// UID is the unique identifier (RFC 9051 section 2.3.1.1).
	UID uint32
	// Flags are the system flags.
	Flags store.Flags
	// Keywords are the keywords (flags without a backslash).
	Keywords []string
	// InternalDate is the internal date (RFC 9051 section 2.3.3); its
	// calendar date is taken in its own location.
	InternalDate time.Time
	// SaveDate is the save date (RFC 8514); zero when unknown, in which
	// case the SAVED* keys use InternalDate.
	SaveDate time.Time
	// Size is RFC822.SIZE, the size of the message in octets.
	Size int64
	// ModSeq is the mod-sequence of the message (RFC 7162).
	ModSeq int64
	// EmailID is the EMAILID object ID (RFC 8474 section 5.1), "" if none.
	EmailID string
	// ThreadID is the THREADID object ID (RFC 8474 section 5.2), "" if
	// none.
	ThreadID string
}

// Loader loads what a Message does not hold. Match calls each method at
// most once per message and Match call; Sort and Thread at most once per
// message. An error aborts the command and is returned as is.
type Loader interface {
	// Meta returns the parsed metadata of m, from the database: cheap.
	Meta(m *Message) (*message.Meta, error)
	// Raw returns the whole raw message m, as parsed into its Meta: a
	// file read, expensive.
	Raw(m *Message) ([]byte, error)
}

// DocLoader is a Loader that may have a message's searchable text at hand
// (from the full-text index, see package fts): TEXT and BODY then match it
// instead of reading and decoding the message. Doc returns nil when it
// does not have it.
type DocLoader interface {
	Doc(m *Message) *fts.Doc
}

// Level is how much of a message a command needs, so that the server loads
// no more than it must.
type Level int

// Levels, in increasing cost.
const (
	// NeedRecord: the Message record alone (flags, dates, size, UID,
	// mod-sequence, object IDs); the Loader is never called.
	NeedRecord Level = iota
	// NeedMeta: Loader.Meta is called.
	NeedMeta
	// NeedRaw: Loader.Raw is called too.
	NeedRaw
)

// String returns the level's name.
func (l Level) String() string {
	switch l {
	case NeedRecord:
		return "record"
	case NeedMeta:
		return "meta"
	case NeedRaw:
		return "raw"
	}
	return "unknown"
}

// Needs returns how much of a message the search keys need (the keys all
// must match, as in SEARCH). With NeedRecord, Match never calls the
// Loader. The level is what suffices for well-formed messages: HEADER of a
// cached field is NeedMeta, but Match still reads the raw message of a
// message whose cached header was truncated (message.Meta.HeaderTruncated).
func Needs(keys []wire.SearchKey) Level {
	lv := NeedRecord
	for i := range keys {
		lv = max(lv, keyLevel(&keys[i]))
	}
	return lv
}

func keyLevel(k *wire.SearchKey) Level {
	switch k.Op {
	case "AND", "OR", "NOT":
		return Needs(k.Keys)
	case "FROM", "TO", "CC", "BCC", "SUBJECT", "SENTBEFORE", "SENTON", "SENTSINCE":
		return NeedMeta
	case "HEADER":
		if message.IsCachedField(k.Field) {
			return NeedMeta
		}
		return NeedRaw
	case "BODY", "TEXT":
		if k.Value == "" {
			return NeedRecord
		}
		return NeedRaw
	}
	return NeedRecord
}

// SortNeeds returns how much of a message the SORT criteria need: ARRIVAL
// and SIZE are in the record, the others need the metadata.
func SortNeeds(criteria []wire.SortCriterion) Level {
	lv := NeedRecord
	for _, c := range criteria {
		switch c.Key {
		case "ARRIVAL", "SIZE":
		default:
			lv = NeedMeta
		}
	}
	return lv
}

// ThreadNeeds returns how much of a message THREAD needs: the metadata
// (Subject, Date, Message-ID, In-Reply-To and the cached References field;
// the raw message only when the cached header was truncated).
func ThreadNeeds(algorithm string) Level {
	return NeedMeta
}
