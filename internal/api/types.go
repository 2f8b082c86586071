package api

import (
	"time"

	"github.com/petrelmail/petrel/internal/directory"
	"github.com/petrelmail/petrel/internal/store"
)

// The JSON objects of the API. Field names are part of the API: add
// fields, never rename or remove one. The same types serve the server and
// the Go client (client.go).

// Domain is a mail domain.
type Domain struct {
	Name            string    `json:"name"`
	Aliases         []string  `json:"aliases"`
	DefaultQuota    int64     `json:"default_quota"`
	DefaultLanguage string    `json:"default_language"`
	Accounts        int       `json:"accounts"`
	Created         time.Time `json:"created"`
}

// NewDomain is the body of POST /domains.
type NewDomain struct {
	Name            string   `json:"name"`
	Aliases         []string `json:"aliases,omitempty"`
	DefaultQuota    int64    `json:"default_quota,omitempty"`
	DefaultLanguage string   `json:"default_language,omitempty"`
}

// DomainPatch is the body of PATCH /domains/{domain}: absent fields are
// left as they are.
type DomainPatch struct {
	Aliases         *[]string `json:"aliases,omitempty"`
	DefaultQuota    *int64    `json:"default_quota,omitempty"`
	DefaultLanguage *string   `json:"default_language,omitempty"`
}

// User is an account: a person's mailbox or a shared one.
type User struct {
	Address      string    `json:"address"`
	ID           int64     `json:"id"`
	Domain       string    `json:"domain"`
	Type         string    `json:"type"`
	Role         string    `json:"role"`
	AdminDomains []string  `json:"admin_domains,omitempty"`
	Quota        int64     `json:"quota"`
	Language     string    `json:"language"`
	Enabled      bool      `json:"enabled"`
	Aliases      []string  `json:"aliases"`
	Shard        int       `json:"shard"`
	UsedBytes    int64     `json:"used_bytes"`
	Messages     int64     `json:"messages"`
	Created      time.Time `json:"created"`
}

// NewUser is the body of POST /domains/{domain}/users. Address may be a
// local part alone.
type NewUser struct {
	Address      string   `json:"address"`
	Password     string   `json:"password,omitempty"`
	Type         string   `json:"type,omitempty"`
	Role         string   `json:"role,omitempty"`
	AdminDomains []string `json:"admin_domains,omitempty"`
	Quota        *int64   `json:"quota,omitempty"`
	Language     string   `json:"language,omitempty"`
	Aliases      []string `json:"aliases,omitempty"`
}

// UserPatch is the body of PATCH /users/{address}: absent fields are left
// as they are.
type UserPatch struct {
	Password     *string   `json:"password,omitempty"`
	Quota        *int64    `json:"quota,omitempty"`
	Language     *string   `json:"language,omitempty"`
	Enabled      *bool     `json:"enabled,omitempty"`
	Aliases      *[]string `json:"aliases,omitempty"`
	Role         *string   `json:"role,omitempty"`
	AdminDomains *[]string `json:"admin_domains,omitempty"`
}

// Grant is an account's rights on a shared mailbox.
type Grant struct {
	Mailbox string `json:"mailbox"`
	Grantee string `json:"grantee"`
	Rights  string `json:"rights"`
}

// GrantRights is the body of PUT /users/{address}/grants/{grantee}.
type GrantRights struct {
	Rights string `json:"rights"`
}

// Key is an API key. Key (the secret) is set only in the answer that
// created it.
type Key struct {
	ID          int64      `json:"id"`
	Key         string     `json:"key,omitempty"`
	Name        string     `json:"name"`
	Address     string     `json:"address,omitempty"`
	GlobalAdmin bool       `json:"global_admin,omitempty"`
	Created     time.Time  `json:"created"`
	Expires     *time.Time `json:"expires,omitempty"`
	Revoked     *time.Time `json:"revoked,omitempty"`
	Active      bool       `json:"active"`
}

// NewKey is the body of POST /users/{address}/keys and POST /keys.
type NewKey struct {
	Name    string     `json:"name,omitempty"`
	Expires *time.Time `json:"expires,omitempty"`
}

// KeyPatch is the body of PATCH .../keys/{id}: Expires is an RFC 3339
// time, or "" for never.
type KeyPatch struct {
	Expires *string `json:"expires,omitempty"`
}

// Me is GET /me: whom the request acts as.
type Me struct {
	Role         string   `json:"role"`
	Address      string   `json:"address,omitempty"`
	AdminDomains []string `json:"admin_domains,omitempty"`
	KeyID        int64    `json:"key_id,omitempty"`
	Local        bool     `json:"local,omitempty"`
}

// Folder is a folder of a mailbox.
type Folder struct {
	Name          string `json:"name"`
	SpecialUse    string `json:"special_use,omitempty"`
	Subscribed    bool   `json:"subscribed"`
	Messages      int64  `json:"messages"`
	Unseen        int64  `json:"unseen"`
	Bytes         int64  `json:"bytes"`
	UIDValidity   uint32 `json:"uidvalidity"`
	UIDNext       uint32 `json:"uidnext"`
	HighestModSeq int64  `json:"highest_modseq"`
}

