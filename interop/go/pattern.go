package main

// The deterministic byte pattern streams carry (--open, --push).
//
// Stream index i (0-based: the i-th stream this peer opens; --push uses
// index 0) carries the output of a xorshift32 generator, each 32-bit output
// written little-endian:
//
//	x := uint32(i+1) * 0x9E3779B9        // seed (never 0 for i < 2^32-1)
//	repeat: x ^= x << 13; x ^= x >> 17; x ^= x << 5; emit x as 4 bytes LE
//
// so the first bytes of stream 0 are 19 46 0c 51 3e 55 2e e0 ... A stream of
// length L carries the first L bytes of that sequence. In JavaScript:
//
//	let x = Math.imul(i + 1, 0x9E3779B9) >>> 0
//	x ^= x << 13; x ^= x >>> 17; x ^= x << 5; x >>>= 0  // then 4 bytes LE

import "bytes"

// pattern generates the byte sequence of one stream index.
type pattern struct {
	x    uint32
	word [4]byte
	pos  int // next unread byte of word; 4 means "generate a new word"
}

func newPattern(index int) *pattern {
	return &pattern{x: uint32(index+1) * 0x9E3779B9, pos: 4}
}

// fill writes the next len(b) bytes of the sequence into b.
func (p *pattern) fill(b []byte) {
	for i := range b {
		if p.pos == 4 {
			x := p.x
			x ^= x << 13
			x ^= x >> 17
			x ^= x << 5
			p.x = x
			p.word = [4]byte{byte(x), byte(x >> 8), byte(x >> 16), byte(x >> 24)}
			p.pos = 0
		}
		b[i] = p.word[p.pos]
		p.pos++
	}
}

// verifier checks received bytes against a stream's pattern.
type verifier struct {
	p      *pattern
	want   []byte
	offset int64 // bytes verified so far
}

func newVerifier(index int) *verifier { return &verifier{p: newPattern(index)} }

// check verifies the next len(b) bytes; it returns the stream offset of the
// first wrong byte, or -1 if all match.
func (v *verifier) check(b []byte) int64 {
	if cap(v.want) < len(b) {
		v.want = make([]byte, len(b))
	}
	want := v.want[:len(b)]
	v.p.fill(want)
	start := v.offset
	v.offset += int64(len(b))
	if bytes.Equal(b, want) {
		return -1
	}
	for i := range b {
		if b[i] != want[i] {
			return start + int64(i)
		}
	}
	return -1
}
