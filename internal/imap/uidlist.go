package imap

import "sort"

// uidList is the view of a selected folder: its UIDs in increasing order,
// a message's sequence number being its position plus one. It is kept as
// runs of consecutive UIDs, because real folders are mostly runs (UIDs are
// given out in order, expunges cut a few holes): a folder of 12,000
// messages with a few hundred expunged takes a few kilobytes, not 48, which
// is what keeps an idle session that selected a big folder small.
type uidList struct {
	runs []uidRun
	// starts[i] is the position of runs[i].first.
	starts []int
	n      int
}

// uidRun is the UIDs first, first+1, ..., first+count-1.
type uidRun struct {
	first, count uint32
}

func newUIDList(uids []uint32) *uidList {
	l := &uidList{}
	for _, u := range uids {
		l.push(u)
	}
	return l
}

// push appends a UID larger than every UID in the list.
func (l *uidList) push(u uint32) {
	if k := len(l.runs); k > 0 && l.runs[k-1].first+l.runs[k-1].count == u {
		l.runs[k-1].count++
	} else {
		l.runs = append(l.runs, uidRun{u, 1})
		l.starts = append(l.starts, l.n)
	}
	l.n++
}

// Len is the number of messages.
func (l *uidList) Len() int { return l.n }

// Last is the largest UID, 0 when empty.
func (l *uidList) Last() uint32 {
	if len(l.runs) == 0 {
		return 0
	}
	r := l.runs[len(l.runs)-1]
	return r.first + r.count - 1
}

// At returns the UID at position i (0 <= i < Len).
func (l *uidList) At(i int) uint32 {
	k := sort.Search(len(l.starts), func(k int) bool { return l.starts[k] > i }) - 1
	return l.runs[k].first + uint32(i-l.starts[k])
}

// Index returns the position of uid, or where it would be, and whether it
// is there.
func (l *uidList) Index(uid uint32) (int, bool) {
	k := sort.Search(len(l.runs), func(k int) bool { return l.runs[k].first+l.runs[k].count > uid })
	if k == len(l.runs) {
		return l.n, false
	}
	r := l.runs[k]
	if uid < r.first {
		return l.starts[k], false
	}
	return l.starts[k] + int(uid-r.first), true
}

// All calls fn for each position and UID in order, from position from,
// until fn returns false.
func (l *uidList) All(from int, fn func(i int, uid uint32) bool) {
	if from >= l.n {
		return
	}
	k := sort.Search(len(l.starts), func(k int) bool { return l.starts[k] > from }) - 1
	for ; k < len(l.runs); k++ {
		r := l.runs[k]
		for j := max(from-l.starts[k], 0); j < int(r.count); j++ {
			if !fn(l.starts[k]+j, r.first+uint32(j)) {
				return
			}
		}
	}
}

// Remove removes the UIDs of gone (sorted) that are in the list.
func (l *uidList) Remove(gone []uint32) {
	if len(gone) == 0 {
		return
	}
	old := l.runs
	l.runs, l.starts, l.n = make([]uidRun, 0, len(old)+len(gone)), make([]int, 0, len(old)+len(gone)), 0
	g := 0
	for _, r := range old {
		end := r.first + r.count // exclusive
		next := r.first
		for g < len(gone) && gone[g] < r.first {
			g++
		}
		for g < len(gone) && gone[g] < end {
			if gone[g] > next {
				l.appendRun(uidRun{next, gone[g] - next})
			}
			next = gone[g] + 1
			g++
		}
		if next < end {
			l.appendRun(uidRun{next, end - next})
		}
	}
}

func (l *uidList) appendRun(r uidRun) {
	l.runs = append(l.runs, r)
	l.starts = append(l.starts, l.n)
	l.n += int(r.count)
}
