package main

import (
	"encoding/binary"
	"io"
	"math/bits"
)

// randStream is a deterministic pseudo-random byte stream (wyrand). Registries never look
// inside blobs, so the content only has to be unique per blob and incompressible; a fast
// generator keeps the client's share of the CPU small (a 1 GiB push must not be limited by
// producing the bytes), and regenerating from the seed means a large blob never sits in RAM.
// The output depends only on the seed and the size, never on how the caller sizes its reads,
// so hashing the stream once and sending it again yields the same digest.
type randStream struct {
	state uint64
	left  int64 // bytes still to produce
	tail  [8]byte
	tailN int // unread bytes at the end of tail
}

func newRandStream(seed uint64, size int64) *randStream {
	return &randStream{state: seed, left: size}
}

func (r *randStream) next() uint64 {
	r.state += 0xa0761d6478bd642f
	hi, lo := bits.Mul64(r.state, r.state^0xe7037ed1a0b428db)
	return hi ^ lo
}

func (r *randStream) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n := 0
	for n < len(p) && r.tailN > 0 {
		p[n] = r.tail[8-r.tailN]
		r.tailN--
		n++
	}
	for len(p)-n >= 8 {
		binary.LittleEndian.PutUint64(p[n:], r.next())
		n += 8
	}
	if n < len(p) {
		binary.LittleEndian.PutUint64(r.tail[:], r.next())
		r.tailN = 8
		for n < len(p) {
			p[n] = r.tail[8-r.tailN]
			r.tailN--
			n++
		}
	}
	r.left -= int64(n)
	return n, nil
}

// randBytes returns size bytes of the stream for seed.
func randBytes(seed uint64, size int) []byte {
	b := make([]byte, size)
	io.ReadFull(newRandStream(seed, int64(size)), b)
	return b
}

// mix derives a seed for one object from the run seed and the object's coordinates
// (splitmix64 finalizer), so that neighbouring objects get unrelated content.
func mix(seed uint64, parts ...uint64) uint64 {
	x := seed
	for _, p := range parts {
		x ^= p + 0x9e3779b97f4a7c15 + (x << 6) + (x >> 2)
		x ^= x >> 30
		x *= 0xbf58476d1ce4e5b9
		x ^= x >> 27
		x *= 0x94d049bb133111eb
		x ^= x >> 31
	}
	return x
}
