package search

import (
	"strings"
	"time"
)

// civil returns the calendar date of t in its own location as a number
// that orders like the dates: year*10000 + month*100 + day.
func civil(t time.Time) int {
	y, m, d := t.Date()
	return y*10000 + int(m)*100 + d
}

var months = map[string]time.Month{
	"jan": time.January, "feb": time.February, "mar": time.March,
	"apr": time.April, "may": time.May, "jun": time.June,
	"jul": time.July, "aug": time.August, "sep": time.September,
	"oct": time.October, "nov": time.November, "dec": time.December,
}

// zones are the obsolete zone names of RFC 5322 section 4.3, in minutes
// east of UTC. Military single letters are -0000 (unknown), hence absent.
var zones = map[string]int{
	"ut": 0, "gmt": 0, "utc": 0, "z": 0,
	"edt": -4 * 60, "est": -5 * 60, "cdt": -5 * 60, "cst": -6 * 60,
	"mdt": -6 * 60, "mst": -7 * 60, "pdt": -7 * 60, "pst": -8 * 60,
}

// parseDate parses the value of a Date header field (RFC 5322 section
// 3.3) leniently: comments are ignored, the day of the week is optional,
// fields may come in any sensible order (so asctime's "Mon Jan  2
// 15:04:05 2006" and ISO 8601 "2006-01-02 15:04:05" are accepted too),
// seconds are optional, two- and three-digit years are completed as in
// RFC 5322 section 4.3, obsolete zone names are understood and an absent
// or unknown zone is UTC. The result is in the written zone, so that its
// calendar date is the one written. ok is false when no day, month and
// year can be found.
func parseDate(v []byte) (t time.Time, ok bool) {
	s := stripComments(string(v))
	day, year, hour, minute, sec, offset := -1, -1, 0, 0, 0, 0
	var month time.Month
	for _, tok := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' || r == ',' || r == '\r' || r == '\n' }) {
		c := tok[0]
		switch {
		case c >= '0' && c <= '9' && strings.Count(tok, "-") == 2:
			// ISO 8601 date, possibly with "T" and a time, or
			// day-month-year as in "2-Jan-2006".
			date, clock, _ := strings.Cut(tok, "T")
			p := strings.Split(date, "-")
			if len(p) != 3 {
				return time.Time{}, false
			}
			if m, isMonth := months[strings.ToLower(p[1])]; isMonth {
				d, ok1 := atoi(p[0])
				y, ok2 := atoi(p[2])
				if !ok1 || !ok2 {
					return time.Time{}, false
				}
				day, month, year = d, m, y
				if len(p[2]) == 2 {
					year += 1900
					if y < 50 {
						year += 100
					}
				}
				break
			}
			y, ok1 := atoi(p[0])
			mo, ok2 := atoi(p[1])
			d, ok3 := atoi(p[2])
			if !ok1 || !ok2 || !ok3 || mo < 1 || mo > 12 {
				return time.Time{}, false
			}
			year, month, day = y, time.Month(mo), d
			if clock != "" {
				if h, mi, se, good := parseClock(strings.TrimRight(clock, "Z")); good {
					hour, minute, sec = h, mi, se
				}
			}
		case c >= '0' && c <= '9' && strings.IndexByte(tok, ':') > 0:
			h, mi, se, good := parseClock(tok)
			if !good {
				return time.Time{}, false
			}
			hour, minute, sec = h, mi, se
		case c >= '0' && c <= '9':
			n, good := atoi(tok)
			if !good {
				return time.Time{}, false
			}
			if len(tok) <= 2 && day < 0 {
				day = n
			} else if year < 0 {
				year = n
				switch {
				case len(tok) == 2 && n < 50:
					year += 2000
				case len(tok) <= 3:
					year += 1900
				}
			}
		case (c == '+' || c == '-') && len(tok) == 5:
			n, good := atoi(tok[1:])
			if good && n/100 < 24 && n%100 < 60 {
				offset = n/100*60 + n%100
				if c == '-' {
					offset = -offset
				}
			}
		default:
			low := strings.ToLower(tok)
			if m, isMonth := months[low[:min(3, len(low))]]; isMonth && len(low) >= 3 {
				month = m
			} else if z, isZone := zones[low]; isZone {
				offset = z
			}
		}
	}
	if day < 1 || month == 0 || year < 0 {
		return time.Time{}, false
	}
	if sec == 60 {
		sec = 59 // leap second
	}
	loc := time.UTC
	if offset != 0 {
		loc = time.FixedZone("", offset*60)
	}
	t = time.Date(year, month, day, hour, minute, sec, 0, loc)
	if t.Day() != day || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	return t, true
}

// parseClock parses hh:mm[:ss[.fraction]].
func parseClock(s string) (h, m, sec int, ok bool) {
	p := strings.Split(s, ":")
	if len(p) < 2 || len(p) > 3 {
		return 0, 0, 0, false
	}
	var ok1, ok2, ok3 bool
	h, ok1 = atoi(p[0])
	m, ok2 = atoi(p[1])
	ok3 = true
	if len(p) == 3 {
		ss, _, _ := strings.Cut(p[2], ".")
		sec, ok3 = atoi(ss)
	}
	return h, m, sec, ok1 && ok2 && ok3
}

func atoi(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// stripComments removes (nested) RFC 5322 comments.
func stripComments(s string) string {
	if strings.IndexByte(s, '(') < 0 {
		return s
	}
	var b strings.Builder
	depth := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && depth > 0:
			i++
		case c == '(':
			depth++
			b.WriteByte(' ')
		case c == ')' && depth > 0:
			depth--
		case depth == 0:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// sentDate returns the sent date of RFC 5256 section 2.2: the Date header
// field, or the internal date when it is missing or cannot be parsed.
func sentDate(m *Message, date []byte) time.Time {
	if t, ok := parseDate(date); ok {
		return t
	}
	return m.InternalDate
}
