// Copyright 2009 The Go Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package inflate

// Constants of compress/flate's compressor that its decompressor uses.
const (
	maxMatchOffset    = 1 << 15 // the largest match offset
	maxStoreBlockSize = 65535
	endBlockMarker    = 256
)