// NewFolder is the body of POST /users/{address}/folders.
type NewFolder struct {
	Name       string `json:"name"`
	SpecialUse string `json:"special_use,omitempty"`
}

// FolderPatch is the body of PATCH .../folders/{folder}: a new name
// renames it (with its subfolders).
type FolderPatch struct {
	Name       *string `json:"name,omitempty"`
	Subscribed *bool   `json:"subscribed,omitempty"`
}

// Address is a mail address of a message header.
type Address struct {
	Name    string `json:"name,omitempty"`
	Address string `json:"address"`
}

// Message is a message of a folder: its record and what its header says.
type Message struct {
	Folder    string     `json:"folder"`
	UID       uint32     `json:"uid"`
	ModSeq    int64      `json:"modseq"`
	Size      int64      `json:"size"`
	Flags     []string   `json:"flags"`
	Keywords  []string   `json:"keywords"`
	Received  time.Time  `json:"received"`
	Date      *time.Time `json:"date,omitempty"`
	Subject   string     `json:"subject"`
	From      []Address  `json:"from"`
	To        []Address  `json:"to,omitempty"`
	Cc        []Address  `json:"cc,omitempty"`
	MessageID string     `json:"message_id,omitempty"`
	InReplyTo string     `json:"in_reply_to,omitempty"`
	Preview   string     `json:"preview,omitempty"`
}

// MessageList is a page of a folder's messages, by UID. Next, when set,
// is the "after" of the next page.
type MessageList struct {
	Messages []Message `json:"messages"`
	Next     uint32    `json:"next,omitempty"`
}

// MessagePatch is the body of PATCH .../messages/{uid}: each listed flag
// or keyword is set (true) or cleared (false); others are left alone.
// Flags are seen, answered, flagged, deleted and draft.
type MessagePatch struct {
	Flags    map[string]bool `json:"flags,omitempty"`
	Keywords map[string]bool `json:"keywords,omitempty"`
}

// Move is the body of POST .../messages/{uid}/move.
type Move struct {
	Folder string `json:"folder"`
}

// Imported is the answer of an import (and of a move): where the message
// now is.
type Imported struct {
	Folder      string `json:"folder"`
	UID         uint32 `json:"uid"`
	UIDValidity uint32 `json:"uidvalidity"`
	Size        int64  `json:"size,omitempty"`
}

// SearchResult is GET /users/{address}/search.
type SearchResult struct {
	Messages []Message `json:"messages"`
	// Truncated tells that more messages matched than limit.
	Truncated bool `json:"truncated"`
	// Indexed tells that the full-text index narrowed the search (else
	// every message was read).
	Indexed bool `json:"indexed"`
}

// ReplicationRequest is the body of POST /replication/requeue and
// /replication/reindex: addresses and domains; none means every shard
// (reindex only).
type ReplicationRequest struct {
	Scope []string `json:"scope"`
}

func domainJSON(d directory.Domain, accounts int) Domain {
	aliases := d.Aliases
	if aliases == nil {
		aliases = []string{}
	}
	return Domain{Name: d.Name, Aliases: aliases, DefaultQuota: d.DefaultQuota, DefaultLanguage: d.DefaultLanguage,
		Accounts: accounts, Created: d.Created}
}

func userJSON(u directory.User) User {
	aliases := u.Addresses
	if aliases == nil {
		aliases = []string{}
	}
	return User{Address: u.Address, ID: u.ID, Domain: u.Domain, Type: string(u.Type), Role: string(u.Role),
		AdminDomains: u.AdminDomains, Quota: u.Quota, Language: u.Language, Enabled: u.Enabled, Aliases: aliases,
		Shard: u.Shard, Created: u.Created}
}

func keyJSON(k directory.Key) Key {
	out := Key{ID: k.ID, Name: k.Name, Address: k.Address, GlobalAdmin: k.GlobalAdmin, Created: k.Created,
		Active: k.Active(time.Now())}
	if !k.Expires.IsZero() {
		out.Expires = &k.Expires
	}
	if !k.Revoked.IsZero() {
		out.Revoked = &k.Revoked
	}
	return out
}

// specialUses maps the JSON names of special-use attributes to RFC 6154's.
var specialUses = map[string]store.SpecialUse{
	"sent": store.UseSent, "drafts": store.UseDrafts, "trash": store.UseTrash, "junk": store.UseJunk,
	"archive": store.UseArchive, "all": store.UseAll, "flagged": store.UseFlagged,
}

func specialUseName(u store.SpecialUse) string {
	for n, v := range specialUses {
		if v == u {
			return n
		}
	}
	return ""
}

// flagNames maps the JSON names of system flags to their bits.
var flagNames = map[string]store.Flags{
	"seen": store.FlagSeen, "answered": store.FlagAnswered, "flagged": store.FlagFlagged,
	"deleted": store.FlagDeleted, "draft": store.FlagDraft,
}

// flagList names the flags set in f, in a fixed order.
func flagList(f store.Flags) []string {
	out := []string{}
	for _, n := range []string{"seen", "answered", "flagged", "deleted", "draft"} {
		if f&flagNames[n] != 0 {
			out = append(out, n)
		}
	}
	return out
}
