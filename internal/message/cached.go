package message

import "bytes"

// CachedFields are the top-level header fields kept in Meta.Header: the
// ones desktop and mobile clients ask for when they list a folder
// (Thunderbird's and K-9's HEADER.FIELDS lists, threading, priority,
// mailing-list and read-receipt fields). Other fields, such as the long
// Received chains, are read from the body file when asked for; keeping them
// here would copy most of every header into each shard's database.
var CachedFields = []string{
	"From", "Sender", "Reply-To", "To", "Cc", "Bcc", "Subject", "Date",
	"Message-ID", "In-Reply-To", "References", "Newsgroups",
	"MIME-Version", "Content-Type", "Content-Transfer-Encoding",
	"Priority", "X-Priority", "Importance", "X-MSMail-Priority",
	"List-ID", "List-Post", "List-Unsubscribe", "List-Unsubscribe-Post",
	"Disposition-Notification-To", "Return-Receipt-To", "Auto-Submitted",
	"X-Mozilla-Draft-Info", "X-Spam-Flag", "X-Spam-Status",
}

var cachedSet = func() map[string]bool {
	m := make(map[string]bool, len(CachedFields))
	for _, f := range CachedFields {
		m[string(bytes.ToLower([]byte(f)))] = true
	}
	return m
}()

// IsCachedField reports whether Meta.Header holds every occurrence of the
// field name (case-insensitive).
func IsCachedField(name string) bool {
	return cachedSet[string(bytes.ToLower([]byte(name)))]
}

// cachedHeader returns the lines of the fields of hb (a raw header block)
// that are in CachedFields, in their order, folded lines included, capped at
// MaxStoredHeader bytes (truncated then tells that fields were dropped).
func cachedHeader(hb []byte) (out []byte, truncated bool) {
	keep := false
	var name [64]byte
	for pos := 0; pos < len(hb); {
		end := len(hb)
		if nl := bytes.IndexByte(hb[pos:], '\n'); nl >= 0 {
			end = pos + nl + 1
		}
		line := hb[pos:end]
		pos = end
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			// Continuation of the field above (RFC 5322 section 2.2.3).
		} else {
			colon := bytes.IndexByte(line, ':')
			keep = false
			if colon > 0 {
				n := bytes.TrimRight(line[:colon], " \t")
				if len(n) <= len(name) {
					keep = cachedSet[string(bytes.ToLower(append(name[:0], n...)))]
				}
			}
		}
		if !keep {
			continue
		}
		if len(out)+len(line) > MaxStoredHeader {
			return out, true
		}
		out = append(out, line...)
	}
	return out, false
}
