package imap

import (
	"cmp"
	"iter"
	"slices"
	"strconv"

	"github.com/petrelmail/petrel/internal/imap/search"
	"github.com/petrelmail/petrel/internal/imap/wire"
	"github.com/petrelmail/petrel/internal/store"
)

// appendVanishedEarlier appends the VANISHED (EARLIER) response of QRESYNC
// SELECT and UID FETCH (VANISHED) (RFC 7162 sections 3.2.5.2 and 3.2.6)
// for what v says the folder lost, limited to the UIDs of set (nil: all),
// with star the value of "*"; nothing when that is empty.
//
// When the tombstones after the client's MODSEQ may be gone (v.Lost, the
// change log's retention), the answer is every UID of set below UIDNEXT
// that the folder does not hold: all the expunged UIDs of the set, which
// is what a server that does not remember when messages were expunged
// answers (RFC 5162 section 4.1). It is written as ranges, however many
// UIDs they span.
//
// UIDs up to above are left out: the client already knows of every expunge
// up to it (seqMatchFloor; 0 for none).
func appendVanishedEarlier(out []byte, v store.Vanished, set *wire.NumSet, star, above uint32) []byte {
	if !v.Lost {
		var uids []uint32
		for _, g := range v.UIDs {
			if g.UID > above && (set == nil || set.Contains(g.UID, star)) {
				uids = append(uids, g.UID)
			}
		}
		if len(uids) == 0 {
			return out
		}
		out = append(out, "* VANISHED (EARLIER) "...)
		out = search.AppendNumSet(out, uids)
		return append(out, "\r\n"...)
	}
	ranges := v.Absent
	if set != nil {
		ranges = intersectRanges(v.Absent, mergedRanges(*set, star))
	}
	if above > 0 {
		ranges = intersectRanges(ranges, []store.UIDRange{{First: above + 1, Last: ^uint32(0)}})
	}
	if len(ranges) == 0 {
		return out
	}
	out = append(out, "* VANISHED (EARLIER) "...)
	for i, r := range ranges {
		if i > 0 {
			out = append(out, ',')
		}
		out = strconv.AppendUint(out, uint64(r.First), 10)
		if r.Last > r.First {
			out = append(out, ':')
			out = strconv.AppendUint(out, uint64(r.Last), 10)
		}
	}
	return append(out, "\r\n"...)
}

// maxSeqMatchPairs bounds the pairs of message sequence match data looked
// at: clients send a small sample (Thunderbird and Evolution a few dozen).
const maxSeqMatchPairs = 10000

// seqMatchFloor reads QRESYNC's message sequence match data (RFC 7162
// section 3.2.5.2): pairs of a message sequence number and the UID the
// client knows it by, in ascending order. A pair matches when the message
// of that number in view has that UID; then the client knows of every
// expunge up to that UID (as many messages below it on both sides, and
// UIDs below it are never added), and VANISHED (EARLIER) need not repeat
// them. The pairs are checked in order until one does not match (or the
// lists are not ascending, or differ in length); the result is the UID of
// the last pair that matched, 0 if none did.
func seqMatchFloor(seqs, uids *wire.NumSet, view *uidList, maxUID uint32) uint32 {
	if seqs == nil || uids == nil {
		return 0
	}
	nextSeq, stopSeq := iter.Pull(seqs.Numbers(uint32(view.Len())))
	defer stopSeq()
	nextUID, stopUID := iter.Pull(uids.Numbers(maxUID))
	defer stopUID()
	var floor, lastSeq, lastUID uint32
	for range maxSeqMatchPairs {
		seq, ok1 := nextSeq()
		uid, ok2 := nextUID()
		if !ok1 || !ok2 || seq <= lastSeq || uid <= lastUID {
			break
		}
		lastSeq, lastUID = seq, uid
		if int(seq) > view.Len() || view.At(int(seq)-1) != uid {
			break
		}
		floor = uid
	}
	return floor
}

// mergedRanges returns the ranges of a set, "*" replaced by star, sorted
// and with overlapping or adjacent ranges merged.
func mergedRanges(set wire.NumSet, star uint32) []store.UIDRange {
	var rs []store.UIDRange
	for lo, hi := range set.All(star) {
		rs = append(rs, store.UIDRange{First: lo, Last: hi})
	}
	slices.SortFunc(rs, func(a, b store.UIDRange) int { return cmp.Compare(a.First, b.First) })
	var out []store.UIDRange
	for _, r := range rs {
		if n := len(out); n > 0 && uint64(r.First) <= uint64(out[n-1].Last)+1 {
			out[n-1].Last = max(out[n-1].Last, r.Last)
			continue
		}
		out = append(out, r)
	}
	return out
}

// intersectRanges returns the UIDs in both a and b, two sorted lists of
// disjoint ranges, as ranges.
func intersectRanges(a, b []store.UIDRange) []store.UIDRange {
	var out []store.UIDRange
	for i, j := 0, 0; i < len(a) && j < len(b); {
		lo, hi := max(a[i].First, b[j].First), min(a[i].Last, b[j].Last)
		if lo <= hi {
			out = append(out, store.UIDRange{First: lo, Last: hi})
		}
		if a[i].Last < b[j].Last {
			i++
		} else {
			j++
		}
	}
	return out
}

// inRanges reports whether uid is in one of the sorted, disjoint ranges.
func inRanges(rs []store.UIDRange, uid uint32) bool {
	_, found := slices.BinarySearchFunc(rs, uid, func(r store.UIDRange, u uint32) int {
		switch {
		case r.Last < u:
			return -1
		case r.First > u:
			return 1
		}
		return 0
	})
	return found
}
