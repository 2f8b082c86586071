package store

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// SpecialUse is an RFC 6154 special-use attribute of a folder.
type SpecialUse string

// RFC 6154 section 2 attributes that Petrel creates for every account.
const (
	UseNone    SpecialUse = ""
	UseSent    SpecialUse = `\Sent`
	UseDrafts  SpecialUse = `\Drafts`
	UseTrash   SpecialUse = `\Trash`
	UseJunk    SpecialUse = `\Junk`
	UseArchive SpecialUse = `\Archive`
	UseAll     SpecialUse = `\All`
	UseFlagged SpecialUse = `\Flagged`
)

// Inbox is the name of every account's inbox (RFC 9051 section 5.1: the
// name is case-insensitive).
const Inbox = "INBOX"

// Delimiter separates hierarchy levels in folder names.
const Delimiter = "/"

// FolderSpec describes a folder to create.
type FolderSpec struct {
	Name       string
	SpecialUse SpecialUse
}

var specialOrder = []SpecialUse{UseSent, UseDrafts, UseTrash, UseJunk, UseArchive}

// localized special folder names. Clients that know RFC 6154 show their own
// translation from the attribute; the names are what others (and the file
// system of a migration tool) see.
var localized = map[string]map[SpecialUse]string{
	"en": {UseSent: "Sent", UseDrafts: "Drafts", UseTrash: "Trash", UseJunk: "Junk", UseArchive: "Archive"},
	"fr": {UseSent: "Envoyés", UseDrafts: "Brouillons", UseTrash: "Corbeille", UseJunk: "Indésirables", UseArchive: "Archives"},
	"de": {UseSent: "Gesendet", UseDrafts: "Entwürfe", UseTrash: "Papierkorb", UseJunk: "Spam", UseArchive: "Archiv"},
}

// DefaultFolders is the layout of a new account in a language: INBOX and the
// special folders named in that language (English for an unknown one).
func DefaultFolders(language string) []FolderSpec {
	names, ok := localized[language]
	if !ok {
		names = localized["en"]
	}
	out := []FolderSpec{{Name: Inbox}}
	for _, use := range specialOrder {
		out = append(out, FolderSpec{Name: names[use], SpecialUse: use})
	}
	return out
}

// MaxFolderName is the longest folder name accepted, in bytes.
const MaxFolderName = 1000

// CanonicalFolderName checks a folder name and returns its canonical form:
// "INBOX" in any case, alone or as the first level, is spelled INBOX.
// Names are UTF-8, levels separated by "/", with no empty level.
func CanonicalFolderName(name string) (string, error) {
	if name == "" || len(name) > MaxFolderName || !utf8.ValidString(name) {
		return "", fmt.Errorf("%w: folder name %q", ErrInvalid, name)
	}
	for _, level := range strings.Split(name, Delimiter) {
		if level == "" {
			return "", fmt.Errorf("%w: folder name %q has an empty level", ErrInvalid, name)
		}
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || r == '*' || r == '%' {
			return "", fmt.Errorf("%w: folder name %q has a forbidden character", ErrInvalid, name)
		}
	}
	first, rest, nested := strings.Cut(name, Delimiter)
	if strings.EqualFold(first, Inbox) {
		if nested {
			return Inbox + Delimiter + rest, nil
		}
		return Inbox, nil
	}
	return name, nil
}

// parentNames lists the ancestors of a folder name, outermost first.
func parentNames(name string) []string {
	var out []string
	for i := 0; i < len(name); i++ {
		if name[i] == Delimiter[0] {
			out = append(out, name[:i])
		}
	}
	return out
}
