package store

import (
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/petrelmail/petrel/internal/blob"
)

// Errors of the store. Protocol code maps them to its own codes.
var (
	ErrNotFound    = errors.New("not found")
	ErrExists      = errors.New("already exists")
	ErrInvalid     = errors.New("invalid")
	ErrOverQuota   = errors.New("over quota")
	ErrHasChildren = errors.New("folder has children")
)

// Flags are the system flags of a message (RFC 9051 section 2.3.2), as bits.
type Flags uint32

// System flags. \Recent does not exist in IMAP4rev2 and is not stored.
const (
	FlagSeen Flags = 1 << iota
	FlagAnswered
	FlagFlagged
	FlagDeleted
	FlagDraft
)

var flagNames = []struct {
	flag Flags
	name string
}{{FlagSeen, `\Seen`}, {FlagAnswered, `\Answered`}, {FlagFlagged, `\Flagged`}, {FlagDeleted, `\Deleted`}, {FlagDraft, `\Draft`}}

// Names lists the flags in IMAP spelling.
func (f Flags) Names() []string {
	var out []string
	for _, n := range flagNames {
		if f&n.flag != 0 {
			out = append(out, n.name)
		}
	}
	return out
}

// ParseFlag maps an IMAP system flag name (case-insensitive) to its bit.
func ParseFlag(name string) (Flags, bool) {
	for _, n := range flagNames {
		if strings.EqualFold(n.name, name) {
			return n.flag, true
		}
	}
	return 0, false
}

func joinKeywords(k []string) string {
	if len(k) == 0 {
		return ""
	}
	s := append([]string(nil), k...)
	sort.Strings(s)
	return strings.Join(s, " ")
}

func splitKeywords(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, " ")
}

// Folder is a folder's state.
type Folder struct {
	ID            int64
	Name          string
	SpecialUse    SpecialUse
	Subscribed    bool
	UIDValidity   uint32
	UIDNext       uint32
	HighestModSeq int64
	Messages      int64
	Bytes         int64
}

// Message is one message record in a folder.
type Message struct {
	UID          uint32
	ModSeq       int64
	Flags        Flags
	Keywords     []string
	InternalDate time.Time
	SaveDate     time.Time
	Size         int64
	BodyID       int64
	Body         blob.Hash
}

// ChangeKind says what a change log entry records.
type ChangeKind uint8

// Change kinds.
const (
	ChangeAppend ChangeKind = iota + 1
	ChangeFlags
	ChangeExpunge
	ChangeFolderCreate
	ChangeFolderRename
	ChangeFolderDelete
	ChangeSubscribe
	ChangeUnsubscribe
	ChangeMailboxCreate
	ChangeMailboxDelete
	// ChangeBodyDelete: the last message of the shard that referenced
	// body BodyID went away, and the body's row with it. Consumers that
	// keep something per body (the search index) drop it. The ID may be
	// given to a new body later; its append entry then comes after this.
	ChangeBodyDelete
)

var kindNames = map[ChangeKind]string{ChangeAppend: "append", ChangeFlags: "flags", ChangeExpunge: "expunge",
	ChangeFolderCreate: "folder-create", ChangeFolderRename: "folder-rename", ChangeFolderDelete: "folder-delete",
	ChangeSubscribe: "subscribe", ChangeUnsubscribe: "unsubscribe", ChangeMailboxCreate: "mailbox-create",
	ChangeMailboxDelete: "mailbox-delete", ChangeBodyDelete: "body-delete"}

func (k ChangeKind) String() string {
	if n, ok := kindNames[k]; ok {
		return n
	}
	return "unknown"
}

// Change is one entry of a shard's change log.
type Change struct {
	ID       int64 // position in the log, increasing in commit order
	ModSeq   int64
	Mailbox  int64
	Folder   int64
	Kind     ChangeKind
	UID      uint32
	BodyID   int64    // append, body-delete
	Flags    Flags    // append, flags: the new flags
	Keywords []string // append, flags: the new keywords
	Name     string   // folder changes: the (new) name
	OldName  string   // rename
	Time     time.Time
}
